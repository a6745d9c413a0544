#!/usr/bin/env python3
"""End-to-end tests of the worker and `torc run` with real processes.

Usage: e2e_test.py TORC_BINARY [CASE ...]
Each case runs in its own temporary directory. Jobs record what they did in
files; the checks read those files and ask a real server for the states.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from torc_testlib import (Server, cases_of, check, finish, free_port, max_overlap,  # noqa: E402
                          records, run_cases, run_torc, wait_for, write, write_hog)

TORC = os.path.abspath(sys.argv[1])


def run(args, cwd):
    return run_torc(TORC, args, cwd=cwd, timeout=120)


def server(data, d):
    """A real server on a data directory (for inspecting a run's state); a context manager."""
    return Server(TORC, data, ["--heartbeat-seconds", "1"], log_path=f"{d}/server.log")


RECORD = ('s=$(date +%s.%N); sleep {sleep}; e=$(date +%s.%N); '
          'echo "$TORC_JOB_NAME $s $e {cpus} ${{CUDA_VISIBLE_DEVICES:-none}}" >> {log}')
FIELDS = ["job", "start:f", "end:f", "cpus:i", "gpu"]


def peak(recs, weight=lambda r: r["cpus"]):
    return max_overlap([(r["start"], r["end"], weight(r)) for r in recs])


# ---- cases ------------------------------------------------------------------

def case_unreachable_server(d):
    """A worker given a URL nobody answers on (as a compute node given a loopback URL would
    be) says so on stderr within 5 s, naming the URL and the error, and after
    --connect-timeout exits non-zero instead of holding its allocation."""
    with socket.socket() as sock:  # a port on loopback that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ, TORC_API_URL=url, TORC_TOKEN="0" * 64)
    t0 = time.time()
    proc = subprocess.Popen([TORC, "worker", "run", "--workflow", "1", "--connect-timeout", "20"],
                            cwd=d, env=env, stderr=subprocess.PIPE, text=True)
    first = proc.stderr.readline()
    first_at = time.time() - t0
    rest = proc.communicate(timeout=60)[1]
    took = time.time() - t0
    check(first_at < 5 and url in first and "refused" in first.lower(),
          f"within 5 s ({first_at:.1f} s) a line names the URL and the error: {first.strip()}")
    check(proc.returncode != 0, f"it exits non-zero ({proc.returncode})")
    check(19 <= took <= 30, f"after the 20 s connect timeout ({took:.1f} s)")
    check("giving up" in rest and "--connect-timeout" in rest, f"and says why: {rest.strip()}")
    # SIGTERM while it waits for the server: it stops at once.
    proc = subprocess.Popen([TORC, "worker", "run", "--workflow", "1"], cwd=d, env=env,
                            stderr=subprocess.PIPE, text=True)
    proc.stderr.readline()
    t0 = time.time()
    proc.send_signal(signal.SIGTERM)
    rest = proc.communicate(timeout=30)[1]
    check(proc.returncode == 1 and "stopped by a signal" in rest and time.time() - t0 < 5,
          f"SIGTERM ends a worker still looking for its server ({time.time() - t0:.1f} s, "
          f"exit {proc.returncode}): {rest.strip()}")


def case_diamond(d):
    write(f"{d}/wf.yaml", """name: diamond
files:
  - {name: f1, path: f1.txt}
  - {name: f2, path: f2.txt}
  - {name: f3, path: f3.txt}
  - {name: f4, path: f4.txt}
jobs:
  - {name: pre, command: "echo 1 > ${files.output.f1}"}
  - {name: left, command: "cat ${files.input.f1} > ${files.output.f2}; echo L >> f2.txt"}
  - {name: right, command: "cat ${files.input.f1} > ${files.output.f3}; echo R >> f3.txt"}
  - {name: post, command: "cat ${files.input.f2} ${files.input.f3} > ${files.output.f4}"}
""")
    r = run(["run", "wf.yaml"], d)
    check(r.returncode == 0, f"diamond exits 0 ({r.stderr})")
    check(open(f"{d}/f4.txt").read().split() == ["1", "L", "1", "R"], "diamond output in order")
    check("completed   4" in r.stdout, "diamond summary")


def case_sweep_fan_in(d):
    log = f"{d}/log.txt"
    write(f"{d}/wf.yaml", f"""name: sweep
jobs:
  - name: work_{{i}}
    command: '{RECORD.format(sleep=0, cpus=1, log=log)}'
    parameters: {{i: "1:200"}}
  - name: total
    command: 'wc -l < {log} > total.txt'
    depends_on_regexes: ["^work_"]
""")
    r = run(["run", "wf.yaml", "--cpus", "4"], d)
    check(r.returncode == 0, f"sweep exits 0 ({r.stderr})")
    recs = records(log, FIELDS)
    check(len(recs) == 200 and len({x["job"] for x in recs}) == 200, "200 jobs ran once each")
    check(open(f"{d}/total.txt").read().strip() == "200", "fan-in ran after all 200")


def case_flaky_retry(d):
    write(f"{d}/wf.yaml", """name: flaky
failure_handlers:
  - name: retry
    rules:
      - {exit_codes: [42], max_retries: 5, recovery_script: "echo $TORC_ATTEMPT:$TORC_EXIT_CODE >> recovered.txt"}
jobs:
  - name: flaky
    command: 'n=$(cat n 2>/dev/null || echo 0); echo $((n+1)) > n; [ $n -ge 3 ] || exit 42'
    failure_handler: retry
""")
    r = run(["run", "wf.yaml"], d)
    check(r.returncode == 0, f"flaky eventually passes ({r.stderr} {r.stdout})")
    check(open(f"{d}/n").read().strip() == "4", "flaky ran 4 times")
    check(open(f"{d}/recovered.txt").read().split() == ["1:42", "2:42", "3:42"],
          "recovery script ran before each retry")


def case_limits(d):
    write(f"{d}/wf.yaml", """name: limits
resource_requirements:
  - {name: tiny, memory: 50m}
  - {name: quick, runtime: PT1S}
jobs:
  - name: hog
    command: python3 -c "x = bytearray(400 * 1024 * 1024); import time; time.sleep(20)"
    resource_requirements: tiny
  - name: slow
    command: sleep 30
    resource_requirements: quick
""")
    t0 = time.time()
    r = run(["run", "wf.yaml"], d)
    check(r.returncode == 1, "limits run exits 1")
    check(time.time() - t0 < 25, "memory and runtime limits act long before the jobs end")
    with server(f"{d}/torc_output/.torc", d) as s:
        jobs = s.jobs(1)
        check(jobs["hog"]["status"] == "failed" and jobs["hog"]["exit_code"] == 137,
              f"over-memory job killed and reported 137: {jobs['hog']}")
        check(jobs["slow"]["status"] == "terminated" and jobs["slow"]["attempt"] == 4,
              f"over-runtime job terminated after 3 requeues: {jobs['slow']}")
        show = json.loads(s.cli("workflows", "show", "1", "--json").stdout)
        check(show["counts"]["terminated"] == 1, "status counts the terminated job")


def attempt_of(s, wf, job):
    """The last attempt of `job` as GET /workflows/W/jobs/J shows it."""
    return s.get(f"/workflows/{wf}/jobs/{job}")["attempts"][-1]


def case_measures_the_job(d):
    """Direct mode reports the job's own peak RSS and CPU time, per node (node_usage), and with
    resource_monitor time_series every 1 s, stores a sample a second, served by the endpoint."""
    with server(f"{d}/data", d) as s:
        write(f"{d}/wf.yaml", """name: measure
resource_monitor:
  sample_interval_seconds: 1
  jobs: {enabled: true, granularity: time_series}
jobs:
  - name: hog
    command: python3 hog.py; true
  - name: five
    command: python3 five.py
""")
        write_hog(f"{d}/hog.py", 300, 1.5)
        write_hog(f"{d}/five.py", 50, 0, sleep=5)
        wf = s.submit("wf.yaml", d)
        w = subprocess.run([TORC, "worker", "run", "--workflow", str(wf), "--mode", "direct",
                            "--output-dir", f"{d}/out", "--idle-timeout", "2"], env=s.env, cwd=d,
                           capture_output=True, text=True, timeout=120)
        check(w.returncode == 0, f"worker exits 0 ({w.stderr})")
        hog = attempt_of(s, wf, "hog")
        mib = hog["peak_rss_bytes"] / 2**20
        check(280 <= mib <= 400, f"hog's peak RSS is its own: {mib:.1f} MiB")
        check(1.6 <= hog["cpu_seconds"] <= 4.5, f"hog's CPU time is its own: {hog['cpu_seconds']}")
        usage = hog["node_usage"]
        check(len(usage) == 1 and usage[0]["peak_rss_bytes"] == hog["peak_rss_bytes"]
              and usage[0]["cpu_seconds"] == hog["cpu_seconds"] and usage[0]["node"],
              f"one node in node_usage, with the same figures: {usage}")
        five = attempt_of(s, wf, "five")
        check(five["samples"] >= 4, f"a 5 s job has >= 4 samples at 1 s: {five['samples']}")
        series = s.get(f"/workflows/{wf}/jobs/five/attempts/1/samples")
        check(series["interval_seconds"] == 1 and len(series["samples"]) == five["samples"],
              f"the endpoint serves them: {series}")
        ts = [x["t"] for x in series["samples"]]
        # (python's start-up under load makes the 5 s job longer: within its own run time)
        took = five["end_time"] - five["start_time"]
        check(ts == sorted(ts) and 0 < ts[0] <= 1.6 and ts[-1] <= took + 0.3,
              f"t from the start, within the attempt's {took:.2f} s: {ts}")
        check(max(x["rss_bytes"] for x in series["samples"]) >= 50 * 2**20,
              f"the samples hold the job's RSS: {series['samples']}")
        status, _ = s.api("GET", f"/workflows/{wf}/jobs/five/attempts/2/samples")
        check(status == 404, f"an unknown attempt: 404 ({status})")
        # The report draws those samples: a curve with one point per sample.
        r = s.cli("report", str(wf), "--html", f"{d}/report.html")
        html = open(f"{d}/report.html").read() if r.returncode == 0 else ""
        points = re.findall(r'<polyline class="series" data-attempt="1" data-points="(\d+)"', html)
        # (hog has samples too: each job gets a memory and a CPU chart)
        check(r.returncode == 0 and len(points) == 4 and
              points.count(str(five["samples"])) >= 2,
              f"torc report draws curves of the real samples, five's with {five['samples']} "
              f"points ({points}, {r.stderr.strip()})")


def fake_srun_per_node(d):
    """A fake srun that runs the command once per node of --nodelist, as SLURMD_NODENAME, and
    exits with the first node's status. It logs each step's executable to steps.log."""
    write(f"{d}/srun", """#!/bin/bash
for a in "$@"; do [[ $a == --nodelist=* ]] && nodes=${a#--nodelist=}; done
while [[ $1 == --* ]]; do shift; done
echo "$1" >> "$(dirname "$0")/steps.log"
rc=0
IFS=, read -ra list <<< "$nodes"
for n in "${list[@]}"; do SLURMD_NODENAME=$n "$@" || rc=${rc/#0/$?}; done
exit $rc
""")
    write(f"{d}/squeue", "#!/bin/bash\necho UNLIMITED\n")
    os.chmod(f"{d}/srun", 0o755)
    os.chmod(f"{d}/squeue", 0o755)


def case_slurm_mode_measures_in_the_step(d):
    """Slurm mode (a fake srun running each node's task in turn): torc job-exec measures the job
    on each node, the worker reports both nodes of a 2-node step (max RSS, summed CPU), and
    kills a job over its memory request with reason memory."""
    fake_srun_per_node(d)
    with server(f"{d}/data", d) as s:
        write(f"{d}/wf.yaml", """name: steps
resource_requirements:
  - {name: wide, num_cpus: 1, num_nodes: 2, memory: 1g}
  - {name: small, num_cpus: 1, memory: 100m}
jobs:
  - name: hog
    command: python3 hog.py; true
    resource_requirements: wide
  - name: over
    command: python3 over.py
    resource_requirements: small
""")
        write_hog(f"{d}/hog.py", 300, 1.5)
        write_hog(f"{d}/over.py", 300, 0, sleep=20)
        wf = s.submit("wf.yaml", d)
        w = slurm_worker(s, d, wf)
        _, err = w.communicate(timeout=90)
        hog = attempt_of(s, wf, "hog")
        usage = sorted(hog["node_usage"], key=lambda n: n["node"])
        check([n["node"] for n in usage] == ["n1", "n2"], f"both nodes reported: {usage} ({err})")
        for n in usage:
            check(280 <= n["peak_rss_bytes"] / 2**20 <= 400 and 1.6 <= n["cpu_seconds"] <= 4.5,
                  f"each node's figures are the job's own: {n}")
        if len(usage) == 2:
            check(hog["peak_rss_bytes"] == max(n["peak_rss_bytes"] for n in usage)
                  and abs(hog["cpu_seconds"] - sum(n["cpu_seconds"] for n in usage)) < 1e-6,
                  f"the attempt's figures: max RSS, summed CPU: {hog}")
        over = attempt_of(s, wf, "over")
        check(over["status"] == "failed" and over["reason"] == "memory"
              and over["exit_code"] == 137 and over["end_time"] - over["start_time"] < 10,
              f"over its request: killed for memory: {over}")
        check(not os.listdir(f"{d}/out/{wf}/usage"), "the usage files are removed after reading")
        small = os.path.join(os.path.dirname(TORC), "torc-job-exec")
        steps = open(f"{d}/steps.log").read().split()
        check(steps and set(steps) == {small},
              f"each step ran the small torc-job-exec beside torc: {set(steps)}")


def case_slurm_mode_without_small_job_exec(d):
    """A torc binary with no torc-job-exec beside it (copied alone): its steps run
    `torc job-exec`, which measures the job the same way."""
    fake_srun_per_node(d)
    os.makedirs(f"{d}/bin")
    alone = f"{d}/bin/torc"
    try:
        os.link(TORC, alone)
    except OSError:
        shutil.copy(TORC, alone)
    with server(f"{d}/data", d) as s:
        write(f"{d}/wf.yaml", """name: alone
resource_requirements:
  - {name: wide, num_cpus: 1, num_nodes: 2, memory: 1g}
jobs:
  - name: hog
    command: python3 hog.py
    resource_requirements: wide
""")
        write_hog(f"{d}/hog.py", 100, 0.5)
        wf = s.submit("wf.yaml", d)
        env = dict(s.env, SLURM_JOB_ID="4343", SLURM_JOB_NODELIST="n[1-2]",
                   SLURM_JOB_CPUS_PER_NODE="4(x2)", SLURM_MEM_PER_NODE="4000")
        w = subprocess.run([alone, "worker", "run", "--workflow", str(wf), "--mode", "slurm",
                            "--srun", f"{d}/srun", "--squeue", f"{d}/squeue", "--output-dir",
                            f"{d}/out", "--idle-timeout", "2"], env=env, cwd=d,
                           capture_output=True, text=True, timeout=90)
        steps = open(f"{d}/steps.log").read().split() if os.path.exists(f"{d}/steps.log") else []
        check(steps == [alone], f"the step ran the worker's own binary: {steps} ({w.stderr[-300:]})")
        hog = attempt_of(s, wf, "hog")
        check(hog["status"] == "completed" and
              sorted(n["node"] for n in hog.get("node_usage", [])) == ["n1", "n2"] and
              all(n["peak_rss_bytes"] >= 90 * 2**20 for n in hog["node_usage"]),
              f"torc job-exec measured the job on both nodes: {hog}")


def case_cancel(d):
    with server(f"{d}/data", d) as s:
        write(f"{d}/wf.yaml", """name: cancel
jobs:
  - {name: long, command: "echo started > started; sleep 60; echo finished > finished"}
  - {name: after, command: "echo after > after", depends_on: [long]}
""")
        wf = s.submit("wf.yaml", d)
        worker = subprocess.Popen([TORC, "worker", "run", "--workflow", str(wf), "--output-dir",
                                   f"{d}/out", "--idle-timeout", "3"], env=s.env, cwd=d,
                                  stderr=subprocess.DEVNULL)
        wait_for(lambda: os.path.exists(f"{d}/started"), bool, 10, 0.05)
        check(os.path.exists(f"{d}/started"), "the job started")
        # The start notice says where the job runs; the job list and `torc status` show it.
        nodes = wait_for(lambda: s.jobs(wf)["long"].get("nodes", ""), bool, 5, 0.05)
        host = socket.gethostname()
        check(nodes in (host, host.split(".")[0]), f"the running job's nodes: {nodes!r}")
        status = s.cli("status", str(wf), "--color", "never").stdout
        check(f"{nodes} (worker" in status and "long" in status,
              f"torc status shows the running job on its node: {status}")
        check(s.cli("cancel", str(wf)).returncode == 0, "cancel accepted")
        t0 = time.time()
        worker.wait(timeout=30)
        check(time.time() - t0 < 15, "the worker stopped the canceled job promptly")
        check(not os.path.exists(f"{d}/finished") and not os.path.exists(f"{d}/after"),
              "the canceled job was killed and its dependent never ran")
        jobs = s.jobs(wf)
        check(jobs["long"]["status"] == "canceled" and jobs["after"]["status"] == "canceled",
              f"both canceled: {jobs}")
        show = json.loads(s.cli("jobs", "list", str(wf), "--json").stdout)
        check(all(j["status"] == "canceled" for j in show), "nothing left running")


def case_resume_after_kill(d):
    log = f"{d}/runs.txt"
    write(f"{d}/wf.yaml", f"""name: resume
jobs:
  - name: j_{{i:02d}}
    command: 'echo "start $TORC_JOB_NAME $TORC_ATTEMPT" >> {log}; sleep 0.3; echo "end $TORC_JOB_NAME $TORC_ATTEMPT" >> {log}'
    parameters: {{i: "1:24"}}
""")
    p = subprocess.Popen([TORC, "run", "wf.yaml", "--cpus", "4"], cwd=d,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # Killed once the run's own server has recorded a job completed (a fixed sleep was too
    # short on a loaded machine; the first "end" line in the log was too early: the job's result
    # may not have reached the server yet).
    env = dict(os.environ, TORC_DATA_DIR=f"{d}/torc_output/.torc")

    def completed():
        if not os.path.exists(f"{d}/torc_output/.torc/server.url"):
            return 0
        r = run_torc(TORC, ["status", "1", "--json"], env=env, cwd=d, timeout=10)
        try:
            return json.loads(r.stdout)["counts"]["completed"] if r.returncode == 0 else 0
        except (ValueError, KeyError):
            return 0
    wait_for(completed, lambda n: n > 0, 30, 0.05)
    p.send_signal(signal.SIGKILL)
    p.wait()
    time.sleep(0.5)  # the killed run's jobs die with it (PR_SET_PDEATHSIG)
    with server(f"{d}/torc_output/.torc", d) as s:
        before = {n for n, j in s.jobs(1).items() if j["status"] == "completed"}
    check(0 < len(before) < 24, f"the kill came in the middle ({len(before)} completed)")
    r = run(["run", "wf.yaml", "--cpus", "4"], d)
    check(r.returncode == 0, f"the second run completes the workflow ({r.stderr})")
    check("resuming workflow 1" in r.stderr, "the second run resumes")
    starts = [l.split() for l in open(log) if l.startswith("start")]
    for name in before:
        n = sum(1 for s_ in starts if s_[1] == name)
        check(n == 1, f"completed job {name} ran {n} times")
    with server(f"{d}/torc_output/.torc", d) as s:
        jobs = s.jobs(1)
        check(all(j["status"] == "completed" for j in jobs.values()), "all completed after resume")


def case_packing(d):
    log = f"{d}/log.txt"
    jobs = []
    for i in range(30):
        cpus = 1 + i % 3
        jobs.append(f"""  - name: p{i}
    command: '{RECORD.format(sleep=0.2, cpus=cpus, log=log)}'
    resource_requirements: c{cpus}""")
    write(f"{d}/wf.yaml", "name: pack\nresource_requirements:\n" +
          "".join(f"  - {{name: c{c}, num_cpus: {c}}}\n" for c in (1, 2, 3)) +
          "jobs:\n" + "\n".join(jobs) + "\n")
    r = run(["run", "wf.yaml", "--cpus", "4"], d)
    check(r.returncode == 0, f"packing run exits 0 ({r.stderr})")
    recs = records(log, FIELDS)
    check(len(recs) == 30, "all 30 ran")
    cpus = peak(recs)
    check(cpus <= 4, f"never more than 4 CPUs in use (saw {cpus})")
    check(cpus >= 3, f"jobs ran side by side (peak {cpus})")


def case_gpus(d):
    log = f"{d}/log.txt"
    write(f"{d}/wf.yaml", f"""name: gpus
resource_requirements:
  - {{name: one_gpu, num_cpus: 1, num_gpus: 1}}
jobs:
  - name: g_{{i}}
    command: '{RECORD.format(sleep=0.3, cpus=1, log=log)}'
    resource_requirements: one_gpu
    parameters: {{i: "1:8"}}
""")
    r = run(["run", "wf.yaml", "--cpus", "8", "--gpus", "2"], d)
    check(r.returncode == 0, f"gpu run exits 0 ({r.stderr})")
    recs = records(log, FIELDS)
    check(len(recs) == 8, "8 GPU jobs ran")
    check(all(x["gpu"] in ("0", "1") for x in recs), f"each saw one GPU index: {[x['gpu'] for x in recs]}")
    for gpu in ("0", "1"):
        same = [x for x in recs if x["gpu"] == gpu]
        check(peak(same, lambda x: 1) <= 1, f"GPU {gpu} never shared")
    check(peak(recs, lambda x: 1) == 2, "two GPU jobs at a time")


def fake_slurm_tools(d):
    """A fake srun that logs the time it was started and its arguments, then runs the command;
    a fake squeue for the end time. Returns the srun log's path."""
    srun_log = f"{d}/srun.txt"
    write(f"{d}/srun", f"""#!/bin/bash
echo "$(date +%s.%N) $*" >> {srun_log}
while [[ $1 == --* ]]; do shift; done
exec "$@"
""")
    write(f"{d}/squeue", "#!/bin/bash\necho UNLIMITED\n")
    os.chmod(f"{d}/srun", 0o755)
    os.chmod(f"{d}/squeue", 0o755)
    return srun_log


def slurm_worker(s, d, wf):
    """`torc worker run` in slurm mode inside a faked 2 x 4-CPU allocation (not waited for)."""
    env = dict(s.env, SLURM_JOB_ID="4343", SLURM_JOB_NODELIST="n[1-2]",
               SLURM_JOB_CPUS_PER_NODE="4(x2)", SLURM_MEM_PER_NODE="4000")
    return subprocess.Popen([TORC, "worker", "run", "--workflow", str(wf), "--mode", "slurm",
                             "--srun", f"{d}/srun", "--squeue", f"{d}/squeue",
                             "--output-dir", f"{d}/out", "--idle-timeout", "2"],
                            env=env, cwd=d, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def case_fake_srun(d):
    """Slurm mode inside a (faked) 2-node allocation: one srun per job, exact flags."""
    srun_log = fake_slurm_tools(d)
    with server(f"{d}/data", d) as s:
        write(f"{d}/wf.yaml", """name: fake
resource_requirements:
  - {name: two, num_cpus: 2, memory: 1g}
  - {name: wide, num_cpus: 1, num_nodes: 2}
jobs:
  - {name: "a_{i}", command: "true", resource_requirements: two, parameters: {i: "1:4"}}
  - {name: mpi, command: "true", resource_requirements: wide, depends_on_regexes: ["^a_"]}
""")
        wf = s.submit("wf.yaml", d)
        w = slurm_worker(s, d, wf)
        _, err = w.communicate(timeout=60)
        check(w.returncode == 0, f"slurm-mode worker exits 0 ({err})")
        lines = open(srun_log).read().splitlines()
        check(len(lines) == 5, f"one srun per job ({len(lines)})")
        singles = [l for l in lines if "--job-name=fake_a_" in l]
        check(len(singles) == 4, "four single-node steps")
        for l in singles:
            check("--nodes=1 --ntasks=1 --ntasks-per-node=1 --cpus-per-task=2 --mem=1024 --exact"
                  in l, f"single-node flags: {l}")
            check("--nodelist=n1 " in l or "--nodelist=n2 " in l, f"pinned to one node: {l}")
        mpi = [l for l in lines if "--job-name=fake_mpi_1" in l]
        check(len(mpi) == 1 and "--nodes=2 --ntasks=2 --ntasks-per-node=1 --cpus-per-task=4 "
              "--mem=0 --exact --nodelist=n1,n2" in mpi[0], f"whole two nodes: {mpi}")
        jobs = s.jobs(wf)
        check(all(j["status"] == "completed" for j in jobs.values()), "all completed")


def case_srun_pacing(d):
    """Slurm mode starts at most one srun per srun_launch_interval_ms, even when all fit."""
    srun_log = fake_slurm_tools(d)
    with server(f"{d}/data", d) as s:
        spans = {}
        for interval in (0, 200):
            open(srun_log, "w").close()
            write(f"{d}/wf{interval}.yaml", f"""name: pace{interval}
execution_config: {{srun_launch_interval_ms: {interval}}}
resource_requirements:
  - {{name: one, num_cpus: 1, memory: 100m}}
jobs:
  - {{name: "j_{{i}}", command: "sleep 0.1", resource_requirements: one, parameters: {{i: "1:8"}}}}
""")
            wf = s.submit(f"wf{interval}.yaml", d)
            w = slurm_worker(s, d, wf)
            out, err = w.communicate(timeout=60)
            check(w.returncode == 0, f"worker exits 0 ({err})")
            check(len(open(srun_log).read().splitlines()) == 8, "one srun per job")
            # when the worker started each srun, as it reported them
            jobs = s.get(f"/workflows/{wf}/attempts")["jobs"]
            starts = sorted(a["start_time"] for j in jobs for a in j["attempts"])
            check(len(starts) == 8 and all(j["status"] == "completed" for j in jobs),
                  "all 8 completed, one attempt each")
            spans[interval] = starts[-1] - starts[0]
            if interval:
                gaps = [b - a for a, b in zip(starts, starts[1:])]
                check(min(gaps) > 0.19, f"sruns {interval} ms apart at least (gaps {gaps})")
        check(spans[0] < 1.0, f"no pacing: all 8 sruns start within 1 s ({spans[0]:.2f} s), "
              f"not {spans[200]:.2f} s as with 200 ms")


def fake_faulty_srun(d, failing=r"*_cred_*_1"):
    """A fake srun as Slurm's own faults make it behave: steps whose --job-name matches
    `failing` fail before their command starts ("Job credential expired", as srun and
    libslurm word it); `*_oom_*` steps run and are then reported killed by Slurm's cgroup
    (slurmstepd's and srun's lines); others run, with srun's task line on a failure. Each call
    is logged (time, job name) in srun.txt."""
    write(f"{d}/srun", f"""#!/bin/bash
for a in "$@"; do [[ $a == --job-name=* ]] && name=${{a#--job-name=}}; done
echo "$(date +%s.%N) $name" >> {d}/srun.txt
case $name in
  {failing})
    echo "srun: error: Task launch for StepId=4343.$RANDOM failed on node n1: Job credential expired" >&2
    echo "srun: error: Application launch failed: Job credential expired" >&2
    echo "srun: Job step aborted: Waiting up to 32 seconds for job step to finish." >&2
    exit 1;;
esac
while [[ $1 == --* ]]; do shift; done
"$@"; rc=$?
case $name in
  *_oom_*)
    if [ $rc -ne 0 ]; then
      echo "slurmstepd: error: Detected 1 oom-kill event(s) in StepId=4343.7. Some of your processes may have been killed by the cgroup out-of-memory handler." >&2
      echo "srun: error: n1: task 0: Out Of Memory" >&2
    fi;;
  *) [ $rc -eq 0 ] || echo "srun: error: n1: task 0: Exited with exit code $rc" >&2;;
esac
exit $rc
""")
    write(f"{d}/squeue", "#!/bin/bash\necho UNLIMITED\n")
    os.chmod(f"{d}/srun", 0o755)
    os.chmod(f"{d}/squeue", 0o755)


def attempts_of(s, wf):
    """{job name: [(status, reason, exit_code), ...]} of every recorded attempt."""
    return {j["name"]: [(a["status"], a["reason"], a["exit_code"]) for a in j["attempts"]]
            for j in s.get(f"/workflows/{wf}/attempts")["jobs"]}


def case_slurm_faults_are_not_the_jobs(d):
    """Slurm mode: srun failing with "Job credential expired" (the command never ran) requeues
    the job without using a retry or running its failure handler; a job exiting 3 still fails
    as the job's failure, its recovery script sees 3, and srun's task line is not in its
    stderr; Slurm's cgroup killing a job for memory is reason memory with exit code 137, and a
    handler rule keyed on 137 runs its recovery script (TORC_EXIT_CODE=137) and its retry."""
    fake_faulty_srun(d)
    with server(f"{d}/data", d) as s:
        write(f"{d}/wf.yaml", """name: faults
failure_handlers:
  - name: h
    rules:
      - {exit_codes: [137], max_retries: 1, recovery_script: "echo $TORC_EXIT_CODE >> recovered_$TORC_JOB_NAME.txt"}
      - {exit_codes: [1], max_retries: 1, recovery_script: "echo $TORC_EXIT_CODE >> recovered_$TORC_JOB_NAME.txt"}
      - {exit_codes: [3], max_retries: 0, recovery_script: "echo $TORC_EXIT_CODE >> recovered_$TORC_JOB_NAME.txt"}
jobs:
  - {name: "cred_{i}", command: "echo ran >> ran_$TORC_JOB_NAME.txt", parameters: {i: "1:2"}, failure_handler: h}
  - {name: three, command: "echo my own words >&2; exit 3", failure_handler: h}
  - {name: oom, command: '[ "$TORC_ATTEMPT" = 2 ] || kill -KILL $$', failure_handler: h}
  - {name: fine, command: "true"}
""")
        wf = s.submit("wf.yaml", d)
        w = slurm_worker(s, d, wf)
        _, err = w.communicate(timeout=90)
        jobs, attempts = s.jobs(wf), attempts_of(s, wf)
        for name in ("cred_1", "cred_2"):
            check(jobs[name]["status"] == "completed" and jobs[name]["attempt"] == 2,
                  f"{name}: requeued and run again: {jobs[name]} ({err[-800:]})")
            first = attempts.get(name, [None])[0]
            check(first and first[0] == "terminated" and first[2] == 1 and
                  re.fullmatch(r"slurm: Job credential expired, on n\d", first[1]),
                  f"{name}: its first attempt was Slurm's failure: {attempts.get(name)}")
            # (a rule on exit code 1 with a retry would have taken srun's exit 1 as a failure)
            retries = s.get(f"/workflows/{wf}/jobs/{name}")["retries"]
            check(retries == 0, f"{name}: no retry used ({retries})")
            check(not os.path.exists(f"{d}/recovered_{name}.txt"),
                  f"{name}: no recovery script for Slurm's failure")
            ran = open(f"{d}/ran_{name}.txt").read().split() if os.path.exists(f"{d}/ran_{name}.txt") else []
            check(ran == ["ran"], f"{name} ran once: {ran}")
        three = jobs["three"]
        check(three["status"] == "failed" and three["exit_code"] == 3,
              f"a job exiting 3 fails as the job's failure: {three}")
        check(os.path.exists(f"{d}/recovered_three.txt") and
              open(f"{d}/recovered_three.txt").read().split() == ["3"],
              "its recovery script ran with TORC_EXIT_CODE=3")
        stderr = open(f"{d}/out/{wf}/three.1.err").read()
        check("my own words" in stderr and "Exited with exit code" not in stderr,
              f"its stderr has its own words, not srun's task line: {stderr!r}")
        check(attempts.get("oom", [None])[0] == ("failed", "memory", 137),
              f"Slurm's OOM kill: reason memory, exit code 137: {attempts.get('oom')}")
        check(os.path.exists(f"{d}/recovered_oom.txt") and
              open(f"{d}/recovered_oom.txt").read().split() == ["137"],
              "the 137 rule's recovery script ran with TORC_EXIT_CODE=137")
        check(jobs["oom"]["status"] == "completed" and jobs["oom"]["attempt"] == 2,
              f"and its retry ran: {jobs['oom']}")
        check(jobs["fine"]["status"] == "completed", "the others complete")


def case_slurm_failing_every_step(d):
    """Slurm mode: when Slurm fails 3 steps in a row the worker stops claiming, lets what runs
    finish and leaves saying why; the jobs go back to ready, none failed."""
    fake_faulty_srun(d, failing="*")
    with server(f"{d}/data", d) as s:
        write(f"{d}/wf.yaml", """name: broken
resource_requirements:
  - {name: half, num_cpus: 4, memory: 100m}
jobs:
  - {name: "j_{i}", command: "true", resource_requirements: half, parameters: {i: "1:8"}}
""")
        wf = s.submit("wf.yaml", d)
        w = slurm_worker(s, d, wf)
        _, err = w.communicate(timeout=90)
        check(w.returncode == 0, f"the worker leaves normally ({w.returncode}, {err[-800:]})")
        check("Slurm failed" in err and "steps in a row" in err and "Job credential expired" in err
              and "leaving" in err, f"it says why it leaves: {err[-800:]}")
        sruns = len(open(f"{d}/srun.txt").read().splitlines())
        check(3 <= sruns < 8, f"it stopped starting steps after the third failure ({sruns} sruns)")
        jobs = s.jobs(wf)
        check(all(j["status"] == "ready" for j in jobs.values()),
              f"all jobs are ready for another allocation, none failed: "
              f"{[(n, j['status'], j['attempt']) for n, j in jobs.items()]}")
        reasons = {r for a in attempts_of(s, wf).values() for (_, r, _) in a}
        check(reasons and all(re.fullmatch(r"slurm: Job credential expired, on n\d", r)
                              for r in reasons), f"attempt reasons: {reasons}")


def case_slurm_cancels_a_step(d):
    """Slurm mode: Slurm cancels a running step that torc did not stop (slurmstepd's "*** STEP
    ... CANCELLED AT ... ***", job-exec gets SIGTERM). With the allocation not ending (an
    `scancel JOB.STEP`; scontrol shows no PreemptTime) the job is `stopped` and the worker goes
    on; when scontrol shows a PreemptTime (PreemptMode=CANCEL with GraceTime signals only the
    steps) the job is `preempted` and the worker stops its other jobs as `preempted` too."""
    write(f"{d}/srun", f"""#!/bin/bash
for a in "$@"; do [[ $a == --job-name=* ]] && name=${{a#--job-name=}}; done
while [[ $1 == --* ]]; do shift; done
if [[ $name == *_victim_1 ]]; then
  "$@" & pid=$!
  sleep 0.5
  echo "slurmstepd-n1: error: *** STEP 4343.1 ON n1 CANCELLED AT 2026-12-06T18:24:21 ***" >&2
  kill -TERM $pid; wait $pid; rc=$?
  echo "srun: error: n1: task 0: Exited with exit code $rc" >&2
  exit $rc
fi
exec "$@"
""")
    write(f"{d}/squeue", "#!/bin/bash\necho UNLIMITED\n")
    for tool in ("srun", "squeue"):
        os.chmod(f"{d}/{tool}", 0o755)
    with server(f"{d}/data", d) as s:
        for preempted in (False, True):
            write(f"{d}/scontrol", "#!/bin/bash\necho \"JobId=4343 JobName=w JobState=RUNNING "
                  f"Reason=None PreemptTime={'2026-12-06T18:24:21' if preempted else 'None'}\"\n")
            os.chmod(f"{d}/scontrol", 0o755)
            write(f"{d}/wf{preempted}.yaml", f"""name: cancel{preempted}
jobs:
  - {{name: victim, command: '[ "$TORC_ATTEMPT" = 2 ] || sleep 20'}}
  - {{name: other, command: "sleep {5 if preempted else 2}"}}
""")
            wf = s.submit(f"wf{preempted}.yaml", d)
            env = dict(s.env, SLURM_JOB_ID="4343", SLURM_JOB_NODELIST="n[1-2]",
                       SLURM_JOB_CPUS_PER_NODE="4(x2)", SLURM_MEM_PER_NODE="4000",
                       PATH=f"{d}:{os.environ['PATH']}")
            t0 = time.time()
            w = subprocess.Popen([TORC, "worker", "run", "--workflow", str(wf), "--mode", "slurm",
                                  "--srun", f"{d}/srun", "--squeue", f"{d}/squeue",
                                  "--output-dir", f"{d}/out", "--idle-timeout", "2"],
                                 env=env, cwd=d, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True)
            if preempted:
                # A preempted worker stays until Slurm ends the allocation (so that REQUEUE mode
                # requeues it): here its jobs are reported, then "Slurm" signals it.
                wait_for(lambda: len(attempts_of(s, wf).get("other", [])), lambda n: n >= 1, 30)
                reported = time.time() - t0
                time.sleep(1)
                check(w.poll() is None, "the preempted worker waits for Slurm to end it")
                w.send_signal(signal.SIGTERM)
            _, err = w.communicate(timeout=90)
            took = reported if preempted else time.time() - t0
            attempts = attempts_of(s, wf)
            first = attempts.get("victim", [(None, None, None)])[0]
            if not preempted:
                check(first[:2] == ("terminated", "stopped"),
                      f"a step cancelled alone: stopped ({attempts}, {err[-600:]})")
                check(attempts.get("other") == [("completed", "", 0)],
                      f"the worker went on with the other job: {attempts}")
            else:
                check(first[:2] == ("terminated", "preempted"),
                      f"a step cancelled by a preemption: preempted ({attempts}, {err[-600:]})")
                check([a[:2] for a in attempts.get("other", [])] == [("terminated", "preempted")],
                      f"the worker stopped its other job as preempted: {attempts}")
                check(took < 5 and "preempted" in err,
                      f"and stopped its jobs at once, saying so ({took:.1f} s): {err[-600:]}")
                check("waiting for Slurm to end it" in err and w.returncode == 0,
                      f"then left when Slurm signalled it: {err[-600:]}")


def case_stop_returns_unstarted_jobs(d):
    """A worker stopped while jobs wait for their srun turn exits at once; the server takes
    those jobs back unchanged (never started), the running one is stopped and requeued."""
    srun_log = fake_slurm_tools(d)
    with server(f"{d}/data", d) as s:
        write(f"{d}/wf.yaml", """name: stop
execution_config: {srun_launch_interval_ms: 60000}
resource_requirements:
  - {name: one, num_cpus: 1, memory: 100m}
jobs:
  - {name: "j_{i}", command: "sleep 60", resource_requirements: one, parameters: {i: "1:4"}}
""")
        wf = s.submit("wf.yaml", d)
        w = slurm_worker(s, d, wf)
        check(wait_for(lambda: os.path.exists(srun_log) and open(srun_log).read().strip(),
                       bool, 20), "the first srun started")
        time.sleep(0.5)
        t0 = time.time()
        w.send_signal(signal.SIGTERM)
        out, err = w.communicate(timeout=60)
        check(time.time() - t0 < 15, f"the worker exits promptly ({time.time() - t0:.1f} s)")
        check(len(open(srun_log).read().splitlines()) == 1, "no srun after the first")
        jobs = s.jobs(wf)
        check(all(j["status"] == "ready" for j in jobs.values()),
              f"all four are ready again, none lost or failed ({jobs})")
        # the running one was stopped by the signal (exit 143, requeued as attempt 2); the
        # others never ran: handed back as they were (attempt 1, no exit code)
        check(sorted((j["attempt"], j["exit_code"] is None) for j in jobs.values()) ==
              [(1, True), (1, True), (1, True), (2, False)], f"one stopped, three untouched ({jobs})")



def case_failure_as_allocation_ends(d):
    """Slurm mode: an srun that fails just before the worker is told to stop (an allocation
    being canceled refuses new steps, exit 1) is requeued as terminated, not failed. Without
    the stop, the same failure is a failure, after its recovery script."""
    srun_log = fake_slurm_tools(d)
    with server(f"{d}/data", d) as s:
        results, wfs = {}, {}
        for stopped in (True, False):
            open(srun_log, "w").close()
            write(f"{d}/wf{stopped}.yaml", f"""name: ending{stopped}
failure_handlers:
  - name: h
    rules:
      - {{exit_codes: [1], max_retries: 0, recovery_script: "echo $TORC_EXIT_CODE >> recovered{stopped}.txt"}}
jobs:
  - {{name: refused, command: "exit 1", failure_handler: h}}
""")
            wf = s.submit(f"wf{stopped}.yaml", d)
            w = slurm_worker(s, d, wf)
            check(wait_for(lambda: open(srun_log).read().strip(), bool, 20), "the srun started")
            if stopped:
                time.sleep(0.3)
                w.send_signal(signal.SIGTERM)
            w.communicate(timeout=60)
            results[stopped] = s.jobs(wf)["refused"]
            wfs[stopped] = wf
        job = results[True]
        check(job["status"] == "ready" and job["attempt"] == 2,
              f"stopped within the wait: requeued as a new attempt, not failed ({job})")
        check(not os.path.exists(f"{d}/recoveredTrue.txt"), "no recovery script for a stop")
        reasons = [(a["status"], a["reason"]) for j in s.get(f"/workflows/{wfs[True]}/attempts")["jobs"]
                   for a in j["attempts"]]
        check(reasons == [("terminated", "stopped")],
              f"recorded as stopped with its worker, not as the walltime ({reasons})")
        job = results[False]
        check(job["status"] == "failed" and job["exit_code"] == 1,
              f"not stopped: failed with its exit code ({job})")
        check(os.path.exists(f"{d}/recoveredFalse.txt") and
              open(f"{d}/recoveredFalse.txt").read().split() == ["1"],
              "its recovery script ran with TORC_EXIT_CODE=1")
        a = [a for j in s.get(f"/workflows/{wfs[False]}/attempts")["jobs"] for a in j["attempts"]]
        took = a[0]["end_time"] - a[0]["start_time"] if a else None
        check(took is not None and took < 1.0,
              f"its duration is its own run time, not the 1.5 s hold ({took})")



def case_held_failure_frees_its_nodes(d):
    """Slurm mode: a whole-allocation job fails (its exit is held 1.5 s for the
    allocation-ending check); once it is concluded the worker claims again at once and runs
    the retry, rather than idling out with the allocation unused."""
    fake_slurm_tools(d)
    with server(f"{d}/data", d) as s:
        write(f"{d}/wf.yaml", """name: held
failure_handlers:
  - name: h
    rules: [{exit_codes: [1], max_retries: 1}]
resource_requirements:
  - {name: all, num_cpus: 4, num_nodes: 2}
jobs:
  - {name: wide, command: '[ "$TORC_ATTEMPT" = 2 ] || exit 1', resource_requirements: all, failure_handler: h}
""")
        wf = s.submit("wf.yaml", d)
        w = slurm_worker(s, d, wf)
        _, err = w.communicate(timeout=60)
        job = s.jobs(wf)["wide"]
        check(job["status"] == "completed" and job["attempt"] == 2,
              f"the retry ran in the same worker after the held failure ({job}; {err[-300:]})")
        check(w.returncode == 0 and "idle" not in err, f"the worker ended with the workflow ({err[-300:]})")


def case_signal_during_start_hook(d):
    """A SIGTERM while the on_worker_start commands run is not lost: the worker stops once
    they are done, and starts no job."""
    srun_log = fake_slurm_tools(d)
    with server(f"{d}/data", d) as s:
        write(f"{d}/wf.yaml", f"""name: hook
jobs:
  - {{name: j, command: "true"}}
actions:
  - {{trigger_type: on_worker_start, action_type: run_commands, commands: ["touch {d}/hook; sleep 1.5"]}}
""")
        wf = s.submit("wf.yaml", d)
        w = slurm_worker(s, d, wf)
        check(wait_for(lambda: os.path.exists(f"{d}/hook"), bool, 20), "the start hook runs")
        w.send_signal(signal.SIGTERM)
        _, err = w.communicate(timeout=60)
        check(not open(srun_log).read().strip() if os.path.exists(srun_log) else True,
              "no job was started after the signal")
        job = s.jobs(wf)["j"]
        check(job["status"] == "ready" and job["attempt"] == 1, f"the job is still ready ({job})")



def case_lease_lost(d):
    """A worker that was frozen past its lease (SIGSTOP) learns it at its next heartbeat: it
    kills its job (the server gave it back), runs no recovery script for it (it is not this
    worker's any more), registers again and runs the new attempt."""
    with server(f"{d}/data", d) as s:  # --heartbeat-seconds 1: a 3 s lease
        write(f"{d}/wf.yaml", f"""name: lease
failure_handlers:
  - name: h
    rules: [{{exit_codes: [137], max_retries: 2, recovery_script: "echo $TORC_ATTEMPT >> {d}/recovered.txt"}}]
jobs:
  - name: j
    command: 'echo $TORC_ATTEMPT >> {d}/exec.log; if [ $TORC_ATTEMPT = 1 ]; then sleep 60; fi'
    failure_handler: h
""")
        wf = s.submit("wf.yaml", d)
        w = subprocess.Popen([TORC, "worker", "run", "--workflow", str(wf), "--output-dir",
                              f"{d}/out", "--idle-timeout", "2"], env=s.env, cwd=d,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        check(wait_for(lambda: os.path.exists(f"{d}/exec.log"), bool, 20), "attempt 1 runs")
        w.send_signal(signal.SIGSTOP)
        check(wait_for(lambda: s.jobs(wf)["j"]["attempt"], lambda a: a == 2, 20, 0.5),
              "the server took the job back when the lease expired")
        w.send_signal(signal.SIGCONT)
        _, err = w.communicate(timeout=60)
        job = s.jobs(wf)["j"]
        check(job["status"] == "completed" and job["attempt"] == 2, f"attempt 2 completed ({job})")
        check(open(f"{d}/exec.log").read().split() == ["1", "2"], "each attempt ran once")
        check("lease lost" in err, f"the worker noticed ({err[-300:]})")
        check(not os.path.exists(f"{d}/recovered.txt"),
              "no recovery script for the job killed because the lease was lost")


# ---- answers for good (issue 16): long texts, a deleted workflow, stopping without a server ----

def worker_proc(s, d, wf, *extra):
    return subprocess.Popen([TORC, "worker", "run", "--workflow", str(wf), "--output-dir",
                             f"{d}/out", "--idle-timeout", "2", *extra], env=s.env, cwd=d,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def case_long_start_error(d):
    """A job that cannot start, with an error text far over the API's 256-byte `reason` (its two
    output paths under a long, non-ASCII output directory): the worker cuts the text at a UTF-8
    boundary, the server records the failure, the job next to it completes, the worker ends."""
    out = f"{d}/out/" + "/".join(["répertoire_de_sortie_très_long_" + str(k) for k in range(4)])
    name = "a_job_whose_name_is_rather_long_but_within_every_rule_" + "x" * 20
    with server(f"{d}/data", d) as s:
        write(f"{d}/wf.yaml", f"""name: long
jobs:
  - {{name: {name}, command: "true"}}
  - {{name: fine, command: "true"}}
""")
        wf = s.submit("wf.yaml", d)
        # Its stdout file cannot be opened: a directory is in its place.
        os.makedirs(f"{out}/{wf}/{name}.1.out")
        w = subprocess.Popen([TORC, "worker", "run", "--workflow", str(wf), "--output-dir", out,
                              "--idle-timeout", "2"], env=s.env, cwd=d,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        _, err = w.communicate(timeout=60)
        check(w.returncode == 0, f"the worker ends normally (exit {w.returncode}; {err[-400:]})")
        jobs = s.jobs(wf)
        check(jobs["fine"]["status"] == "completed", f"the other job completed ({jobs['fine']})")
        check(jobs[name]["status"] == "failed" and jobs[name]["exit_code"] == 127,
              f"the one that cannot start failed with 127 ({jobs[name]})")
        attempts = [a for j in s.get(f"/workflows/{wf}/attempts")["jobs"] if j["name"] == name
                    for a in j["attempts"]]
        reason = attempts[0]["reason"] if attempts else ""
        check(reason.startswith("could not start: cannot open the output files") and
              200 < len(reason.encode()) <= 256,
              f"its reason, cut to at most 256 bytes ({len(reason.encode())}): {reason}")
        check("too long" not in err, f"nothing was refused ({err[-400:]})")


def case_deleted_workflow(d):
    """A workflow deleted while its job runs: the worker learns it at its next call (404 "no
    workflow N"), stops the job, and exits 1 with a message saying so, in bounded time."""
    with server(f"{d}/data", d) as s:  # --heartbeat-seconds 1
        write(f"{d}/wf.yaml", f"""name: doomed
jobs:
  - {{name: sleeper, command: "echo $$ > {d}/pid; exec sleep 300"}}
  - {{name: later, command: "true", depends_on: [sleeper]}}
""")
        wf = s.submit("wf.yaml", d)
        w = worker_proc(s, d, wf)
        check(wait_for(lambda: os.path.exists(f"{d}/pid") and open(f"{d}/pid").read().strip(),
                       bool, 20), "the job runs")
        pid = int(open(f"{d}/pid").read())
        r = s.cli("workflows", "delete", str(wf))
        check(r.returncode == 0, f"deleted ({r.stderr.strip()})")
        t0 = time.time()
        try:
            _, err = w.communicate(timeout=40)
        except subprocess.TimeoutExpired:
            w.kill()
            _, err = w.communicate()
            check(False, f"the worker did not end within 40 s of the deletion ({err[-400:]})")
            return
        took = time.time() - t0
        check(took < 20, f"the worker ended {took:.1f} s after the deletion")
        check(w.returncode == 1, f"with exit code 1 ({w.returncode})")
        check(f"workflow {wf} is gone" in err and f"no workflow {wf}" in err,
              f"saying why: {err.strip()[-400:]}")
        check(wait_for(lambda: gone(pid), bool, 5), "its job was stopped")


def case_stop_without_server(d):
    """SIGTERM to a worker whose server does not answer (stopped with SIGSTOP): the worker stops
    its job and exits within its stop lead (sigterm_lead_seconds: 8), its result unreported."""
    s = Server(TORC, f"{d}/data", log_path=f"{d}/server.log")  # default heartbeat: no call due
    with s:
        write(f"{d}/wf.yaml", f"""name: lonely
execution_config: {{sigterm_lead_seconds: 8}}
jobs:
  - {{name: sleeper, command: "echo $$ > {d}/pid; exec sleep 300"}}
""")
        wf = s.submit("wf.yaml", d)
        w = worker_proc(s, d, wf, "--cpus", "1")  # no free CPU: no claim while the job runs
        check(wait_for(lambda: os.path.exists(f"{d}/pid") and open(f"{d}/pid").read().strip(),
                       bool, 20), "the job runs")
        pid = int(open(f"{d}/pid").read())
        time.sleep(1)  # its start notice has been sent; no call is due now
        s.proc.send_signal(signal.SIGSTOP)
        try:
            t0 = time.time()
            w.send_signal(signal.SIGTERM)
            try:
                _, err = w.communicate(timeout=40)
            except subprocess.TimeoutExpired:
                w.kill()
                _, err = w.communicate()
                check(False, f"the worker did not end within 40 s of SIGTERM ({err[-400:]})")
                return
            took = time.time() - t0
        finally:
            s.proc.send_signal(signal.SIGCONT)
        check(took <= 8 + 1.5, f"the worker ended {took:.1f} s after SIGTERM (lead 8 s)")
        check(gone(pid), "its job was stopped")
        check("stop lead is over" in err, f"saying what was left: {err.strip()[-400:]}")




# ---- a server that moves (issue 17) ----------------------------------------------------------

def case_server_moves(d):
    """The server (HTTPS, --tls) stops while a worker runs a workflow and comes back on another
    port. The worker found it through the data directory (server.url, and server.crt's key,
    which it pins), reads them again when the old address stops answering, and carries on:
    every job runs and completes exactly once."""
    s = Server(TORC, f"{d}/data", ["--heartbeat-seconds", "2", "--tls"],
               log_path=f"{d}/server.log")
    with s:
        check(s.url.startswith("https://"), f"the server speaks HTTPS ({s.url})")
        write(f"{d}/wf.yaml", f"""name: moves
jobs:
  - name: j_{{i}}
    command: 'echo $TORC_JOB_NAME >> {d}/runs.txt; sleep 0.4'
    parameters: {{i: "1:16"}}
""")
        wf = s.submit("wf.yaml", d)
        env = {k: v for k, v in s.env.items() if k != "TORC_API_URL"}
        w = subprocess.Popen([TORC, "worker", "run", "--workflow", str(wf), "--output-dir",
                              f"{d}/out", "--idle-timeout", "3", "--cpus", "2"], env=env, cwd=d,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            check(wait_for(lambda: os.path.exists(f"{d}/runs.txt") and
                           len(open(f"{d}/runs.txt").read().split()), lambda n: n >= 3, 30),
                  "some jobs ran before the move")
            old = s.url
            s.stop()
            time.sleep(1)  # calls fail meanwhile: the worker keeps its results
            s.port = free_port()
            s.start()
            check(s.url != old and s.url.startswith("https://"), f"moved: {old} -> {s.url}")
            _, err = w.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            check(False, "the worker did not finish after the move")
            return
        finally:
            if w.poll() is None:  # never leave a worker behind
                w.kill()
                w.communicate()
        check(w.returncode == 0, f"the worker ended normally (exit {w.returncode}; {err[-400:]})")
        check(f"cannot reach server at {old}" in err and "the server answers again" in err,
              f"it lost the server at the old address and found it again: {err[-600:]}")
        ran = open(f"{d}/runs.txt").read().split()
        check(sorted(ran) == sorted(f"j_{i}" for i in range(1, 17)),
              f"every job ran exactly once: {sorted(ran)}")
        jobs = s.jobs(wf)
        wrong = {n: (j["status"], j["attempt"]) for n, j in jobs.items()
                 if j["status"] != "completed" or j["attempt"] != 1}
        check(len(jobs) == 16 and not wrong, f"... and completed in its first attempt: {wrong}")


# ---- recovery (issue 18): retries that grow what ran out, restarts that grow, max_failures ----

MIB = 1 << 20


def attempt_requests(s, wf, job):
    """The "request" of each recorded attempt of `job`, oldest first (GET .../jobs/J)."""
    return [a["request"] for a in s.get(f"/workflows/{wf}/jobs/{job}")["attempts"]]


def case_grow_memory(d):
    """A job requesting 100m that needs ~300 MB is killed at its request (reason memory); its
    rule (reasons: [memory], memory_multiplier: 2) retries it with 200m, then 400m, where it
    completes. Each attempt's request is in the API's attempt JSON, and events say so."""
    write(f"{d}/wf.yaml", """name: grow_memory
failure_handlers:
  - name: more_memory
    rules:
      - {reasons: [memory], memory_multiplier: 2, max_retries: 3}
resource_requirements:
  - {name: small, memory: 100m, runtime: PT2M}
jobs:
  - name: hungry
    command: python3 -c "x = bytearray(300 * 1024 * 1024); import time; time.sleep(2)"
    resource_requirements: small
    failure_handler: more_memory
""")
    r = run(["run", "wf.yaml"], d)
    check(r.returncode == 0, f"the run completes ({r.stdout[-300:]} {r.stderr[-300:]})")
    with server(f"{d}/torc_output/.torc", d) as s:
        job = s.get("/workflows/1/jobs/hungry")
        attempts = job["attempts"]
        check([a["status"] for a in attempts] == ["failed", "failed", "completed"] and
              [a["reason"] for a in attempts[:2]] == ["memory", "memory"],
              f"killed twice for memory, then completed: {[(a['status'], a['reason']) for a in attempts]}")
        check([a["request"]["memory_bytes"] for a in attempts] == [100 * MIB, 200 * MIB, 400 * MIB],
              f"the requests grew 100m, 200m, 400m: {[a['request'] for a in attempts]}")
        check(all(a["request"]["runtime_seconds"] == 120 and a["request"]["num_cpus"] == 1
                  for a in attempts), "runtime and CPUs stayed as requested")
        check(job["memory_bytes"] == 400 * MIB, f"the job's request is the grown one: {job['memory_bytes']}")
        events = s.cli("events", "1", "--json").stdout
        check("memory 100 MiB -> 200 MiB" in events and "memory 200 MiB -> 400 MiB" in events,
              "request_grown events say what grew")


def case_grow_runtime(d):
    """A job with a 2 s runtime request that sleeps 5 s is terminated (reason runtime, no exit
    code of its own); a rule listing the reason retries it with 4 s, then 8 s: it completes."""
    write(f"{d}/wf.yaml", """name: grow_runtime
failure_handlers:
  - name: more_time
    rules:
      - {reasons: [runtime], runtime_multiplier: 2, max_retries: 3}
resource_requirements:
  - {name: quick, runtime: PT2S}
jobs:
  - {name: slow, command: "sleep 5", resource_requirements: quick, failure_handler: more_time}
""")
    r = run(["run", "wf.yaml"], d)
    check(r.returncode == 0, f"the run completes ({r.stdout[-300:]} {r.stderr[-300:]})")
    with server(f"{d}/torc_output/.torc", d) as s:
        attempts = s.get("/workflows/1/jobs/slow")["attempts"]
        check([(a["status"], a["reason"]) for a in attempts] ==
              [("terminated", "runtime"), ("terminated", "runtime"), ("completed", "")],
              f"terminated twice for runtime, then completed: {[(a['status'], a['reason']) for a in attempts]}")
        check([a["request"]["runtime_seconds"] for a in attempts] == [2, 4, 8],
              f"the runtime requests grew 2, 4, 8 s: {[a['request'] for a in attempts]}")


def case_restart_grows_memory(d):
    """A job killed at its 100m request, with no rule: `torc restart --failed
    --memory-multiplier 2` gives it 200m, and it completes."""
    with server(f"{d}/data", d) as s:
        write(f"{d}/wf.yaml", """name: by_hand
resource_requirements:
  - {name: small, memory: 100m}
jobs:
  - name: hungry
    command: python3 -c "x = bytearray(150 * 1024 * 1024); import time; time.sleep(2)"
    resource_requirements: small
""")
        wf = s.submit("wf.yaml", d)
        w = worker_proc(s, d, wf)
        w.communicate(timeout=120)
        check(s.jobs(wf)["hungry"]["status"] == "failed", "killed at its request, it failed")
        bad = s.cli("restart", str(wf), "--failed", "--memory-multiplier", "0.5")
        check(bad.returncode != 0 and "greater than 1" in bad.stderr,
              f"a multiplier of 0.5 is refused: {bad.stderr.strip()}")
        r = s.cli("restart", str(wf), "--failed", "--memory-multiplier", "2")
        check(r.returncode == 0 and "restarted 1 jobs" in r.stdout, f"restarted: {r.stdout} {r.stderr}")
        w = worker_proc(s, d, wf)
        w.communicate(timeout=120)
        check(s.jobs(wf)["hungry"]["status"] == "completed", "with twice the memory it completed")
        check([a["memory_bytes"] for a in attempt_requests(s, wf, "hungry")] == [100 * MIB, 200 * MIB],
              f"its attempts had 100m, then 200m: {attempt_requests(s, wf, 'hungry')}")


def case_max_failures(d):
    """max_failures: 2 with 5 failing jobs among 20 run one at a time (a chain that goes on
    after a failure, so no job is ready, or claimed ahead, before the previous one ended):
    exactly 2 fail, the other 12 not started are canceled, `torc status` (text and JSON) says
    why. `torc restart --failed` then works again: the count starts over from the jobs failed
    now (each failing job here fails only once)."""
    failing = {3, 7, 11, 15, 19}
    jobs = []
    for k in range(20):
        cmd = (f"[ -e fail_{k} ] || {{ touch fail_{k}; exit 1; }}" if k in failing else "true")
        after = (f", depends_on: [j{k - 1:02d}], cancel_on_blocking_job_failure: false"
                 if k else "")
        jobs.append(f"  - {{name: j{k:02d}, command: '{cmd}'{after}}}")
    write(f"{d}/wf.yaml", "name: stop_early\nmax_failures: 2\njobs:\n" + "\n".join(jobs) + "\n")
    r = run(["run", "wf.yaml", "--cpus", "1"], d)
    check(r.returncode != 0, f"the run says it did not succeed (exit {r.returncode})")
    with server(f"{d}/torc_output/.torc", d) as s:
        status = s.status(1)
        counts = status["counts"]
        check((counts["failed"], counts["completed"], counts["canceled"]) == (2, 6, 12),
              f"exactly 2 failed, the 12 not started canceled: {counts}")
        kinds = [p["kind"] for p in status["problems"]]
        limit = [p for p in status["problems"] if p["kind"] == "max_failures"]
        check(limit and limit[0]["jobs"] == ["j03", "j07"] and
              "2 jobs failed, reaching the workflow's max_failures (2)" in limit[0]["message"] and
              "torc restart 1 --failed" in limit[0]["message"],
              f"status --json has a max_failures problem: {kinds} {limit}")
        text = s.cli("status", "1").stdout
        check("max_failures" in text and "reaching the workflow's max_failures" in text,
              f"the text status says it too: {text[-500:]}")
        r = s.cli("restart", "1", "--failed")
        check(r.returncode == 0 and "restarted 14 jobs" in r.stdout, f"restart: {r.stdout} {r.stderr}")
        check(not [p for p in s.status(1)["problems"] if p["kind"] == "max_failures"],
              "after the restart the limit is not reached")
        w = worker_proc(s, d, 1, "--cpus", "1")
        w.communicate(timeout=120)
        counts = s.status(1)["counts"]
        check((counts["failed"], counts["completed"], counts["canceled"]) == (2, 14, 4),
              f"the restarted jobs ran until two more failed (j11, j15): {counts}")
        ran = sorted(n for n, j in s.jobs(1).items() if j["status"] == "failed")
        check(ran == ["j11", "j15"], f"those two: {ran}")

if __name__ == "__main__":
    run_cases(cases_of(globals()), sys.argv[2:], "torc-e2e")
    finish(passed="all worker end-to-end checks passed")
