#!/usr/bin/env python3
"""Storage faults against a real `torc server run` process.

Usage: storage_fault_test.py TORC_BINARY [CASE ...]   (cases: fsize tmpfs busy)

- fsize: the database files may not grow (RLIMIT_FSIZE of the running server, set with
  prlimit, as `ulimit -f` or a quota would): every commit needs to grow the write-ahead log,
  so submits, claims and completions fail with 503; nothing half-done remains; the server
  stays up; when the limit is lifted the same requests succeed, also after a restart; a real
  worker started while the disk is full retries and finishes the workflow when space returns.
- tmpfs: the same on a real full file system (a tiny tmpfs filled by a filler file), when
  this runs as root and mount works; skipped otherwise.
- busy: another process holds the database's write lock (BEGIN EXCLUSIVE) longer than the
  server's busy timeout: writes get 503 quickly, reads keep working, and it all recovers
  when the lock goes; a lock held for less than the timeout is waited out.
"""
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from torc_testlib import NODE, Server, check, finish, result, run_cases, sweep, wait_for  # noqa: E402

TORC = os.path.abspath(sys.argv[1])
INF = resource.RLIM_INFINITY


def snapshot(server):
    """What a client can see: every workflow's counts, and every job's state."""
    status, body = server.api("GET", "/workflows")
    if status != 200:
        return None
    out = {}
    for w in body["workflows"]:
        s, jobs = server.api("GET", f"/workflows/{w['workflow_id']}/jobs?limit=100000")
        out[w["workflow_id"]] = (w["name"], w["total"], w["counts"],
                                 [(j["name"], j["status"], j["attempt"]) for j in jobs["jobs"]])
    return out


def db_rows(db, sql):
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def is_503(status, body):
    return (status == 503 and isinstance(body, dict) and isinstance(body.get("error"), str)
            and body.get("retry") is True and "retry" in body["error"])


def retry_until_ok(fn, seconds=15):
    return wait_for(fn, lambda answer: answer[0] != 503, seconds, 0.2)


def exercise_full_disk(server, make_full, make_space, label):
    """Shared by the fsize and tmpfs cases: the server at `server` is running on a fresh dir."""
    status, body = server.api("POST", "/workflows", {"spec_text": sweep("first", 10)})
    check(status == 201, f"{label}: first submit succeeds ({status} {body})")
    wf = body["workflow_id"]
    status, w = server.api("POST", f"/workflows/{wf}/workers", {"hostname": "h"})
    check(status == 201, f"{label}: worker registers")
    worker = w["worker_id"]
    status, claim = server.api("POST", f"/workflows/{wf}/claim",
                               {"worker_id": worker, "max_jobs": 4, "nodes": [NODE]})
    check(status == 200 and len(claim["jobs"]) == 4, f"{label}: 4 jobs claimed")
    held = claim["jobs"]
    status, _ = server.api("POST", f"/workflows/{wf}/complete",
                           {"worker_id": worker, "results": [result(held[0])]})
    check(status == 200, f"{label}: a completion before the disk is full")

    before = snapshot(server)
    db = os.path.join(server.dir, "torc.db")
    events_before = db_rows(db, "SELECT COUNT(*) FROM events")[0][0]
    make_full()

    big = sweep("second", 300, pad=200_000)
    status, body = server.api("POST", "/workflows", {"spec_text": big, "owner": "x"})
    check(is_503(status, body), f"{label}: submit while full gets 503 with retry ({status} {body})")
    status, body = server.api("POST", f"/workflows/{wf}/complete",
                              {"worker_id": worker, "results": [result(held[1])]})
    check(is_503(status, body), f"{label}: completion while full gets 503 ({status} {body})")
    status, body = server.api("POST", f"/workflows/{wf}/claim",
                              {"worker_id": worker, "max_jobs": 2, "nodes": [NODE]})
    check(is_503(status, body), f"{label}: claim while full gets 503 ({status} {body})")
    status, body = server.api("POST", f"/workflows/{wf}/cancel", {"jobs": ["job_10"]})
    check(is_503(status, body), f"{label}: cancel while full gets 503 ({status} {body})")

    check(server.alive(), f"{label}: the server is still running")
    check(server.api("GET", "/health", token="")[0] == 200, f"{label}: health answers while full")
    during = snapshot(server)
    check(during == before, f"{label}: while full, workflows and jobs are exactly as before")
    check(db_rows(db, "SELECT COUNT(*) FROM workflows")[0][0] == 1,
          f"{label}: no half-created workflow in the database")
    check(db_rows(db, "SELECT COUNT(*) FROM events")[0][0] == events_before,
          f"{label}: no event was written while full")

    make_space()
    status, body = retry_until_ok(
        lambda: server.api("POST", "/workflows", {"spec_text": big, "owner": "x"}))
    check(status == 201 and body["jobs"] == 300, f"{label}: the same submit succeeds after space returns ({status} {body})")
    status, body = retry_until_ok(lambda: server.api(
        "POST", f"/workflows/{wf}/complete",
        {"worker_id": worker, "results": [result(j) for j in held[1:]]}))
    check(status == 200 and body["applied"] == 3, f"{label}: the completions succeed ({status} {body})")
    status, claim = server.api("POST", f"/workflows/{wf}/claim",
                               {"worker_id": worker, "max_jobs": 2, "nodes": [NODE]})
    check(status == 200 and len(claim["jobs"]) == 2, f"{label}: claims work again")

    after = snapshot(server)
    check(len(after) == 2, f"{label}: two workflows after recovery")
    counts = after[wf][2]
    check(counts["completed"] == 4 and counts["claimed"] == 2 and counts["ready"] == 4,
          f"{label}: first workflow: 4 completed, 2 claimed, 4 ready ({counts})")
    second = [k for k in after if k != wf][0]
    check(after[second][1] == 300 and after[second][2]["ready"] == 300,
          f"{label}: second workflow complete with 300 ready jobs")
    attempts = db_rows(db, f"SELECT job, attempt FROM attempts WHERE workflow_id = {wf}")
    check(len(attempts) == len(set(attempts)) == 4, f"{label}: 4 attempts recorded, none twice")

    # kill -9 and start again: what was acknowledged is there, nothing else.
    server.stop(signal.SIGKILL)
    server.start()
    restarted = snapshot(server)
    check(restarted == after, f"{label}: the same state after kill -9 and restart")


