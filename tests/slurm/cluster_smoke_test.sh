#!/usr/bin/env bash
# cluster_smoke_test.sh [--gpus] [--partitions] - checks, with the real
# sbatch/srun/squeue/scontrol/scancel, that the private Slurm cluster behaves the way torc's
# tests rely on. Run it through with-cluster.sh, which starts the cluster and exports
# SLURM_CONF, SLURM_LAB_* and LAB_LOGIN_IP:
#   tests/slurm/with-cluster.sh -- tests/slurm/cluster_smoke_test.sh
#   tests/slurm/with-cluster.sh --no-netns -- tests/slurm/cluster_smoke_test.sh
#   tests/slurm/with-cluster.sh --gpus 2 --gpu-nodes 2 --partitions "cpu=n[1-2] gpu=n[3-4]" -- \
#     tests/slurm/cluster_smoke_test.sh --gpus --partitions
# --gpus adds the fake-GPU checks (the GPU nodes need >= 2 GPUs each; with GPU_NODES < NODES
# also: GPU jobs land on the last GPU_NODES nodes only, n1 has no GPUs).
# --partitions checks the partitions "cpu=n[1-2] gpu=n[3-4]" (4 nodes; GPU jobs then use -p gpu).
# With SLURM_LAB_NETNS=1 (with-cluster.sh's default) it also checks that each node is a host
# of its own: hostname = node name, its own address, and the login node reached at
# $LAB_LOGIN_IP while the node's own 127.0.0.1 refuses. All test traffic goes to loopback or
# to the lab's own addresses ($LAB_LOGIN_IP, the nodes' NodeAddr), nowhere else.
# Prints one PASS/FAIL line per check and "N passed, N failed"; exit 0 iff all passed.
set -euo pipefail

WITH_GPUS=0 WITH_PARTITIONS=0
for a in "$@"; do
  case $a in
    --gpus) WITH_GPUS=1 ;;
    --partitions) WITH_PARTITIONS=1 ;;
    *) echo "usage: $0 [--gpus] [--partitions]" >&2; exit 2 ;;
  esac
done
: "${SLURM_CONF:?SLURM_CONF is not set: run this through tests/slurm/with-cluster.sh}"
: "${SLURM_LAB_DIR:?SLURM_LAB_DIR is not set: run this through tests/slurm/with-cluster.sh}"
NODES=${SLURM_LAB_NODES:-4}
CPUS=${SLURM_LAB_CPUS:-4}
MEM_MB=${SLURM_LAB_MEM_MB:-4000}
GPUS=${SLURM_LAB_GPUS:-0}
GPU_NODES=${SLURM_LAB_GPU_NODES:-$NODES}
NETNS=${SLURM_LAB_NETNS:-0}
PARTITIONS=${SLURM_LAB_PARTITIONS:-debug=ALL}
LOGIN_IP=${LAB_LOGIN_IP:-127.0.0.1}
WANT_PARTITIONS="cpu=n[1-2] gpu=n[3-4]"
# GPU jobs go to the partition with the GPU nodes (the default one has none with --partitions)
GPU_PART=(); if (( WITH_PARTITIONS )); then GPU_PART=(-p gpu); fi
# Slurm must set these itself; inherited values from the host would hide a failure.
unset CUDA_VISIBLE_DEVICES GPU_DEVICE_ORDINAL ROCR_VISIBLE_DEVICES

# Scratch space inside the lab dir: with-cluster.sh purges it with the cluster.
W=$(mktemp -d "$SLURM_LAB_DIR/smoke.XXXXXX")
cd "$W"

PASSED=0 FAILED=0
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
die() { echo "    $*" >&2; exit 1; }

# run_check NAME FUNCTION: runs FUNCTION in a subshell with `set -e` in force
run_check() {
  local name=$1 fn=$2 t0 rc
  t0=$(now_ms)
  set +e
  ( set -euo pipefail; "$fn" ) >"$W/$fn.log" 2>&1
  rc=$?
  set -e
  sed 's/^/    /' "$W/$fn.log"
  if (( rc == 0 )); then
    echo "PASS: $name ($(( $(now_ms) - t0 )) ms)"; PASSED=$(( PASSED + 1 ))
  else
    echo "FAIL: $name (exit $rc, $(( $(now_ms) - t0 )) ms)"; FAILED=$(( FAILED + 1 ))
  fi
}

