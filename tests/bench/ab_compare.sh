#!/usr/bin/env bash
# Two builds of torc side by side in one session, alternating (the order flips every round so
# that neither always runs on a warmer machine): server dispatch (server_bench dispatch 200,000
# jobs, 2 workers, batches of 1,000) and the worker cases of worker_bench.sh, run with `torc run`:
# (a) 10,000 x `true`, (b) 2,000 x `sleep 0.1`. Every run writes its job output to its own
# directory and all are deleted at the end only: deleting thousands of files just before a run
# slows it (ext4 scans recently deleted inodes; see docs/benchmarks.md).
# Prints every run and the medians as JSON lines.
# Usage: ab_compare.sh OLD_BUILD_DIR NEW_BUILD_DIR [ROUNDS] [CASES]
#   build dirs hold cmd/torc and tests/server_bench; ROUNDS default 5; CASES default "dab"
set -euo pipefail
old=$(realpath "$1")
new=$(realpath "$2")
rounds=${3:-5}
cases=${4:-dab}
cores=$(nproc)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
printf 'name: trues\njobs:\n  - name: j_{i}\n    command: "true"\n    parameters: {i: "1:10000"}\n' > a.yaml
printf 'name: sleeps\njobs:\n  - name: j_{i}\n    command: "sleep 0.1"\n    parameters: {i: "1:2000"}\n' > b.yaml

elapsed() { local t0=$(date +%s.%N); "$@" >/dev/null 2>&1; python3 -c "print($(date +%s.%N) - $t0)"; }

run() {  # run LABEL BUILD ROUND
  local label=$1 build=$2 r=$3 d=null a=null b=null
  if [[ $cases == *d* ]]; then
    d=$("$build/tests/server_bench" "$build/cmd/torc" dispatch 200000 2 1000 |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["jobs_per_second"])')
  fi
  if [[ $cases == *a* ]]; then
    a=$(elapsed "$build/cmd/torc" run a.yaml --cpus "$cores" --output-dir "out_a_${label}_$r")
  fi
  if [[ $cases == *b* ]]; then
    b=$(elapsed "$build/cmd/torc" run b.yaml --cpus "$cores" --output-dir "out_b_${label}_$r")
  fi
  echo "{\"build\": \"$label\", \"dispatch_jobs_per_s\": $d, \"worker_a_s\": $a, \"worker_b_s\": $b}" |
    tee -a runs.jsonl
}

for r in $(seq "$rounds"); do
  if (( r % 2 )); then run old "$old" "$r"; run new "$new" "$r"; else run new "$new" "$r"; run old "$old" "$r"; fi
done
python3 - runs.jsonl <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
for key in ("dispatch_jobs_per_s", "worker_a_s", "worker_b_s"):
    if rows[0][key] is None:
        continue
    m = {b: statistics.median(r[key] for r in rows if r["build"] == b) for b in ("old", "new")}
    better = "higher" if key.startswith("dispatch") else "lower"
    change = (m["new"] - m["old"]) / m["old"] * 100
    print(json.dumps({"case": key, "old_median": round(m["old"], 3), "new_median": round(m["new"], 3),
                      "change_percent": round(change, 1), "better_is": better}))
PY
