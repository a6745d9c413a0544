#!/usr/bin/env python3
"""Access to a real `torc server run`: where it listens, and what needs the token.

Usage: access_test.py TORC_BINARY

- By default the server listens on loopback only (the kernel's socket table says so) and
  logs no warning; with --host 0.0.0.0 it listens on every address, says so, and serves HTTPS.
- With --host 0.0.0.0 it advertises (server.url) an address other machines can use and says
  which; --advertise-url overrides it (the port added when it has none); a bad one is refused.
- Under /api/v1 only GET /api/v1/health answers without the token: every other endpoint
  (and an unknown path) answers 401 without it, before revealing anything.
- HTTPS (case_https): the data directory's certificate, pinned by clients; a site's.
- A TLS client resetting its connections does not kill the server (case_tls_client_resets).
- A command refused by the server's certificate ends at once (case_refused_client_exits).
"""
import os
import re
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from torc_testlib import (Server, cases_of, check, finish, plain_http_answer,  # noqa: E402
                          run_cases, run_torc, sweep, wait_for, write)

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
    check(url.startswith("https://"), f"... over HTTPS ({url})")
    check(f"advertising {url}" in log, f"... and says which it chose: {log.strip()}")
    check("--advertise-url" in log, "... and how to choose another")
    url, log = advertised_without_traffic(base, ["--host", "0.0.0.0", "--advertise-url",
                                                 "https://login7.example:9999"])
    check(url == "https://login7.example:9999", f"--advertise-url is advertised as given ({url})")
    url, log = advertised_without_traffic(base, ["--host", "0.0.0.0", "--advertise-url",
                                                 "https://10.1.2.3"])
    check(re.fullmatch(r"https://10\.1\.2\.3:\d+", url) is not None,
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


def openssl(*args, cwd):
    r = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    check(r.returncode == 0, f"openssl {' '.join(args[:2])}: {r.stderr.strip()[-300:]}")


def site_pki(d):
    """A site's CA (ca.pem) with a server certificate for localhost and 127.0.0.1 (site.pem,
    site.key), and another CA (other-ca.pem), made with the openssl command."""
    os.makedirs(d, exist_ok=True)
    write(f"{d}/ext.cnf", "subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    for ca in ("ca", "other-ca"):
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", f"{ca}.key", "-out", f"{ca}.pem", "-subj", f"/CN=site {ca}", "-days",
                "2", cwd=d)
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
            "site.key", "-out", "site.csr", "-subj", "/CN=localhost", cwd=d)
    openssl("x509", "-req", "-in", "site.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "site.pem", "-days", "2", "-extfile", "ext.cnf", cwd=d)


def fingerprint_line(server):
    m = re.search(r"TLS key (SHA256:[0-9a-f]{64})", server.log())
    return m.group(1) if m else None


def case_https(base):
    """HTTPS: served whenever the server listens beyond loopback (and with --tls), with a
    self-signed certificate and a 0600 key made in the data directory on the first start.
    Clients trust exactly that certificate's key (pinning); a plain-HTTP request gets no data;
    a client whose data directory holds another certificate is refused with a clear message;
    a restart keeps the key; a site's certificate and CA work; --no-tls is loopback only."""
    a = os.path.join(base, "adv")  # advertised_without_traffic's data dir, for the restart below
    server = Server(TORC, a, ["--host", "0.0.0.0", "--advertise-url", "https://127.0.0.1"])
    server.start()
    try:
        check(server.url.startswith("https://127.0.0.1:"), f"server.url says https ({server.url})")
        key_mode = oct(os.stat(os.path.join(a, "server.key")).st_mode & 0o777)
        check(key_mode == "0o600", f"the key is private ({key_mode})")
        pin = fingerprint_line(server)
        check(pin is not None, f"the server prints its key's fingerprint: {server.log()[-300:]}")
        status, body, _ = server.request("GET", "/api/v1/workflows")  # Python checks the names
        check(status == 200, f"a client trusting server.crt, checking the name 127.0.0.1: {status}")
        r = server.cli("workflows", "list")
        check(r.returncode == 0, f"the CLI finds and trusts it through the data dir: {r.stderr}")
        got = plain_http_answer("127.0.0.1", server.port, server.token())
        check(b"workflows" not in got and b"HTTP/" not in got,
              f"a plain-HTTP request to the TLS port gets no data ({got[:80]!r})")

        # A client whose data dir holds another server's certificate (and this one's token and
        # URL): refused before anything is sent.
        other, elsewhere = os.path.join(base, "other"), os.path.join(base, "elsewhere")
        o = Server(TORC, elsewhere, ["--tls"]).start()
        o.stop()
        os.makedirs(other, mode=0o700)
        for f in ("token", "server.url"):
            shutil.copy(os.path.join(a, f), os.path.join(other, f))
        shutil.copy(os.path.join(elsewhere, "server.crt"), os.path.join(other, "server.crt"))
        env = dict(server.env, TORC_DATA_DIR=other)
        r = run_torc(TORC, ["workflows", "list"], env)
        check(r.returncode == 1 and "presented a certificate whose key is " + pin in r.stderr and
              f"not the key of {other}/server.crt" in r.stderr and "is 'torc server run' running"
              not in r.stderr, f"another certificate: refused, saying why: {r.stderr.strip()}")
        os.remove(os.path.join(other, "server.crt"))
        r = run_torc(TORC, ["workflows", "list"], env)
        check(r.returncode == 1 and "no certificate to trust" in r.stderr and "TORC_CA_FILE"
              in r.stderr, f"no certificate: refused, saying what to do: {r.stderr.strip()}")
        r = run_torc(TORC, ["workflows", "list", "--url", server.url.replace("https", "http")],
                     server.env)
        check(r.returncode == 1 and "use the https:// URL" in r.stderr,
              f"an http:// URL to the TLS port: a hint ({r.stderr.strip()})")
    finally:
        server.stop()

    # A restart keeps the key (clients keep trusting it) and names a new advertised host too.
    key = open(os.path.join(a, "server.key")).read()
    _, log = advertised_without_traffic(base, ["--host", "0.0.0.0", "--advertise-url",
                                               "https://login7.example"], fresh=False)
    check(open(os.path.join(a, "server.key")).read() == key, "a restart keeps the key")
    check("did not name login7.example" in log, f"... and names the new advertised host: {log}")
    names = subprocess.run(["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in",
                            os.path.join(a, "server.crt")], capture_output=True, text=True).stdout
    check("DNS:login7.example" in names and "IP Address:127.0.0.1" in names,
          f"the certificate names every advertised host: {names.strip()}")

    # A site's certificate: served and copied to server.crt; a client with the site's CA (and
    # no server.crt) trusts it by name; one with another CA does not.
    pki = os.path.join(base, "pki")
    site_pki(pki)
    s = Server(TORC, os.path.join(base, "site"), ["--tls-cert", f"{pki}/site.pem",
                                                  "--tls-key", f"{pki}/site.key"]).start()
    try:
        check(s.url.startswith("https://"), f"--tls-cert serves HTTPS ({s.url})")
        check(open(os.path.join(base, "site", "server.crt")).read() == open(f"{pki}/site.pem").read(),
              "the site's certificate is what clients pin (server.crt)")
        check(not os.path.exists(os.path.join(base, "site", "server.key")), "no key was made")
        check(s.cli("workflows", "list").returncode == 0, "a client of the data dir pins it")
        bare = os.path.join(base, "bare")
        os.makedirs(bare, mode=0o700)
        shutil.copy(os.path.join(base, "site", "token"), os.path.join(bare, "token"))
        env = dict(s.env, TORC_DATA_DIR=bare, TORC_API_URL=s.url.replace("127.0.0.1", "localhost"))
        r = run_torc(TORC, ["workflows", "list"], dict(env, TORC_CA_FILE=f"{pki}/ca.pem"))
        check(r.returncode == 0, f"TORC_CA_FILE with the site's CA: trusted ({r.stderr.strip()})")
        r = run_torc(TORC, ["workflows", "list", "--ca-file", f"{pki}/other-ca.pem"], env)
        check(r.returncode == 1 and "not signed by a CA of" in r.stderr,
              f"another CA: refused, saying why ({r.stderr.strip()})")
    finally:
        s.stop()

    # Flags: --tls on loopback; --no-tls only on loopback; http:// advertised by a TLS server.
    s = Server(TORC, os.path.join(base, "lo"), ["--tls"]).start()
    check(s.url.startswith("https://127.0.0.1:"), f"--tls on loopback serves HTTPS ({s.url})")
    s.stop()
    for flags, says in ((["--host", "0.0.0.0", "--no-tls"], "--no-tls serves plain HTTP"),
                        (["--host", "0.0.0.0", "--advertise-url", "http://login1"],
                         "says http://, but the server serves HTTPS"),
                        (["--tls-cert", f"{pki}/site.pem"], "--tls-cert and --tls-key go together"),
                        (["--tls-cert", f"{pki}/site.pem", "--tls-key", f"{pki}/ca.key"],
                         "is not the key of the certificate")):
        r = subprocess.run([TORC, "server", "run", "--port", "0", "--data-dir",
                            os.path.join(base, "refused")] + flags,
                           capture_output=True, text=True, timeout=30)
        check(r.returncode == 1 and says in r.stderr, f"{' '.join(flags)}: refused ({r.stderr.strip()})")


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
                        ["--host", "0.0.0.0", "--advertise-url", "https://127.0.0.1"]).start()
    try:
        addrs = listening_addresses(everywhere.port)
        check(addrs == {"00000000"}, f"--host 0.0.0.0 listens on every address ({addrs})")
        check("listening on 0.0.0.0, not loopback: other machines can reach the API (over HTTPS"
              in everywhere.log(), "... and says so")
        check(everywhere.api("GET", "/workflows", token="")[0] == 401, "... the token still guards it")
    finally:
        everywhere.stop()