def worker_rides_it_out(server, make_full, make_space, base):
    """A real `torc worker run` started while the disk is full waits (503s, retried with
    backoff) and finishes the workflow once space returns."""
    status, body = server.api("POST", "/workflows", {"spec_text": sweep("ride", 20), "working_dir": base})
    wf = body["workflow_id"]
    make_full()
    env = dict(server.env, TORC_API_URL=server.url)
    env.pop("TORC_TOKEN", None)
    log = open(os.path.join(base, "worker.log"), "w")
    worker = subprocess.Popen([TORC, "worker", "run", "--workflow", str(wf), "--mode", "direct",
                               "--output-dir", os.path.join(base, "out")],
                              cwd=base, env=env, stdout=log, stderr=log)
    try:
        time.sleep(2)
        status, st = server.api("GET", f"/workflows/{wf}")
        check(status == 200 and st["counts"]["completed"] == 0 and worker.poll() is None,
              f"fsize: a worker started while full runs nothing yet and keeps trying ({st['counts']})")
        make_space()
        rc = worker.wait(timeout=60)
        status, st = server.api("GET", f"/workflows/{wf}")
        check(rc == 0 and st["complete"] and st["counts"]["completed"] == 20,
              f"fsize: ... and completes all 20 jobs once space returns (exit {rc}, {st['counts']})")
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        log.close()


def case_fsize(base):
    server = Server(TORC, os.path.join(base, "data")).start()
    pid = server.proc.pid
    db = os.path.join(server.dir, "torc.db")

    def make_full():
        # No file of the server may grow past its current largest database file.
        limit = max(os.path.getsize(db), os.path.getsize(db + "-wal"))
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (limit, INF))

    def make_space():
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (INF, INF))

    try:
        exercise_full_disk(server, make_full, make_space, "fsize")
        pid = server.proc.pid  # make_full reads it: the server was restarted
        worker_rides_it_out(server, make_full, make_space, base)
    finally:
        server.stop()


def case_tmpfs(base):
    mnt = os.path.join(base, "mnt")
    os.makedirs(mnt)
    if os.geteuid() != 0 or not shutil.which("mount"):
        print("skip: tmpfs (needs root)")
        return
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", mnt],
                       capture_output=True, text=True)
    if r.returncode != 0:
        print("skip: tmpfs (mount failed: " + r.stderr.strip() + ")")
        return
    server = Server(TORC, os.path.join(mnt, "data"), log_path=os.path.join(base, "tmpfs.log"))
    filler = os.path.join(mnt, "filler")

    def make_full():
        with open(filler, "wb", buffering=0) as f:
            chunk = b"\0" * 65536
            try:
                while True:
                    f.write(chunk)
            except OSError:
                pass
            try:  # the last pages, one by one
                while True:
                    os.write(f.fileno(), b"\0" * 512)
            except OSError:
                pass

    def make_space():
        os.remove(filler)

    try:
        server.start()
        exercise_full_disk(server, make_full, make_space, "tmpfs")
    finally:
        server.stop()
        subprocess.run(["umount", "-l", mnt])


