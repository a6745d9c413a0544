#!/usr/bin/env bash
# The server commands as a user runs them, on a real server: submit, workflows
# list, status, jobs list (table and --json), cancel, restart, and the errors.
# Usage: server_cli_test.sh TORC_BINARY SOURCE_DIR
set -uo pipefail
torc=$1
src=$2
# Torc's examples and the seed files live beside the project, in ../shared (never copied).
shared=${TORC_SHARED_EXAMPLES:-$src/../shared/spec-examples}
. "$(dirname "$0")/lib.sh"
export TORC_DATA_DIR=$(mktemp -d)
unset TORC_API_URL TORC_TOKEN
server_pid=
cleanup() { [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$TORC_DATA_DIR"; }
trap cleanup EXIT

# No server yet: one clear line.
out=$("$torc" workflows list 2>&1); rc=$?
expect_eq "no server exit code" "$rc" 1
expect_contains "no server message" "$out" "torc: no torc server found: $TORC_DATA_DIR/server.url does not exist"

"$torc" server run --port 0 >"$TORC_DATA_DIR/log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do [[ -s $TORC_DATA_DIR/server.url ]] && break; sleep 0.05; done
expect_contains "server start line" "$(cat "$TORC_DATA_DIR/log")" "torc server listening on http://127.0.0.1:"
expect_eq "token mode" "$(stat -c %a "$TORC_DATA_DIR/token")" "600"

# slurm script: a loopback URL in a batch script is a warning (a node would call itself)
seed=$shared/seed/parallel_analysis_direct.yaml
out=$("$torc" slurm script "$seed" 2>"$TORC_DATA_DIR/script.err"); rc=$?
expect_eq "slurm script exit code" "$rc" 0
expect_contains "loopback URL warning" "$(cat "$TORC_DATA_DIR/script.err")" "WARNING: workers will read the server URL http://127.0.0.1:"
# Workers find the server through the data directory (so they follow a moved server), not a URL
# frozen into the script.
expect_not_contains "no URL frozen into the script" "$out" "TORC_API_URL"
expect_contains "the script names the data directory" "$out" "export TORC_DATA_DIR="
expect_contains "script exports the environment to steps" "$out" "export SLURM_EXPORT_ENV=ALL"
expect_contains "per-node srun survives WaitTime and MpiDefault" "$out" "--kill-on-bad-exit=0 --wait=0 --mpi=none --export=ALL"
other=$(mktemp -d); chmod 700 "$other"; cp -p "$TORC_DATA_DIR/token" "$other/token"
echo "http://login1.cluster:8123" > "$other/server.url"
out=$(TORC_DATA_DIR=$other "$torc" slurm script "$seed" 2>"$other/script.err")
expect_contains "advertised URL in the script's comment" "$out" "# server: http://login1.cluster:8123"
expect_eq "no warning for a reachable URL" "$(cat "$other/script.err")" ""
rm -rf "$other"
# A line break in the workflow's name cannot start a command in the script (it is in a comment)
sed 's/^name: .*/name: "x\\ntouch \/tmp\/pwned #"/' "$seed" >"$TORC_DATA_DIR/injected.yaml"
expect_contains "injected name is in the file" "$(cat "$TORC_DATA_DIR/injected.yaml")" 'name: "x\ntouch /tmp/pwned #"'
out=$("$torc" slurm script "$TORC_DATA_DIR/injected.yaml" 2>/dev/null)
expect_contains "control characters of the name become ?" "$out" "(x?touch /tmp/pwned #), scheduler"
expect_eq "no script line starts with the injected command" "$(grep -c '^touch' <<<"$out")" "0"

# submit: the diamond reads f1.json, which no job writes: refused until it exists (inputs
# checked before start), then the id alone on the last line; --json
cd "$TORC_DATA_DIR" || exit 1
out=$("$torc" submit "$shared/torc/diamond_workflow.yaml" 2>&1); rc=$?
expect_eq "submit without its input: exit code" "$rc" 1
expect_contains "submit without its input: names job and file" "$out" "job 'preprocess' reads input file 'f1' (f1.json), which does not exist"
echo '{}' > f1.json
out=$("$torc" submit "$shared/torc/diamond_workflow.yaml"); rc=$?
expect_eq "submit exit code" "$rc" 0
expect_eq "submit last line" "$(tail -1 <<<"$out")" "1"
expect_contains "submit summary" "$out" "created workflow 1 (diamond_workflow, 4 jobs)"
expect_eq "submit --json" "$("$torc" submit --json "$src/examples/sweep_pipeline.yaml")" '{"workflow_id":2}'

# a bad file: its errors, nothing created
printf 'name: bad\njobs:\n  - name: a\n' > "$TORC_DATA_DIR/bad.yaml"
out=$("$torc" submit "$TORC_DATA_DIR/bad.yaml" 2>&1); rc=$?
expect_eq "bad submit exit code" "$rc" 1
expect_contains "bad submit errors" "$out" "bad.yaml:3:5: job 'a' needs 'command'"
expect_eq "nothing created" "$("$torc" workflows list --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" "2"

# workflows list, table and JSON
out=$("$torc" workflows list)
expect_contains "workflows table header" "$out" "ID  NAME"
expect_contains "workflows table row" "$out" "diamond_workflow"
"$torc" workflows list --json | python3 -c '
import json, sys
w = json.load(sys.stdin)
assert [x["workflow_id"] for x in w] == [1, 2], w
assert w[0]["total"] == 4 and w[0]["counts"]["ready"] == 1, w[0]
' || fail "workflows list --json"

# status, table and JSON
out=$("$torc" status 1)
expect_contains "status table" "$out" "workflow 1 (diamond_workflow): 4 jobs"
expect_contains "status ready" "$out" "ready:      1"
"$torc" status 1 --json | python3 -c '
import json, sys
s = json.load(sys.stdin)
assert s["workflow_id"] == 1 and s["total"] == 4, s
assert s["counts"] == {"blocked": 3, "ready": 1, "claimed": 0, "running": 0, "completed": 0,
                       "failed": 0, "canceled": 0, "terminated": 0, "disabled": 0}, s["counts"]
' || fail "status --json"

# jobs list, table and JSON, with filters
out=$("$torc" jobs list 1)
expect_contains "jobs table" "$out" "preprocess"
expect_contains "jobs table status" "$out" "ready"
"$torc" jobs list 1 --json --status blocked | python3 -c '
import json, sys
j = json.load(sys.stdin)
assert sorted(x["name"] for x in j) == ["postprocess", "work1", "work2"], j
for x in j:
    assert set(["name", "status", "attempt", "exit_code"]) <= set(x), x
    assert x["status"] == "blocked" and x["attempt"] == 1 and x["exit_code"] is None
' || fail "jobs list --json --status"
expect_eq "jobs list --name" "$("$torc" jobs list 1 --json --name '^work' | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" "2"

# cancel, then restart brings everything back
expect_eq "cancel" "$("$torc" cancel 1)" "canceled 4 jobs"
expect_contains "status after cancel" "$("$torc" status 1)" "canceled:   4"
expect_eq "restart" "$("$torc" restart 1)" "restarted 4 jobs"
expect_contains "status after restart" "$("$torc" status 1)" "ready:      1"

# unknown workflow: a clear error
out=$("$torc" status 99 2>&1); rc=$?
expect_eq "unknown workflow exit code" "$rc" 1
expect_eq "unknown workflow message" "$out" "torc: no workflow 99"

# "@file" parameter values: torc submit sends the files with the workflow's text (the server
# reads none of its own), the server stores them and expands the workflow again from them when
# it restarts; a submit that lacks a file the workflow names is refused, naming it.
at=$TORC_DATA_DIR/atfile
mkdir -p "$at/wf" "$at/elsewhere"
printf 'a\n# not a value\nb\n\nc\n' > "$at/wf/ids.txt"
printf 'name: atfile\njobs:\n  - name: j_{id}\n    command: echo {id}\n    parameters:\n      id: "@ids.txt"\n' > "$at/wf/at.yaml"
out=$(cd "$at/elsewhere" && "$torc" submit ../wf/at.yaml 2>&1); rc=$?
expect_eq "submit with @file: exit code" "$rc" 0
expect_contains "submit with @file: the file's jobs" "$out" "created workflow 3 (atfile, 3 jobs)"
jobs_of_3() { "$torc" jobs list 3 --json | python3 -c 'import json,sys; print(" ".join(sorted(x["name"] for x in json.load(sys.stdin))))'; }
expect_eq "jobs of the @file workflow" "$(jobs_of_3)" "j_a j_b j_c"
printf 'x\n' > "$at/wf/ids.txt"  # changed after the submit: the server keeps what was sent
cat >"$at/post.py" <<'PY'
# post.py FILE [PARAMETER_FILES_JSON]: POST /workflows; prints the status, the error and the
# errors, a line each.
import json, os, sys, urllib.error, urllib.request
d = os.environ["TORC_DATA_DIR"]
url = open(d + "/server.url").read().strip() + "/api/v1/workflows"
body = {"spec_text": open(sys.argv[1]).read(), "file_name": "at.yaml"}
if len(sys.argv) > 2:
    body["parameter_files"] = json.loads(sys.argv[2])
req = urllib.request.Request(url, json.dumps(body).encode(), method="POST", headers={
    "Authorization": "Bearer " + open(d + "/token").read().strip(),
    "Content-Type": "application/json"})
try:
    print(urllib.request.urlopen(req).status)
except urllib.error.HTTPError as e:
    answer = json.load(e)
    print("\n".join([str(e.code), answer["error"]] + answer.get("errors", [])))
PY
expect_eq "POST /workflows without the @file's text: 400 naming it" "$(python3 "$at/post.py" "$at/wf/at.yaml")" "400
the workflow file has 1 error(s)
at.yaml:6:11: parameter 'id': cannot read the parameter file 'ids.txt': it was not sent with the workflow ('parameter_files' of the submit request has no 'ids.txt'; the server reads no files of its own)"
expect_eq "POST /workflows with parameter_files not an object" "$(python3 "$at/post.py" "$at/wf/at.yaml" '["ids.txt"]')" "400
'parameter_files' must be an object of paths to the files' texts"
expect_eq "POST /workflows with a file's text not a string" "$(python3 "$at/post.py" "$at/wf/at.yaml" '{"ids.txt": 5}')" "400
'parameter_files' entry 'ids.txt' must be a string (the file's text)"
expect_eq "nothing created by the refused posts" "$("$torc" workflows list --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" "3"
# Restart the server: it expands workflow 3 again from the stored files, to the same jobs.
kill "$server_pid"; wait "$server_pid" 2>/dev/null
"$torc" server run --port 0 >>"$TORC_DATA_DIR/log" 2>&1 &
server_pid=$!
for _ in $(seq 200); do "$torc" workflows list >/dev/null 2>&1 && break; sleep 0.05; done
expect_eq "after a restart, the @file workflow has the same jobs" "$(jobs_of_3)" "j_a j_b j_c"
expect_not_contains "after a restart, every workflow loads" "$(cat "$TORC_DATA_DIR/log")" "no longer expands"

# server gone: the connection error names the URL and the fix
kill "$server_pid"; wait "$server_pid" 2>/dev/null; server_pid=
out=$("$torc" status 1 2>&1); rc=$?
expect_eq "server down exit code" "$rc" 1
expect_contains "server down message" "$out" "torc: cannot reach server at http://127.0.0.1:"
expect_contains "server down hint" "$out" "is 'torc server run' running? ($TORC_DATA_DIR/server.url)"
finish