job_state() { squeue -h -t all -j "$1" -o %T 2>/dev/null | head -n 1; }
# wait_state JOB SECONDS STATE...: until the job is in one of the states
wait_state() {
  local id=$1 secs=$2 st; shift 2
  local end=$(( $(date +%s) + secs ))
  while :; do
    st=$(job_state "$id")
    for s in "$@"; do [[ $st == "$s" ]] && return 0; done
    (( $(date +%s) < end )) || die "job $id: state '$st' after ${secs}s, wanted $*"
    sleep 0.1
  done
}
FINAL_STATES=(COMPLETED FAILED CANCELLED TIMEOUT NODE_FAIL OUT_OF_MEMORY PREEMPTED BOOT_FAIL DEADLINE)
# run_job SECONDS SBATCH-ARGS...: submit, wait until it has ended, print the job id
run_job() {
  local secs=$1 id; shift
  id=$(sbatch --parsable "$@") || die "sbatch $* failed"
  id=${id%%;*}
  wait_state "$id" "$secs" "${FINAL_STATES[@]}" >&2
  echo "$id"
}
expect_completed() {
  local st; st=$(job_state "$1")
  [[ $st == COMPLETED ]] || { cat "$2" >&2 || true; die "job $1 ended $st, wanted COMPLETED"; }
}
# max_overlap FILE...: each file has "<start_ns> start ..." and "<end_ns> end" lines; prints
# the largest number of intervals that were open at the same moment
max_overlap() {
  awk '$2 == "start" { print $1, 1 } $2 == "end" { print $1, -1 }' "$@" \
    | sort -k1,1n -k2,2n | awk '{ c += $2; if (c > m) m = c } END { print m + 0 }'
}

