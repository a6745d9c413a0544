#!/usr/bin/env bash
# Scale benchmark (issue 23, docs/benchmarks.md "Scale: 64 x 16"): one 64-node allocation of the
# NETNS lab, side by side in one session:
#   pilot        sbatch --nodes=64 --exclusive; srun --nodes=64 --ntasks-per-node=1 runs, on each
#                node, `seq J | xargs -P16 sleep S` (the hand-written pilot of the issue)
#   direct       torc, direct mode, one worker per node (start_one_worker_per_node), N jobs of
#                `sleep S`, each 1 CPU / 100m; staggered_start off (the default)
#   direct_nolog the same with execution_config.stdio mode none: no output files per job
#   slurm        torc, slurm mode (one srun --exact step per job), the same jobs
#   pilot_exact  the same allocation running `xargs -P1024 srun --nodes=1 --ntasks=1 -c1 --exact
#                sleep S` from the batch script: the hand pilot of slurm mode
# Run (any case list, any order; ROUNDS rounds of each, interleaved):
#   tests/slurm/with-cluster.sh --nodes 64 --cpus 16 --mem 16000 -- \
#     env CASES="pilot direct" JOBS=4096 SLEEP=1 tests/bench/scale_bench.sh TORC [ROUNDS]
# Each run prints one JSON line:
#   makespan     submit command -> the last job done (torc: the newest attempt end the server
#                recorded; pilot: the batch script after its srun returned)
#   sbatch       submit command -> slurmctld received the batch job (its log)
#   alloc        -> slurmctld started it (its log; includes Slurm's ~1 s scheduling cycle)
#   registered   allocation start -> the last of its workers registered (torc: events)
#   first        allocation start -> the first job started; r1024: -> the 1,024th
#   rate         steady starts per second, between the 1,024th start and the 1,024th-last
#   cpu_*        CPU seconds of the whole machine during the run (/proc/stat, user and system,
#                the lab's slurmctld/slurmd included), of the torc server (/proc/PID/stat) and
#                of the workers themselves (each logs its own rusage when it leaves), per job in us;
#                cpu_server_submit_us: the server's part spent before `torc submit` returned
# PERF=1 records the server with perf (call graphs) during each torc run into its folder
# (perf.data; with KEEP=1 the folders stay). SYSPERF=1 samples the whole machine (perf record
# -a, 199 Hz, no call graphs) during every run into sys.data: `perf report -i sys.data --sort
# comm` splits the machine's CPU by command (srun, slurmstepd, torc, sleep, ...).
# SYSCALLS=1 counts the server's system calls by kind during each torc run (perf stat on the
# syscalls tracepoints, all its threads) into syscalls.txt.
# STARTS=1 samples, once a second, the start time of every process whose command line is exactly
# `sleep S` (/proc/PID/stat, 10 ms resolution) during each run, torc's and the pilots' alike, and
# adds first_sampled and r1024_sampled (allocation start -> the first and the 1,024th start): the
# pilot's own ramp, which it does not record. Use an S above 1 (e.g. SLEEP=2) so that every job
# is seen and none of the script's own sleeps (0.05 s, 1 s) is counted.
# SPLIT_CPUS=1 gives the server a core of its own, as a login node does: the server runs on CPU 0,
# and the lab (slurmctld, every slurmd, so every worker and job they start) and this script on
# CPU 1. The jobs then have one core, so only the server's figures mean anything in this mode.
# Every time comes from one clock (this machine): slurmctld's log has millisecond stamps.
set -euo pipefail
torc=$(realpath "$1")
rounds=${2:-1}
n=${JOBS:-4096}
sleep_s=${SLEEP:-1}
nodes=${SLURM_LAB_NODES:-64}
cpus=${SLURM_LAB_CPUS:-16}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
cd "$work"
source "$here/slurm_lib.sh"
now() { date +%s.%N; }
login=${LAB_LOGIN_IP:-127.0.0.1}

export TORC_DATA_DIR=$work/data
server_cpus=()
if [[ -n ${SPLIT_CPUS:-} ]]; then
  for p in $(pgrep -x 'slurmctld|slurmd'); do taskset -a -p -c 1 "$p" >/dev/null; done
  taskset -p -c 1 $$ >/dev/null
  server_cpus=(taskset -c 0)
