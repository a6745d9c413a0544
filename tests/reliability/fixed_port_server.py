"""Shared by the reliability tests: check() and a real `torc server run` on a fixed port and
data directory, so it can be killed and restarted where workers expect it. Standard library only."""
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FixedPortServer:
    """`torc server run --heartbeat-seconds 1` (lease 3 s) on <work>/data and one free port."""

    def __init__(self, torc, work):
        self.torc = torc
        self.work = work
        self.data = os.path.join(work, "data")
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.env = dict(os.environ, TORC_DATA_DIR=self.data, TORC_API_URL=self.url)
        self.proc = None
        self.starts = 0
        self.token = None

    def start(self):
        log = open(os.path.join(self.work, "server.log"), "a")
        self.proc = subprocess.Popen(
            [self.torc, "server", "run", "--port", str(self.port), "--heartbeat-seconds", "1"],
            env=self.env, stdout=log, stderr=log)
        self.starts += 1
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/api/v1/health", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.05)
        else:
            raise RuntimeError("the server did not come up (see %s/server.log)" % self.work)
        if self.token is None:
            self.token = open(os.path.join(self.data, "token")).read().strip()

    def stop(self, sig):
        self.proc.send_signal(sig)
        self.proc.wait()

    def api(self, path):
        req = urllib.request.Request(self.url + "/api/v1" + path,
                                     headers={"Authorization": "Bearer " + self.token})
        with urllib.request.urlopen(req, timeout=5) as r:
            return json.loads(r.read())
