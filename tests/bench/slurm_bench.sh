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
  python3 -c "print(round($t1 - $t0, 2))"
}

torc_workflow() {  # torc_workflow MODE > wf.yaml
  local mode=$1 extra="" per_node=false
  [[ $mode == direct ]] && { extra=$'execution_config:\n  mode: direct\n'; per_node=true; }
  cat <<YAML
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
}
slurm_yaml() { torc_workflow slurm > wf.yaml; }
direct_yaml() { torc_workflow direct > wf.yaml; }

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
    echo "round $r $c ${v} s" >&2
  done
done
for c in ${CASES:-torc_slurm torc_direct array per_job_sbatch pilot}; do
  python3 - "$c" "$n" ${results[$c]} <<'PY'
import json, statistics, sys
name, n, runs = sys.argv[1], int(sys.argv[2]), [float(x) for x in sys.argv[3:]]
m = statistics.median(runs)
ideal = n / 16  # 16 CPUs, one second each
print(json.dumps({"case": name, "jobs": n, "runs_s": runs, "median_s": m, "over_ideal": round(m / ideal, 3)}))
PY
done
