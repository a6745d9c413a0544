"""Shared by the Python tests that drive a real `torc server run` and real workers
(tests/server, tests/worker, tests/slurm, tests/reliability). Standard library only.

A script imports it with
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
    from torc_testlib import ...

- check(cond, what) records a failed check in `failures`; finish() prints them and exits 1.
- run_cases(cases, names, prefix) runs each case in a fresh temporary directory; a case that
  raises is a failure, never a skip (TORC_KEEP_TEST_DIRS=1 keeps the directories).
- Server: a `torc server run` child on a data directory, on a port of the kernel's choosing
  (read back from <data>/server.url) or, with fixed_port=True, on one free port picked here
  so that it can be killed and restarted where workers expect it.
- records() and max_overlap() read the timing lines the stand-in jobs append.
"""
import http.client
import json
import os
import random
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.parse

failures = []


def check(cond, what):
    if cond:
        print("ok:", what)
    else:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)
    return cond


def finish(failed_list=None, passed="all checks passed"):
    """Exit 1 listing every failed check, else print `passed`."""
    failed_list = failures if failed_list is None else failed_list
    if failed_list:
        print(f"{len(failed_list)} check(s) failed:", file=sys.stderr)
        for f in failed_list:
            print("  " + f, file=sys.stderr)
        sys.exit(1)
    print(passed)


def run_cases(cases, names, prefix):
    """Run cases[name](work_dir) for each name (all when `names` is empty), each in a fresh
    temporary directory. An exception in a case is a failed check; the others still run."""
    for name in names or list(cases):
        base = tempfile.mkdtemp(prefix=f"{prefix}-{name}-")
        print(f"== {name} ({base})", flush=True)
        t0, before = time.time(), len(failures)
        try:
            cases[name](base)
        except Exception as e:  # a crash of the test is a failure, not a skip
            traceback.print_exc()
            check(False, f"{name}: raised {e!r}")
        finally:
            if not os.environ.get("TORC_KEEP_TEST_DIRS"):
                shutil.rmtree(base, ignore_errors=True)
        state = "ok" if len(failures) == before else "FAILED"
        print(f"{name}: {state} ({time.time() - t0:.1f} s)", flush=True)


