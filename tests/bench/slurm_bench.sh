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
n=320
work=$(mktemp -d)
trap 'rm -rf "$work"; [[ -n ${server_pid:-} ]] && kill "$server_pid" 2>/dev/null' EXIT
cd "$work"
export TORC_DATA_DIR=$work/data
now() { date +%s.%N; }
wait_slurm_empty() { while [[ -n $(squeue -h -o %i) ]]; do sleep 0.2; done; }
done_count() { ls "$1" 2>/dev/null | wc -l; }

"$torc" server run --port 0 >server.log 2>&1 &
server_pid=$!
while [[ ! -s $TORC_DATA_DIR/server.url ]]; do sleep 0.05; done

torc_case() {  # torc_case MODE
  local mode=$1 extra="" per_node=false
  [[ $mode == direct ]] && { extra=$'execution_config:\n  mode: direct\n'; per_node=true; }
  mkdir -p "t_$mode" && cd "t_$mode" && rm -rf marks && mkdir marks
  cat > wf.yaml <<YAML
name: bench_$mode
${extra}resource_requirements:
  - {name: one, num_cpus: 1, memory: 200m, runtime: PT5M}
jobs:
  - {name: "j_{i}", command: "sleep 1; touch marks/{i}", resource_requirements: one, scheduler: s, parameters: {i: "1:$n"}}
slurm_schedulers:
  - {name: s, nodes: 4, walltime: "00:10:00"}
actions:
  - {trigger_type: on_workflow_start, action_type: schedule_nodes, scheduler: s, scheduler_type: slurm, start_one_worker_per_node: $per_node}
YAML
  local t0 t1
  t0=$(now)
  "$torc" submit wf.yaml >/dev/null
  while (( $(done_count marks) < n )); do sleep 0.05; done
  t1=$(now)
  cd ..
  wait_slurm_empty
  python3 -c "print(round($t1 - $t0, 2))"
}

array_case() {
  rm -rf a && mkdir -p a/marks && cd a
  local t0 t1
  t0=$(now)
  sbatch --array=1-$n --ntasks=1 --cpus-per-task=1 --mem=200 -o /dev/null --wrap 'sleep 1; touch marks/$SLURM_ARRAY_TASK_ID' >/dev/null
  while (( $(done_count marks) < n )); do sleep 0.05; done
  t1=$(now)
  cd ..
  wait_slurm_empty
  python3 -c "print(round($t1 - $t0, 2))"
}

per_job_case() {
  rm -rf p && mkdir -p p/marks && cd p
  local t0 t1
  t0=$(now)
  for i in $(seq $n); do
    sbatch --ntasks=1 --cpus-per-task=1 --mem=200 -o /dev/null --wrap "sleep 1; touch marks/$i" >/dev/null
  done
  while (( $(done_count marks) < n )); do sleep 0.05; done
  t1=$(now)
  cd ..
  wait_slurm_empty
  python3 -c "print(round($t1 - $t0, 2))"
}

pilot_case() {
  rm -rf h && mkdir -p h/marks && cd h
  local t0 t1
  t0=$(now)
  sbatch --nodes=4 --exclusive --mem=0 -o /dev/null --wrap \
    "seq $n | xargs -P16 -I{} srun --nodes=1 --ntasks=1 --cpus-per-task=1 --mem=100 --exact bash -c 'sleep 1; touch marks/{}'" >/dev/null
  while (( $(done_count marks) < n )); do sleep 0.05; done
  t1=$(now)
  cd ..
  wait_slurm_empty
  python3 -c "print(round($t1 - $t0, 2))"
}

# Warm-up: the first batch job of a freshly started cluster waits ~2.5 s for slurmctld's first
# scheduling cycle, whatever submitted it; it would land on whichever case runs first.
sbatch --wrap true -o /dev/null >/dev/null
wait_slurm_empty

declare -A results
for r in $(seq "$rounds"); do
  for c in ${CASES:-torc_slurm torc_direct array per_job_sbatch pilot}; do
    case $c in
      torc_slurm) v=$(torc_case slurm) ;;
      torc_direct) v=$(torc_case direct) ;;
      array) v=$(array_case) ;;
      per_job_sbatch) v=$(per_job_case) ;;
      pilot) v=$(pilot_case) ;;
    esac
    results[$c]="${results[$c]:-} $v"
    echo "round $r $c ${v} s" >&2
  done
done
for c in ${CASES:-torc_slurm torc_direct array per_job_sbatch pilot}; do
  python3 - "$c" ${results[$c]} <<'PY'
import json, statistics, sys
name, runs = sys.argv[1], [float(x) for x in sys.argv[2:]]
m = statistics.median(runs)
print(json.dumps({"case": name, "jobs": 320, "runs_s": runs, "median_s": m, "over_ideal": round(m / 20.0, 3)}))
PY
done
