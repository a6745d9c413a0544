#!/usr/bin/env bash
# Job names that cannot leave the output directory, and text from users printed with its
# control characters escaped (docs/workflow-format.md "Job names", docs/cli.md): torc validate,
# a submit to a real server, and the human output of validate, plan, submit, workflows
# list/show, status, watch, jobs list/show, events and error lines; --json stays exact.
# Usage: names_cli_test.sh TORC_BINARY SOURCE_DIR
set -uo pipefail
torc=$1
src=$2
. "$(dirname "$0")/lib.sh"
cli_sandbox

rule="a job name becomes a file name, so it may use ASCII letters, digits and . _ - + = , @ : % ~ (not starting with '-' or '.', at most 200 bytes)"

# ---- job names: one path component of safe characters, after expansion -----------------------
printf 'name: up\njobs:\n  - name: ../../../../../../tmp/x/pwned\n    command: echo pwned\n' >up.yaml
printf 'name: sub\njobs:\n  - name: a/b\n    command: echo sub\n' >sub.yaml
cat >sweep.yaml <<'YAML'
name: sweep
jobs:
  - name: "run_{d}"
    command: echo {d}
    parameters:
      d: "['a', 'b/c']"
YAML
declare -A want=(
  [up.yaml]="up.yaml:3:11: job name '../../../../../../tmp/x/pwned': it starts with '.'; $rule"
  [sub.yaml]="sub.yaml:3:11: job name 'a/b': '/' is not allowed; $rule"
  [sweep.yaml]="sweep.yaml:3:11: job name 'run_{d}' is 'run_b/c' for one combination of its parameters: '/' is not allowed; $rule"
)
for f in up.yaml sub.yaml sweep.yaml; do
  out=$("$torc" validate "$f" 2>&1); rc=$?
  expect_eq "validate $f: exit code" "$rc" 1
  expect_eq "validate $f" "$out" "${want[$f]}
torc: 1 error(s) in $f; nothing was created"
done

# Names a sweep makes, and the other characters of the rule, keep working.
cat >good.yaml <<'YAML'
name: good
jobs:
  - name: "job_{i}"
    command: echo {i}
    parameters: {i: "1:3"}
  - name: "train_lr{lr:.3f}"
    command: echo {lr}
    parameters: {lr: "[0.1, 0.01]"}
  - name: "name_{a}_{b}"
    command: echo {a} {b}
    parameters: {a: "['x', 'y']", b: "1:2"}
  - name: "step=2,seed=7+run@node:1%~v1.0"
    command: "true"
YAML
out=$("$torc" validate good.yaml 2>/dev/null); rc=$?  # stderr: the no-scheduler warning
expect_eq "validate good names" "$out (rc $rc)" "ok: good: 10 jobs, 0 dependencies, 0 schedulers, 0 actions (rc 0)"

# The server checks the same rule on every submit (torc submit checks first, so post directly).
start_server_with_fake_slurm
cat >post.py <<'PY'
# post.py FILE: POST /workflows with the file's text; prints the status, the error and each
# of the errors, a line each.
import json, os, sys, urllib.error, urllib.request
d = os.environ["TORC_DATA_DIR"]
url = open(d + "/server.url").read().strip() + "/api/v1/workflows"
body = {"spec_text": open(sys.argv[1]).read(), "file_name": sys.argv[1]}
req = urllib.request.Request(url, json.dumps(body).encode(), method="POST", headers={
    "Authorization": "Bearer " + open(d + "/token").read().strip(),
    "Content-Type": "application/json"})
try:
    r = urllib.request.urlopen(req)
    print(r.status)
except urllib.error.HTTPError as e:
    answer = json.load(e)
    print("\n".join([str(e.code), answer["error"]] + answer.get("errors", [])))
PY
for f in up.yaml sub.yaml sweep.yaml; do
  expect_eq "POST /workflows $f" "$(python3 post.py "$f")" "400
the workflow file has 1 error(s)
${want[$f]}"
done
out=$("$torc" submit sub.yaml 2>&1); rc=$?
expect_eq "submit a/b" "$out (rc $rc)" "${want[sub.yaml]}
torc: 1 error(s) in sub.yaml; nothing was created (rc 1)"
expect_eq "nothing was created" "$("$torc" workflows list --json)" "[]"

# ---- control characters in what torc prints ----------------------------------------------------
# control FILE: lists the control characters in FILE other than line ends ("" when none).
control() {
  python3 -c 'import sys; b = open(sys.argv[1], "rb").read(); print(sorted({hex(c) for c in b if (c < 32 and c != 10) or c == 127}) if any((c < 32 and c != 10) or c == 127 for c in b) else "")' "$1"
}
# shown WHAT FILE NEEDLE: FILE has no control characters and contains NEEDLE.
shown() {
  expect_eq "$1: no control characters" "$(control "$2")" ""
  expect_contains "$1" "$(tr -d '\0' <"$2")" "$3"
}

