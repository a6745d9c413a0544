#!/usr/bin/env bash
# `torc jobs show` (text and --json) and `torc report` on attempts with requests, per-node
# usage and samples (issue #18), against a fake server (fake_usage_server.py on 127.0.0.1)
# that serves the contract-shaped fixtures of tests/server/fixtures/usage: each attempt's
# request and true figures, one line per node, the samples summary and sparkline, samples
# fetched only for attempts that have some, control characters escaped, and the report's
# charts and suggested requests.
# Usage: usage_cli_test.sh TORC_BINARY SOURCE_DIR
set -uo pipefail
torc=$1
src=$2
. "$(dirname "$0")/lib.sh"
cli_sandbox
cp -r "$src/tests/server/fixtures/usage" fixtures
python3 "$src/tests/cli/fake_usage_server.py" fixtures port requests.log &
server_pid=$!
for _ in $(seq 100); do [[ -s port ]] && break; sleep 0.1; done
[[ -s port ]] || { echo "FAIL: the fake server did not start" >&2; exit 1; }
export TORC_API_URL=http://127.0.0.1:$(cat port) TORC_TOKEN=fake
requests() { cat requests.log; : >requests.log; }

# grower: a memory kill at 100 MiB, then a grown request; samples for both attempts.
out=$("$torc" jobs show 3 grower); rc=$?
expect_eq "grower exit code" "$rc" 0
expect_contains "grower header" "$out" "    ATTEMPT  STATUS     EXIT  SIGNAL  REASON  NODES  START                DURATION  PEAK RSS   CPU    REQUESTED"
expect_contains "grower attempt 1" "$out" "137   -       memory  n1     "
expect_contains "grower attempt 1 request" "$out" "4.0 s     100.0 MiB  3.0 s  100.0 MiB, 30m00s, 1 CPU"
expect_contains "grower attempt 2 request" "$out" "10.0 s    300.0 MiB  9.5 s  400.0 MiB, 30m00s, 1 CPU"
expect_contains "grower samples 1" "$out" "  attempt 1 samples: 5 every 1.0 s over 4.0 s; peak RSS 100.0 MiB, peak CPU 100%
    RSS ▂▄▇██"
expect_contains "grower samples 2" "$out" "  attempt 2 samples: 6 every 2.0 s over 10.0 s; peak RSS 300.0 MiB, peak CPU 100%
    RSS ▂▄▇██▆"
expect_not_contains "grower is on one node" "$out" "per node:"
expect_eq "grower requests" "$(requests)" "/api/v1/workflows/3/jobs/grower
/api/v1/workflows/3/jobs/grower/attempts/1/samples
/api/v1/workflows/3/jobs/grower/attempts/2/samples"

