#!/usr/bin/env python3
"""Chaos run: a 5,000-job workflow with fan-in runs to the end while a driver kill -9s the
server (>= 10 times, restarted on the same port and data directory) and the workers (>= 5 times,
each replaced by a new one) at random moments.

Every job appends "<name> <attempt>" to exec.log as it starts, so exec.log is the list of
process executions. At the end the test checks, from the server's database:
  - every job completed, exactly once;
  - no (job, attempt) was executed twice, and every execution has its attempt record;
  - every recorded attempt was executed, except attempts abandoned before they started (claimed
    by a worker that was killed, or whose server died, before launching them): those must be
    "abandoned" records; so executions == recorded attempts - abandoned-before-start;
  - no attempt was recorded twice and every attempt that did not complete is explained by an
    event (requeued/retry/terminated) naming that job and attempt.
Figures go to chaos_result.json in the work directory and are printed.

Usage: chaos_test.py TORC_BINARY [--keep] [--seed N]
"""
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from torc_testlib import Server, check, failures, finish  # noqa: E402

TORC = os.path.abspath(sys.argv[1])
KEEP = "--keep" in sys.argv
SEED = int(sys.argv[sys.argv.index("--seed") + 1]) if "--seed" in sys.argv else int(time.time())
SERVER_KILLS = 10
WORKER_KILLS = 5
WORKERS = 3
DEADLINE_S = 600

WORKFLOW = """\
name: chaos
jobs:
  - name: "a_{g}_{k}"
    command: 'echo "$TORC_JOB_NAME $TORC_ATTEMPT" >> exec.log; sleep 0.05'
    parameters: {g: "1:50", k: "1:99"}
  - name: "b_{g}"
    command: 'echo "$TORC_JOB_NAME $TORC_ATTEMPT" >> exec.log; sleep 0.05'
    depends_on_regexes: ["^a_{g}_"]
    parameters: {g: "1:50"}
"""
TOTAL = 50 * 99 + 50


class Chaos:
    def __init__(self, work):
        self.work = work
        # On a fixed port and data directory, so it can be killed and restarted where the
        # workers expect it; --heartbeat-seconds 1 makes the lease 3 s.
        self.server = Server(TORC, os.path.join(work, "data"), ["--heartbeat-seconds", "1"],
                             log_path=os.path.join(work, "server.log"), fixed_port=True)
        self.env = self.server.env
        self.url = self.server.url
        self.data = self.server.dir
        self.workers = []
        self.worker_starts = 0

    def start_worker(self):
        log = open(os.path.join(self.work, "worker.log"), "a")
        p = subprocess.Popen(
            [TORC, "worker", "run", "--url", self.url, "--workflow", "1", "--cpus", "2",
             "--memory", "2g", "--idle-timeout", "120", "--output-dir",
             os.path.join(self.work, "out")],
            cwd=self.work, env=self.env, stdout=log, stderr=log)
        self.worker_starts += 1
        self.workers.append(p)

    def api(self, path):
        return self.server.get(path)

    def counts(self):
        try:
            return self.api("/workflows/1")["counts"]
        except OSError:
            return None  # the server is down right now


