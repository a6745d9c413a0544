#!/usr/bin/env python3
"""Access to a real `torc server run`: where it listens, and what needs the token.

Usage: access_test.py TORC_BINARY

- By default the server listens on loopback only (the kernel's socket table says so) and
  logs no warning; with --host 0.0.0.0 it listens on every address and warns.
- Under /api/v1 only GET /api/v1/health answers without the token: every other endpoint
  (and an unknown path) answers 401 without it, before revealing anything.
"""
import os
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from torc_testlib import Server, check, finish, run_cases, sweep  # noqa: E402

TORC = os.path.abspath(sys.argv[1])


def listening_addresses(port):
    """Local addresses (hex, as in /proc/net/tcp*) of sockets listening on `port`."""
    out = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            fields = line.split()
            addr, hexport = fields[1].rsplit(":", 1)
            if int(hexport, 16) == port and fields[3] == "0A":  # LISTEN
                out.add(addr)
    return out


def outside_address():
    """An address of this machine that is not loopback, or None."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # no packet is sent
            addr = s.getsockname()[0]
            return None if addr.startswith("127.") else addr
    except OSError:
        return None


def main(base):
    server = Server(TORC, os.path.join(base, "a")).start()
    try:
        check(server.url.startswith("http://127.0.0.1:"), f"server.url is loopback ({server.url})")
        addrs = listening_addresses(server.port)
        check(addrs == {"0100007F"}, f"by default it listens on 127.0.0.1 only ({addrs})")
        check("WARNING" not in server.log(), "no warning on loopback")
        other = outside_address()
        if other:
            try:
                socket.create_connection((other, server.port), timeout=2).close()
                reached = True
            except OSError:
                reached = False
            check(not reached, f"not reachable at {other}:{server.port}")
        else:
            print("note: no non-loopback address here; skipped the connect check")

        # Only health goes without the token.
        status, body = server.api("POST", "/workflows", {"spec_text": sweep("acc", 2)})
        wf = body["workflow_id"]
        w = f"/workflows/{wf}"
        endpoints = [
            ("GET", "/workflows"), ("POST", "/workflows"), ("GET", w), ("DELETE", w),
            ("GET", w + "/status"), ("POST", w + "/cancel"), ("POST", w + "/restart"),
            ("GET", w + "/events"), ("GET", w + "/actions/due"), ("POST", w + "/actions/0/done"),
            ("GET", w + "/jobs"), ("GET", w + "/jobs/0"), ("GET", w + "/jobs/job_1/log"),
            ("GET", w + "/attempts"), ("GET", w + "/timeline"), ("POST", w + "/allocations"),
            ("POST", w + "/workers"), ("POST", w + "/workers/1/heartbeat"),
            ("GET", w + "/workers/1/jobs"), ("DELETE", w + "/workers/1"), ("POST", w + "/claim"),
            ("POST", w + "/start"), ("POST", w + "/complete"), ("GET", "/no/such/endpoint"),
            ("GET", "/healthz"), ("GET", "/health/x"),
        ]
        for method, path in endpoints:
            status, body, _ = server.request(method, "/api/v1" + path, {}, token="")
            check(status == 401 and "missing access token" in (body or {}).get("error", ""),
                  f"{method} /api/v1{path} without the token: 401 ({status})")
            status, _, _ = server.request(method, "/api/v1" + path, {}, token="0" * 64)
            check(status == 401, f"{method} /api/v1{path} with a wrong token: 401 ({status})")
        for path in ("/api/v1/health", "/api/v1/health/"):
            status, body, _ = server.request("GET", path, token="")
            check(status == 200 and body == {"status": "ok"}, f"GET {path} needs no token")
        status, body = server.api("GET", w)
        check(status == 200 and body["counts"]["ready"] == 2, "nothing those requests carried happened")
    finally:
        server.stop()

    everywhere = Server(TORC, os.path.join(base, "b"), ["--host", "0.0.0.0"]).start()
    try:
        addrs = listening_addresses(everywhere.port)
        check(addrs == {"00000000"}, f"--host 0.0.0.0 listens on every address ({addrs})")
        check("WARNING: listening on 0.0.0.0, not loopback" in everywhere.log(),
              "... and warns about it")
        check(everywhere.api("GET", "/workflows", token="")[0] == 401, "... the token still guards it")
    finally:
        everywhere.stop()


if __name__ == "__main__":
    run_cases({"main": main}, [], "torc-access")
    finish()
