#!/usr/bin/env bash
# Two builds of torc side by side in one session, alternating (the order flips every round so
# that neither always runs on a warmer machine): server dispatch (server_bench dispatch 200,000
# jobs, 2 workers, batches of 1,000) and worker cases (a) 10,000 x `true` and (b) 2,000 x
# `sleep 0.1` (worker_bench.sh, torc run). Prints every run and the medians as JSON lines.
# Usage: ab_compare.sh OLD_BUILD_DIR NEW_BUILD_DIR [ROUNDS]   (build dirs with cmd/torc and
# tests/server_bench; default 5 rounds)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
old=$(realpath "$1")
new=$(realpath "$2")
rounds=${3:-5}
out=$(mktemp)
trap 'rm -f "$out"' EXIT

run() {  # run LABEL BUILD
  local label=$1 build=$2
  local d a b
  d=$("$build/tests/server_bench" "$build/cmd/torc" dispatch 200000 2 1000 |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["jobs_per_second"])')
  a=$(WORKER_BENCH_XARGS=0 "$here/worker_bench.sh" "$build/cmd/torc" 1 a |
      python3 -c 'import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])["torc_median_s"])')
  b=$(WORKER_BENCH_XARGS=0 "$here/worker_bench.sh" "$build/cmd/torc" 1 b |
      python3 -c 'import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])["torc_median_s"])')
  echo "{\"build\": \"$label\", \"dispatch_jobs_per_s\": $d, \"worker_a_s\": $a, \"worker_b_s\": $b}" |
    tee -a "$out"
}

for r in $(seq "$rounds"); do
  if (( r % 2 )); then run old "$old"; run new "$new"; else run new "$new"; run old "$old"; fi
done
python3 - "$out" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
for key in ("dispatch_jobs_per_s", "worker_a_s", "worker_b_s"):
    m = {b: statistics.median(r[key] for r in rows if r["build"] == b) for b in ("old", "new")}
    better = "higher" if key.startswith("dispatch") else "lower"
    change = (m["new"] - m["old"]) / m["old"] * 100
    print(json.dumps({"case": key, "old_median": round(m["old"], 3), "new_median": round(m["new"], 3),
                      "change_percent": round(change, 1), "better_is": better}))
PY