fi
"${server_cpus[@]}" "$torc" server run --host "$login" --port 0 >"$work/server.log" 2>&1 &
server_pid=$!
trap 'kill $server_pid 2>/dev/null; wait $server_pid 2>/dev/null; [[ -n ${KEEP:-} ]] && echo "kept $work" >&2 || rm -rf "$work"' EXIT
while [[ ! -s $TORC_DATA_DIR/server.url ]]; do sleep 0.05; done
export TORC_API_URL=$(cat "$TORC_DATA_DIR/server.url")

metrics() { curl -sf --cacert "$TORC_DATA_DIR/server.crt" -H "Authorization: Bearer $(cat "$TORC_DATA_DIR/token")" "$TORC_API_URL/metrics"; }
api() { curl -sf --cacert "$TORC_DATA_DIR/server.crt" -H "Authorization: Bearer $(cat "$TORC_DATA_DIR/token")" "$TORC_API_URL/api/v1/$1"; }
cpu_jiffies() { awk '/^cpu / {print $2 + $3, $4}' /proc/stat; }              # user+nice, system
proc_jiffies() { awk '{print $14 + $15}' "/proc/$1/stat"; }                  # utime + stime

torc_yaml() {  # torc_yaml MODE (direct, direct_nolog: no stdout/stderr files, slurm)
  local per_node=false
  [[ $1 == direct* ]] && per_node=true
  cat <<YAML
name: scale_$1
$([[ $1 == direct* ]] && printf 'execution_config:\n  mode: direct\n')
$([[ $1 == direct_nolog ]] && printf '  stdio: {mode: none}\n')
resource_requirements:
  - {name: one, num_cpus: 1, memory: 100m, runtime: PT10M}
jobs:
  - {name: "j_{i}", command: "sleep $sleep_s", resource_requirements: one, scheduler: s, parameters: {i: "1:$n"}}
slurm_schedulers:
  - {name: s, nodes: $nodes, walltime: "00:20:00"}
actions:
  - {trigger_type: on_workflow_start, action_type: schedule_nodes, scheduler: s, scheduler_type: slurm, start_one_worker_per_node: $per_node}
YAML
}

# report CASE T0 T_END [WF]: the JSON line of one run (times from slurmctld's log and, for torc,
# the server's records).
report() {
  local wf=${4:-}
  if [[ -n $wf ]]; then
    "$torc" events "$wf" --json >events.jsonl
    api "workflows/$wf/attempts?limit=100000" >jobs.json
  fi
  python3 - "$1" "$n" "$2" "$3" "${SLURM_LAB_DIR:-}/log/slurmctld.log" "$wf" <<'PY'
import datetime, json, os, re, statistics, sys
name, n, t0, t_end, log, wf = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5], sys.argv[6]
cpu = json.load(open('cpu.json'))
sub = alloc = None
for line in open(log, errors='replace'):
    m = re.match(r"\[(\S+)\] (_slurm_rpc_submit_batch_job:|sched: Allocate|sched/backfill: _start_job: Started) JobId=(\d+) ", line)
    if not m:
        continue
    t = datetime.datetime.fromisoformat(m.group(1)).timestamp()
    if m.group(2).startswith('_') and sub is None and t >= t0 - 0.002:
        sub = (t, m.group(3))
    elif sub and m.group(3) == sub[1] and alloc is None:
        alloc = t
out = {'case': name, 'jobs': n, 'makespan': round(t_end - t0, 3)}
if sub:
    out['sbatch'] = round(sub[0] - t0, 3)
if alloc:
    out['alloc'] = round(alloc - sub[0], 3)