def main():
    rng = random.Random(SEED)
    work = tempfile.mkdtemp(prefix="torc-chaos-")
    print("chaos: seed %d, work dir %s" % (SEED, work))
    with open(os.path.join(work, "wf.yaml"), "w") as f:
        f.write(WORKFLOW)
    c = Chaos(work)
    c.server.start()
    c.server.submit("wf.yaml", work)
    for _ in range(WORKERS):
        c.start_worker()

    t0 = time.time()
    server_kills = worker_kills = 0
    # Alternate the faults at random moments while the work goes on; then let it finish.
    plan = ["server"] * SERVER_KILLS + ["worker"] * WORKER_KILLS
    rng.shuffle(plan)
    done = False
    while time.time() - t0 < DEADLINE_S:
        time.sleep(rng.uniform(0.8, 2.2) if plan else 0.5)
        counts = c.counts()
        if counts is not None and counts.get("completed") == TOTAL:
            done = True
            break
        if counts is not None and plan and counts.get("completed", 0) > TOTAL * 0.95:
            print("chaos: the work is nearly done with %d faults left" % len(plan))
        if not plan:
            for p in list(c.workers):  # keep WORKERS alive even after the faults
                if p.poll() is not None:
                    c.workers.remove(p)
            continue
        what = plan.pop()
        if what == "server":
            c.server.stop(signal.SIGKILL)
            server_kills += 1
            time.sleep(rng.uniform(0.0, 1.0))  # down for a while; workers must wait it out
            c.server.start()
        else:
            live = [p for p in c.workers if p.poll() is None]
            if live:
                victim = rng.choice(live)
                victim.send_signal(signal.SIGKILL)
                victim.wait()
                worker_kills += 1
            c.workers = [p for p in c.workers if p.poll() is None]
            c.start_worker()
        print("chaos: t=%.1f s %s killed (server %d, worker %d), counts %s" %
              (time.time() - t0, what, server_kills, worker_kills, counts), flush=True)
    elapsed = time.time() - t0
    check(done, "the workflow completed within %d s" % DEADLINE_S)
    check(server_kills >= SERVER_KILLS, "%d server kills (>= %d)" % (server_kills, SERVER_KILLS))
    check(worker_kills >= WORKER_KILLS, "%d worker kills (>= %d)" % (worker_kills, WORKER_KILLS))

    jobs = {j["id"]: j["name"] for j in c.api("/workflows/1/jobs?limit=100000")["jobs"]}
    for p in c.workers:
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            check(False, "every worker stopped after the workflow completed")
    c.server.stop(signal.SIGTERM)

    executions = []
    with open(os.path.join(work, "exec.log")) as f:
        for line in f:
            name, attempt = line.split()
            executions.append((name, int(attempt)))
    db = sqlite3.connect(os.path.join(c.data, "torc.db"))
    attempts = {}
    duplicate_records = 0
    for job, attempt, status, reason in db.execute(
            "SELECT job, attempt, status, reason FROM attempts WHERE workflow_id = 1"):
        key = (jobs[job], attempt)
        duplicate_records += key in attempts
        attempts[key] = (status, reason)
    events = set()
    for kind, job, attempt in db.execute(
            "SELECT kind, job, attempt FROM events WHERE workflow_id = 1 AND job >= 0"):
        if kind in ("requeued", "retry", "terminated"):
            events.add((jobs[job], attempt))
    completed_code = 4  # JobStatus::kCompleted in server/model.h

    seen = set()
    duplicate_executions = [e for e in executions if e in seen or seen.add(e)]
    check(not duplicate_executions,
          "nothing executed twice under the same attempt: %s" % duplicate_executions[:5])
    missing_record = [e for e in seen if e not in attempts]
    check(not missing_record,
          "every execution has an attempt record; without: %s" % missing_record[:5])
    not_executed = [k for k in attempts if k not in seen]
    unexplained_unexecuted = [k for k in not_executed
                              if not attempts[k][1].startswith("abandoned")]
    check(not unexplained_unexecuted,
          "every attempt record with no execution was abandoned; not: %s" %
          unexplained_unexecuted[:5])
    check(duplicate_records == 0, "no attempt recorded twice (%d)" % duplicate_records)
    completions = {}
    for (name, attempt), (status, _) in attempts.items():
        if status == completed_code:
            completions[name] = completions.get(name, 0) + 1
    check(len(completions) == TOTAL and all(v == 1 for v in completions.values()),
          "every job completed exactly once: %d of %d, more than once: %d" %
          (len(completions), TOTAL, sum(v > 1 for v in completions.values())))
    unexplained = [k for k, (status, _) in attempts.items()
                   if status != completed_code and k not in events]
    check(not unexplained, "every attempt that did not complete has an event; not: %s" %
          unexplained[:5])

    result = {
        "seed": SEED, "jobs": TOTAL, "elapsed_s": round(elapsed, 1),
        "server_kills": server_kills, "worker_kills": worker_kills,
        "server_starts": c.server.starts, "worker_starts": c.worker_starts,
        "executions": len(executions), "attempt_records": len(attempts),
        "abandoned_before_start": len(not_executed),
        "requeued_attempts": sum(1 for (s, _) in attempts.values() if s != completed_code),
        "duplicate_executions": len(duplicate_executions),
        "duplicate_records": duplicate_records,
        "unexplained_requeues": len(unexplained),
    }
    print("chaos: " + json.dumps(result))
    with open(os.path.join(work, "chaos_result.json"), "w") as f:
        json.dump(result, f, indent=1)
    if failures:
        print("chaos: work dir kept: %s" % work)
    elif not KEEP:
        subprocess.run(["rm", "-rf", work])
    finish(passed="chaos: all checks passed")


if __name__ == "__main__":
    main()
