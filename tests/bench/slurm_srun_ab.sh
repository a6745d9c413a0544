#!/usr/bin/env bash
# A/B of srun flag variants through the real worker, against the pilot (docs/benchmarks.md):
# torc worker run --srun WRAPPER started by hand with sbatch in one 4-node allocation per variant.
# W0: torc's srun line as is; W1: without --nodelist; W2: without --job-name/--time/--ntasks-per-node.
# Run under with-cluster.sh: tests/slurm/with-cluster.sh -- tests/bench/slurm_srun_ab.sh TORC [N] ["W0 pilot W1 W2"]
set -euo pipefail
torc=$(realpath "$1"); n=${2:-160}; variants=${3:-"W0 pilot W1 W2 W0 pilot W1 W2"}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d); cd "$work"
source "$here/slurm_lib.sh"
start_torc_server "$torc" "$work"
real_srun=$(command -v srun)
for w in W0 W1 W2; do
  cat > $w.sh <<SH
#!/bin/bash
args=()
for a in "\$@"; do
  case $w:\$a in
    W1:--nodelist=*) ;;
    W2:--job-name=*|W2:--time=*|W2:--ntasks-per-node=*) ;;
    *) args+=("\$a") ;;
  esac
done
exec $real_srun "\${args[@]}"
SH
  chmod +x $w.sh
done
wf=0
for v in $variants; do
  rm -rf marks; mkdir marks
  t0=$(date +%s.%N)
  if [[ $v == pilot ]]; then
    sbatch --nodes=4 --exclusive --mem=0 -o /dev/null --wrap \
      "seq $n | xargs -P16 -I{} srun --nodes=1 --ntasks=1 --cpus-per-task=1 --mem=200 --exact bash -c 'sleep 1; touch marks/{}'" >/dev/null
  else
    bench_workflow "ab_$v" "$n" "sleep 1; touch marks/{i}" slurm no > wf.yaml
    wf=$(( wf + 1 ))
    "$torc" submit wf.yaml >/dev/null
    sbatch --nodes=4 --exclusive --mem=0 -o worker_$wf.log --wrap "$torc worker run --workflow $wf --mode slurm --srun $work/$v.sh --output-dir $work/out" >/dev/null
  fi
  while (( $(ls marks | wc -l) < n )); do sleep 0.05; done
  t1=$(date +%s.%N)
  while [[ -n $(squeue -h -o %i) ]]; do sleep 0.1; done
  if [[ $v == pilot ]]; then
    echo "$v makespan $(python3 -c "print(round($t1-$t0,2))")"
  else
    python3 - "$TORC_DATA_DIR" $wf $v $t0 $t1 <<'PY'
import sqlite3, glob, sys
d, wf, v, t0, t1 = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4]), float(sys.argv[5])
c = sqlite3.connect(glob.glob(d + '/*.db')[0])
rows = c.execute('select start_time,end_time from attempts where workflow_id=?', (wf,)).fetchall()
busy = sum(e - s for s, e in rows)
print('%s makespan %.2f mean srun %.3f first start +%.2f' % (v, t1 - t0, busy / len(rows), min(s for s, _ in rows) - t0))
PY
  fi
done
