#!/usr/bin/env bash
# Worker benchmarks: torc run against xargs running the same commands, in the
# same session, alternating, RUNS times each; prints the median makespans.
#   (a) 10,000 jobs of `true`            (target: torc / xargs <= 1.15)
#   (b) 2,000 jobs of `sleep 0.1`        (target: <= 3 % over the ideal makespan)
# Usage: worker_bench.sh TORC_BINARY [RUNS] [a|b|ab]
# WORKER_BENCH_XARGS=0 skips the xargs runs (when two torc builds are compared: ab_compare.sh).
set -euo pipefail
torc=$(realpath "$1")
runs=${2:-3}
which=${3:-ab}
cores=$(nproc)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

median() { python3 -c 'import sys,statistics; print("%.2f" % statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }
elapsed() { local t0=$(date +%s.%N); "$@" >/dev/null 2>&1; python3 -c "print($(date +%s.%N) - $t0)"; }

bench() {  # bench NAME N COMMAND IDEAL
  local name=$1 n=$2 cmd=$3 ideal=$4
  printf 'name: %s\njobs:\n  - name: j_{i}\n    command: "%s"\n    parameters: {i: "1:%s"}\n' \
    "$name" "$cmd" "$n" > wf.yaml
  local t=() x=()
  for r in $(seq "$runs"); do
    # A fresh output directory per run, all deleted at the end: creating thousands of files
    # right after deleting thousands makes ext4 scan its recently deleted inodes
    # (recently_deleted() in the kernel profile) and slowed later runs by up to 2x.
    t+=("$(elapsed "$torc" run wf.yaml --cpus "$cores" --output-dir "out_${name}_$r")")
    if [[ ${WORKER_BENCH_XARGS:-1} == 0 ]]; then x+=(0); continue; fi
    x+=("$(elapsed bash -c "seq $n | xargs -P $cores -I{} bash -c '$cmd'")")
  done
  local tm xm
  tm=$(median "${t[@]}")
  xm=$(median "${x[@]}")
  echo "{\"case\": \"$name\", \"jobs\": $n, \"cores\": $cores, \"runs\": $runs," \
       "\"torc_runs_s\": [$(IFS=,; echo "${t[*]}")], \"xargs_runs_s\": [$(IFS=,; echo "${x[*]}")]," \
       "\"torc_median_s\": $tm, \"xargs_median_s\": $xm," \
       "\"torc_over_xargs\": $(python3 -c "print(round($tm / $xm, 3) if $xm else 'null')")," \
       "\"ideal_s\": $ideal, \"torc_over_ideal\": $(python3 -c "print(round($tm / $ideal, 3) if $ideal else 'null')")}"
}

if [[ $which == *a* ]]; then bench trues 10000 true 0; fi
if [[ $which == *b* ]]; then
  bench sleeps 2000 "sleep 0.1" "$(python3 -c "print(2000 * 0.1 / $cores)")"
fi
