#!/usr/bin/env bash
# Where a Slurm-mode run's time goes, torc against the hand-written pilot (docs/benchmarks.md):
# each of N jobs writes its start and end time, so a run splits into start-up (first submit
# command -> first job running), steady state (16th start -> last start: 19 waves of 16 on the
# 4 x 4-CPU cluster) and the end. The jobs' extra `date` calls make every figure ~2 % larger than
# in slurm_bench.sh; both sides pay them alike.
# Run under with-cluster.sh: tests/slurm/with-cluster.sh -- tests/bench/slurm_phases.sh TORC [N] [ROUNDS]
set -euo pipefail
torc=$(realpath "$1"); n=${2:-320}; rounds=${3:-2}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d); cd "$work"
source "$here/slurm_lib.sh"
start_torc_server "$torc" "$work"
sbatch --wrap true -o /dev/null >/dev/null  # warm-up: a fresh cluster's first batch job waits ~2.5 s
wait_slurm_empty
cmd='date +%s.%N > ts/{i}.s; sleep 1; date +%s.%N > ts/{i}.e; touch marks/{i}'
phases() {  # phases NAME T0 T1
  python3 - "$1" "$n" "$2" "$3" <<'PY'
import sys
name, n, t0, t1 = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
s = sorted(float(open('ts/%d.s' % i).read()) for i in range(1, n + 1))
e = sorted(float(open('ts/%d.e' % i).read()) for i in range(1, n + 1))
k = min(15, n - 1)
print('%-6s makespan %.2f  first start +%.3f  steady (start %d -> last start) %.2f  last end +%.3f'
      % (name, t1 - t0, s[0] - t0, k + 1, s[-1] - s[k], e[-1] - t0))
PY
}
for r in $(seq "$rounds"); do
  mkdir -p "t$r/marks" "t$r/ts" && cd "t$r"
  bench_workflow phases "$n" "$cmd" > wf.yaml
  t0=$(date +%s.%N); "$torc" submit wf.yaml >/dev/null
  while (( $(ls marks | wc -l) < n )); do sleep 0.05; done
  phases torc "$t0" "$(date +%s.%N)"; cd ..; wait_slurm_empty
  mkdir -p "p$r/marks" "p$r/ts" && cd "p$r"
  t0=$(date +%s.%N)
  sbatch --nodes=4 --exclusive --mem=0 -o /dev/null --wrap \
    "seq $n | xargs -P16 -I{} srun --nodes=1 --ntasks=1 --cpus-per-task=1 --mem=100 --exact bash -c '${cmd//\{i\}/\{\}}'" >/dev/null
  while (( $(ls marks | wc -l) < n )); do sleep 0.05; done
  phases pilot "$t0" "$(date +%s.%N)"; cd ..; wait_slurm_empty
done