def case_tls_client_resets(base):
    """A TLS client that resets its connection (RST) right after its request, as a worker
    killed with its node does, costs the server nothing: before the fix the answer's write
    raised SIGPIPE and the whole server exited 141 within a few hundred such clients."""
    server = Server(TORC, os.path.join(base, "r"), ["--tls"]).start()
    try:
        ctx = ssl.create_default_context(cafile=os.path.join(server.dir, "server.crt"))
        ctx.check_hostname = False
        token = server.token()
        body = b'{"worker_id": 1, "max_jobs": 0, "nodes": []}'
        paths = [b"/api/v1/workflows/1/claim", b"/api/v1/workflows"]  # guard and cpprestsdk
        for i in range(400):
            raw = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            try:
                conn = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
            except OSError:
                raw.close()
                break  # the server is gone: the check below says so
            conn.sendall(b"POST " + paths[i % 2] + b" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                         token.encode() + b"\r\nContent-Type: application/json\r\n"
                         b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()
        check(server.proc.poll() is None,
              f"the server runs on after 400 resets (exit status {server.proc.poll()})")
        status, body, _ = server.request("GET", "/api/v1/health", token="")
        check(status == 200, f"and answers ({status})")
    finally:
        server.stop()


def case_refused_client_exits(base):
    """A command refused by the server's certificate ends at once, every time: cpprestsdk freed
    the failed connection's TLS state after OpenSSL's exit handler had freed OpenSSL's locks,
    and 6 of 400 such commands hung at exit until killed."""
    pki = os.path.join(base, "pki")
    os.makedirs(pki)
    site_pki(pki)
    s = Server(TORC, os.path.join(base, "site"), ["--tls-cert", f"{pki}/site.pem",
                                                  "--tls-key", f"{pki}/site.key"]).start()
    try:
        bare = os.path.join(base, "bare")
        os.makedirs(bare, mode=0o700)
        shutil.copy(os.path.join(base, "site", "token"), os.path.join(bare, "token"))
        env = dict(s.env, TORC_DATA_DIR=bare, TORC_API_URL=s.url)
        hung, refused = 0, 0
        for _ in range(200):
            p = subprocess.Popen([TORC, "workflows", "list", "--ca-file", f"{pki}/other-ca.pem"],
                                 env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                 text=True)
            try:
                _, err = p.communicate(timeout=10)
                refused += p.returncode == 1 and "not signed by a CA of" in err
            except subprocess.TimeoutExpired:
                hung += 1
                p.kill()
                p.communicate()
        check(hung == 0 and refused == 200,
              f"200 refused commands each ended with the error ({refused} did, {hung} hung)")
    finally:
        s.stop()


if __name__ == "__main__":
    run_cases(cases_of(globals()), sys.argv[2:], "torc-access")
    finish()