def case_busy(base):
    server = Server(TORC, os.path.join(base, "data")).start()
    db = os.path.join(server.dir, "torc.db")
    try:
        status, body = server.api("POST", "/workflows", {"spec_text": sweep("locked", 10)})
        wf = body["workflow_id"]
        status, w = server.api("POST", f"/workflows/{wf}/workers", {"hostname": "h"})
        worker = w["worker_id"]
        status, claim = server.api("POST", f"/workflows/{wf}/claim",
                                   {"worker_id": worker, "max_jobs": 3, "nodes": [NODE]})
        held = claim["jobs"]
        before = snapshot(server)

        # Another process takes the write lock and keeps it (well past the 0.5 s timeout).
        locker = sqlite3.connect(db, isolation_level=None, timeout=5, check_same_thread=False)
        locker.execute("BEGIN EXCLUSIVE")
        locked_at = time.time()
        status, body, took = server.request("POST", "/api/v1/workflows",
                                            {"spec_text": sweep("blocked", 5)})
        check(is_503(status, body), f"busy: submit while locked gets 503 with retry ({status} {body})")
        check(took < 3, f"busy: ... within 3 s, not hanging ({took:.2f} s)")
        status, body, took = server.request(
            "POST", f"/api/v1/workflows/{wf}/complete",
            {"worker_id": worker, "results": [result(held[0])]})
        check(is_503(status, body) and took < 3, f"busy: completion gets 503 in {took:.2f} s")
        # Several at once: they queue on the server's lock, each still answered in time.
        answers = []

        def claim_once():
            answers.append(server.request("POST", f"/api/v1/workflows/{wf}/claim",
                                          {"worker_id": worker, "max_jobs": 1, "nodes": [NODE]}))
        threads = [threading.Thread(target=claim_once) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        check(all(a[0] == 503 for a in answers), f"busy: 4 parallel claims get 503 ({[a[0] for a in answers]})")
        check(max(a[2] for a in answers) < 6, f"busy: the slowest in {max(a[2] for a in answers):.2f} s")
        status, body, took = server.request("GET", f"/api/v1/workflows/{wf}")
        check(status == 200 and took < 2, f"busy: reads still work while locked ({status}, {took:.2f} s)")
        check(snapshot(server) == before, "busy: nothing changed while locked")
        check(time.time() - locked_at > 1.5, "busy: the lock was held longer than the busy timeout")
        check(server.alive(), "busy: the server is still running")
        locker.execute("ROLLBACK")

        status, body = server.api("POST", "/workflows", {"spec_text": sweep("blocked", 5)})
        check(status == 201, f"busy: submit succeeds once the lock is gone ({status} {body})")
        status, body = server.api("POST", f"/workflows/{wf}/complete",
                                  {"worker_id": worker, "results": [result(j) for j in held]})
        check(status == 200 and body["applied"] == 3, f"busy: completions succeed ({status} {body})")

        # A lock shorter than the busy timeout is waited out: no error at all.
        locker.execute("BEGIN EXCLUSIVE")
        release = threading.Timer(0.2, lambda: locker.execute("ROLLBACK"))
        release.start()
        status, body, took = server.request("POST", f"/api/v1/workflows/{wf}/cancel",
                                            {"jobs": ["job_10"]})
        release.join()
        check(status == 200 and took >= 0.1,
              f"busy: a 0.2 s lock is waited out ({status}, {took:.2f} s)")
        locker.close()

        after = snapshot(server)
        check(after[wf][2]["completed"] == 3 and after[wf][2]["canceled"] == 1,
              f"busy: first workflow has 3 completed, 1 canceled ({after[wf][2]})")
        server.stop(signal.SIGKILL)
        server.start()
        check(snapshot(server) == after, "busy: the same state after kill -9 and restart")
    finally:
        server.stop()


CASES = {"fsize": case_fsize, "tmpfs": case_tmpfs, "busy": case_busy}

if __name__ == "__main__":
    run_cases(CASES, sys.argv[2:], "torc-storage")
    finish()