# ------------------------------------------------------------------- checks
# is_gpu_node nI: one of the last GPU_NODES nodes
is_gpu_node() { local i=${1#n}; (( GPUS > 0 && i > NODES - GPU_NODES )); }

check_nodes() {
  local want="" got i gres
  for i in $(seq 1 "$NODES"); do
    gres=""
    if (( GPUS > 0 )); then gres=" (null)"; if is_gpu_node "n$i"; then gres=" gpu:$GPUS"; fi; fi
    want+="n$i idle $CPUS $MEM_MB${gres}"$'\n'
  done
  # sort -u: a node in several partitions has one line per partition
  if (( GPUS > 0 )); then
    got=$(sinfo -h -N -o '%N %t %c %m %G' | sort -u -V)
  else
    got=$(sinfo -h -N -o '%N %t %c %m' | sort -u -V)
  fi
  echo "$got"
  [[ "$got"$'\n' == "$want" ]] || die "wanted:"$'\n'"$want"
  # the same from scontrol: CPUTot and RealMemory as configured
  [[ $(scontrol show node n1 | grep -o 'CPUTot=[0-9]*') == "CPUTot=$CPUS" ]] || die "n1 CPUTot"
  [[ $(scontrol show node n1 | grep -o 'RealMemory=[0-9]*') == "RealMemory=$MEM_MB" ]] || die "n1 RealMemory"
}

check_two_node_step() {
  (( NODES >= 2 )) || die "needs >= 2 nodes"
  local id out nodes step_nodes
  id=$(run_job 60 --nodes=2 --time=5 -o two.out \
    --wrap 'srun --nodes=2 --ntasks=2 bash -c "echo task=\$SLURM_PROCID node=\$SLURMD_NODENAME step_nodes=\$SLURM_STEP_NODELIST"')
  expect_completed "$id" two.out
  out=$(grep '^task=' two.out | sort); echo "$out"
  [[ $(wc -l <<<"$out") == 2 ]] || die "wanted 2 task lines"
  nodes=$(sed 's/.* node=\([^ ]*\) .*/\1/' <<<"$out" | sort -u)
  [[ $(wc -l <<<"$nodes") == 2 ]] || die "both tasks ran on the same node: $nodes"
  step_nodes=$(sed 's/.*step_nodes=//' <<<"$out" | sort -u)
  [[ $(wc -l <<<"$step_nodes") == 1 ]] || die "tasks disagree on SLURM_STEP_NODELIST"
  [[ $(scontrol show hostnames "$step_nodes" | sort) == "$nodes" ]] \
    || die "SLURM_STEP_NODELIST=$step_nodes does not match the tasks' nodes"
}

check_parallel_steps() {
  (( NODES >= 2 )) || die "needs >= 2 nodes"
  local n=$(( 2 * CPUS )) id elapsed overlap used
  cat >par.sh <<EOF
#!/bin/bash
t0=\$(date +%s%N)
for i in \$(seq $n); do
  srun --nodes=1 --ntasks=1 --cpus-per-task=1 --mem=100 --exact \\
    bash -c 'echo "\$(date +%s%N) start \$SLURMD_NODENAME"; sleep 1; echo "\$(date +%s%N) end"' >step.\$i &
done
rc=0; for p in \$(jobs -p); do wait \$p || rc=1; done
echo "elapsed_ms=\$(( (\$(date +%s%N) - t0) / 1000000 )) rc=\$rc"
EOF
  id=$(run_job 60 --nodes=2 --exclusive --time=5 -o par.out par.sh)
  expect_completed "$id" par.out
  cat par.out
  grep -q 'rc=0' par.out || die "a step failed"
  elapsed=$(sed -n 's/^elapsed_ms=\([0-9]*\).*/\1/p' par.out)
  overlap=$(max_overlap step.*)
  used=$(awk '$2 == "start" { print $3 }' step.* | sort -u | tr '\n' ' ')
  echo "$n x 'sleep 1': ${elapsed} ms, at most $overlap at once, on nodes: $used"
  (( elapsed < 3000 )) || die "took ${elapsed} ms, wanted < 3000"
  (( overlap == n )) || die "only $overlap of $n steps ran side by side"
  [[ $(wc -w <<<"$used") == 2 ]] || die "steps did not use both nodes"
}

check_end_time_and_scancel() {
  local id end start secs pid st
  id=$(sbatch --parsable --time=5 -o long.out --wrap 'echo $$ >long.pid; sleep 300')
  wait_state "$id" 60 RUNNING
  end=$(squeue -h -j "$id" -o %e); start=$(squeue -h -j "$id" -o %S)
  echo "job $id start=$start end=$end"
  [[ $end =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}$ ]] || die "squeue %e printed '$end'"
  secs=$(( $(date -d "$end" +%s) - $(date -d "$start" +%s) ))
  (( secs == 300 )) || die "end - start = ${secs}s, wanted 300 (--time=5)"
  for _ in $(seq 50); do [[ -s long.pid ]] && break; sleep 0.1; done
  pid=$(cat long.pid) || die "batch script did not start"
  kill -0 "$pid" || die "batch shell $pid not running"
  scancel "$id"
  wait_state "$id" 30 CANCELLED
  local gone=0
  for _ in $(seq 100); do
    if ! st=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null) || [[ ${st:0:1} == Z ]]; then
      gone=1; break
    fi
    sleep 0.1
  done
  (( gone )) || die "batch shell $pid still running 10 s after scancel"
  [[ -z $(squeue -h -j "$id" -t PD,R,CG 2>/dev/null) ]] || die "job $id still listed as active"
  echo "scancel: job $id CANCELLED, its batch shell (pid $pid) is gone"
}

check_one_task_per_node() {
  local got="" want part n
  # one srun per partition (with --partitions no partition has all nodes); together: every node
  while read -r part n; do
    echo "partition $part: $n nodes"
    # </dev/null: srun would otherwise eat the rest of the partition list
    got+=$(srun -p "$part" --nodes="$n" --ntasks="$n" --ntasks-per-node=1 bash -c 'echo $SLURMD_NODENAME' </dev/null)$'\n'
  done < <(scontrol show partition -o | sed -n 's/^PartitionName=\([^ ]*\) .* TotalNodes=\([0-9]*\) .*/\1 \2/p')
  got=$(sed '/^$/d' <<<"$got" | sort -u -V)
  want=$(for i in $(seq 1 "$NODES"); do echo "n$i"; done)
  echo "$got" | tr '\n' ' '; echo
  [[ $got == "$want" ]] || die "wanted one task on each of n1..n$NODES"
}

