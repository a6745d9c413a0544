#!/usr/bin/env bash
# torc events (text, JSON Lines, --after, --follow to the end and when interrupted), the
# newest workflow as the default of every command that takes one (and a job name where a
# workflow id was expected), and where jobs ran: `jobs list` NODES after the end and
# `jobs show` naming the node, not the worker's host. Against a real server, a real worker
# and a scripted worker whose host is not the job's node (a batch host in an allocation).
# Usage: events_cli_test.sh TORC_BINARY SOURCE_DIR
set -uo pipefail
torc=$1
. "$(dirname "$0")/lib.sh"
cli_sandbox
jsonl() { python3 -c "import json, sys; d = [json.loads(l) for l in sys.stdin]; $1"; }

# Fake sbatch/squeue (a restart asks for allocations): every allocation is job 4242, pending.
start_server_with_fake_slurm

out=$("$torc" events 2>&1); rc=$?
expect_eq "events, no workflows" "$out (rc $rc)" "torc: the server has no workflows; submit one with 'torc submit FILE' (rc 1)"

cat >ev.yaml <<'EOF'
name: ev
jobs:
  - {name: ok, command: "echo hi"}
  - {name: bad, command: "echo oops >&2; exit 3", depends_on: [ok]}
  - {name: after, command: "true", depends_on: [bad]}
EOF
expect_eq "submit ev" "$("$torc" submit --json ev.yaml)" '{"workflow_id":1}'

# --follow (started before any worker; WF omitted: the newest) prints events as they come
# and ends with exit 0 once the workflow is complete.
timeout 60 "$torc" events --follow --json >follow.jsonl 2>follow.err &
follow_pid=$!
sleep 0.7
"$torc" worker run --workflow 1 --cpus 2 --idle-timeout 20 >worker1.log 2>&1
wait "$follow_pid"; rc=$?
expect_eq "events --follow: exit 0 when complete" "$rc" 0
expect_eq "events --follow: no stderr" "$(cat follow.err)" ""
jsonl '
kinds = [e["kind"] for e in d]
assert kinds[:2] == ["workflow_created", "worker_registered"], kinds
assert {"failed", "canceled"} <= set(kinds), kinds
f = [e for e in d if e["kind"] == "failed"][0]
assert (f["job_name"], f["attempt"], f["detail"]) == ("bad", 1, "exit code 3"), f
assert [e["seq"] for e in d] == sorted(set(e["seq"] for e in d)), "in order, no repeats"
assert set(d[0]) == {"seq", "time", "kind", "job", "attempt", "worker", "detail"}, d[0]' <follow.jsonl \
  || fail "events --follow --json"

# text: one line per event, local time, kind, job and attempt (or worker), detail
out=$("$torc" events 1)
expect_eq "events: a line per event" "$(wc -l <<<"$out")" "$(wc -l <follow.jsonl)"
expect_contains "events: created" "$(head -1 <<<"$out")" "workflow_created      3 jobs from ev.yaml"
[[ $(head -1 <<<"$out") =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}\ [0-9]{2}:[0-9]{2}:[0-9]{2}\  ]] \
  || fail "events: local time first: $(head -1 <<<"$out")"
expect_contains "events: worker" "$out" "worker_registered     worker 1  $(hostname)"
expect_contains "events: job failed" "$out" "failed                bad #1  exit code 3"
expect_contains "events: job canceled" "$out" "canceled              after #1  blocking job 'bad' ended failed"
# --after: only what follows that cursor
second=$(head -2 follow.jsonl | tail -1 | json 'print(d["seq"])')
expect_eq "events --after" "$("$torc" events 1 --json --after "$second" | jsonl 'print(min(e["seq"] for e in d))')" \
  "$(sed -n 3p follow.jsonl | json 'print(d["seq"])')"
out=$("$torc" events 9 2>&1); rc=$?
expect_eq "events of a missing workflow" "$out (rc $rc)" "torc: no workflow 9 (rc 1)"

