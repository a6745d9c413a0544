"""Helpers for the Python tests that run a real `torc server run` process
(storage_fault_test.py, multi_user_test.py, access_test.py). Standard library only."""
import http.client
import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse

failures = []


def check(cond, what):
    if cond:
        print("ok:", what)
    else:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)
    return cond


class Server:
    """A `torc server run` child on its own data directory."""

    def __init__(self, torc, data_dir, extra=(), log_path=None, env=None):
        self.torc, self.dir, self.extra = torc, data_dir, list(extra)
        self.log_path = log_path or os.path.join(data_dir, "server.log")
        self.env = env
        self.proc = None
        self.port = 0
        self.url = None

    def start(self, timeout=30):
        try:
            os.remove(os.path.join(self.dir, "server.url"))
        except FileNotFoundError:
            pass
        os.makedirs(self.dir, exist_ok=True)
        args = [self.torc, "server", "run", "--data-dir", self.dir, "--port", str(self.port)]
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen(args + self.extra, stdout=log, stderr=log, env=self.env)
        log.close()
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("server exited at start: " + self.log())
            try:
                url = open(os.path.join(self.dir, "server.url")).read().strip()
            except FileNotFoundError:
                url = ""
            if url:
                self.url = url
                self.port = int(url.rsplit(":", 1)[1])
                if self.request("GET", "/api/v1/health", token="")[0] == 200:
                    return self
            time.sleep(0.05)
        raise RuntimeError("server did not start: " + self.log())

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)
        self.proc = None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log(self):
        try:
            return open(self.log_path).read()
        except FileNotFoundError:
            return ""

    def token(self):
        return open(os.path.join(self.dir, "token")).read().strip()

    def request(self, method, path, body=None, token=None, timeout=30, raw_body=None):
        """(status, parsed JSON or None, seconds taken); status 0 on a transport error."""
        if token is None:
            token = self.token()
        host = urllib.parse.urlparse(self.url).hostname
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = "Bearer " + token
        data = raw_body if raw_body is not None else (None if body is None else json.dumps(body))
        start = time.time()
        try:
            conn = http.client.HTTPConnection(host, self.port, timeout=timeout)
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
        status, parsed, _ = self.request(method, "/api/v1" + path, body, token, timeout)
        return status, parsed


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


def finish(failed_list):
    if failed_list:
        print(f"{len(failed_list)} check(s) failed:", file=sys.stderr)
        for f in failed_list:
            print("  " + f, file=sys.stderr)
        sys.exit(1)
    print("all checks passed")
