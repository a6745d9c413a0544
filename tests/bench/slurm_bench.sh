#!/usr/bin/env bash
# Slurm benchmark: 320 jobs of `sleep 1` on the local 4 x 4-CPU cluster (ideal
# makespan 20 s), side by side in one session: torc slurm mode, torc direct
# mode with one worker per node, sbatch --array, one sbatch per job, and a
# hand-written pilot (one exclusive allocation running xargs -P16 srun ...).
# Makespan: from the first submit command until the last job is done.
# Run under with-cluster.sh:  tests/slurm/with-cluster.sh -- tests/bench/slurm_bench.sh TORC [ROUNDS]
set -euo pipefail
torc=$(realpath "$1")
rounds=${2:-1}
n=${BENCH_JOBS:-320}  # a smaller number only to try the script out
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
cd "$work"
source "$here/slurm_lib.sh"
now() { date +%s.%N; }
done_count() { ls "$1" 2>/dev/null | wc -l; }
start_torc_server "$torc" "$work"

# measure DIR SUBMIT...: runs the submit command in a fresh DIR with an empty marks/, then
# waits until n marks exist; prints the makespan. Starts at a random point of a second first:
# slurmctld starts batch jobs on its ~1 s cycle, not at submit, so a case whose submits
# kept the same phase to that cycle round after round would keep the same bias
# (docs/benchmarks.md); the random start spreads it evenly over all cases.
measure() {
  local dir=$1; shift
  rm -rf "$dir" && mkdir -p "$dir/marks" && cd "$dir"
  [[ -n ${prepare:-} ]] && $prepare
  sleep "0.$(printf %03d $((RANDOM % 1000)))"
  local t0 t1
  t0=$(now)
  "$@" >/dev/null
  while (( $(done_count marks) < n )); do sleep 0.05; done
  t1=$(now)
  cd ..
  wait_slurm_empty
  echo "$(python3 -c "print(round($t1 - $t0, 2))"):$(slurm_wait "$t0")"
}

# slurm_wait T0: seconds from the first batch job submitted after T0 to slurmctld starting it
# (its log: `_slurm_rpc_submit_batch_job: JobId=N` -> `sched: Allocate JobId=N`, or the backfill
# scheduler's `_start_job: Started JobId=N`), "nan" without
# the log. What Slurm's scheduling cycle added to this case's makespan, whoever submitted.
slurm_wait() {
  python3 - "${SLURM_LAB_DIR:-}/log/slurmctld.log" "$1" <<'PY'
import datetime, re, sys
path, t0 = sys.argv[1], float(sys.argv[2])
submitted, started = {}, {}
pattern = re.compile(r"\[(\S+)\] (_slurm_rpc_submit_batch_job:|sched: Allocate|sched/backfill: _start_job: Started) JobId=(\d+) ")
try:
    for line in open(path, errors="replace"):
        m = pattern.match(line)
        if not m:
            continue
        t = datetime.datetime.fromisoformat(m.group(1)).timestamp()  # slurmctld logs local time
        table = submitted if m.group(2).startswith("_slurm") else started
        table.setdefault(m.group(3), t)
except OSError:
    print("nan"); sys.exit()
first = min((t, j) for j, t in submitted.items() if t >= t0 - 0.002) if any(
    t >= t0 - 0.002 for t in submitted.values()) else None
print(round(started[first[1]] - first[0], 3) if first and first[1] in started else "nan")
PY
}

slurm_yaml() { bench_workflow bench_slurm "$n" "sleep 1; touch marks/{i}" slurm > wf.yaml; }
direct_yaml() { bench_workflow bench_direct "$n" "sleep 1; touch marks/{i}" direct > wf.yaml; }

per_job_sbatch() {
  for i in $(seq $n); do
    sbatch --ntasks=1 --cpus-per-task=1 --mem=200 -o /dev/null --wrap "sleep 1; touch marks/$i"
  done
}

# Warm-up: the first batch job of a freshly started cluster waits ~2.5 s for slurmctld's first
# scheduling cycle, whatever submitted it; it would land on whichever case runs first.
sbatch --wrap true -o /dev/null >/dev/null
wait_slurm_empty

declare -A results
for r in $(seq "$rounds"); do
  for c in ${CASES:-torc_slurm torc_direct array per_job_sbatch pilot}; do
    case $c in
      torc_slurm) v=$(prepare=slurm_yaml measure t_slurm "$torc" submit wf.yaml) ;;
      torc_direct) v=$(prepare=direct_yaml measure t_direct "$torc" submit wf.yaml) ;;
      array) v=$(measure a sbatch --array=1-$n --ntasks=1 --cpus-per-task=1 --mem=200 -o /dev/null \
                 --wrap 'sleep 1; touch marks/$SLURM_ARRAY_TASK_ID') ;;
      per_job_sbatch) v=$(measure p per_job_sbatch) ;;
      pilot) v=$(measure h sbatch --nodes=4 --exclusive --mem=0 -o /dev/null --wrap \
                 "seq $n | xargs -P16 -I{} srun --nodes=1 --ntasks=1 --cpus-per-task=1 --mem=100 --exact bash -c 'sleep 1; touch marks/{}'") ;;
      *) echo "unknown case $c" >&2; exit 2 ;;
    esac
    results[$c]="${results[$c]:-} $v"
    echo "round $r $c ${v%%:*} s (Slurm's wait before the first allocation started: ${v##*:} s)" >&2
  done
done
for c in ${CASES:-torc_slurm torc_direct array per_job_sbatch pilot}; do
  python3 - "$c" "$n" ${results[$c]} <<'PY'
import json, math, statistics, sys
name, n = sys.argv[1], int(sys.argv[2])
pairs = [tuple(float(x) for x in arg.split(":")) for arg in sys.argv[3:]]
runs = [p[0] for p in pairs]
m = statistics.median(runs)
ideal = n / 16  # 16 CPUs, one second each
out = {"case": name, "jobs": n, "runs_s": runs, "median_s": m, "over_ideal": round(m / ideal, 3),
       "slurm_wait_s": [p[1] for p in pairs]}
# Without Slurm's wait for its scheduling cycle: what the tool itself costs over the ideal.
if not any(math.isnan(p[1]) for p in pairs):
    net = statistics.median(p[0] - p[1] for p in pairs)
    out["median_without_wait_s"] = round(net, 2)
    out["without_wait_over_ideal"] = round(net / ideal, 3)
print(json.dumps(out))
PY
done