# Where jobs ran: NODES stays after they ended (it is the last attempt's node list).
out=$("$torc" jobs list 1)
expect_eq "jobs list NODES header" "$(head -1 <<<"$out")" "ID  NAME   STATUS     ATTEMPT  EXIT  NODES"
expect_eq "jobs list NODES after the end" "$(tail -n +2 <<<"$out" | awk '{print $2, $6}')" \
  "ok $(hostname)
bad $(hostname)
after -"
"$torc" jobs list 1 --json | H=$(hostname) json '
import os
assert [j["nodes"] for j in d] == [os.environ["H"], os.environ["H"], None], d' || fail "jobs list --json nodes"

# Without WF: the newest workflow; with one argument, logs and jobs show take it as the job.
expect_eq "jobs list without WF" "$("$torc" jobs list)" "$("$torc" jobs list 1)"
expect_eq "logs JOB (newest workflow)" "$("$torc" logs ok)" "hi"
expect_eq "logs JOB --stderr" "$("$torc" logs bad --stderr)" "oops"
expect_contains "jobs show JOB" "$("$torc" jobs show bad)" "job 1 'bad' of workflow 1: failed, attempt 1"
out=$("$torc" logs train 2>&1); rc=$?
expect_eq "logs of an unknown job name" "$out (rc $rc)" \
  "torc: no job named 'train' in workflow 1 (your newest; for another workflow: torc logs WF train) (rc 1)"
out=$("$torc" logs train ok 2>&1); rc=$?
expect_eq "logs with a job name for WF" "$out (rc $rc)" \
  "torc: 'train' is not a workflow id; usage: torc logs [WF] JOB (WF: a number; without it, your newest workflow) (rc 1)"
out=$("$torc" jobs list train 2>&1); rc=$?
expect_eq "jobs list with a job name for WF" "$out (rc $rc)" \
  "torc: 'train' is not a workflow id; usage: torc jobs list [WF] (WF: a number; without it, your newest workflow) (rc 1)"
out=$("$torc" logs 2>&1); rc=$?
expect_eq "logs without a job" "$out (rc $rc)" "torc: which job? usage: torc logs [WF] JOB (rc 1)"
expect_eq "report without WF" "$("$torc" report --html - | grep -c '<h1>torc report: ev (workflow 1)</h1>')" 1
out=$("$torc" restart bad --failed 2>&1); rc=$?
expect_eq "restart JOB --failed" "$out (rc $rc)" \
  "torc: --failed takes no job names (it restarts every failed, canceled and terminated job) (rc 1)"
expect_eq "restart without WF names the workflow" "$("$torc" restart --failed)" \
  "restarted 2 jobs of workflow 1 (your newest)"
expect_eq "cancel JOB without WF" "$("$torc" cancel after)" "canceled 1 jobs of workflow 1 (your newest)"
expect_eq "restart JOB without WF" "$("$torc" restart after 2>&1)" "restarted 1 jobs of workflow 1 (your newest)"
expect_eq "cancel without WF" "$("$torc" cancel)" "canceled 2 jobs of workflow 1 (your newest)"
expect_eq "restart WF: output unchanged" "$("$torc" restart 1 --failed)" "restarted 2 jobs"

# --follow stops on SIGTERM with 130 (workflow 1 has ready jobs and no worker)
"$torc" events --follow >follow2.out 2>&1 &
follow_pid=$!
sleep 0.7
kill -TERM "$follow_pid"
wait "$follow_pid"; rc=$?
expect_eq "events --follow interrupted: exit code" "$rc" 130
expect_contains "events --follow interrupted: it printed" "$(cat follow2.out)" "workflow_canceled"
"$torc" cancel 1 >/dev/null

