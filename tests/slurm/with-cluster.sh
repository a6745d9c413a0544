#!/usr/bin/env bash
# with-cluster.sh - run one command against a fresh private Slurm cluster, then tear it down.
#
# Usage: with-cluster.sh [--nodes N] [--cpus C] [--mem MB] [--gpus G] [--gpu-nodes K]
#          [--partitions "SPEC"] [--extra-conf "LINES"] [--netns | --no-netns] [--timeout S]
#          -- COMMAND ARGS...
#   defaults: 4 nodes x 4 CPUs x 4000 MB, no GPUs (with --gpus G: G on each of the last K
#   nodes, K = all), one partition "debug=ALL", each node in its own network namespace,
#   no timeout. SPEC: "cpu=n[1-2] gpu=n[3-4]" (the first is the default partition; "none":
#   the PartitionName lines come from --extra-conf). LINES: appended to slurm.conf.
#
# --netns (the default; NETNS=1 of start-cluster.sh): every node's slurmd runs in its own
#   network and UTS namespace: hostname n<I>, its own address on a bridge, its own 127.0.0.1.
#   The login node (this machine: slurmctld, sbatch, a torc server) is $LAB_LOGIN_IP there,
#   so a batch job or step reaches a service of the login node at $LAB_LOGIN_IP, never at
#   127.0.0.1 - as on a real cluster. Every Slurm end-to-end test runs this way; --no-netns
#   (all nodes on 127.0.0.1, LAB_LOGIN_IP=127.0.0.1) is for a test that needs the loopback lab.
#
# 1. Starts a cluster with start-cluster.sh (FORCE_RESTART=1) in
#    $SLURM_LAB_DIR, or, when that is unset, in a fresh directory
#    ${TMPDIR:-/tmp}/torc-slurm-lab/run.XXXXXX/cluster made for this invocation.
# 2. Picks BASE_PORT (slurmctld; slurmd n<i> on BASE_PORT+9+i) unless it is set: a
#    random multiple-of-100 offset from 16817 whose ports `ss -Htln` shows free, below
#    the ephemeral range. Invocations on one host choose and start under a lock, and a
#    port taken in the meantime (start-cluster exit 3) means another try on other ports.
# 3. Runs COMMAND with SLURM_CONF (from $SLURM_LAB_DIR/env.sh), SLURM_LAB_DIR and
#    SLURM_LAB_{NODES,CPUS,MEM_MB,GPUS,GPU_NODES,PARTITIONS,NETNS,BASE_PORT} and
#    LAB_LOGIN_IP (the login node's address as the nodes see it; 127.0.0.1 with --no-netns)
#    exported and every other inherited SLURM_* variable removed (an enclosing real
#    allocation must not leak in).
# 4. Always (EXIT/INT/TERM trap, and on --timeout) stops COMMAND, then the cluster with
#    stop-cluster.sh --purge, then checks that no process of this cluster is left:
#    slurmctld/slurmd/slurmstepd (or job/client processes) whose command line, open
#    files, cwd or SLURM_CONF refer to the lab dir, and that no namespace tl<BASE_PORT>-n*
#    nor link tl<BASE_PORT>b / tl<BASE_PORT>n* of this cluster is left. Leftovers are
#    killed/removed and reported, and the run fails. Unrelated processes are never touched.
#    Stale runs of with-cluster.sh invocations that died are reaped the same way first.
#
# Exit code: COMMAND's; 124 on --timeout; 128+N on signal N; 1 if COMMAND succeeded but
# the cluster did not start or cleanup found leftovers (2 for a usage error).
# Environment: SLURM_LAB_DIR, BASE_PORT (fixed: no retry), SLURM_LAB_TIMEOUT (as
# --timeout), SLURM_LAB_KEEP=1 (stop but keep the lab dir for its logs), STOP_GRACE
# (seconds jobs still running at the end get to exit before SIGKILL [5]), KILL_WAIT,
# START_TIMEOUT, AUTH (passed to start-cluster.sh / stop-cluster.sh); NETNS (0/1), GPU_NODES,
# PARTITIONS, EXTRA_CONF are the defaults of --netns/--no-netns, --gpu-nodes, --partitions,
# --extra-conf; LAB_NET (start-cluster.sh) fixes the node subnet instead of deriving it from
# BASE_PORT - only for a host whose routes cover 10.100-199.x (then no two labs at once).
set -uo pipefail