def cases_of(namespace):
    """{"x": case_x} for every function case_x in a module's globals()."""
    return {name[5:]: fn for name, fn in namespace.items() if name.startswith("case_")}


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def run_torc(torc, args, env=None, cwd=None, timeout=60):
    """The torc binary with `args`; output captured as text."""
    return subprocess.run([torc] + list(args), env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


def free_port():
    """A free port for a server that is killed and restarted on it: not from the ephemeral
    range, where another process's `--port 0` or outgoing connection could take it while the
    server is down (tests/server/server_process.h FreeFixedPort: same rule)."""
    for _ in range(200):
        port = 20000 + 100 * random.randrange(127) + 50 + random.randrange(50)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_holders(port):
    """What holds TCP `port` on this machine (ss, every state, with processes where visible),
    and the kernel's ephemeral range: for a message when a fixed port is unexpectedly taken."""
    try:
        rng = open("/proc/sys/net/ipv4/ip_local_port_range").read().split()
    except OSError:
        rng = ["?", "?"]
    try:
        out = subprocess.run(["ss", "-tanpe", "state", "all", "( sport = :%d )" % port],
                             capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError) as e:
        out = "(ss failed: %s)\n" % e
    return "ephemeral range %s-%s\n%s" % (rng[0], rng[-1], out)


class Server:
    """A `torc server run` child on its own data directory.

    `extra` are more flags (e.g. ["--heartbeat-seconds", "1"], ["--multi-user"]). `env` is the
    environment to start from (default os.environ); self.env adds TORC_DATA_DIR, and with
    fixed_port TORC_API_URL, for clients and workers. Use start()/stop(), or `with`.
    """

    def __init__(self, torc, data_dir, extra=(), log_path=None, env=None, fixed_port=False):
        self.torc, self.dir, self.extra = torc, data_dir, list(extra)
        self.log_path = log_path or os.path.join(data_dir, "server.log")
        self.env = dict(os.environ if env is None else env, TORC_DATA_DIR=data_dir)
        self.proc = None
        self.port = free_port() if fixed_port else 0
        self.url = f"http://127.0.0.1:{self.port}" if fixed_port else None
        if fixed_port:
            self.env["TORC_API_URL"] = self.url
        self.starts = 0

    def start(self, timeout=30):
        """Start and wait until <data>/server.url is written and health answers; once started,
        a restart reuses the same port.

        A restart on the fixed port can find it taken by another process while this server
        was down (the port is free for anyone then). That is the test machine's doing, not
        the server's: say who holds it (ss) on stderr and try again until `timeout`."""
        try:
            os.remove(os.path.join(self.dir, "server.url"))
        except FileNotFoundError:
            pass
        os.makedirs(self.dir, exist_ok=True)
        args = [self.torc, "server", "run", "--data-dir", self.dir, "--port", str(self.port)]
        deadline = time.time() + timeout
        log_start = self._log_size()
        with open(self.log_path, "a") as log:
            self.proc = subprocess.Popen(args + self.extra, stdout=log, stderr=log, env=self.env)
        self.starts += 1
        while time.time() < deadline:
            if self.proc.poll() is not None:
                tail = self.log()[log_start:]
                if self.port and "Address already in use" in tail and time.time() < deadline:
                    sys.stderr.write("torc_testlib: port %d is taken while the server restarts; "
                                     "retrying. Holders:\n%s" % (self.port, port_holders(self.port)))
                    time.sleep(0.5)
                    log_start = self._log_size()
                    with open(self.log_path, "a") as log:
                        self.proc = subprocess.Popen(args + self.extra, stdout=log, stderr=log,
                                                     env=self.env)
                    continue
                raise RuntimeError("server exited at start: " + self.log() +
                                   ("\nport %d holders:\n%s" % (self.port, port_holders(self.port))
                                    if self.port else ""))
            try:
                url = open(os.path.join(self.dir, "server.url")).read().strip()
            except FileNotFoundError:
                url = ""
            if url:
                self.url = url
                self.port = int(url.rsplit(":", 1)[1])
                if "TORC_API_URL" in self.env:  # fixed_port: the scheme is the server's
                    self.env["TORC_API_URL"] = url
                if self.request("GET", "/api/v1/health", token="", timeout=2)[0] == 200:
                    return self
            time.sleep(0.05)
        raise RuntimeError("server did not start: " + self.log())

    def _log_size(self):
        try:
            return len(self.log())
        except OSError:
            return 0

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)
        self.proc = None

    def __enter__(self):
        return self if self.alive() else self.start()

    def __exit__(self, *exc):
        self.stop()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log(self):
        try:
            return open(self.log_path).read()
        except FileNotFoundError:
            return ""

    def token(self):
        return open(os.path.join(self.dir, "token")).read().strip()

    # ---- HTTP ------------------------------------------------------------------------------

    def connection(self, timeout=30):
        """An http.client connection to the server, HTTPS when server.url says so, trusting
        the data directory's server.crt (and checking that it names the URL's host)."""
        host = urllib.parse.urlparse(self.url).hostname
        if self.url.startswith("https://"):
            context = ssl.create_default_context(cafile=os.path.join(self.dir, "server.crt"))
            # A site's certificate is not self-signed: trusted as it is, like torc pins it.
            context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
            return http.client.HTTPSConnection(host, self.port, timeout=timeout, context=context)
        return http.client.HTTPConnection(host, self.port, timeout=timeout)

    def request(self, method, path, body=None, token=None, timeout=30, raw_body=None):
        """(status, parsed JSON or None, seconds taken); status 0 on a transport error."""
        if token is None:
            token = self.token()
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = "Bearer " + token
        data = raw_body if raw_body is not None else (None if body is None else json.dumps(body))
        start = time.time()
        try:
            conn = self.connection(timeout)
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            text = resp.read()
            conn.close()
        except (OSError, http.client.HTTPException):
            return 0, None, time.time() - start
        try:
            parsed = json.loads(text) if text else None
        except ValueError:
            parsed = None
        return resp.status, parsed, time.time() - start

    def api(self, method, path, body=None, token=None, timeout=30):
        """(status, parsed JSON) of /api/v1<path>."""
        status, parsed, _ = self.request(method, "/api/v1" + path, body, token, timeout)
        return status, parsed

    def get(self, path, timeout=5):
        """The JSON of GET /api/v1<path>; OSError unless it answers 200 (e.g. while down)."""
        status, parsed = self.api("GET", path, timeout=timeout)
        if status != 200:
            raise OSError(f"GET /api/v1{path}: status {status}")
        return parsed

    # ---- the CLI against this server ------------------------------------------------------

    def cli(self, *args, cwd=None, timeout=60):
        return run_torc(self.torc, args, self.env, cwd, timeout)

    def submit(self, path, cwd):
        """`torc submit --json path` (a failed check if it fails); the workflow id or None."""
        r = self.cli("submit", "--json", path, cwd=cwd)
        if not check(r.returncode == 0, f"torc submit {path} (exit {r.returncode}) {r.stderr.strip()}"):
            return None
        return json.loads(r.stdout)["workflow_id"]

    def status(self, wf):
        """`torc status wf --json`."""
        return json.loads(self.cli("status", str(wf), "--json").stdout)

    def jobs(self, wf):
        """`torc jobs list wf --json` as {name: job}."""
        return {j["name"]: j for j in json.loads(self.cli("jobs", "list", str(wf), "--json").stdout)}

    def wait(self, wf, timeout=180):
        """The status once the workflow is complete, or the last one after `timeout` s."""
        return wait_for(lambda: self.status(wf), lambda s: s["complete"], timeout, 0.5)