if wf:
    ev = [json.loads(l) for l in open('events.jsonl') if l.strip()]
    reg = [e['time'] for e in ev if e.get('kind') == 'worker_registered']
    jobs = [a for j in json.load(open('jobs.json'))['jobs'] for a in j['attempts'][-1:]]
    starts = sorted(j['start_time'] for j in jobs if j.get('start_time'))
    ends = sorted(j['end_time'] for j in jobs if j.get('end_time'))
    out['done'] = len(ends)
    out['makespan'] = round(ends[-1] - t0, 3) if ends else None
    if alloc and reg:
        out['workers'] = len(reg)
        out['registered'] = round(max(reg) - alloc, 3)
    if alloc and starts:
        out['first'] = round(starts[0] - alloc, 3)
        if len(starts) >= 1024:
            out['r1024'] = round(starts[1023] - alloc, 3)
        if len(starts) > 2048:
            a, b = starts[1023], starts[-1024]
            out['rate'] = round((len(starts) - 2048) / (b - a), 1) if b > a else None
        runs = sorted(e - s for s, e in ((j.get('start_time'), j.get('end_time')) for j in jobs) if s and e)
        if runs:
            out['run_p50'] = round(runs[len(runs) // 2], 3)
            out['run_p99'] = round(runs[int(len(runs) * 0.99)], 3)
tick = os.sysconf('SC_CLK_TCK')
if os.path.exists('starts.txt') and alloc:
    # "OFFSET" then "PID TICKS" lines: wall time = OFFSET + TICKS / tick (OFFSET: the wall clock
    # minus /proc/uptime when sampling began).
    lines = open('starts.txt').read().split('\n')
    offset = float(lines[0])
    seen = {}
    for l in lines[1:]:
        f = l.split()
        if len(f) == 2:
            seen[f[0]] = offset + int(f[1]) / tick
    st = sorted(seen.values())
    out['sampled'] = len(st)
    if st:
        out['first_sampled'] = round(st[0] - alloc, 3)
    if len(st) >= 1024:
        out['r1024_sampled'] = round(st[1023] - alloc, 3)
out['cpu_user_us'] = round(cpu['user'] / tick / n * 1e6, 1)
out['cpu_sys_us'] = round(cpu['sys'] / tick / n * 1e6, 1)
if cpu.get('server') is not None:
    out['cpu_server_us'] = round(cpu['server'] / tick / n * 1e6, 1)
    if os.path.exists('submit_jiffies'):
        out['cpu_server_submit_us'] = round(int(open('submit_jiffies').read()) / tick / n * 1e6, 1)
if wf and cpu.get('requests'):
    out['requests'] = cpu['requests']
    if cpu.get('server') is not None:
        out['cpu_server_per_request_us'] = round(cpu['server'] / tick / cpu['requests'] * 1e6, 1)
if cpu.get('workers') is not None:
    out['cpu_workers_us'] = round(cpu['workers'] / n * 1e6, 1)
print(json.dumps(out), flush=True)
PY
}

# starts_begin / starts_end: the STARTS=1 sampler (above) into starts.txt of the current folder.
starts_begin() {
  [[ -n ${STARTS:-} ]] || return 0
  (
    echo "$(awk -v now="$(now)" '{printf "%.3f", now - $1}' /proc/uptime)"
    while :; do
      for p in $(pgrep -x -f "sleep $sleep_s"); do
        read -r -a f <"/proc/$p/stat" 2>/dev/null && echo "$p ${f[21]}"
      done
      sleep 1
    done
  ) >starts.txt &
  starts_pid=$!
}
starts_end() {
  [[ -n ${STARTS:-} ]] || return 0
  kill $starts_pid 2>/dev/null; wait $starts_pid 2>/dev/null || true
}

# cpu_begin / cpu_end [WORKER_LOG_DIR]: the machine's and the server's CPU over one run into cpu.json.
cpu_begin() {
  if [[ -n ${SYSPERF:-} ]]; then
    perf record -q -a -F 199 -o sys.data 2>sysperf.err &
    sysperf_pid=$!
  fi
  read -r u0 s0 < <(cpu_jiffies); p0=$(proc_jiffies $server_pid)
  metrics >metrics0.txt || true
}
cpu_end() {
  read -r u1 s1 < <(cpu_jiffies)
  if [[ -n ${SYSPERF:-} ]]; then kill -INT $sysperf_pid; wait $sysperf_pid || true; fi
  local p1 w=null
  p1=$(proc_jiffies $server_pid)
  if [[ -n ${1:-} ]]; then
    # "rusage: user U s, system S s" of each worker's log (worker.cc, when it leaves).
    w=$(grep -rhoE 'own rusage: user [0-9.]+ s, system [0-9.]+ s' "$1" 2>/dev/null |
        awk '{u += $4; s += $7} END {if (NR) printf "%.3f", u + s}' || true)
    [[ -z $w ]] && w=null
  fi
  metrics >metrics1.txt || true
  # API requests during the run: the sum of torc_http_requests_total's series, after - before.
  local req
  req=$(awk '/^torc_http_requests_total/ {s += $NF} END {print s + 0}' metrics1.txt 2>/dev/null)
  req=$((req - $(awk '/^torc_http_requests_total/ {s += $NF} END {print s + 0}' metrics0.txt 2>/dev/null)))
  printf '{"user": %s, "sys": %s, "server": %s, "workers": %s, "requests": %s}\n' \
    $((u1 - u0)) $((s1 - s0)) $((p1 - p0)) "$w" "$req" >cpu.json
}

# wait_complete WF: waits for the allocation to come and go (squeue), then polls the workflow
# every 0.5 s over one kept-alive connection until it is complete (at once, normally: the workers
# leave at completion). Nothing of the benchmark's own asks the server anything while the jobs
# run: a status poll of a 4,096-job workflow costs the server ~0.4 ms of CPU on a quiet machine,
# several times that in the saturated lab, and ~40 polls a run were counted in its CPU per job
# (as ~50 TLS handshakes were before, when each poll was a curl).
wait_complete() {
  until [[ -n $(squeue -h -o %i) ]]; do sleep 0.05; done
  # Once a second: squeue costs the machine ~15-40 ms of CPU (at 0.2 s it was 3 % of the
  # machine during a slurm-mode run).
  while [[ -n $(squeue -h -o %i) ]]; do sleep 1; done
  python3 - "$TORC_API_URL" "$TORC_DATA_DIR" "$1" <<'PY'
import http.client, json, ssl, sys, time, urllib.parse
url, data, wf = urllib.parse.urlsplit(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=data + '/server.crt')
ctx.check_hostname = False  # the certificate is pinned by the file; the lab's address may not be in it
token = open(data + '/token').read().strip()
conn = http.client.HTTPSConnection(url.hostname, url.port, context=ctx)
deadline = time.time() + 60
while True:
    conn.request('GET', '/api/v1/workflows/' + wf, headers={'Authorization': 'Bearer ' + token})
    if json.loads(conn.getresponse().read()).get('complete'):
        break
    if time.time() > deadline:
        sys.exit('workflow %s not complete 60 s after its allocation ended' % wf)
    time.sleep(0.5)
PY
}

run_torc() {  # run_torc MODE
  local d=$work/t_$1_$RANDOM
  mkdir -p "$d" && cd "$d"
  torc_yaml "$1" >wf.yaml
  sleep "0.$(printf %03d $((RANDOM % 1000)))"  # a random phase to slurmctld's cycle
  cpu_begin
  starts_begin
  local t0 wf
  t0=$(now)
  if [[ -n ${PERF:-} ]]; then
    perf record -q --no-inherit -F 999 --call-graph dwarf,16384 -p $server_pid -o perf.data 2>perf.err &
    perf_pid=$!
  fi
  if [[ -n ${SYSCALLS:-} ]]; then
    perf stat -e 'syscalls:sys_enter_*' -p $server_pid -o syscalls.txt 2>/dev/null &
    sc_pid=$!
  fi
  wf=$("$torc" submit wf.yaml --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["workflow_id"])')
  echo "$(($(proc_jiffies $server_pid) - p0))" >submit_jiffies
  wait_complete "$wf"
  if [[ -n ${PERF:-} ]]; then kill -INT $perf_pid; wait $perf_pid || true; fi
  if [[ -n ${SYSCALLS:-} ]]; then kill -INT $sc_pid; wait $sc_pid || true; fi
  wait_slurm_empty
  starts_end
  cpu_end "$d"
  report "$1" "$t0" "$(now)" "$wf"
  cd "$work"
}

run_pilot() {  # run_pilot CASE
  local d=$work/p_$1_$RANDOM per_node=$((n / nodes)) body
  mkdir -p "$d" && cd "$d"
  if [[ $1 == pilot ]]; then
    body="srun --nodes=$nodes --ntasks-per-node=1 bash -c 'seq $per_node | xargs -P$cpus -I{} sleep $sleep_s'"
  else
    body="seq $n | xargs -P$((nodes * cpus)) -I{} srun --nodes=1 --ntasks=1 --cpus-per-task=1 --mem=100 --exact sleep $sleep_s"
  fi
  sleep "0.$(printf %03d $((RANDOM % 1000)))"
  cpu_begin
  starts_begin
  local t0
  t0=$(now)
  sbatch --nodes=$nodes --exclusive --mem=0 -o pilot.out --wrap "$body; date +%s.%N > $d/done" >/dev/null
  while [[ ! -s done ]]; do sleep 0.05; done
  wait_slurm_empty
  starts_end
  cpu_end
  report "$1" "$t0" "$(cat done)"
  cd "$work"
}

sbatch --wrap true -o /dev/null >/dev/null  # warm-up: a fresh cluster's first batch job waits ~2.5 s
wait_slurm_empty
for r in $(seq "$rounds"); do
  for c in ${CASES:-pilot direct}; do
    case $c in
      pilot|pilot_exact) run_pilot "$c" ;;
      direct|direct_nolog|slurm) run_torc "$c" ;;
      *) echo "unknown case $c" >&2; exit 2 ;;
    esac
  done
done