check_gpu_srun() {
  local v node
  read -r node v < <(srun "${GPU_PART[@]}" --nodes=1 --ntasks=1 --gpus=1 \
                       bash -c 'echo "$SLURMD_NODENAME ${CUDA_VISIBLE_DEVICES-unset}"')
  echo "srun ${GPU_PART[*]} --gpus=1: on $node, CUDA_VISIBLE_DEVICES=$v"
  [[ $v =~ ^[0-9]+$ ]] && (( v < GPUS )) || die "wanted one GPU index below $GPUS"
  is_gpu_node "$node" || die "a --gpus=1 step ran on $node, which has no GPUs"
  v=$(srun "${GPU_PART[@]}" --nodes=1 --ntasks=1 bash -c 'echo "${CUDA_VISIBLE_DEVICES-unset}"')
  echo "srun ${GPU_PART[*]} without --gpus: CUDA_VISIBLE_DEVICES=$v"
  if ! is_gpu_node n1; then
    v=$(srun -w n1 --nodes=1 --ntasks=1 bash -c 'echo "$SLURMD_NODENAME ${CUDA_VISIBLE_DEVICES-unset}"')
    echo "srun -w n1 (no GPUs there): $v"
    [[ $v == "n1 unset" ]] || die "a job on n1 sees CUDA_VISIBLE_DEVICES: '$v'"
  fi
}

check_gpu_concurrent_steps() {
  local id vals nodes overlap
  cat >gpu.sh <<'EOF'
#!/bin/bash
for i in 1 2; do
  srun --nodes=1 --ntasks=1 --cpus-per-task=1 --mem=100 --gpus=1 --exact \
    bash -c 'echo "$(date +%s%N) start $SLURMD_NODENAME ${CUDA_VISIBLE_DEVICES-unset}"; sleep 1; echo "$(date +%s%N) end"' >gpu.$i &
done
rc=0; for p in $(jobs -p); do wait $p || rc=1; done
echo "rc=$rc"
EOF
  id=$(run_job 60 "${GPU_PART[@]}" --nodes=1 --ntasks=2 --gpus=2 --mem=400 --time=5 -o gpu.out gpu.sh)
  expect_completed "$id" gpu.out
  cat gpu.out gpu.1 gpu.2
  grep -q 'rc=0' gpu.out || die "a step failed"
  vals=$(awk '$2 == "start" { print $4 }' gpu.1 gpu.2 | sort)
  nodes=$(awk '$2 == "start" { print $3 }' gpu.1 gpu.2 | sort -u)
  overlap=$(max_overlap gpu.1 gpu.2)
  echo "CUDA_VISIBLE_DEVICES: $(tr '\n' ' ' <<<"$vals")on $nodes, at most $overlap at once"
  [[ $(grep -c '^[0-9][0-9]*$' <<<"$vals") == 2 ]] || die "a step has no CUDA_VISIBLE_DEVICES"
  [[ $(sort -u <<<"$vals" | wc -l) == 2 ]] || die "both steps got the same GPU"
  [[ $(wc -l <<<"$nodes") == 1 ]] || die "steps ran on different nodes"
  is_gpu_node "$nodes" || die "the GPU job ran on $nodes, which has no GPUs"
  (( overlap == 2 )) || die "the two 1-GPU steps did not run at the same time"
}

# ------------------------------------------------------ NETNS: nodes as hosts
check_netns_batch_hostname() {
  local id out
  id=$(run_job 60 -w n1 --time=5 -o host.out --wrap 'echo "hostname=$(hostname) node=$SLURMD_NODENAME"')
  expect_completed "$id" host.out
  out=$(cat host.out); echo "batch job on n1: $out"
  [[ $out == "hostname=n1 node=n1" ]] || die "wanted hostname=n1 node=n1"
}

# node_addr nI: the node's NodeAddr in slurm.conf (what slurmctld uses to reach it)
node_addr() { scontrol show node "$1" | grep -o 'NodeAddr=[^ ]*' | cut -d= -f2; }

