#!/usr/bin/env bash
# Runs each spec benchmark case RUNS times (default 5) and prints the median
# time and peak memory of each. Usage: run_spec_bench.sh BUILD_DIR [RUNS]
set -euo pipefail
build=${1:?build dir}
runs=${2:-5}
bench=$build/tests/spec_bench
for c in baseline_sweep sweep all_to_all; do
  for r in $(seq "$runs"); do "$bench" "$c"; done | python3 -c '
import json, statistics, sys
rows = [json.loads(l) for l in sys.stdin]
print(json.dumps({"case": rows[0]["case"], "runs": len(rows), "jobs": rows[0]["jobs"],
                  "dependencies": rows[0]["dependencies"],
                  "median_seconds": round(statistics.median(r["seconds"] for r in rows), 3),
                  "median_peak_rss_mib": round(statistics.median(r["peak_rss_mib"] for r in rows), 1)}))'
done
