#!/usr/bin/env python3
"""End-to-end tests of the worker and `torc run` with real processes.

Usage: e2e_test.py TORC_BINARY [CASE ...]
Each case runs in its own temporary directory. Jobs record what they did in
files; the checks read those files and ask a real server for the states.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

TORC = os.path.abspath(sys.argv[1])
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)


def run(args, cwd, timeout=120, **kw):
    return subprocess.run([TORC] + args, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, **kw)


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


class Server:
    """A real `torc server run` on a data directory (for inspecting a run's state)."""

    def __init__(self, data_dir):
        self.env = dict(os.environ, TORC_DATA_DIR=data_dir)
        try:
            os.remove(os.path.join(data_dir, "server.url"))
        except FileNotFoundError:
            pass
        self.proc = subprocess.Popen([TORC, "server", "run", "--port", "0", "--heartbeat-seconds", "1"],
                                     env=self.env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        for _ in range(200):
            if os.path.exists(os.path.join(data_dir, "server.url")):
                break
            time.sleep(0.05)

    def cli(self, *args, cwd=None):
        r = subprocess.run([TORC] + list(args), env=self.env, cwd=cwd, capture_output=True,
                           text=True, timeout=60)
        return r

    def jobs(self, wf):
        r = self.cli("jobs", "list", str(wf), "--json")
        return {j["name"]: j for j in json.loads(r.stdout)}

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def records(path):
    """Lines 'name start end cpus gpus' written by the stand-in jobs."""
    out = []
    if os.path.exists(path):
        for line in open(path):
            p = line.split()
            if len(p) >= 4:
                out.append((p[0], float(p[1]), float(p[2]), int(p[3]), p[4] if len(p) > 4 else ""))
    return out


RECORD = ('s=$(date +%s.%N); sleep {sleep}; e=$(date +%s.%N); '
          'echo "$TORC_JOB_NAME $s $e {cpus} ${{CUDA_VISIBLE_DEVICES:-none}}" >> {log}')


def max_overlap(recs, weight):
    """Largest total weight of records running at the same moment."""
    events = []
    for r in recs:
        events.append((r[1], 1, weight(r)))
        events.append((r[2], 0, weight(r)))
    events.sort()
    cur = best = 0
    for _, kind, w in events:
        cur += w if kind == 1 else -w
        best = max(best, cur)
    return best


# ---- cases ------------------------------------------------------------------

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
    recs = records(log)
    check(len(recs) == 200 and len({x[0] for x in recs}) == 200, "200 jobs ran once each")
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
    s = Server(f"{d}/torc_output/.torc")
    try:
        jobs = s.jobs(1)
        check(jobs["hog"]["status"] == "failed" and jobs["hog"]["exit_code"] == 137,
              f"over-memory job killed and reported 137: {jobs['hog']}")
        check(jobs["slow"]["status"] == "terminated" and jobs["slow"]["attempt"] == 4,
              f"over-runtime job terminated after 3 requeues: {jobs['slow']}")
        show = json.loads(s.cli("workflows", "show", "1", "--json").stdout)
        check(show["counts"]["terminated"] == 1, "status counts the terminated job")
    finally:
        s.stop()


def case_cancel(d):
    data = f"{d}/data"
    os.makedirs(data)
    s = Server(data)
    try:
        write(f"{d}/wf.yaml", """name: cancel
jobs:
  - {name: long, command: "echo started > started; sleep 60; echo finished > finished"}
  - {name: after, command: "echo after > after", depends_on: [long]}
""")
        wf = s.cli("submit", "--json", "wf.yaml", cwd=d)
        wf = json.loads(wf.stdout)["workflow_id"]
        worker = subprocess.Popen([TORC, "worker", "run", "--workflow", str(wf), "--output-dir",
                                   f"{d}/out", "--idle-timeout", "3"], env=s.env, cwd=d,
                                  stderr=subprocess.DEVNULL)
        for _ in range(200):
            if os.path.exists(f"{d}/started"):
                break
            time.sleep(0.05)
        check(os.path.exists(f"{d}/started"), "the job started")
        # The start notice says where the job runs; the job list and `torc status` show it.
        nodes = ""
        for _ in range(100):
            nodes = s.jobs(wf)["long"].get("nodes", "")
            if nodes:
                break
            time.sleep(0.05)
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
    finally:
        s.stop()


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
    time.sleep(1.0)
    p.send_signal(signal.SIGKILL)
    p.wait()
    time.sleep(0.5)  # the killed run's jobs die with it (PR_SET_PDEATHSIG)
    s = Server(f"{d}/torc_output/.torc")
    try:
        before = {n for n, j in s.jobs(1).items() if j["status"] == "completed"}
    finally:
        s.stop()
    check(0 < len(before) < 24, f"the kill came in the middle ({len(before)} completed)")
    r = run(["run", "wf.yaml", "--cpus", "4"], d)
    check(r.returncode == 0, f"the second run completes the workflow ({r.stderr})")
    check("resuming workflow 1" in r.stderr, "the second run resumes")
    starts = [l.split() for l in open(log) if l.startswith("start")]
    for name in before:
        n = sum(1 for s_ in starts if s_[1] == name)
        check(n == 1, f"completed job {name} ran {n} times")
    s = Server(f"{d}/torc_output/.torc")
    try:
        jobs = s.jobs(1)
        check(all(j["status"] == "completed" for j in jobs.values()), "all completed after resume")
    finally:
        s.stop()


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
    recs = records(log)
    check(len(recs) == 30, "all 30 ran")
    peak = max_overlap(recs, lambda x: x[3])
    check(peak <= 4, f"never more than 4 CPUs in use (saw {peak})")
    check(peak >= 3, f"jobs ran side by side (peak {peak})")


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
    recs = records(log)
    check(len(recs) == 8, "8 GPU jobs ran")
    check(all(x[4] in ("0", "1") for x in recs), f"each saw one GPU index: {[x[4] for x in recs]}")
    for gpu in ("0", "1"):
        same = [x for x in recs if x[4] == gpu]
        check(max_overlap(same, lambda x: 1) <= 1, f"GPU {gpu} never shared")
    check(max_overlap(recs, lambda x: 1) == 2, "two GPU jobs at a time")


def case_fake_srun(d):
    """Slurm mode inside a (faked) 2-node allocation: one srun per job, exact flags."""
    srun_log = f"{d}/srun.txt"
    write(f"{d}/srun", f"""#!/bin/bash
echo "$*" >> {srun_log}
while [[ $1 == --* ]]; do shift; done
exec "$@"
""")
    write(f"{d}/squeue", "#!/bin/bash\necho UNLIMITED\n")
    os.chmod(f"{d}/srun", 0o755)
    os.chmod(f"{d}/squeue", 0o755)
    data = f"{d}/data"
    os.makedirs(data)
    s = Server(data)
    try:
        write(f"{d}/wf.yaml", """name: fake
resource_requirements:
  - {name: two, num_cpus: 2, memory: 1g}
  - {name: wide, num_cpus: 1, num_nodes: 2}
jobs:
  - {name: "a_{i}", command: "true", resource_requirements: two, parameters: {i: "1:4"}}
  - {name: mpi, command: "true", resource_requirements: wide, depends_on_regexes: ["^a_"]}
""")
        wf = json.loads(s.cli("submit", "--json", "wf.yaml", cwd=d).stdout)["workflow_id"]
        env = dict(s.env, SLURM_JOB_ID="4242", SLURM_JOB_NODELIST="n[1-2]",
                   SLURM_JOB_CPUS_PER_NODE="4(x2)", SLURM_MEM_PER_NODE="4000")
        w = subprocess.run([TORC, "worker", "run", "--workflow", str(wf), "--mode", "slurm",
                            "--srun", f"{d}/srun", "--squeue", f"{d}/squeue",
                            "--output-dir", f"{d}/out", "--idle-timeout", "2"],
                           env=env, cwd=d, capture_output=True, text=True, timeout=60)
        check(w.returncode == 0, f"slurm-mode worker exits 0 ({w.stderr})")
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
    finally:
        s.stop()


CASES = {name[5:]: fn for name, fn in globals().items() if name.startswith("case_")}

if __name__ == "__main__":
    selected = sys.argv[2:] or list(CASES)
    for name in selected:
        with tempfile.TemporaryDirectory(prefix=f"torc-e2e-{name}-") as d:
            t0 = time.time()
            before = len(failures)
            CASES[name](d)
            status = "ok" if len(failures) == before else "FAILED"
            print(f"{name}: {status} ({time.time() - t0:.1f} s)")
    if failures:
        print(f"{len(failures)} check(s) failed", file=sys.stderr)
        sys.exit(1)
    print("all worker end-to-end checks passed")
