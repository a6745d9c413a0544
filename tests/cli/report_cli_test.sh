#!/usr/bin/env bash
# `torc report` against a real server after a real worker ran the workflow:
# the HTML file has the summary, one timeline bar per attempt (as the API
# counts them), the graph, the over-request of a job that asks for 4 CPUs and
# 2 GiB and sleeps, and no external reference. Also `torc server run`'s
# dashboard line and the errors.
# Usage: report_cli_test.sh TORC_BINARY SOURCE_DIR
set -uo pipefail
torc=$1
. "$(dirname "$0")/lib.sh"
export TORC_DATA_DIR=$(mktemp -d)
unset TORC_API_URL TORC_TOKEN
server_pid=
cleanup() { [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$TORC_DATA_DIR"; }
trap cleanup EXIT
cd "$TORC_DATA_DIR"

"$torc" server run --port 0 >"$TORC_DATA_DIR/log" 2>&1 &
server_pid=$!
for _ in $(seq 200); do [[ -s $TORC_DATA_DIR/server.url ]] && grep -q dashboard "$TORC_DATA_DIR/log" && break; sleep 0.05; done
url=$(cat "$TORC_DATA_DIR/server.url")
token=$(cat "$TORC_DATA_DIR/token")
expect_contains "dashboard line" "$(cat "$TORC_DATA_DIR/log")" "dashboard: $url/#token=$token"

cat > wf.yaml <<'EOF'
name: report_demo
resource_requirements:
  - name: big
    num_cpus: 4
    memory: 2g
    runtime: PT5M
jobs:
  - name: prep
    command: "echo prep"
  - name: idle
    command: "sleep 6"
    resource_requirements: big
    depends_on: [prep]
  - name: broken
    command: "echo oops >&2; exit 3"
    depends_on: [prep]
  - name: post
    command: "echo post"
    depends_on: [idle]
EOF
expect_eq "submit" "$("$torc" submit wf.yaml | tail -1)" "1"
"$torc" worker run --workflow 1 --mode direct --cpus 4 --memory 8g --idle-timeout 5 \
  >worker.log 2>&1 || fail "worker: $(tail -3 worker.log)"

# Reports: file and stdout.
out=$("$torc" report 1 --html report.html); rc=$?
expect_eq "report exit code" "$rc" 0
expect_eq "report line" "$out" "wrote report.html: workflow 1, 4 jobs, 4 attempts, 1 jobs with flagged requests"
expect_eq "report of the newest workflow" "$("$torc" report --html newest.html)" \
  "wrote newest.html: workflow 1, 4 jobs, 4 attempts, 1 jobs with flagged requests"
expect_eq "report to stdout is the same page but for the time" \
  "$("$torc" report 1 --html - | grep -v Generated | md5sum)" "$(grep -v Generated report.html | md5sum)"

python3 - "$url" "$token" report.html <<'EOF' || fail "report content against the API"
import json, re, sys, urllib.request
url, token, path = sys.argv[1:]
def get(p):
    req = urllib.request.Request(url + "/api/v1" + p, headers={"Authorization": "Bearer " + token})
    return json.load(urllib.request.urlopen(req))
html = open(path).read()
data = get("/workflows/1/attempts")
attempts = [a for j in data["jobs"] for a in j["attempts"]]
assert len(attempts) == 4, attempts
bars = re.findall(r'<rect class="bar"[^>]*data-state="(\w+)"', html)
assert sorted(bars) == sorted(a["status"] for a in attempts), (bars, attempts)
assert bars.count("failed") == 1 and bars.count("completed") == 3, bars
status = get("/workflows/1")
assert status["counts"]["completed"] == 3 and status["counts"]["failed"] == 1, status["counts"]
for state, n in status["counts"].items():
    if n:
        assert f'data-state="{state}" style="background:' in html and f">{state} {n}</span>" in html, state
assert html.count('class="dag-node"') == 4, "graph"
assert re.search(r'data-flag="cpu-over" title="used 0\.\d of 4 CPUs', html), "cpu over-request of idle"
assert 'data-flag="memory-over"' in html, "memory over-request of idle"
assert not re.search(r'(src|href)\s*=\s*["\']?\s*(https?:)?//', html, re.I), "external reference"
assert "<script" not in html and "<link" not in html
EOF

# Errors: one clear line.
out=$("$torc" report 99 --html x.html 2>&1); rc=$?
expect_eq "unknown workflow exit code" "$rc" 1
expect_eq "unknown workflow message" "$out" "torc: no workflow 99"
[[ -e x.html ]] && fail "no file for an unknown workflow"
out=$("$torc" report 1 --html /nonexistent/dir/r.html 2>&1); rc=$?
expect_eq "unwritable exit code" "$rc" 1
expect_eq "unwritable message" "$out" "torc: cannot write /nonexistent/dir/r.html"
out=$("$torc" report 1 2>&1); rc=$?
expect_eq "missing --html exit code" "$rc" 106
expect_contains "missing --html message" "$out" "--html is required"
finish