check_netns_step_hostnames() {
  (( NODES >= 2 )) || die "needs >= 2 nodes"
  local id out line host node addrs hosts
  cat >hn.sh <<'EOF'
#!/bin/bash
srun --nodes=2 --ntasks=2 bash -c 'echo "host=$(hostname) node=$SLURMD_NODENAME addrs=$(ip -4 -o addr show | awk "{print \$4}" | tr "\n" ,)"'
EOF
  id=$(run_job 60 --nodes=2 --time=5 -o hn.out hn.sh)
  expect_completed "$id" hn.out
  out=$(grep '^host=' hn.out | sort); echo "$out"
  [[ $(wc -l <<<"$out") == 2 ]] || die "wanted 2 task lines"
  while read -r line; do
    host=$(sed 's/^host=\([^ ]*\) .*/\1/' <<<"$line"); node=$(sed 's/.* node=\([^ ]*\) .*/\1/' <<<"$line")
    addrs=$(sed 's/.* addrs=//' <<<"$line")
    [[ $host == "$node" ]] || die "task on $node sees hostname '$host'"
    [[ ,$addrs == *",$(node_addr "$node")/"* ]] || die "task on $node lacks its NodeAddr $(node_addr "$node") (has $addrs)"
    [[ ,$addrs != *",$LOGIN_IP/"* ]] || die "task on $node has the login node's address $LOGIN_IP"
  done <<<"$out"
  hosts=$(sed 's/^host=\([^ ]*\) .*/\1/' <<<"$out" | sort -u)
  [[ $(wc -l <<<"$hosts") == 2 ]] || die "both tasks saw the same hostname"
}

# from a node: the login node's slurmctld port answers at $LAB_LOGIN_IP; with NETNS, the
# node's own 127.0.0.1 is another host and refuses it
check_login_node_reachable() {
  local port out
  port=$(sed -n 's/^SlurmctldPort=\([0-9]*\).*/\1/p' "$SLURM_CONF")
  [[ -n $port ]] || die "no SlurmctldPort in $SLURM_CONF"
  if (( NETNS )); then
    [[ $LOGIN_IP != 127.* ]] || die "LAB_LOGIN_IP=$LOGIN_IP with NETNS=1"
  else
    [[ $LOGIN_IP == 127.0.0.1 ]] || die "LAB_LOGIN_IP=$LOGIN_IP with NETNS=0, wanted 127.0.0.1"
  fi
  cat >tcp.sh <<'EOF'
#!/bin/bash
# tcp.sh LOGIN_IP PORT; try IP PORT: prints open / refused / other:<message>
try() {
  local err
  if err=$(timeout 5 bash -c "exec 3<>/dev/tcp/$1/$2" 2>&1); then echo open
  elif [[ $err == *"Connection refused"* ]]; then echo refused
  else echo "other:${err//$'
'/ }"; fi
}
echo "node=$SLURMD_NODENAME login=$(try "$1" "$2") loopback=$(try 127.0.0.1 "$2")"
EOF
  chmod +x tcp.sh
  out=$(srun -w n1 --nodes=1 --ntasks=1 ./tcp.sh "$LOGIN_IP" "$port")
  echo "from n1, slurmctld port $port: $out   (login node = $LOGIN_IP)"
  [[ $out == "node=n1 login=open "* ]] || die "n1 cannot reach the login node at $LOGIN_IP:$port"
  if (( NETNS )); then
    [[ $out == *" loopback=refused" ]] || die "n1's 127.0.0.1:$port is not refused (is n1 not in its own namespace?)"
  else
    [[ $out == *" loopback=open" ]] || die "n1's 127.0.0.1:$port should be the login node's with --no-netns"
  fi
}

check_no_netns_addresses() {
  local i a
  for i in $(seq 1 "$NODES"); do
    a=$(node_addr "n$i"); [[ $a == 127.0.0.1 ]] || die "n$i NodeAddr=$a, wanted 127.0.0.1 (NETNS=0)"
  done
  echo "all $NODES nodes at 127.0.0.1, LAB_LOGIN_IP=$LOGIN_IP"
}

