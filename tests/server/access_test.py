#!/usr/bin/env python3
"""Access to a real `torc server run`: where it listens, and what needs the token.

Usage: access_test.py TORC_BINARY

- By default the server listens on loopback only (the kernel's socket table says so) and
  logs no warning; with --host 0.0.0.0 it listens on every address and warns.
- With --host 0.0.0.0 it advertises (server.url) an address other machines can use and says
  which; --advertise-url overrides it (the port added when it has none); a bad one is refused.
- Under /api/v1 only GET /api/v1/health answers without the token: every other endpoint
  (and an unknown path) answers 401 without it, before revealing anything.
"""
import os
import re
import shutil
import subprocess
import sys
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from torc_testlib import (Server, cases_of, check, finish, run_cases, sweep,  # noqa: E402
                          wait_for)

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


def advertised_without_traffic(base, extra, port=("--port", "0"), fresh=True):
    """Starts `torc server run --port 0` with `extra` flags, waits for server.url and the
    log, and stops it: (url, log). Nothing is sent to the advertised address, which may be one
    of this machine's other interfaces (tests send traffic only to loopback and the lab)."""
    data = os.path.join(base, "adv")
    if fresh:
        shutil.rmtree(data, ignore_errors=True)
        os.makedirs(data)
    try:
        os.remove(os.path.join(data, "server.url"))
    except FileNotFoundError:
        pass
    log_path = os.path.join(data, "server.log")
    with open(log_path, "w") as log:
        proc = subprocess.Popen([TORC, "server", "run", "--data-dir", data] + list(port) + extra,
                                stdout=log, stderr=log)
    try:
        url = wait_for(lambda: open(os.path.join(data, "server.url")).read().strip()
                       if os.path.exists(os.path.join(data, "server.url")) else "", bool, 20, 0.05)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return url, open(log_path).read()


def case_advertise(base):
    url, log = advertised_without_traffic(base, ["--host", "0.0.0.0"])
    host = urllib.parse.urlparse(url).hostname or ""
    check(url and not host.startswith("127.") and host != "localhost",
          f"--host 0.0.0.0 advertises an address other machines can use, not loopback ({url})")
    check(f"advertising {url}" in log, f"... and says which it chose: {log.strip()}")
    check("--advertise-url" in log, "... and how to choose another")
    url, log = advertised_without_traffic(base, ["--host", "0.0.0.0", "--advertise-url",
                                                 "http://login7.example:9999"])
    check(url == "http://login7.example:9999", f"--advertise-url is advertised as given ({url})")
    url, log = advertised_without_traffic(base, ["--host", "0.0.0.0", "--advertise-url",
                                                 "http://10.1.2.3"])
    check(re.fullmatch(r"http://10\.1\.2\.3:\d+", url) is not None,
          f"... with the listening port added when it names none ({url})")
    # A restart without --port comes back on the port it listened on, not the advertised one.
    url, _ = advertised_without_traffic(base, ["--advertise-url", "http://proxy.example:443"])
    listened = open(os.path.join(base, "adv", "server.port")).read().strip()
    url, log = advertised_without_traffic(base, ["--advertise-url", "http://proxy.example:443"],
                                          port=(), fresh=False)
    check(f"listening on 127.0.0.1:{listened}, advertised as http://proxy.example:443" in log,
          f"a restart listens on its previous port {listened}, not the advertised 443: {log.strip()}")
    check(sorted(listening_addresses(443)) == [], "nothing listens on 443")
    r = subprocess.run([TORC, "server", "run", "--data-dir", os.path.join(base, "v6"), "--port", "0",
                        "--host", "::"], capture_output=True, text=True, timeout=30)
    check(r.returncode == 1 and "IPv6 addresses are not supported" in r.stderr,
          f"--host :: is refused with a clear error: {r.stderr.strip()}")
    with open(os.path.join(base, "bad.log"), "w") as log:
        rc = subprocess.run([TORC, "server", "run", "--data-dir", os.path.join(base, "bad"),
                             "--port", "0", "--advertise-url", "login1:8080"],
                            stdout=log, stderr=subprocess.STDOUT, timeout=30).returncode
    text = open(os.path.join(base, "bad.log")).read()
    check(rc != 0 and "--advertise-url 'login1:8080' is not a URL" in text,
          f"a bad --advertise-url stops the server with a clear error (exit {rc}): {text.strip()}")


def case_main(base):
    server = Server(TORC, os.path.join(base, "a")).start()
    try:
        check(server.url.startswith("http://127.0.0.1:"), f"server.url is loopback ({server.url})")
        addrs = listening_addresses(server.port)
        check(addrs == {"0100007F"}, f"by default it listens on 127.0.0.1 only ({addrs})")
        check("WARNING" not in server.log(), "no warning on loopback")

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

    # Told to advertise loopback, so that this test's own requests stay on this machine.
    everywhere = Server(TORC, os.path.join(base, "b"),
                        ["--host", "0.0.0.0", "--advertise-url", "http://127.0.0.1"]).start()
    try:
        addrs = listening_addresses(everywhere.port)
        check(addrs == {"00000000"}, f"--host 0.0.0.0 listens on every address ({addrs})")
        check("WARNING: listening on 0.0.0.0, not loopback" in everywhere.log(),
              "... and warns about it")
        check(everywhere.api("GET", "/workflows", token="")[0] == 401, "... the token still guards it")
    finally:
        everywhere.stop()


if __name__ == "__main__":
    run_cases(cases_of(globals()), sys.argv[2:], "torc-access")
    finish()
