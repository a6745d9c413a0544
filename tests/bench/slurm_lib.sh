# Shared by the Slurm benchmark scripts (sourced, not run): a private torc server, waiting for
# the cluster to drain, and the benchmark's workflow file.

# start_torc_server TORC WORK: `torc server run` on WORK/data (exported as TORC_DATA_DIR),
# waits for its URL; sets server_pid and stops the server on exit.
start_torc_server() {
  export TORC_DATA_DIR=$2/data
  "$1" server run --port 0 >"$2/server.log" 2>&1 &
  server_pid=$!
  trap 'kill $server_pid 2>/dev/null; rm -rf "$work"' EXIT
  while [[ ! -s $TORC_DATA_DIR/server.url ]]; do sleep 0.05; done
}

wait_slurm_empty() { while [[ -n $(squeue -h -o %i) ]]; do sleep 0.2; done; }

# bench_workflow NAME N COMMAND [MODE] [ACTION]: N jobs j_{i} of COMMAND (1 CPU, 200 MB);
# MODE direct adds execution_config; ACTION yes adds scheduler s (4 nodes) and an
# on_workflow_start schedule_nodes action (one worker per node in direct mode).
bench_workflow() {
  local name=$1 n=$2 command=$3 mode=${4:-slurm} action=${5:-yes} per_node=false
  echo "name: $name"
  [[ $mode == direct ]] && { printf 'execution_config:\n  mode: direct\n'; per_node=true; }
  cat <<YAML
resource_requirements:
  - {name: one, num_cpus: 1, memory: 200m, runtime: PT5M}
jobs:
  - {name: "j_{i}", command: "$command", resource_requirements: one$([[ $action == yes ]] && echo ", scheduler: s"), parameters: {i: "1:$n"}}
YAML
  [[ $action == yes ]] && cat <<YAML
slurm_schedulers:
  - {name: s, nodes: 4, walltime: "00:10:00"}
actions:
  - {trigger_type: on_workflow_start, action_type: schedule_nodes, scheduler: s, scheduler_type: slurm, start_one_worker_per_node: $per_node}
YAML
  return 0
}