# --------------------------------------------------------------- partitions
check_partitions() {
  local got want ids=() id part out
  [[ $PARTITIONS == "$WANT_PARTITIONS" ]] \
    || die "the cluster has partitions '$PARTITIONS'; --partitions needs with-cluster.sh --partitions \"$WANT_PARTITIONS\""
  got=$(sinfo -h -o '%P %N' | sort -u); echo "$got"
  want=$'cpu* n[1-2]\ngpu n[3-4]'
  [[ $got == "$want" ]] || die "wanted:"$'\n'"$want"
  for part in gpu cpu default; do
    if [[ $part == default ]]; then
      id=$(sbatch --parsable --time=5 -o "part.$part.out" --wrap 'echo "$SLURM_JOB_PARTITION $SLURMD_NODENAME"')
    else
      id=$(sbatch --parsable -p "$part" --time=5 -o "part.$part.out" --wrap 'echo "$SLURM_JOB_PARTITION $SLURMD_NODENAME"')
    fi
    ids+=("${id%%;*}:$part")
  done
  for id in "${ids[@]}"; do
    part=${id#*:}; id=${id%%:*}
    wait_state "$id" 60 "${FINAL_STATES[@]}"
    expect_completed "$id" "part.$part.out"
    out=$(cat "part.$part.out"); echo "sbatch ${part/#default/(no -p)}: $out"
    case $part in
      gpu) [[ $out == "gpu n3" || $out == "gpu n4" ]] || die "-p gpu ran '$out', wanted gpu on n3/n4" ;;
      *) [[ $out == "cpu n1" || $out == "cpu n2" ]] || die "$part ran '$out', wanted cpu on n1/n2" ;;
    esac
  done
}

# ----------------------------------------------------------------------- main
echo "cluster: SLURM_CONF=$SLURM_CONF nodes=$NODES cpus=$CPUS mem=$MEM_MB gpus=$GPUS" \
     "on $GPU_NODES nodes, partitions '$PARTITIONS', netns=$NETNS, login node $LOGIN_IP"
T0=$(now_ms)
run_check "$NODES nodes n1..n$NODES idle, $CPUS CPUs and $MEM_MB MB each" check_nodes
run_check "sbatch --nodes=2 runs a 2-node step" check_two_node_step
run_check "$(( 2 * CPUS )) concurrent 1-CPU srun --exact steps in a 2-node allocation" check_parallel_steps
run_check "squeue %e prints the end time; scancel ends a running job" check_end_time_and_scancel
run_check "srun --ntasks-per-node=1 reaches every node" check_one_task_per_node
if (( NETNS )); then
  run_check "NETNS: a batch job on n1 has hostname n1" check_netns_batch_hostname
  run_check "NETNS: srun -N2 tasks see two hostnames = SLURMD_NODENAME, each its NodeAddr" check_netns_step_hostnames
  run_check "NETNS: from n1, \$LAB_LOGIN_IP:SlurmctldPort answers, 127.0.0.1 refuses" check_login_node_reachable
else
  run_check "no NETNS: nodes and LAB_LOGIN_IP on 127.0.0.1" check_no_netns_addresses
  run_check "no NETNS: from n1, the login node answers at \$LAB_LOGIN_IP and 127.0.0.1" check_login_node_reachable
fi
if (( WITH_PARTITIONS )); then
  run_check "partitions cpu=n[1-2] (default) and gpu=n[3-4]; sbatch -p lands in them" check_partitions
fi
if (( WITH_GPUS )); then
  if (( GPUS < 2 || GPU_NODES < 1 )); then
    echo "FAIL: GPU checks need a cluster with >= 2 GPUs per GPU node (with-cluster.sh --gpus 2)"
    FAILED=$(( FAILED + 1 ))
  else
    run_check "srun --gpus=1 sets CUDA_VISIBLE_DEVICES, on a GPU node (n$(( NODES - GPU_NODES + 1 ))..n$NODES)" check_gpu_srun
    run_check "two concurrent 1-GPU steps on one node get different GPUs" check_gpu_concurrent_steps
  fi
fi
echo "cluster smoke test: $(( $(now_ms) - T0 )) ms"
echo "$PASSED passed, $FAILED failed"
(( FAILED == 0 ))
