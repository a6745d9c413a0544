#!/usr/bin/env python3
"""Graceful degradation: the server goes away while jobs run and comes back later.

1. outage: 4 jobs of 4 s run on a worker; the server is killed (kill -9) while they run and
   stays down for 7 s, longer than the workers' lease (3 s with --heartbeat-seconds 1). The
   worker keeps its jobs running, retries with backoff, and reports their completions when the
   server returns: every job completes as attempt 1, each ran once, nothing was requeued.
2. restart: the server is stopped and restarted (SIGTERM) between two waves of jobs; the same
   worker re-attaches (same worker id, no new registration) and finishes the second wave.

Usage: degradation_test.py TORC_BINARY
"""
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from torc_testlib import (Server, cases_of, check, finish, lines_of, run_cases,  # noqa: E402
                          wait_for, write)

TORC = os.path.abspath(sys.argv[1])


class Setup:
    def __init__(self, work, workflow):
        self.work = work
        # On a fixed port and data directory, so it can be killed and restarted where the
        # worker expects it; --heartbeat-seconds 1 makes the lease 3 s.
        self.server = Server(TORC, os.path.join(self.work, "data"), ["--heartbeat-seconds", "1"],
                             log_path=os.path.join(self.work, "server.log"), fixed_port=True)
        self.url, self.env = self.server.url, self.server.env
        write(os.path.join(self.work, "wf.yaml"), workflow)
        self.server.start()
        self.server.submit("wf.yaml", self.work)
        self.worker_log = os.path.join(self.work, "worker.log")
        self.worker = subprocess.Popen(
            [TORC, "worker", "run", "--url", self.url, "--workflow", "1", "--cpus", "4",
             "--memory", "2g", "--idle-timeout", "60"],
            cwd=self.work, env=self.env, stdout=open(self.worker_log, "w"),
            stderr=subprocess.STDOUT)

    def api(self, path):
        return self.server.get(path)

    def wait_counts(self, pred, timeout):
        return wait_for(lambda: self.api("/workflows/1")["counts"], pred, timeout)

    def executions(self):
        return lines_of(os.path.join(self.work, "exec.log"))

    def events(self):
        return self.api("/workflows/1/events?limit=10000")["events"]

    def finish(self):
        try:
            self.worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.worker.kill()
            check(False, "the worker stopped at the end")
        self.server.stop(signal.SIGTERM)


def case_outage(d):
    s = Setup(d, """\
name: outage
jobs:
  - name: "j_{i}"
    command: 'echo "$TORC_JOB_NAME $TORC_ATTEMPT" >> exec.log; sleep 4'
    parameters: {i: "1:4"}
""")
    counts = s.wait_counts(lambda c: c["running"] == 4, 30)
    check(counts["running"] == 4, "outage: 4 jobs running before the outage: %s" % counts)
    s.server.stop(signal.SIGKILL)
    time.sleep(7)  # longer than the lease (3 s)
    check(s.worker.poll() is None, "outage: the worker stayed up while the server was away")
    s.server.start()
    counts = s.wait_counts(lambda c: c["completed"] == 4, 30)
    check(counts["completed"] == 4, "outage: all 4 completed after the server came back: %s" % counts)
    jobs = s.api("/workflows/1/jobs")["jobs"]
    check(all(j["attempt"] == 1 for j in jobs), "outage: every job completed as attempt 1: %s" %
          [(j["name"], j["attempt"]) for j in jobs])
    check(len(s.executions()) == 4, "outage: each job ran once: %s" % s.executions())
    kinds = [e["kind"] for e in s.events()]
    check("requeued" not in kinds and "lease_expired" not in kinds,
          "outage: nothing was requeued: %s" % kinds)
    s.finish()
    log = open(s.worker_log).read()
    check("server trouble, will retry" in log and "the server answers again" in log,
          "outage: the worker logged the trouble and the recovery: " + log)


def case_restart(d):
    s = Setup(d, """\
name: restart
jobs:
  - name: "first_{i}"
    command: 'echo "$TORC_JOB_NAME $TORC_ATTEMPT" >> exec.log; sleep 2'
    parameters: {i: "1:4"}
  - name: "second_{i}"
    command: 'echo "$TORC_JOB_NAME $TORC_ATTEMPT" >> exec.log; sleep 1'
    depends_on: ["first_{i}"]
    parameters: {i: "1:4"}
""")
    counts = s.wait_counts(lambda c: c["running"] == 4, 30)
    check(counts["running"] == 4, "restart: first wave running: %s" % counts)
    s.server.stop(signal.SIGTERM)
    time.sleep(1)
    s.server.start()
    counts = s.wait_counts(lambda c: c["completed"] == 8, 40)
    check(counts["completed"] == 8, "restart: both waves completed: %s" % counts)
    events = s.events()
    registered = [e for e in events if e["kind"] == "worker_registered"]
    check(len(registered) == 1, "restart: the worker re-attached without registering again: %s" %
          [e["kind"] for e in events])
    check(sorted(x[0] for x in s.executions()) == sorted(
        ["first_%d" % i for i in range(1, 5)] + ["second_%d" % i for i in range(1, 5)]),
        "restart: each job ran exactly once: %s" % s.executions())
    s.finish()


# Each case in its own temporary directory, removed afterwards (TORC_KEEP_TEST_DIRS=1 keeps it).
run_cases(cases_of(globals()), sys.argv[2:], "torc-degrade")
finish(passed="degradation: all checks passed")
