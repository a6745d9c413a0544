#!/usr/bin/env bash
# Where a Slurm run's time goes (docs/benchmarks.md): each of N jobs writes its start and end
# time, and each run prints one JSON line splitting its makespan into
#   submit  first submit command -> the first sbatch reaching slurmctld
#   wait    that sbatch -> slurmctld starting the job (its scheduling cycle; from its log)
#   first   job started -> first job running; s16: -> 16th job running
#   per3    mean period of each of the first three waves of 16 (start k -> start k+16)
#   per_rest the same over the later waves; rounds_sum: first start -> 16th-last start
#   tail    16th-last start -> last end; detect: last end -> seen by this script
#   net     makespan without Slurm's wait
# Cases: torc (slurm mode, the workflow's defaults), torc_pN (slurm mode with
# execution_config.srun_launch_interval_ms: N), direct (one worker per node), pilot (one
# exclusive allocation running xargs -P16 srun ...). The jobs' extra `date` calls make every
# figure a little larger than in slurm_bench.sh; all cases pay them alike.
# Run under with-cluster.sh:
#   [CASES="torc torc_p0 direct pilot"] tests/slurm/with-cluster.sh -- tests/bench/slurm_phases.sh TORC [N] [ROUNDS]
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
  python3 - "$1" "$n" "$2" "$3" "${SLURM_LAB_DIR:-}/log/slurmctld.log" <<'PY'
import datetime, json, re, statistics, sys
name, n, t0, t1, log = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
s = sorted(float(open('ts/%d.s' % i).read()) for i in range(1, n + 1))
e = sorted(float(open('ts/%d.e' % i).read()) for i in range(1, n + 1))
sub = alloc = None
try:
    for line in open(log, errors='replace'):
        m = re.match(r"\[(\S+)\] (_slurm_rpc_submit_batch_job:|sched: Allocate|sched/backfill: _start_job: Started) JobId=(\d+) ", line)
        if not m:
            continue
        t = datetime.datetime.fromisoformat(m.group(1)).timestamp()  # slurmctld logs local time
        if m.group(2).startswith('_') and sub is None and t >= t0 - 0.002:
            sub = (t, m.group(3))
        elif sub and m.group(3) == sub[1] and alloc is None:
            alloc = t
except OSError:
    pass
waves = [statistics.mean(s[16 * (r + 1) + i] - s[16 * r + i] for i in range(16))
         for r in range(n // 16 - 1)]
out = {'case': name, 'makespan': round(t1 - t0, 3)}
if alloc is not None:
    out.update(submit=round(sub[0] - t0, 3), wait=round(alloc - sub[0], 3),
               first=round(s[0] - alloc, 3), s16=round(s[min(15, n - 1)] - alloc, 3))
out.update(per3=[round(p, 3) for p in waves[:3]],
           per_rest=round(statistics.mean(waves[3:]), 4) if len(waves) > 3 else None,
           rounds_sum=round(s[-16] - s[0], 3), tail=round(e[-1] - s[-16], 3),
           detect=round(t1 - e[-1], 3))
if alloc is not None:
    out['net'] = round(out['makespan'] - out['wait'], 3)
print(json.dumps(out), flush=True)
PY
}

results=$work/results.jsonl
for r in $(seq "$rounds"); do
  for c in ${CASES:-torc direct pilot}; do
    d=$c$r; mkdir -p "$d/marks" "$d/ts" && cd "$d"
    case $c in
      torc) bench_workflow phases "$n" "$cmd" slurm > wf.yaml ;;
      torc_p*) bench_workflow phases "$n" "$cmd" slurm |
                 sed "1a execution_config: {srun_launch_interval_ms: ${c#torc_p}}" > wf.yaml ;;
      direct) bench_workflow phases "$n" "$cmd" direct > wf.yaml ;;
      pilot) ;;
      *) echo "unknown case $c" >&2; exit 2 ;;
    esac
    sleep "0.$(printf %03d $((RANDOM % 1000)))"  # a random phase to slurmctld's ~1 s cycle
    t0=$(date +%s.%N)
    if [[ $c == pilot ]]; then
      sbatch --nodes=4 --exclusive --mem=0 -o /dev/null --wrap \
        "seq $n | xargs -P16 -I{} srun --nodes=1 --ntasks=1 --cpus-per-task=1 --mem=100 --exact bash -c '${cmd//\{i\}/\{\}}'" >/dev/null
    else
      "$torc" submit wf.yaml >/dev/null
    fi
    while (( $(ls marks | wc -l) < n )); do sleep 0.05; done
    phases "$c" "$t0" "$(date +%s.%N)" | tee -a "$results"
    cd ..; wait_slurm_empty
  done
done
python3 - "$results" <<'PY'
import collections, json, statistics, sys
by = collections.defaultdict(list)
for line in open(sys.argv[1]):
    r = json.loads(line)
    by[r['case']].append(r)
for case, runs in by.items():
    nets = [r['net'] for r in runs if 'net' in r]
    rest = [r['per_rest'] for r in runs if r['per_rest'] is not None]
    print(json.dumps({'case': case, 'runs': len(runs),
                      'median_makespan': statistics.median(r['makespan'] for r in runs),
                      'median_net': statistics.median(nets) if nets else None,
                      'median_per_rest': statistics.median(rest) if rest else None}))
PY
