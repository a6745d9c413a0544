#!/usr/bin/env python3
"""Multi-user mode (`torc server run --multi-user`, docs/security.md) against a real server.

Usage: multi_user_test.py TORC_BINARY

Two users get tokens with `torc server add-user`; each submits; each sees only their own
workflows; every endpoint under another user's workflow answers 404 exactly like a workflow
that does not exist and changes nothing; the admin token sees both; a multi-user server runs
no actions for users; token files and the users file must be private; single-user mode
ignores user tokens and keeps the client's owner.
"""
import os
import stat
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from torc_testlib import (NODE, Server, check, finish, result, run_cases, run_torc,  # noqa: E402
                          sweep, wait_for)

TORC = os.path.abspath(sys.argv[1])


def cli(args, env_extra, cwd=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TORC_")}
    env.update(env_extra)
    return run_torc(TORC, args, env, cwd)


def read(path):
    return open(path).read().strip()


def main(base):
    data = os.path.join(base, "data")
    server = Server(TORC, data, ["--multi-user", "--heartbeat-seconds", "2"]).start()
    admin = server.token()
    users_file = os.path.join(data, "users")
    check(stat.S_IMODE(os.stat(users_file).st_mode) == 0o600, "the users file is created 0600")

    # ---- tokens ---------------------------------------------------------------------------
    tokens = {}
    for name in ("alice", "bob"):
        r = cli(["server", "add-user", name, "--data-dir", data], {})
        check(r.returncode == 0, f"add-user {name} ({r.stderr.strip()})")
        path = os.path.join(data, "tokens", name)
        check(path in r.stdout and "TORC_TOKEN_FILE=" in r.stdout, f"add-user {name} says where the token is")
        check(stat.S_IMODE(os.stat(path).st_mode) == 0o600, f"{name}'s token file is 0600")
        tokens[name] = read(path)
        check(len(tokens[name]) == 64 and tokens[name] != admin, f"{name} has a token of their own")
    users_text = open(users_file).read()
    check(all(t not in users_text for t in tokens.values()), "the users file holds no token, only digests")
    check(stat.S_IMODE(os.stat(users_file).st_mode) == 0o600, "the users file stays 0600")
    r = cli(["server", "add-user", "../evil", "--data-dir", data], {})
    check(r.returncode != 0 and "invalid user name" in r.stderr, "a bad user name is refused")

    # ---- submit: the owner comes from the token ----------------------------------------------
    wf_file = os.path.join(base, "wf.yaml")
    open(wf_file, "w").write(sweep("alices", 4))
    alice_env = {"TORC_API_URL": server.url, "TORC_TOKEN_FILE": os.path.join(data, "tokens", "alice"),
                 "USER": "bob"}  # the client claims to be bob: the server must not believe it
    r = cli(["submit", wf_file, "--json"], alice_env, cwd=base)
    check(r.returncode == 0, f"alice submits with TORC_TOKEN_FILE ({r.stderr.strip()})")
    wa = int(r.stdout.strip().split(":")[1].strip(" }")) if r.returncode == 0 else -1
    status, body = server.api("POST", "/workflows",
                              {"spec_text": sweep("bobs", 4), "owner": "alice"}, token=tokens["bob"])
    check(status == 201, "bob submits over the API")
    wb = body["workflow_id"]
    status, body = server.api("POST", "/workflows", {"spec_text": sweep("admins", 2), "owner": "carol"},
                              token=admin)
    wadmin = body["workflow_id"]

    def listing(token):
        status, body = server.api("GET", "/workflows", token=token)
        return {w["workflow_id"]: w["owner"] for w in body["workflows"]} if status == 200 else None

    check(listing(tokens["alice"]) == {wa: "alice"}, f"alice lists only hers, owner alice ({listing(tokens['alice'])})")
    check(listing(tokens["bob"]) == {wb: "bob"}, f"bob lists only his, owner bob despite the body ({listing(tokens['bob'])})")
    check(listing(admin) == {wa: "alice", wb: "bob", wadmin: "carol"}, "the admin lists every workflow")
    r = cli(["workflows", "list", "--json"], alice_env)
    check(r.returncode == 0 and "bobs" not in r.stdout and "alices" in r.stdout, "torc workflows list as alice")

    # ---- another user's workflow: 404 everywhere, like one that does not exist ---------------
    status, w = server.api("POST", f"/workflows/{wb}/workers", {"hostname": "b"}, token=tokens["bob"])
    bob_worker = w["worker_id"]
    status, claim = server.api("POST", f"/workflows/{wb}/claim",
                               {"worker_id": bob_worker, "max_jobs": 1, "nodes": [NODE]}, token=tokens["bob"])
    check(status == 200 and len(claim["jobs"]) == 1, "bob's worker (bob's token) claims a job")
    bob_job = claim["jobs"][0]
    status, bob_before = server.api("GET", f"/workflows/{wb}", token=admin)
    missing = 999999
    probes = [
        ("GET", "", None), ("GET", "/status", None), ("DELETE", "", None),
        ("GET", "/jobs", None), ("GET", "/jobs/0", None), ("GET", "/jobs/job_1", None),
        ("GET", "/events", None), ("GET", "/actions/due", None),
        ("POST", "/cancel", {}), ("POST", "/restart", {}),
        ("POST", "/workers", {"hostname": "x"}),
        ("POST", "/claim", {"worker_id": bob_worker, "max_jobs": 4, "nodes": [NODE]}),
        ("POST", "/start", {"worker_id": bob_worker, "jobs": [{"id": bob_job["id"], "attempt": 1}]}),
        ("POST", "/complete", {"worker_id": bob_worker, "results": [result(bob_job)]}),
        ("POST", f"/workers/{bob_worker}/heartbeat", {}),
        ("GET", f"/workers/{bob_worker}/jobs", None),
        ("DELETE", f"/workers/{bob_worker}", None),
        ("POST", "/actions/0/done", {"status": "done"}),
        ("POST", "/allocations", {}),
        ("GET", "/attempts", None), ("GET", "/timeline", None), ("GET", "/jobs/job_1/log", None),
    ]
    for method, suffix, body in probes:
        s1, b1 = server.api(method, f"/workflows/{wb}{suffix}", body, token=tokens["alice"])
        s2, b2 = server.api(method, f"/workflows/{missing}{suffix}", body, token=tokens["alice"])
        same = (b1 or {}).get("error", "").replace(str(wb), "N") == (b2 or {}).get("error", "").replace(str(missing), "N")
        check(s1 == 404 and s2 == 404 and same,
              f"alice: {method} /workflows/<bob's>{suffix} -> 404 like a missing one ({s1} {b1} / {s2} {b2})")
    status, bob_after = server.api("GET", f"/workflows/{wb}", token=admin)
    check(bob_after["counts"] == bob_before["counts"] and bob_after["counts"]["claimed"] == 1,
          f"bob's workflow is unchanged by all that ({bob_after['counts']})")
    check(server.api("GET", f"/workflows/{wadmin}", token=tokens["bob"])[0] == 404,
          "bob cannot see the admin's (carol's) workflow either")
    r = cli(["cancel", str(wb)], alice_env)
    check(r.returncode != 0 and f"no workflow {wb}" in r.stderr, f"torc cancel of bob's workflow as alice fails ({r.stderr.strip()})")
    r = cli(["status", str(wb)], alice_env)
    check(r.returncode != 0, "torc status of bob's workflow as alice fails")

    # ---- one's own workflow works in full, workers included ----------------------------------
    status, w = server.api("POST", f"/workflows/{wa}/workers", {"hostname": "a"}, token=tokens["alice"])
    check(status == 201, "alice registers a worker with her token")
    status, claim = server.api("POST", f"/workflows/{wa}/claim",
                               {"worker_id": w["worker_id"], "max_jobs": 4, "nodes": [NODE]}, token=tokens["alice"])
    check(status == 200 and len(claim["jobs"]) == 4, "alice's worker claims her jobs")
    status, body = server.api("POST", f"/workflows/{wa}/complete",
                              {"worker_id": w["worker_id"], "results": [result(j) for j in claim["jobs"]]},
                              token=tokens["alice"])
    check(status == 200 and body["applied"] == 4, "alice's worker completes them")
    # Bob's worker cannot report into alice's workflow with bob's token.
    status, _ = server.api("POST", f"/workflows/{wa}/complete",
                           {"worker_id": w["worker_id"], "results": []}, token=tokens["bob"])
    check(status == 404, "bob's token cannot report into alice's workflow")
    status, body = server.api("GET", f"/workflows/{wa}/events", token=tokens["alice"])
    check(status == 200 and len(body["events"]) > 0, "alice reads her events")
    # The server would read the file as its own account: refused for users (a symlink in
    # their directory could point at the server's token).
    status, body = server.api("GET", f"/workflows/{wa}/jobs/job_1/log", token=tokens["alice"])
    check(status == 403 and "read the file yourself" in body["error"], f"a user gets no job log from the server ({status})")
    status, body = server.api("GET", f"/workflows/{wb}", token=admin)
    check(status == 200 and body["owner"] == "bob", "the admin reads bob's workflow")
    status, body = server.api("POST", f"/workflows/{wb}/allocations", {}, token=tokens["bob"])
    check(status == 403 and "sbatch" in body["error"], "a user cannot make the server sbatch for them")

    # A real worker with the user's token file runs her workflow; with bob's it gets nothing.
    status, body = server.api("POST", "/workflows", {"spec_text": sweep("alice_run", 3), "working_dir": base},
                              token=tokens["alice"])
    wrun = body["workflow_id"]
    bob_env = dict(alice_env, TORC_TOKEN_FILE=os.path.join(data, "tokens", "bob"))
    worker_args = ["worker", "run", "--workflow", str(wrun), "--mode", "direct",
                   "--output-dir", os.path.join(base, "out"), "--idle-timeout", "5"]
    r = cli(worker_args, bob_env, cwd=base)
    check(r.returncode != 0 and f"no workflow {wrun}" in r.stderr,
          f"a worker with bob's token cannot work on alice's workflow ({r.returncode}, {r.stderr.strip()[-200:]})")
    r = cli(worker_args, alice_env, cwd=base)
    status, st = server.api("GET", f"/workflows/{wrun}", token=tokens["alice"])
    check(r.returncode == 0 and st["counts"]["completed"] == 3,
          f"a worker with alice's token file runs her workflow ({r.returncode}, {st['counts']})")

    # ---- actions of a user's workflow never run as the server's account ----------------------
    marker = os.path.join(base, "action_ran")
    spec = ("name: with_action\njobs:\n  - {name: a, command: \"true\"}\nactions:\n"
            "  - trigger_type: on_workflow_start\n    action_type: run_commands\n"
            f"    commands: [\"touch {marker}\"]\n")
    status, body = server.api("POST", "/workflows", {"spec_text": spec, "working_dir": base},
                              token=tokens["alice"])
    wact = body["workflow_id"]
    actions = wait_for(
        lambda: server.api("GET", f"/workflows/{wact}", token=tokens["alice"])[1]["actions"],
        lambda a: a and a[0]["status"] not in ("pending", "due", "running"), 10)
    check(actions and actions[0]["status"] == "failed", f"alice's run_commands action fails ({actions})")
    check(not os.path.exists(marker), "... and its command did not run")
    status, ev = server.api("GET", f"/workflows/{wact}/events", token=tokens["alice"])
    check(any("multi-user" in e["detail"] for e in ev["events"]), "the event says why")

    # ---- bad and changed tokens --------------------------------------------------------------
    # her token with its last character changed (to one it is not: it may end in "0")
    wrong = tokens["alice"][:-1] + ("1" if tokens["alice"].endswith("0") else "0")
    check(server.api("GET", "/workflows", token=wrong)[0] == 401, "a wrong token: 401")
    check(server.api("GET", "/workflows", token="")[0] == 401, "no token: 401")
    old = tokens["alice"]
    r = cli(["server", "add-user", "alice", "--data-dir", data], {})
    new = read(os.path.join(data, "tokens", "alice"))
    check(r.returncode == 0 and new != old, "add-user again gives alice a new token")
    check(server.api("GET", "/workflows", token=old)[0] == 401, "her old token is refused at once (no restart)")
    check(listing(new) == {wa: "alice", wrun: "alice", wact: "alice"}, "her new token works, same workflows")
    check(listing(tokens["bob"]) == {wb: "bob"}, "bob's token still works")
    tokens["alice"] = new

    # A token file others can read is refused by the client.
    tf = os.path.join(data, "tokens", "alice")
    for mode in (0o644, 0o640, 0o604):
        os.chmod(tf, mode)
        r = cli(["workflows", "list"], alice_env)
        check(r.returncode != 0 and "chmod 600" in r.stderr and new not in r.stderr,
              f"a token file with mode {mode:o} is refused ({r.stderr.strip()})")
    os.chmod(tf, 0o600)
    check(cli(["workflows", "list"], alice_env).returncode == 0, "chmod 600: accepted again")

    # A users file others can read lets no user in (the admin still works), and stops a start.
    os.chmod(users_file, 0o640)
    check(server.api("GET", "/workflows", token=tokens["bob"])[0] == 401, "a readable users file: users refused")
    check(server.api("GET", "/workflows", token=admin)[0] == 200, "... the admin token still works")
    check("chmod 600" in server.log(), "... and the server log says why")
    server.stop()
    try:
        server.start(timeout=10)
        started = True
    except RuntimeError:
        started = False
    check(not started and "refusing the users file" in server.log(), "a readable users file stops --multi-user at start")
    os.chmod(users_file, 0o600)
    server.start()
    check(listing(tokens["bob"]) == {wb: "bob"}, "after a restart the users are back")
    server.stop()

    # ---- single-user mode (the default) is unaffected -----------------------------------------
    single = Server(TORC, data).start()
    check(single.api("GET", "/workflows", token=tokens["bob"])[0] == 401, "single-user: a user token is refused")
    status, body = single.api("POST", "/workflows", {"spec_text": sweep("solo", 1), "owner": "dave"})
    check(status == 201, "single-user: submit with the server's token")
    ws = body["workflow_id"]
    lst = {w["workflow_id"]: w["owner"] for w in single.api("GET", "/workflows")[1]["workflows"]}
    check(lst.get(ws) == "dave" and len(lst) == 6, f"single-user: the client's owner is kept and all are listed ({lst})")
    single.stop()


if __name__ == "__main__":
    run_cases({"main": main}, [], "torc-multi-user")
    finish()
