#!/usr/bin/env bash
# What the NETNS lab's saturation does to the server's CPU for the same work (issue 23,
# docs/benchmarks.md "Session 16"): `server_bench dispatch 4096 64 16` (64 client threads claim
# and complete 4,096 jobs in batches of 16 against a real `torc server`, ~2 requests per 16 jobs)
# on the idle lab, then the same while the hand pilot of the scale benchmark (4,096 x `sleep 1`
# on 64 x 16: 1,024 processes at a time) runs, alternated, ROUNDS times. Each run prints
# server_bench's JSON line with "load": "idle" or "pilot" (and whether the pilot still ran when
# the dispatch ended).
# Run:
#   tests/slurm/with-cluster.sh --nodes 64 --cpus 16 --mem 16000 -- \
#     tests/bench/saturation_bench.sh build/tests/server_bench build/cmd/torc [ROUNDS]
set -euo pipefail
bench=$(realpath "$1")
torc=$(realpath "$2")
rounds=${3:-3}
nodes=${SLURM_LAB_NODES:-64}
cpus=${SLURM_LAB_CPUS:-16}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/slurm_lib.sh"
work=$(mktemp -d)
trap 'scancel --user "$(id -un)" 2>/dev/null || true; rm -rf "$work"' EXIT
cd "$work"

dispatch() {  # dispatch LOAD
  local line running=no
  line=$("$bench" "$torc" dispatch 4096 64 16)
  [[ -n $(squeue -h -o %i) ]] && running=yes
  echo "${line/\{/\{\"load\": \"$1\", \"pilot_running_at_end\": \"$running\", }"
}

sbatch --wrap true -o /dev/null >/dev/null  # warm-up: a fresh cluster's first batch job waits
wait_slurm_empty
for r in $(seq "$rounds"); do
  dispatch idle
  sbatch --nodes="$nodes" --exclusive --mem=0 -o /dev/null --wrap \
    "srun --nodes=$nodes --ntasks-per-node=1 bash -c 'seq $((4096 / nodes)) | xargs -P$cpus -I{} sleep 1'" \
    >/dev/null
  until [[ $(squeue -h -o %T) == RUNNING ]]; do sleep 0.1; done
  sleep 4  # the pilot's tasks have started their first sleeps
  dispatch pilot
  wait_slurm_empty
done