# A scripted worker on host 'batchhost' runs job 'placed' on node n7 (as a worker in an
# allocation places jobs on the allocation's nodes): jobs show and jobs list name n7.
printf 'name: placed\njobs:\n  - {name: placed, command: "true"}\n' >placed.yaml
expect_eq "submit placed" "$("$torc" submit --json placed.yaml)" '{"workflow_id":2}'
cat >worker.py <<'EOF'
# worker.py claim WF [SCHEDULER]: registers as host 'batchhost', claims one job, reports it
# started on node n7; prints "<worker id> <job id> <attempt>".
# worker.py end WF WORKER JOB ATTEMPT STATUS: reports that attempt ended (on n7).
import json, os, sys, time, urllib.request
d = os.environ["TORC_DATA_DIR"]
url = open(d + "/server.url").read().strip() + "/api/v1/workflows/" + sys.argv[2]
token = open(d + "/token").read().strip()
def call(path, body):
    req = urllib.request.Request(url + path, json.dumps(body).encode(), method="POST",
                                 headers={"Authorization": "Bearer " + token,
                                          "Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(req))
if sys.argv[1] == "claim":
    w = call("/workers", {"hostname": "batchhost", "pid": os.getpid()})["worker_id"]
    node = {"free_cpus": 4, "free_memory_bytes": 8 << 30, "idle": True}
    scheduler = sys.argv[3] if len(sys.argv) > 3 else ""
    jobs = call("/claim", {"worker_id": w, "max_jobs": 1, "nodes": [node],
                           "scheduler": scheduler})["jobs"]
    assert len(jobs) == 1, jobs
    call("/start", {"worker_id": w, "jobs": [{"id": jobs[0]["id"], "attempt": jobs[0]["attempt"],
                                              "nodes": "n7"}]})
    print(w, jobs[0]["id"], jobs[0]["attempt"])
else:
    w, job, attempt, status = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
    now = time.time()
    call("/complete", {"worker_id": w, "results": [{
        "id": job, "attempt": attempt, "status": status,
        "exit_code": 0 if status == "completed" else 1, "start_time": now - 1, "end_time": now,
        "nodes": "n7"}]})
EOF
read -r wid _ < <(python3 worker.py claim 2) || fail "scripted worker: claim"
out=$("$torc" jobs show 2 placed)
expect_contains "jobs show: the node it runs on" "$out" "now:        attempt 1 running on n7 (worker $wid)"
[[ $out != *batchhost* ]] || fail "jobs show names the worker's host: $out"
expect_eq "jobs list: running on" "$("$torc" jobs list 2 | tail -1 | awk '{print $3, $6}')" "running n7"
python3 worker.py end 2 "$wid" 0 1 completed || fail "scripted worker: end"
expect_eq "jobs list: ran on, after the end" "$("$torc" jobs list 2 | tail -1 | awk '{print $3, $6}')" "completed n7"
out=$("$torc" jobs show 2 placed)
expect_contains "jobs show: attempt's node" "$out" "completed  0     -       -       n7"
[[ $out != *batchhost* ]] || fail "jobs show names the worker's host: $out"

# restart asks Slurm for compute for the restarted jobs unless --no-schedule (fake sbatch;
# the action would only ask once 'k' is ready, which it never is while 'j' fails).
cat >resched.yaml <<'EOF'
name: resched
slurm_schedulers:
  - {name: s, account: test, walltime: "01:00:00"}
jobs:
  - {name: j, command: "false", scheduler: s}
  - {name: k, command: "true", scheduler: s, depends_on: [j]}
actions:
  - {trigger_type: on_jobs_ready, action_type: schedule_nodes, scheduler: s, jobs: [k]}
EOF
expect_eq "submit resched" "$("$torc" submit --json resched.yaml)" '{"workflow_id":3}'
fail_j() {
  local w job attempt
  read -r w job attempt < <(python3 worker.py claim 3 s) &&
    python3 worker.py end 3 "$w" "$job" "$attempt" failed
}
fail_j || fail "scripted worker: j fails"
expect_eq "restart --no-schedule" "$("$torc" restart 3 --no-schedule)" "restarted 2 jobs"
fail_j || fail "scripted worker: j fails again"
expect_eq "restart asks for compute" "$("$torc" restart 3)" "restarted 2 jobs; requested 1 allocation(s)"
for _ in $(seq 100); do
  [[ $("$torc" allocations list 3 --json) != "[]" ]] && break
  sleep 0.1
done
expect_eq "restart: sbatch called once" "$(cat sbatch.calls 2>/dev/null)" "called"
finish
