#!/usr/bin/env bash
# Watching and steering workflows as a user does, against a real server and real
# workers: status, watch, jobs list/show, logs, restart --failed, cancel,
# workflows, allocations (table and --json), one-line errors, bash completion,
# --help examples, and docs/cli.md being the output of `torc help-markdown`.
# Usage: monitor_cli_test.sh TORC_BINARY SOURCE_DIR
set -uo pipefail
torc=$1
src=$2
. "$(dirname "$0")/lib.sh"
cli_sandbox

# Unreachable server: one line naming the URL, its source and the fix.
out=$(TORC_API_URL=http://127.0.0.1:1 TORC_TOKEN=x "$torc" status 1 2>&1); rc=$?
expect_eq "unreachable exit code" "$rc" 1
expect_eq "unreachable: one line" "$(wc -l <<<"$out")" 1
expect_contains "unreachable message" "$out" "torc: cannot reach server at http://127.0.0.1:1: "
expect_contains "unreachable hint" "$out" "is 'torc server run' running? (TORC_API_URL=http://127.0.0.1:1)"

# Fake sbatch/squeue for the allocations checks: every allocation is job 4242, pending.
start_server_with_fake_slurm

# No workflow yet: status without WF says what to do.
out=$("$torc" status 2>&1); rc=$?
expect_eq "status, no workflows" "$out (rc $rc)" "torc: the server has no workflows; submit one with 'torc submit FILE' (rc 1)"

expect_eq "submit" "$("$torc" submit --json "$src/examples/guide_failure.yaml")" '{"workflow_id":1}'

# status without WF is the newest workflow; before any worker: 1 ready, 4 blocked
"$torc" status --json | json '
assert d["workflow_id"] == 1 and d["total"] == 5, d
assert d["counts"]["ready"] == 1 and d["counts"]["blocked"] == 4, d["counts"]
assert d["running_jobs"] == [] and d["complete"] is False, d' || fail "status --json before the worker"

# watch, not on a terminal: a line per change, then the summary; exit 1 (a job fails)
"$torc" watch 1 --interval 0.1 >watch1.out 2>&1 &
watch_pid=$!
"$torc" worker run --workflow 1 --cpus 2 --idle-timeout 20 >worker1.log 2>&1
wait "$watch_pid"; rc=$?
expect_eq "watch exit code with a failed job" "$rc" 1
# (before the worker registers, the ready jobs with nothing to run them are a problem line)
expect_contains "watch first line" "$(grep -v '^problem' watch1.out | head -1)" "0/5 done"
expect_eq "watch summary" "$(tail -1 watch1.out)" \
  "workflow 1 (guide_failure) finished: 3 completed, 1 failed, 1 canceled; see 'torc jobs list 1 --status failed'"
progress=$(grep -c ' done' watch1.out)
expect_eq "watch prints only changes" "$(grep ' done' watch1.out | cut -c11- | uniq | wc -l)" "$progress"
[[ $(cat watch1.out) != *$'\r'* && $(cat watch1.out) != *$'\033'* ]] || fail "watch on a pipe: no \\r, no colour"

# status: table (no colour on a pipe; colour when asked; NO_COLOR wins over auto) and JSON
out=$("$torc" status 1)
expect_contains "status header" "$out" "workflow 1 (guide_failure): 5 jobs, complete"
expect_contains "status failed count" "$out" "failed:     1"
expect_contains "status progress" "$out" "3/5 done  1 failed  1 canceled"
[[ $out != *$'\033'* ]] || fail "status on a pipe has no colour"
[[ $("$torc" status 1 --color always) == *$'\033[31;1mfailed:'* ]] || fail "status --color always"
[[ $(NO_COLOR=1 "$torc" status 1) != *$'\033'* ]] || fail "NO_COLOR"
"$torc" status 1 --json | json '
c = d["counts"]
assert (c["completed"], c["failed"], c["canceled"]) == (3, 1, 1), c
assert d["complete"] is True and d["running_jobs"] == [] and d["unclaimable"] == [], d' \
  || fail "status --json after the run"

# jobs list: filters, table and JSON
out=$("$torc" jobs list 1 --status failed)
expect_eq "jobs list --status failed (table)" "$(tail -n +2 <<<"$out" | awk '{print $2, $3, $4, $5}')" "analyze_2 failed 1 3"
"$torc" jobs list 1 --json --status failed | json '
assert [(j["name"], j["exit_code"], j["attempt"]) for j in d] == [("analyze_2", 3, 1)], d' \
  || fail "jobs list --status failed --json"
expect_eq "jobs list --name" "$("$torc" jobs list 1 --json --name '^analyze_[13]$' | json 'print(sorted(j["name"] for j in d))')" \
  "['analyze_1', 'analyze_3']"
out=$("$torc" jobs list 1 --status bogus 2>&1); rc=$?
expect_eq "bad status: one line, exit 1" "$out (rc $rc)" "torc: unknown status 'bogus' (rc 1)"

# jobs show: attempts with exit code, signal, nodes, times, memory, log paths
out=$("$torc" jobs show 1 analyze_2)
expect_contains "jobs show header" "$out" "job 2 'analyze_2' of workflow 1: failed, attempt 1"
expect_contains "jobs show attempts" "$out" "ATTEMPT  STATUS  EXIT  SIGNAL"
expect_contains "jobs show log path" "$out" "$work/torc_output/1/analyze_2.1.err"
"$torc" jobs show 1 analyze_2 --json | W="$work" json '
import os
a = d["attempts"]
assert len(a) == 1 and a[0]["exit_code"] == 3 and a[0]["signal"] == 0 and a[0]["status"] == "failed", a
assert a[0]["nodes"] and a[0]["end_time"] >= a[0]["start_time"] > 0, a
assert isinstance(a[0]["peak_rss_bytes"], int) and isinstance(a[0]["cpu_seconds"], float), a
assert a[0]["output_dir"] == os.environ["W"] + "/torc_output/1", a
assert a[0]["log_paths"] == {"stdout": a[0]["output_dir"] + "/analyze_2.1.out",
                             "stderr": a[0]["output_dir"] + "/analyze_2.1.err"}, a
assert d["stdio"] == {"mode": "separate", "delete_on_success": False} and d["current"] is None, d' \
  || fail "jobs show --json"

# logs: stdout, --stderr, a job that never ran
expect_eq "logs stdout" "$("$torc" logs 1 analyze_2)" "analyze_2: reading part 2"
expect_eq "logs --stderr" "$("$torc" logs 1 analyze_2 --stderr)" \
  "error: part 2 has a corrupt row (create guide_fixed to repair it)"
expect_eq "logs of prepare" "$("$torc" logs 1 prepare)" "prepared 30 rows"
out=$("$torc" logs 1 report 2>&1); rc=$?
expect_eq "logs of a job that never ran" "$out (rc $rc)" "torc: job 'report' has not run yet (it is canceled) (rc 1)"

# workflows and allocations, table and JSON
out=$("$torc" workflows list)
expect_contains "workflows list header" "$out" "ID  NAME           OWNER"
expect_eq "workflows list row" "$(tail -1 <<<"$out" | awk '{print $1, $2, $4, $5, $6, $7, $8}')" "1 guide_failure 5 3 1 1 failed"
"$torc" workflows list --json | json '
assert len(d) == 1 and d[0]["workflow_id"] == 1 and d[0]["counts"]["failed"] == 1, d' || fail "workflows list --json"
out=$("$torc" workflows show 1)
expect_contains "workflows show working dir" "$out" "working dir: $work"
expect_contains "workflows show counts" "$out" "completed:  3"
"$torc" workflows show 1 --json | json 'assert d["workflow_id"] == 1 and d["file_name"].endswith("guide_failure.yaml"), d' \
  || fail "workflows show --json"
expect_eq "allocations list" "$("$torc" allocations list 1)" "workflow 1 has no allocations"
expect_eq "allocations list --json" "$("$torc" allocations list 1 --json)" "[]"

# restart --failed: only the failed job and its canceled dependent run again
out=$("$torc" restart 1 --failed analyze_2 2>&1); rc=$?
expect_eq "--failed with job names is refused" "$out" "torc: jobs excludes --failed (see --help)"
((rc != 0)) || fail "--failed with job names: exit code"
touch guide_fixed
expect_eq "restart --failed" "$("$torc" restart 1 --failed)" "restarted 2 jobs"
expect_eq "jobs list: no exit code until the new attempt ends" \
  "$("$torc" jobs list 1 --name analyze_2 | tail -1 | awk '{print $3, $4, $5}')" "ready 2 -"
"$torc" jobs list 1 --json | json '
got = {j["name"]: (j["status"], j["attempt"]) for j in d}
assert got == {"prepare": ("completed", 1), "analyze_1": ("completed", 1), "analyze_3": ("completed", 1),
               "analyze_2": ("ready", 2), "report": ("blocked", 2)}, got' || fail "restart --failed states"
"$torc" worker run --workflow 1 --cpus 2 --idle-timeout 20 --output-dir "$work/logs2" >worker2.log 2>&1
"$torc" watch 1 >watch2.out; rc=$?
expect_eq "watch exit code, all completed" "$rc" 0
expect_eq "watch summary, all completed" "$(tail -1 watch2.out)" "workflow 1 (guide_failure): all 5 jobs completed"
"$torc" jobs list 1 --json | json '
got = {j["name"]: (j["status"], j["attempt"]) for j in d}
assert got == {"prepare": ("completed", 1), "analyze_1": ("completed", 1), "analyze_3": ("completed", 1),
               "analyze_2": ("completed", 2), "report": ("completed", 2)}, got' || fail "restart re-ran only those"
# on a terminal: one line redrawn with \r (script(1) gives it a pseudo-terminal)
if command -v script >/dev/null; then
  out=$(script -qc "\"$torc\" watch 1 --interval 0.1" /dev/null)
  expect_contains "watch on a terminal redraws" "$out" $'\r\033[K['
  expect_contains "watch on a terminal, colour" "$out" $'\033[32m####################\033[0m] 5/5 done'
fi
# the second worker's --output-dir is where attempt 2's logs are, and where torc logs looks
expect_eq "logs --attempt 2 (default: latest)" "$("$torc" logs 1 analyze_2)" "analyze_2: sum 145"
expect_eq "logs from another output dir" "$(cat "$work/logs2/1/analyze_2.2.out")" "analyze_2: sum 145"
expect_eq "logs --attempt 1 --stderr" "$("$torc" logs 1 analyze_2 --attempt 1 --stderr)" \
  "error: part 2 has a corrupt row (create guide_fixed to repair it)"
expect_eq "logs of report" "$("$torc" logs 1 report)" "total 465"
out=$("$torc" logs 1 analyze_2 --attempt 3 2>&1); rc=$?
expect_eq "logs --attempt 3: exit" "$rc" 1
expect_contains "logs --attempt 3: message" "$out" "torc: job 'analyze_2' has no attempt 3"

# logs --follow: tails the running attempt and returns when it ends
cat >ticker.yaml <<'EOF'
name: ticker
jobs:
  - {name: tick, command: "for i in 1 2 3 4; do echo tick $i; sleep 0.4; done"}
EOF
expect_eq "submit ticker" "$("$torc" submit --json ticker.yaml)" '{"workflow_id":2}'
# (started before the job: it waits for the attempt to start, then tails it)
timeout 30 "$torc" logs 2 tick --follow >follow.out 2>follow.err &
follow_pid=$!
sleep 0.5
"$torc" worker run --workflow 2 --cpus 1 --idle-timeout 20 >worker3.log 2>&1 &
worker_pid=$!
wait "$follow_pid"; rc=$?
expect_eq "logs --follow exit code" "$rc" 0
expect_eq "logs --follow content" "$(cat follow.out)" $'tick 1\ntick 2\ntick 3\ntick 4'
expect_eq "logs --follow waited" "$(cat follow.err)" "torc: waiting for job 'tick' to start (it is ready)"
wait "$worker_pid"

# cancel: a job and what depends on it, then the whole workflow
cat >cancel.yaml <<'EOF'
name: cancel_me
jobs:
  - {name: a, command: "true"}
  - {name: b, command: "true", depends_on: [a]}
  - {name: c, command: "true"}
EOF
"$torc" submit cancel.yaml >/dev/null
expect_eq "cancel a job" "$("$torc" cancel 3 a)" "canceled 2 jobs"
expect_eq "cancel the rest" "$("$torc" cancel 3)" "canceled 1 jobs"
"$torc" status 3 --json | json 'assert d["counts"]["canceled"] == 3 and d["complete"], d' || fail "status after cancel"
out=$("$torc" watch 3); rc=$?
expect_eq "watch exit code, canceled workflow" "$rc" 1
expect_eq "workflows delete" "$("$torc" workflows delete 3)" "deleted workflow 3"
out=$("$torc" status 3 2>&1); rc=$?
expect_eq "deleted workflow: one line" "$out (rc $rc)" "torc: no workflow 3 (rc 1)"
out=$("$torc" watch 3 2>&1); rc=$?
expect_eq "watch of a missing workflow" "$out (rc $rc)" "torc: no workflow 3 (rc 2)"

# allocations (fake sbatch) and a job no scheduler can hold, in status and allocations list
cat >slurm.yaml <<'EOF'
name: on_slurm
slurm_schedulers:
  - {name: small, account: test, walltime: "01:00:00"}
resource_requirements:
  - {name: long, runtime: PT2H}
jobs:
  - {name: too_long, command: "true", resource_requirements: long, scheduler: small}
  - {name: fits, command: "true", scheduler: small}
EOF
expect_eq "submit slurm.yaml" "$("$torc" submit --json slurm.yaml)" '{"workflow_id":4}'
expect_eq "slurm schedule" "$("$torc" slurm schedule 4 --scheduler small)" "submitted 1 allocation: Slurm job 4242"
for _ in $(seq 100); do
  [[ $("$torc" allocations list 4 --json) != "[]" ]] && break
  sleep 0.1
done
"$torc" allocations list 4 --json | json '
assert [(a["slurm_job_id"], a["scheduler"], a["state"]) for a in d] == [("4242", "small", "pending")], d' \
  || fail "allocations list --json"
out=$("$torc" allocations list 4)
expect_eq "allocations list table" "$(tail -1 <<<"$out" | awk '{print $1, $2, $4}')" "4242 small pending"
out=$("$torc" status 4)
expect_contains "status allocations" "$out" "allocations: 1 pending"
expect_contains "status cannot run" "$out" $'cannot run:\n  too_long: runtime 7200 s exceeds the walltime'
"$torc" status 4 --json | json '
assert [u["job"] for u in d["unclaimable"]] == ["too_long"], d["unclaimable"]
assert [(p["kind"], p["jobs"]) for p in d["problems"]] == [("cannot_run", ["too_long"])], d["problems"]
assert d["allocations"][0]["state"] == "pending", d' || fail "status --json unclaimable, problems"
expect_contains "status problems" "$out" $'problems:\n  cannot_run: 1 job can never run (too_long: runtime 7200 s exceeds the walltime'


# watch stops cleanly when interrupted (workflow 4 cannot finish: no worker)
"$torc" watch 4 --interval 0.1 >watch4.out 2>&1 &
watch_pid=$!
sleep 0.5
kill -TERM "$watch_pid"
wait "$watch_pid"; rc=$?
expect_eq "watch interrupted: exit code" "$rc" 130
expect_contains "watch interrupted: it printed the counts" "$(cat watch4.out)" "0/2 done  2 ready"

# stdio modes: combined (stderr is in the .out file), none, delete_on_success
cat >stdio.yaml <<'EOF'
name: stdio_modes
jobs:
  - {name: comb, command: "echo out; echo err >&2", stdio: {mode: combined}}
  - {name: quiet, command: "echo out", stdio: {mode: none}}
  - {name: gone, command: "echo out", stdio: {delete_on_success: true}}
EOF
expect_eq "submit stdio.yaml" "$("$torc" submit --json stdio.yaml)" '{"workflow_id":5}'
"$torc" worker run --workflow 5 --idle-timeout 20 >worker5.log 2>&1
expect_eq "combined: stdout" "$("$torc" logs 5 comb)" $'out\nerr'
expect_eq "combined: --stderr" "$("$torc" logs 5 comb --stderr 2>&1)" \
  $'torc: stdio mode combined: stderr is in '"$work"$'/torc_output/5/comb.1.out with stdout\nout\nerr'
out=$("$torc" logs 5 quiet 2>&1); rc=$?
expect_eq "stdio none" "$out (rc $rc)" "torc: job 'quiet' writes no stdout file (stdio mode none) (rc 1)"
expect_contains "stdio none in jobs show" "$("$torc" jobs show 5 quiet)" "1: no files (stdio mode none)"
out=$("$torc" logs 5 gone 2>&1); rc=$?
expect_eq "delete_on_success" "$out (rc $rc)" "torc: no stdout file for attempt 1 of job 'gone' at $work/torc_output/5/gone.1.out (stdio delete_on_success removes the logs of completed attempts) (rc 1)"

# bash completion, generated from the command tree
out=$(bash -c "source <(\"$torc\" completion bash) && complete -p torc")
expect_eq "completion registered" "$out" "complete -o default -F _torc torc"
out=$(bash -c "source <(\"$torc\" completion bash)
COMP_WORDS=(torc jobs l); COMP_CWORD=2; _torc; echo \"\${COMPREPLY[*]}\"
COMP_WORDS=(torc restart 1 --fa); COMP_CWORD=3; _torc; echo \"\${COMPREPLY[*]}\"
COMP_WORDS=(torc jobs list 1 --status fa); COMP_CWORD=5; _torc; echo \"\${COMPREPLY[*]}\"
COMP_WORDS=(torc w); COMP_CWORD=1; _torc; echo \"\${COMPREPLY[*]}\"")
expect_eq "completions" "$out" $'list\n--failed\nfailed\nworker workflows watch'

# no scheduler, no worker: the ready jobs are a problem, with what to do (stall 4 of #14)
printf 'name: nowhere\njobs:\n  - {name: x, command: "true"}\n' > nowhere.yaml
nowhere=$("$torc" submit --json nowhere.yaml | json 'print(d["workflow_id"])')
out=$("$torc" status "$nowhere")
expect_contains "status no_compute" "$out" "no_compute: 1 job ready, but the workflow has no slurm_schedulers and no worker is connected, so nothing will run them: start one with 'torc worker run --workflow $nowhere'"
"$torc" watch "$nowhere" --interval 0.1 >watchn.out 2>&1 &
watch_pid=$!
sleep 0.5
kill -TERM "$watch_pid"; wait "$watch_pid"
expect_eq "watch prints the problem once" "$(grep -c 'problem no_compute: 1 job ready' watchn.out)" 1
"$torc" cancel "$nowhere" >/dev/null
out=$("$torc" slurm schedule train 2>&1); rc=$?
expect_eq "slurm schedule: a name is not a workflow id (exit)" "$rc" 1
expect_contains "slurm schedule: a name is not a workflow id" "$out" "'train' is not a workflow id; usage: torc slurm schedule [WF]"

# every command's --help has an example; docs/cli.md is the output of help-markdown
while read -r cmd; do
  [[ $("$torc" $cmd --help) == *Example* ]] || fail "'torc $cmd --help' has no example"
done < <("$torc" help-markdown | sed -n 's/^## `torc \(.*\)`$/\1/p')
[[ $("$torc" help-markdown | grep -c '^## `torc') -ge 20 ]] || fail "help-markdown lists the commands"
if ! diff <("$torc" help-markdown) "$src/docs/cli.md" >cli_md.diff; then
  fail "docs/cli.md is stale: run 'torc help-markdown > docs/cli.md' (a CLI command or option changed); diff:
$(head -20 cli_md.diff)"
fi
finish