# A workflow whose name clears the screen, sets the terminal's title and has a NUL in it; a
# description and a command with escapes; a file name with one.
wf_name='evil\u001b[2J\u001b]0;pwned\u0007\u0000end'
shown_name='evil\x1b[2J\x1b]0;pwned\x07\x00end'
evil=$'evil\e[2J.json'
printf '{"name": "%s", "description": "red\\u001b[31m", "jobs": [{"name": "a", "command": "echo one\\u001b[2J\\nexit 3"}]}\n' \
  "$wf_name" >"$evil"

"$torc" validate "$evil" >validate.out 2>&1
shown "validate: the workflow's name" validate.out "ok: $shown_name: 1 job"
"$torc" plan "$evil" >plan.out 2>&1
shown "plan: description" plan.out 'red\x1b[31m'
shown "plan: command" plan.out 'command: echo one\x1b[2J\nexit 3'
"$torc" submit "$evil" >submit.out 2>&1
wf=$(tail -1 submit.out)  # the id alone, on the last line
shown "submit" submit.out "created workflow $wf ($shown_name, 1 jobs)"

"$torc" workflows list >list.out 2>&1
shown "workflows list" list.out "$shown_name"
# The NUL no longer cuts the row: the columns after the name are there.
expect_eq "workflows list: the whole row" "$(tail -1 list.out | awk '{print $1, $2, $4, $8}')" "$wf $shown_name 1 active"
"$torc" status "$wf" >status.out 2>&1
shown "status" status.out "workflow $wf ($shown_name): 1 jobs"
"$torc" workflows show "$wf" >show.out 2>&1
shown "workflows show: file" show.out 'file:        evil\x1b[2J.json'
"$torc" events "$wf" >events.out 2>&1
shown "events: detail" events.out '1 jobs from evil\x1b[2J.json'
"$torc" jobs show "$wf" a >job.out 2>&1
shown "jobs show: command" job.out 'command:    echo one\x1b[2J\nexit 3'

# --json is exact.
"$torc" workflows list --json | json '
assert d[-1]["name"] == "evil\x1b[2J\x1b]0;pwned\x07\x00end", d[-1]["name"]
assert d[-1]["file_name"] == "evil\x1b[2J.json", d[-1]["file_name"]' || fail "workflows list --json is exact"
"$torc" jobs show "$wf" a --json | json '
assert d["command"] == "echo one\x1b[2J\nexit 3", d["command"]' || fail "jobs show --json is exact"

# A worker's host name and a failure reason come from workers (scripted here).
cat >worker.py <<'PY'
# worker.py claim WF: registers as a host with escapes in its name and claims the one job;
# prints "<worker id> <job id> <attempt>".
# worker.py fail WF WORKER JOB ATTEMPT: reports the attempt failed, with escapes in the reason.
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
    w = call("/workers", {"hostname": "host\x1b]0;t\x07", "pid": os.getpid()})["worker_id"]
    node = {"free_cpus": 4, "free_memory_bytes": 8 << 30, "idle": True}
    job = call("/claim", {"worker_id": w, "max_jobs": 1, "nodes": [node]})["jobs"][0]
    print(w, job["id"], job["attempt"])
else:
    w, job, attempt, now = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), time.time()
    call("/complete", {"worker_id": w, "results": [{
        "id": job, "attempt": attempt, "status": "failed", "exit_code": 3,
        "reason": "why\x1b[2J\x00", "start_time": now - 1, "end_time": now}]})
PY
read -r wid jid attempt < <(python3 worker.py claim "$wf") || fail "scripted worker: claim"
"$torc" status "$wf" >running.out 2>&1
shown "status: the worker's host" running.out "host\x1b]0;t\x07 (worker $wid): 1 job: a (starting)"
python3 worker.py fail "$wf" "$wid" "$jid" "$attempt" || fail "scripted worker: fail"
"$torc" jobs show "$wf" a >job2.out 2>&1
shown "jobs show: reason" job2.out 'why\x1b[2J\x00'
"$torc" jobs list "$wf" >jobs.out 2>&1
shown "jobs list" jobs.out "failed"
"$torc" events "$wf" >events2.out 2>&1
expect_eq "events after the failure: no control characters" "$(control events2.out)" ""
"$torc" watch "$wf" --interval 0.1 >watch.out 2>&1; rc=$?
expect_eq "watch exit code" "$rc" 1
shown "watch" watch.out "workflow $wf ($shown_name) finished: 1 failed"

# Error lines quote what the user typed and what the server said.
"$torc" jobs show "$wf" $'nope\e[2J' >nope.out 2>&1
shown "error line from the server" nope.out 'nope\x1b[2J'
printf 'name: k\njobs:\n  - name: a\n    command: "true"\n    "bad\\e[2Jkey": 1\n' >$'bad\e]0;t\a.yaml'
"$torc" validate $'bad\e]0;t\a.yaml' >bad.out 2>&1
shown "validate error: file and key" bad.out "bad\\x1b]0;t\\x07.yaml:5:5: unknown key 'bad\\x1b[2Jkey'"

finish