# Become a child subreaper (needs python3; optional): the daemons double-fork, so without
# it they end up as zombies of PID 1, which in some containers never reaps them.
if [[ -z ${_TORC_WITH_CLUSTER_REAPER:-} ]] && command -v python3 >/dev/null; then
  export _TORC_WITH_CLUSTER_REAPER=1
  exec python3 -c 'import ctypes, os, sys
ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
os.execv(sys.argv[1], sys.argv[1:])' "${BASH:-/bin/bash}" "$0" "$@"
fi
unset _TORC_WITH_CLUSTER_REAPER

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ME=with-cluster
log() { echo "$ME: $*" >&2; }
usage() {  # prints the comment from "# Usage:" to the first empty comment line
  sed -n '/^# Usage:/,/^#$/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//' >&2
  exit 2
}

NODES=4 CPUS=4 MEM_MB=4000 GPUS=0 TIMEOUT=${SLURM_LAB_TIMEOUT:-0}
NETNS=${NETNS:-1} GPU_NODES=${GPU_NODES:-} PARTITIONS=${PARTITIONS:-debug=ALL} EXTRA_CONF=${EXTRA_CONF:-}
while (( $# )); do
  case $1 in
    --nodes) NODES=${2:-}; shift 2 || usage ;;
    --cpus) CPUS=${2:-}; shift 2 || usage ;;
    --mem) MEM_MB=${2:-}; shift 2 || usage ;;
    --gpus) GPUS=${2:-}; shift 2 || usage ;;
    --gpu-nodes) GPU_NODES=${2:-}; shift 2 || usage ;;
    --partitions) PARTITIONS=${2:-}; shift 2 || usage ;;
    --extra-conf) EXTRA_CONF=${2-}; shift 2 || usage ;;
    --netns) NETNS=1; shift ;;
    --no-netns) NETNS=0; shift ;;
    --timeout) TIMEOUT=${2:-}; shift 2 || usage ;;
    --) shift; break ;;
    -h|--help) usage ;;
    *) log "unknown option '$1'"; usage ;;
  esac