# wide: 2 nodes, one of them named with an escape sequence (printed escaped).
out=$("$torc" jobs show 3 wide)
expect_contains "wide per node" "$out" "  attempt 1 per node:
    NODE        PEAK RSS   CPU
    n1          768.0 MiB  1m40s
    n\\x1b[31m2  512.0 MiB  50.0 s
  attempt 1 samples: 4 every 25.0 s over 1m15s; peak RSS 1.2 GiB, peak CPU 160%
    RSS ▄▇█▅"
expect_not_contains "no raw escape" "$out" $'\x1b'
expect_contains "wide request" "$out" "1m40s     768.0 MiB  2m30s  2.0 GiB, 1h00m, 4 CPU"
requests >/dev/null

# quick: an older server's attempt (no request, node_usage or samples): no REQUESTED column,
# no samples asked for. hot: "samples": 0, none asked for.
out=$("$torc" jobs show 3 quick)
expect_contains "quick header" "$out" "DURATION  PEAK RSS  CPU
"
expect_not_contains "quick: no REQUESTED" "$out" "REQUESTED"
expect_not_contains "quick: no samples" "$out" "samples"
"$torc" jobs show 3 hot >/dev/null
expect_eq "quick and hot: no samples fetched" "$(requests)" "/api/v1/workflows/3/jobs/quick
/api/v1/workflows/3/jobs/hot"

# --json: the API's attempt keys as they are, plus sample_series with its summary.
"$torc" jobs show 3 wide --json | json '
a = d["attempts"][0]
assert a["request"] == {"memory_bytes": 2147483648, "runtime_seconds": 3600, "num_cpus": 4}, a["request"]
assert [u["node"] for u in a["node_usage"]] == ["n1", "n\x1b[31m2"], a["node_usage"]
s = a["sample_series"]
assert (s["count"], s["interval_seconds"], s["duration_seconds"]) == (4, 25, 75), s
assert (s["peak_rss_bytes"], s["peak_cpu_percent"]) == (1342177280, 160), s
assert [x["t"] for x in s["samples"]] == [0, 25, 50, 75], s["samples"]
print("ok")' >json.out 2>&1
expect_eq "jobs show --json" "$(cat json.out)" "ok"
"$torc" jobs show 3 quick --json | json '
a = d["attempts"][0]
assert "sample_series" not in a and "request" not in a, a
print("ok")' >json.out 2>&1
expect_eq "jobs show --json of an older attempt" "$(cat json.out)" "ok"
requests >/dev/null

# A server that counts samples it cannot serve (404): a warning, the count, no failure.
mv fixtures/samples_wide_1.json fixtures/gone.json
out=$("$torc" jobs show 3 wide 2>err.txt); rc=$?
expect_eq "404 samples exit code" "$rc" 0
expect_eq "404 samples warning" "$(cat err.txt)" "torc: no samples for attempt 1 of job 'wide': no attempt 1 of job wide"
expect_contains "404 samples line" "$out" "  attempt 1 samples: 4 (not served)"
mv fixtures/gone.json fixtures/samples_wide_1.json
requests >/dev/null

# The report: samples fetched for the charted attempts only; charts and suggestions in it.
out=$("$torc" report 3 --html report.html); rc=$?
expect_eq "report exit code" "$rc" 0
expect_eq "report line" "$out" "wrote report.html: workflow 3, 4 jobs, 5 attempts, 3 jobs with flagged requests"
expect_eq "report requests" "$(requests)" "/api/v1/workflows/3
/api/v1/workflows/3/attempts?offset=0&limit=20000&parents=true
/api/v1/workflows/3/jobs/grower/attempts/1/samples
/api/v1/workflows/3/jobs/grower/attempts/2/samples
/api/v1/workflows/3/jobs/wide/attempts/1/samples"
python3 - report.html <<'PY' || fail "report content"
import re, sys
html = open(sys.argv[1]).read()
charts = re.findall(r'<div class="job-usage" data-job="(\w+)"', html)
assert charts == ["grower", "wide"], charts
points = re.findall(r'<polyline class="series" data-attempt="(\d)" data-points="(\d+)"', html)
assert points == [("1", "5"), ("2", "6"), ("1", "5"), ("2", "6"), ("1", "4"), ("1", "4")], points
# grower's memory chart: ticks up to 600 MiB, its two requests at their heights.
assert re.search(r'data-value="104857600" x1="72" y1="159.7"', html), "100 MiB request line"
assert re.search(r'data-value="419430400" x1="72" y1="80.7"', html), "400 MiB request line"
rows = dict(re.findall(r'<tr class="flagged" data-job="(\w+)">(.*?)</tr>', html))
assert sorted(rows) == ["grower", "hot", "wide"], sorted(rows)
sugg = lambda job: re.findall(r'<span class="suggest" data-key="(\w+)" data-value="\d+">\w+: ([^<]+)</span>', rows[job])
assert sugg("grower") == [("runtime", "PT1M"), ("memory", "384m")], sugg("grower")
assert sugg("wide") == [("num_cpus", "1"), ("memory", "960m")], sugg("wide")
assert sugg("hot") == [("num_cpus", "3"), ("memory", "1.5g"), ("runtime", "PT1M")], sugg("hot")
assert not re.search(r'(src|href)\s*=\s*["\']?\s*(https?:)?//', html, re.I) and "<script" not in html
PY
finish
