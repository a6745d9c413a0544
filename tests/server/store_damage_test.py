#!/usr/bin/env python3
"""A damaged store against a real `torc server run`: it refuses to start, naming what is
damaged, and writes nothing.

Usage: store_damage_test.py TORC_BINARY [CASE ...]   (cases: rows history page healthy)

A server runs a small workflow (one job completed, two claimed, one event, a worker, a
checkpointed job log) and stops; each case damages a copy of its data directory and starts
`torc server run` on it:
- rows: one bad value per kind (a job index of -1, past the end, 2^32; an attempt number; a
  status; a checkpoint_seq moved past the job log, which turned completed jobs back to ready)
  -> exit 1, no crash, a message naming the table, the row and the value, and the recovery
  advice; torc.db is byte for byte what it was.
- history: torc.db emptied (0 bytes) beside the server.port of the earlier runs -> refused,
  where it used to start an empty server whose workflow ids began again at 1.
- page: one page of an index the loader never reads overwritten -> PRAGMA quick_check
  refuses it.
- healthy: the undamaged copy starts and shows the same state.
"""
import hashlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from torc_testlib import NODE, Server, check, finish, result, run_cases, sweep  # noqa: E402

TORC = os.path.abspath(sys.argv[1])
ADVICE = "the database is damaged, so torc does not start on it (nothing was changed)"


def make_history(base):
    """A data directory after a real run; returns (dir, what GET /workflows/1/jobs showed)."""
    data = os.path.join(base, "pristine")
    server = Server(TORC, data).start()
    try:
        status, body = server.api("POST", "/workflows", {"spec_text": sweep("hist", 4)})
        assert status == 201, (status, body)
        wf = body["workflow_id"]
        status, w = server.api("POST", f"/workflows/{wf}/workers", {"hostname": "h"})
        status, claim = server.api("POST", f"/workflows/{wf}/claim",
                                   {"worker_id": w["worker_id"], "max_jobs": 3, "nodes": [NODE]})
        held = claim["jobs"]
        status, body = server.api("POST", f"/workflows/{wf}/complete",
                                  {"worker_id": w["worker_id"], "results": [result(held[0])]})
        assert status == 200, (status, body)
        jobs = server.api("GET", f"/workflows/{wf}/jobs")[1]["jobs"]
    finally:
        server.stop()
    return data, [(j["name"], j["status"], j["attempt"]) for j in jobs]


def damaged_copy(base, name, pristine, sql=None):
    data = os.path.join(base, name)
    shutil.copytree(pristine, data)
    if os.path.exists(os.path.join(data, "server.log")):
        os.remove(os.path.join(data, "server.log"))
    if sql:
        conn = sqlite3.connect(os.path.join(data, "torc.db"), isolation_level=None)
        conn.execute(sql)
        conn.close()
    return data


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def start_refused(data, label, expected):
    """`torc server run` on `data` must exit 1 by itself, saying `expected` and the advice,
    with torc.db unchanged."""
    db = os.path.join(data, "torc.db")
    before = digest(db)
    proc = subprocess.Popen([TORC, "server", "run", "--data-dir", data, "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        out, err = proc.communicate()
        check(False, f"{label}: the server refuses to start (it started: {err[-300:]!r})")
        return
    check(proc.returncode == 1,
          f"{label}: exits with 1, no crash (exit {proc.returncode}; {err[-400:]!r})")
    check(expected in err, f"{label}: the message names it: {expected!r} (got {err.strip()!r})")
    check(ADVICE in err and "docs/reliability.md" in err, f"{label}: says how to recover")
    check(digest(db) == before, f"{label}: torc.db is unchanged")


ROWS = [
    ("job index -1", "UPDATE attempts SET job = -1",
     "attempts row rowid 1: job is -1, outside 0..3"),
    ("job index past the end", "UPDATE attempts SET job = 4",
     "attempts row rowid 1: job is 4, outside 0..3"),
    ("job index 2^32", "UPDATE attempts SET job = 4294967296",
     "attempts row rowid 1: job is 4294967296, outside 0..3"),
    ("attempt 2^32", "UPDATE attempts SET attempt = 4294967296",
     "attempts row rowid 1: attempt is 4294967296, outside 1..4294967295"),
    ("bad status", "UPDATE attempts SET status = 99",
     "attempts row rowid 1: status is 99, outside 0..8 (a job status)"),
    ("bad worker state", "UPDATE workers SET alive = 7", "workers row id 1: alive is 7"),
    # The completion's job_log row falls under the checkpoint: it used to be skipped, so the
    # completed job came back as claimed, was requeued and would have run again.
    ("changed checkpoint_seq",
     "UPDATE workflows SET checkpoint_seq = (SELECT MAX(seq) FROM job_log)",
     "the checkpoint of workflow 1 claims to include it"),
]


def case_rows(base):
    pristine, _ = make_history(base)
    for i, (label, sql, expected) in enumerate(ROWS):
        data = damaged_copy(base, f"rows{i}", pristine, sql)
        start_refused(data, label, expected)


def case_history(base):
    pristine, _ = make_history(base)
    check(os.path.exists(os.path.join(pristine, "server.port")), "history: server.port is there")
    data = damaged_copy(base, "emptied", pristine)
    os.truncate(os.path.join(data, "torc.db"), 0)
    start_refused(data, "history: 0-byte torc.db beside server.port",
                  "the database file is empty (0 bytes), but " +
                  os.path.join(data, "server.port"))
    # The same without any sign of an earlier run is a first start.
    fresh = os.path.join(base, "fresh")
    os.makedirs(fresh, mode=0o700)
    open(os.path.join(fresh, "torc.db"), "w").close()
    server = Server(TORC, fresh)
    try:
        server.start()
        check(server.api("GET", "/workflows")[1]["workflows"] == [],
              "history: an empty torc.db in a new directory starts as a new store")
    finally:
        server.stop()


def case_page(base):
    pristine, _ = make_history(base)
    data = damaged_copy(base, "page", pristine)
    db = os.path.join(data, "torc.db")
    conn = sqlite3.connect(db)
    root = conn.execute(
        "SELECT rootpage FROM sqlite_schema WHERE name = 'events_by_workflow'").fetchone()[0]
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    with open(db, "r+b") as f:
        f.seek((root - 1) * page_size)
        f.write(b"\x55")  # the page type byte of an index page the loader does not read
    start_refused(data, "page: a damaged index page", "PRAGMA quick_check found damage")


def case_healthy(base):
    pristine, jobs = make_history(base)
    server = Server(TORC, damaged_copy(base, "healthy", pristine))
    try:
        server.start()
        now = server.api("GET", "/workflows/1/jobs")[1]["jobs"]
        # The worker's lease was renewed at the start, so its claimed jobs stay claimed.
        check([(j["name"], j["status"], j["attempt"]) for j in now] == jobs,
              f"healthy: the same state after the restart ({now})")
        check(sum(1 for j in now if j["status"] == "completed") == 1,
              "healthy: the completed job stays completed")
    finally:
        server.stop()


CASES = {"rows": case_rows, "history": case_history, "page": case_page, "healthy": case_healthy}

if __name__ == "__main__":
    run_cases(CASES, sys.argv[2:], "torc-store-damage")
    finish()