def write_hog(path, mib, cpu_seconds, sleep=0):
    """A python script that holds `mib` MiB (touched), burns `cpu_seconds` of CPU, sleeps."""
    write(path, f"""import time
b = bytearray({mib} * 1024 * 1024)
b[::4096] = b"x" * len(b[::4096])
t = time.process_time()
while time.process_time() - t < {cpu_seconds}:
    pass
time.sleep({sleep})
""")


def plain_http_answer(host, port, token):
    """Everything a plain-HTTP request for the workflow list gets back from host:port (an HTTPS
    server closes the connection without a byte)."""
    got = b""
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(f"GET /api/v1/workflows HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer "
                     f"{token}\r\n\r\n".encode())
        try:
            while chunk := sock.recv(65536):
                got += chunk
        except OSError:  # reset: the TLS side closes on a request it cannot read
            pass
    return got


def wait_for(probe, done, timeout, interval=0.1):
    """probe() until done(value) or `timeout` s have passed; the last value."""
    deadline = time.time() + timeout
    while True:
        value = probe()
        if done(value) or time.time() >= deadline:
            return value
        time.sleep(interval)


# ---- what the stand-in jobs record -------------------------------------------------------

def lines_of(path):
    """The whitespace-split lines of a file the jobs append to; [] if none wrote it."""
    return [line.split() for line in open(path)] if os.path.exists(path) else []


def records(path, fields):
    """Lines of exactly len(fields) words as dicts. `fields` are names, "name:f" for a float,
    "name:i" for an int, e.g. ["job", "start:f", "end:f", "cpus:i"]."""
    kinds = {"f": float, "i": int}
    spec = [(f.split(":")[0], kinds[f.split(":")[1]] if ":" in f else str) for f in fields]
    return [{name: kind(v) for (name, kind), v in zip(spec, p)}
            for p in lines_of(path) if len(p) == len(spec)]


def max_overlap(intervals):
    """Largest total weight running at the same moment, over (start, end, weight) intervals;
    one that ends as another starts does not overlap it."""
    events = sorted([(s, 1, w) for s, _, w in intervals] + [(e, 0, w) for _, e, w in intervals])
    cur = best = 0
    for _, starts, w in events:
        cur += w if starts else -w
        best = max(best, cur)
    return best


# ---- raw API requests (tests/server) -----------------------------------------------------

def sweep(name, n, command="true", pad=0):
    """A workflow file of n independent jobs; `pad` bytes of comment make it big."""
    text = f"name: {name}\njobs:\n  - name: job_{{i}}\n    command: \"{command}\"\n" \
           f"    parameters: {{i: \"1:{n}\"}}\n"
    if pad:
        text += ("# " + "x" * 98 + "\n") * (pad // 100)
    return text


NODE = {"free_cpus": 64, "free_memory_bytes": 64 << 30, "total_cpus": 64,
        "total_memory_bytes": 64 << 30, "idle": True}


def result(job, status="completed"):
    now = time.time()
    return {"id": job["id"], "attempt": job["attempt"], "status": status, "exit_code": 0,
            "start_time": now - 1, "end_time": now}
