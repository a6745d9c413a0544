#!/usr/bin/env bash
# Three of Torc's keys end to end, through the torc binary and a real server: an action's
# max_parallel_jobs and staggered_start in the batch script (`torc slurm script`), a worker
# with --max-parallel-jobs never running more jobs at once, and a workflow with
# compute_node_ignore_workflow_completion whose worker stays at completion, runs a job restarted
# meanwhile and leaves by its idle timeout, while `torc run` of it ends at completion.
# Usage: keys_cli_test.sh TORC_BINARY
set -uo pipefail
torc=$1
. "$(dirname "$0")/lib.sh"
cli_sandbox

# The batch script: the action's cap, and the start-up window of its 5 allocations (5 s).
cat >capped.yaml <<'EOF'
name: capped
execution_config: {staggered_start: true}
jobs:
  - {name: a, command: "true", scheduler: s}
slurm_schedulers:
  - {name: s, nodes: 1, walltime: "02:00:00"}
actions:
  - {trigger_type: on_workflow_start, action_type: schedule_nodes, scheduler: s,
     num_allocations: 5, max_parallel_jobs: 2}
EOF
out=$("$torc" slurm script capped.yaml 2>/dev/null)
expect_contains "slurm script: max_parallel_jobs and the start-up window" "$out" \
  " --scheduler 's' --max-parallel-jobs 2 --startup-delay 5"
out=$("$torc" validate capped.yaml 2>&1)
expect_not_contains "validate: no warning for the keys" "$out" "has no effect"

start_server_with_fake_slurm

# --max-parallel-jobs 2 on 4 CPUs: 6 one-second jobs, never more than 2 at once.
{
  echo "name: par"
  echo "jobs:"
  for k in 1 2 3 4 5 6; do
    echo "  - {name: j$k, command: \"echo \$(date +%s.%N) 1 >>$work/spans; sleep 1; echo \$(date +%s.%N) -1 >>$work/spans\"}"
  done
} >par.yaml
expect_eq "submit par" "$("$torc" submit --json par.yaml 2>/dev/null)" '{"workflow_id":1}'
"$torc" worker run --workflow 1 --mode direct --cpus 4 --max-parallel-jobs 2 --idle-timeout 5 \
  >worker1.log 2>&1
expect_eq "par: worker exit code" "$?" 0
most=$(sort -k1,1n -k2,2n spans | awk '{n += $2; if (n > m) m = n} END {print m}')
expect_eq "par: at most 2 jobs at once" "$most" 2
expect_eq "par: all 6 ran" "$(grep -c ' 1$' spans)" 6

# compute_node_ignore_workflow_completion: the worker stays, runs the restarted job, leaves idle.
# The job fails the first time (the workflow is then complete) and passes the second.
cat >stay.yaml <<EOF
name: stay
compute_node_ignore_workflow_completion: true
jobs:
  - {name: a, command: "echo ran >>$work/stay.count; [ \$(wc -l <$work/stay.count) -ge 2 ]"}
EOF
expect_eq "submit stay" "$("$torc" submit --json stay.yaml 2>/dev/null)" '{"workflow_id":2}'
"$torc" worker run --workflow 2 --mode direct --cpus 1 --idle-timeout 4 >worker2.log 2>&1 &
worker_pid=$!
for _ in $(seq 200); do grep -q "staying for jobs" worker2.log 2>/dev/null && break; sleep 0.05; done
expect_contains "stay: the worker says why it stays" "$(cat worker2.log)" \
  "the workflow is complete; staying for jobs made ready again (torc restart) until idle for 4 s"
expect_eq "restart" "$("$torc" restart 2 --no-schedule 2>&1)" "restarted 1 jobs"
wait "$worker_pid"; rc=$?
expect_eq "stay: worker exit code" "$rc" 0
expect_eq "stay: the restarted job ran on the same worker" "$(wc -l <stay.count)" 2
expect_contains "stay: left by its idle timeout" "$(cat worker2.log)" "idle for 4 s; stopping"

# torc run of the same file ends at completion (its worker has no idle timeout).
rm -f stay.count
timeout 60 "$torc" run stay.yaml --output-dir run_out >run.log 2>&1; rc=$?
expect_eq "torc run: exit 1 at completion (its one job failed), not stuck" "$rc" 1
expect_eq "torc run: the job ran once" "$(wc -l <stay.count)" 1
finish