done
(( $# )) || { log "no command given"; usage; }
for v in NODES CPUS MEM_MB; do [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { log "bad $v '${!v}'"; usage; }; done
[[ $GPUS =~ ^[0-9]+$ && $TIMEOUT =~ ^[0-9]+$ ]] || { log "bad --gpus/--timeout"; usage; }
[[ -n $GPU_NODES ]] || GPU_NODES=$NODES
[[ $GPU_NODES =~ ^[0-9]+$ ]] && (( GPU_NODES <= NODES )) || { log "bad --gpu-nodes '$GPU_NODES' (0..$NODES)"; usage; }
[[ $NETNS == 0 || $NETNS == 1 ]] || { log "bad NETNS '$NETNS' (0 or 1)"; usage; }
[[ -n ${PARTITIONS// } ]] || { log "empty --partitions"; usage; }

# Variables that start-cluster.sh/stop-cluster.sh read, then no other SLURM_* from outside.
USER_LAB_DIR=${SLURM_LAB_DIR:-}
USER_BASE_PORT=${BASE_PORT:-}
KEEP=${SLURM_LAB_KEEP:-0}
for v in $(compgen -e SLURM_); do unset "$v"; done
unset BASE_PORT

# ------------------------------------------------------------------ /proc helpers
# alive PID: exists and is not a zombie
alive() {
  local st
  [[ -r /proc/$1/stat ]] && read -r st </proc/$1/stat 2>/dev/null || return 1
  st=${st##*) }
  [[ ${st:0:1} != Z ]]
}
# ppid_of PID
ppid_of() {
  local st
  read -r st </proc/$1/stat 2>/dev/null || return 1
  st=${st##*) }; st=${st#* }; echo "${st%% *}"
}
# starttime (clock ticks since boot) of PID: with the pid, identifies a process
starttime_of() {
  local st f
  read -r st </proc/$1/stat 2>/dev/null || return 1
  st=${st##*) }
  read -ra f <<<"$st"
  echo "${f[19]}"
}
ancestors_of_me() {
  local p=$$
  while [[ -n $p && $p != 0 ]]; do echo "$p"; p=$(ppid_of "$p") || break; done
}
# all descendants of the given pids
descendants() {
  local tree; tree=$(for f in /proc/[0-9]*/stat; do
    read -r l <"$f" 2>/dev/null && { l2=${l##*) }; l2=${l2#* }; echo "${l2%% *} ${l%% *}"; }
  done)
  local queue=("$@") p c
  while (( ${#queue[@]} )); do
    p=${queue[0]}; queue=("${queue[@]:1}")
    for c in $(awk -v p="$p" '$1==p{print $2}' <<<"$tree"); do echo "$c"; queue+=("$c"); done
  done
}
# pids whose cmdline, open files, cwd or SLURM_CONF refer to lab dir $1
pids_referencing() {
  local d=$1
  {
    grep -lsaF -e "$d" /proc/[0-9]*/cmdline
    grep -lsaF -e "SLURM_CONF=$d/" /proc/[0-9]*/environ
    find /proc/[0-9]*/fd /proc/[0-9]*/cwd -maxdepth 1 \( -lname "$d/*" -o -lname "$d" \) 2>/dev/null
  } | sed -n 's#^/proc/\([0-9]*\)/.*#\1#p' | sort -un
}
describe() {
  local exe cmd
  exe=$(readlink "/proc/$1/exe" 2>/dev/null) || exe="?"
  cmd=$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null) || cmd="?"
  echo "pid $1 exe=$exe cmd='${cmd% }'"
}
kill_and_wait() {  # kill_and_wait SIGNAL SECONDS PID...
  local sig=$1 secs=$2; shift 2
  (( $# )) || return 0
  kill "-$sig" "$@" 2>/dev/null
  local end=$(( $(date +%s%N) + secs * 1000000000 )) p any
  while :; do
    any=0; for p in "$@"; do alive "$p" && any=1; done
    (( any )) || return 0
    (( $(date +%s%N) < end )) || return 1
    sleep 0.1
  done
}

# sweep_leftovers DIR: kill (and list) every process that still refers to lab dir DIR,
# except this shell and its ancestors; returns 1 if there was any
sweep_leftovers() {
  local d=$1 excl left=() p
  excl=" $(ancestors_of_me | tr "\n" " ") "
  for p in $(pids_referencing "$d"); do
    [[ $excl == *" $p "* ]] && continue
    alive "$p" && left+=("$p")
  done
  (( ${#left[@]} )) || return 0
  log "processes of the cluster in $d (or started with its SLURM_CONF) still running:"
  for p in "${left[@]}"; do log "  $(describe "$p")"; done
  kill_and_wait KILL 5 "${left[@]}" || log "could not kill ${left[*]}"
  return 1
}

# netns_leftovers TAG: remove (and list) the namespaces TAG-n<I> and links TAGb / TAGn<I> of a
# NETNS cluster that are still there, killing the processes inside; returns 1 if there was any
netns_leftovers() {
  local tag=$1 nss links ns l p pids
  [[ $tag =~ ^tl[0-9]+$ ]] && command -v ip >/dev/null || return 0
  mapfile -t nss < <(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^$tag-n[0-9]+$")
  mapfile -t links < <(ip -o link show 2>/dev/null | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }' \
                       | grep -E "^${tag}(b|n[0-9]+)$" | sort -r)   # veths (n) before the bridge (b)
  (( ${#nss[@]} + ${#links[@]} )) || return 0
  log "network of the cluster still present: namespaces: ${nss[*]:-none}; links: ${links[*]:-none}"
  for ns in "${nss[@]}"; do
    mapfile -t pids < <(ip netns pids "$ns" 2>/dev/null)
    (( ${#pids[@]} )) || continue
    for p in "${pids[@]}"; do log "  in $ns: $(describe "$p")"; done
    kill_and_wait KILL 5 "${pids[@]}" || log "could not kill ${pids[*]}"
  done
  for l in "${links[@]}"; do ip link del "$l" 2>/dev/null || log "could not delete link $l"; done
  for ns in "${nss[@]}"; do ip netns del "$ns" 2>/dev/null || log "could not delete namespace $ns"; done
  return 1
}

# --------------------------------------------------- stale runs of dead invocations
ROOT=${TMPDIR:-/tmp}/torc-slurm-lab
reap_stale() {
  local dir opid ostart tag
  for dir in "$ROOT"/run.*; do
    [[ -f $dir/owner ]] || continue
    read -r opid ostart <"$dir/owner" 2>/dev/null || continue
    if [[ -n $opid ]] && alive "$opid" && [[ $(starttime_of "$opid") == "$ostart" ]]; then continue; fi
    log "removing stale lab dir $dir (its with-cluster.sh, pid $opid, is gone)"
    tag=$(cat "$dir/cluster/netns.tag" 2>/dev/null) || tag=""
    SLURM_LAB_DIR=$dir/cluster STOP_GRACE=5 "$HERE/stop-cluster.sh" --purge >&2 || true
    sweep_leftovers "$dir/cluster" || true
    if [[ -n $tag ]]; then netns_leftovers "$tag" || true; fi
    rm -rf "$dir"
  done
}

# ------------------------------------------------------------------- ports
listening_ports() {
  if command -v ss >/dev/null; then
    ss -Htln | awk '{print $4}' | sed 's/.*://'
  else
    cat /proc/net/tcp /proc/net/tcp6 2>/dev/null \
      | awk '$4 == "0A" { split($2, a, ":"); print a[2] }' \
      | while read -r h; do echo $((16#$h)); done
  fi | sort -un
}
ports_free() {  # ports_free BASE: slurmctld BASE and slurmd BASE+10 .. BASE+9+NODES
  local busy p
  busy=$(listening_ports) || return 1
  for p in "$1" $(seq $(( $1 + 10 )) $(( $1 + 9 + NODES ))); do
    grep -qx "$p" <<<"$busy" && return 1
  done
  return 0
}
# choose_port TRY: a BASE_PORT with all ports free, different for each try
# NETNS subnets: start-cluster.sh derives LAB_NET = 10.(100 + (BASE_PORT>>8) % 100).(BASE_PORT & 255)
# (and the names tl<BASE_PORT>*). Two ports give the same subnet iff they are equal mod
# 100 * 256 = 25600, so every BASE_PORT chosen here lies in [16817, 16817 + 25599]: all
# distinct, hence collision-free. With Linux's default ephemeral range (from 32768) the
# window ends below 32768 anyway; the cap matters when that range starts above 42417 or
# cannot be read. (start-cluster.sh also refuses, with exit 3 -> retry, a subnet or bridge
# that is already in use, e.g. by a lab started by hand with the same subnet.)
choose_port() {
  local first=16817 span=$(( 10 + NODES )) stride limit lo n i k base
  stride=$(( (span + 99) / 100 * 100 ))
  limit=65535
  if read -r lo _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null && (( lo > first + span )); then
    limit=$(( lo - 1 ))  # stay below the ephemeral range: clients' ports come from there
  fi
  n=$(( (limit - first - span + 1) / stride + 1 ))
  (( n <= 25599 / stride + 1 )) || n=$(( 25599 / stride + 1 ))   # the subnet window above
  (( n >= 1 )) || return 1
  k=$(( (RANDOM * 32768 + RANDOM + $1 * 7919) % n ))
  for (( i = 0; i < n; i++ )); do
    base=$(( first + ((k + i) % n) * stride ))
    if ports_free "$base"; then echo "$base"; return 0; fi
  done
  return 1
}

# ---------------------------------------------------------------- cleanup
RUN_DIR=""        # fresh per-invocation dir (removed at the end), empty if SLURM_LAB_DIR was set
D=""              # the lab dir
STARTED=0         # start-cluster.sh was run (successfully or not)
TAGS=()           # NETNS tags (tl<BASE_PORT>) of every start tried: all must be gone at the end
LOGIN_IP=127.0.0.1
CMD_PID=""
TIMER_PID=""
RC=1
CLEANED=0

stop_command() {  # TERM, then KILL, the command and everything it started
  [[ -n $CMD_PID ]] || return 0
  local pids
  mapfile -t pids < <(alive "$CMD_PID" && echo "$CMD_PID"; descendants "$CMD_PID")
  (( ${#pids[@]} )) || return 0
  log "stopping command (pids ${pids[*]})"
  kill_and_wait TERM 5 "${pids[@]}" || kill_and_wait KILL 5 "${pids[@]}"
}

cleanup() {
  (( CLEANED )) && return; CLEANED=1
  trap '' INT TERM HUP   # the cleanup must finish; it is bounded by its own timeouts
  [[ -n $TIMER_PID ]] && kill "$TIMER_PID" 2>/dev/null
  stop_command
  local bad=0
  if (( STARTED )); then
    if (( RC != 0 )) && [[ -f $D/log/slurmctld.log ]]; then
      log "command failed (exit $RC); last lines of $D/log/slurmctld.log:"
      tail -n 15 "$D/log/slurmctld.log" | sed 's/^/    /' >&2
    fi
    local purge=--purge; [[ $KEEP == 1 ]] && purge=""
    SLURM_LAB_DIR=$D STOP_GRACE=${STOP_GRACE:-5} "$HERE/stop-cluster.sh" $purge >&2 \
      || { log "FAIL: stop-cluster.sh failed"; bad=1; }
    # anything still referring to the lab dir belongs to this cluster: kill it, then fail
    if ! sweep_leftovers "$D"; then
      bad=1
      log "FAIL: the processes above were left after stop-cluster.sh (killed now)"
    fi
    local tag
    for tag in "${TAGS[@]}"; do
      if ! netns_leftovers "$tag"; then
        bad=1
        log "FAIL: the network above was left after stop-cluster.sh (removed now)"
      fi
    done
  fi
  # anything else the command left running (it would keep ctest's output pipe open)
  local rest=() p
  for p in $(descendants $$); do alive "$p" && rest+=("$p"); done
  if (( ${#rest[@]} )); then
    log "killing processes the command left behind:"
    for p in "${rest[@]}"; do log "  $(describe "$p")"; done
    kill_and_wait KILL 5 "${rest[@]}"
  fi
  if [[ -n $RUN_DIR && $KEEP != 1 ]]; then rm -rf "$RUN_DIR"; fi
  [[ $KEEP == 1 && -n $D ]] && log "kept $D (SLURM_LAB_KEEP=1)"
  if (( bad && RC == 0 )); then RC=1; fi
  (( bad == 0 )) && (( STARTED )) && log "cluster stopped, nothing left behind"
}
on_exit() { cleanup; exit "$RC"; }
on_signal() { log "caught SIG$1"; RC=$(( 128 + $2 )); exit "$RC"; }
trap on_exit EXIT
trap 'on_signal INT 2' INT
trap 'on_signal TERM 15' TERM
trap 'on_signal HUP 1' HUP

# ------------------------------------------------------------------ start
mkdir -p "$ROOT" || { log "cannot create $ROOT"; exit 1; }
exec 9>>"$ROOT/.lock"
have_flock=0; command -v flock >/dev/null && have_flock=1
# one invocation at a time reaps, chooses ports and starts (starting takes ~0.3 s)
if (( have_flock )); then flock -w 120 9 || log "warning: could not take $ROOT/.lock, going on"; fi
reap_stale
if [[ -n $USER_LAB_DIR ]]; then
  D=$USER_LAB_DIR
else
  RUN_DIR=$(mktemp -d "$ROOT/run.XXXXXX") || { log "mktemp failed"; exit 1; }
  echo "$$ $(starttime_of $$)" >"$RUN_DIR/owner"
  D=$RUN_DIR/cluster
fi

T0=$(date +%s%N)
start_rc=1
for try in 1 2 3 4 5; do
  if [[ -n $USER_BASE_PORT ]]; then
    port=$USER_BASE_PORT
  else
    port=$(choose_port "$try") || { log "no free port range found"; break; }
  fi
  STARTED=1
  (( NETNS )) && TAGS+=("tl$port")
  SLURM_LAB_DIR=$D BASE_PORT=$port GPUS=$GPUS GPU_NODES=$GPU_NODES NETNS=$NETNS \
    PARTITIONS=$PARTITIONS EXTRA_CONF=$EXTRA_CONF FORCE_RESTART=1 \
    "$HERE/start-cluster.sh" "$NODES" "$CPUS" "$MEM_MB" >&2 9>&-
  start_rc=$?
  (( start_rc == 3 )) && [[ -z $USER_BASE_PORT ]] || break
  log "ports at $port were taken meanwhile; trying other ports"
done
(( have_flock )) && flock -u 9
exec 9>&-
if (( start_rc != 0 )); then
  log "FAIL: could not start the cluster (start-cluster.sh exit $start_rc)"
  RC=1; exit 1
fi
if (( NETNS )); then
  # shellcheck disable=SC1091
  LOGIN_IP=$(unset LAB_LOGIN_IP; source "$D/env.sh" && echo "${LAB_LOGIN_IP:-}")
  [[ -n $LOGIN_IP ]] || { log "FAIL: $D/env.sh has no LAB_LOGIN_IP"; RC=1; exit 1; }
fi
log "cluster up in $(( ($(date +%s%N) - T0) / 1000000 )) ms: $D, BASE_PORT=$port," \
    "$NODES nodes x $CPUS CPUs x $MEM_MB MB, $GPUS GPUs/node on $GPU_NODES nodes," \
    "partitions '$PARTITIONS', netns=$NETNS" \
    "($( (( NETNS )) && echo "each node in namespace tl$port-n<I>" || echo "all nodes on 127.0.0.1")), login node $LOGIN_IP"

# ------------------------------------------------------------------ run
(
  trap - EXIT INT TERM HUP
  # shellcheck disable=SC1091
  source "$D/env.sh"
  export SLURM_LAB_DIR=$D SLURM_LAB_NODES=$NODES SLURM_LAB_CPUS=$CPUS \
         SLURM_LAB_MEM_MB=$MEM_MB SLURM_LAB_GPUS=$GPUS SLURM_LAB_BASE_PORT=$port \
         SLURM_LAB_GPU_NODES=$GPU_NODES SLURM_LAB_PARTITIONS=$PARTITIONS \
         SLURM_LAB_NETNS=$NETNS LAB_LOGIN_IP=$LOGIN_IP
  exec "$@"
) &
CMD_PID=$!
if (( TIMEOUT > 0 )); then
  sleep "$TIMEOUT" &
  TIMER_PID=$!
  wait -n -p done_pid "$CMD_PID" "$TIMER_PID"
  rc=$?
  if [[ ${done_pid:-} == "$TIMER_PID" ]]; then
    TIMER_PID=""
    log "FAIL: command still running after ${TIMEOUT}s (--timeout); stopping it"
    RC=124; exit 124
  fi
  RC=$rc
  kill "$TIMER_PID" 2>/dev/null; TIMER_PID=""
else
  wait "$CMD_PID"
  RC=$?
fi
CMD_PID=""   # finished; whatever it left behind is found as a descendant of this shell
exit "$RC"
