#!/usr/bin/env python3
"""Slurm end to end on a real local cluster (run under tests/slurm/with-cluster.sh).

The seed workflows, with their commands replaced by short stand-ins that record
SLURMD_NODENAME, SLURM_STEP_ID and their start and end times, and their
resources scaled to the 4 x 4-CPU test nodes, go through `torc submit` and the
actions (sbatch) to completion.

Usage: slurm_e2e_test.py TORC_BINARY [CASE ...]
"""
import json
import os
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


RECORD = ('s=$(date +%s.%N); sleep {sleep}; '
          'echo "$TORC_JOB_NAME ${{SLURMD_NODENAME:-none}} ${{SLURM_STEP_ID:-none}} $s $(date +%s.%N) {cpus}" '
          '>> {log}')


class Server:
    def __init__(self, d):
        self.data = os.path.join(d, "data")
        os.makedirs(self.data)
        self.env = dict(os.environ, TORC_DATA_DIR=self.data)
        self.proc = subprocess.Popen([TORC, "server", "run", "--port", "0", "--heartbeat-seconds", "2"],
                                     env=self.env, stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(d, "server.log"), "w"))
        for _ in range(200):
            if os.path.exists(os.path.join(self.data, "server.url")):
                break
            time.sleep(0.05)

    def cli(self, *args, cwd=None):
        return subprocess.run([TORC] + list(args), env=self.env, cwd=cwd, capture_output=True,
                              text=True, timeout=60)

    def submit(self, path, cwd):
        r = self.cli("submit", "--json", path, cwd=cwd)
        check(r.returncode == 0, f"submit {path}: {r.stderr}")
        return json.loads(r.stdout)["workflow_id"]

    def status(self, wf):
        return json.loads(self.cli("status", str(wf), "--json").stdout)

    def wait(self, wf, timeout=180):
        deadline = time.time() + timeout
        while time.time() < deadline:
            s = self.status(wf)
            if s["complete"]:
                return s
            time.sleep(0.5)
        return self.status(wf)

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def records(path):
    out = []
    if os.path.exists(path):
        for line in open(path):
            p = line.split()
            if len(p) == 6:
                out.append({"job": p[0], "node": p[1], "step": p[2], "start": float(p[3]),
                            "end": float(p[4]), "cpus": int(p[5])})
    return out


def max_overlap(recs):
    events = sorted([(r["start"], 1, r["cpus"]) for r in recs] + [(r["end"], 0, r["cpus"]) for r in recs])
    cur = best = 0
    for _, kind, w in events:
        cur += w if kind else -w
        best = max(best, cur)
    return best


def no_slurm_jobs_left():
    for _ in range(60):
        if not subprocess.run(["squeue", "-h"], capture_output=True, text=True).stdout.strip():
            return True
        time.sleep(0.5)
    return False


def case_parallel_analysis(d):
    log = f"{d}/rec.txt"
    open(f"{d}/wf.yaml", "w").write(f"""name: parallel_analysis
description: Run 100 analysis tasks across 4 nodes
resource_requirements:
  - name: analysis
    num_cpus: 2
    memory: 900m
    runtime: PT5M
jobs:
  - name: analyze_{{i}}
    command: '{RECORD.format(sleep=0.3, cpus=2, log=log)}'
    resource_requirements: analysis
    scheduler: multi_node
    parameters:
      i: "1:100"
slurm_schedulers:
  - name: multi_node
    account: myproject
    nodes: 4
    walltime: "00:10:00"
actions:
  - trigger_type: on_workflow_start
    action_type: schedule_nodes
    scheduler: multi_node
    scheduler_type: slurm
    num_allocations: 1
""")
    s = Server(d)
    try:
        wf = s.submit("wf.yaml", d)
        st = s.wait(wf)
        check(st["counts"]["completed"] == 100, f"all 100 completed: {st['counts']}")
        recs = records(log)
        nodes = {r["node"] for r in recs}
        check(nodes == {"n1", "n2", "n3", "n4"}, f"jobs ran on all 4 nodes: {nodes}")
        for n in sorted(nodes):
            peak = max_overlap([r for r in recs if r["node"] == n])
            check(peak <= 4, f"node {n} never over its 4 CPUs (peak {peak})")
        check(len({r["step"] for r in recs}) == 100, "one srun step per job")
        check(len(st["allocations"]) == 1, f"one allocation: {st['allocations']}")
        check(no_slurm_jobs_left(), "the allocation ended once the workflow was done")
    finally:
        s.stop()


def case_parallel_analysis_direct(d):
    log = f"{d}/rec.txt"
    open(f"{d}/wf.yaml", "w").write(f"""name: parallel_analysis_direct
execution_config:
  mode: direct
resource_requirements:
  - name: analysis
    num_cpus: 2
    num_nodes: 1
    memory: 900m
    runtime: PT3M
jobs:
  - name: analyze_{{i}}
    command: '{RECORD.format(sleep=0.3, cpus=2, log=log)}'
    resource_requirements: analysis
    scheduler: multi_node
    parameters:
      i: "1:20"
slurm_schedulers:
  - name: multi_node
    account: myproject
    nodes: 2
    walltime: "00:10:00"
actions:
  - trigger_type: on_workflow_start
    action_type: schedule_nodes
    scheduler: multi_node
    scheduler_type: slurm
    start_one_worker_per_node: true
    num_allocations: 1
""")
    s = Server(d)
    try:
        wf = s.submit("wf.yaml", d)
        st = s.wait(wf)
        check(st["counts"]["completed"] == 20, f"all 20 completed: {st['counts']}")
        recs = records(log)
        nodes = {r["node"] for r in recs}
        check(len(nodes) == 2, f"jobs ran on both nodes: {nodes}")
        # No srun per job: every job on a node runs inside that node's worker step.
        for n in nodes:
            steps = {r["step"] for r in recs if r["node"] == n}
            check(len(steps) == 1, f"node {n}: one worker step for all its jobs ({steps})")
            check(max_overlap([r for r in recs if r["node"] == n]) <= 4, f"node {n} within 4 CPUs")
        events = json.loads(s.cli("workflows", "show", str(wf), "--json").stdout)
        regs = subprocess.run([TORC, "status", str(wf), "--json"], env=s.env, capture_output=True,
                              text=True).stdout
        out = s.cli("jobs", "list", str(wf), "--json")
        check(out.returncode == 0, "jobs list works")
        check(events["complete"], "workflow complete")
        del regs
    finally:
        s.stop()


def case_distributed_training(d):
    open(f"{d}/wf.yaml", "w").write("""name: distributed_training
resource_requirements:
  - name: mpi_training
    num_cpus: 4
    memory: 1g
    num_nodes: 4
    runtime: PT8M
jobs:
  - name: train
    command: 'echo "$SLURMD_NODENAME $SLURM_STEP_ID $SLURM_STEP_NODELIST $SLURM_NTASKS" >> train.txt'
    resource_requirements: mpi_training
    scheduler: training_nodes
slurm_schedulers:
  - name: training_nodes
    account: myproject
    nodes: 4
    walltime: "00:10:00"
actions:
  - trigger_type: on_workflow_start
    action_type: schedule_nodes
    scheduler: training_nodes
    scheduler_type: slurm
    num_allocations: 1
""")
    s = Server(d)
    try:
        wf = s.submit("wf.yaml", d)
        st = s.wait(wf)
        check(st["counts"]["completed"] == 1, f"train completed: {st['counts']}")
        lines = [l.split() for l in open(f"{d}/train.txt")] if os.path.exists(f"{d}/train.txt") else []
        check(len(lines) == 4, f"one task per node: {lines}")
        check({l[0] for l in lines} == {"n1", "n2", "n3", "n4"}, "4 distinct nodes")
        check(len({l[1] for l in lines}) == 1, "one step spanning them")
        check(all(l[3] == "4" for l in lines), "SLURM_NTASKS=4")
    finally:
        s.stop()


def case_cancel_scancels(d):
    open(f"{d}/wf.yaml", "w").write("""name: cancel
resource_requirements:
  - {name: short, runtime: PT5M}
jobs:
  - {name: "long_{i}", command: "sleep 120", scheduler: s, resource_requirements: short, parameters: {i: "1:4"}}
slurm_schedulers:
  - {name: s, nodes: 1, walltime: "00:10:00"}
actions:
  - {trigger_type: on_workflow_start, action_type: schedule_nodes, scheduler: s, scheduler_type: slurm}
""")
    s = Server(d)
    try:
        wf = s.submit("wf.yaml", d)
        for _ in range(60):
            if s.status(wf)["counts"]["running"] > 0:
                break
            time.sleep(0.5)
        check(s.status(wf)["counts"]["running"] > 0, "jobs started in the allocation")
        check(s.cli("cancel", str(wf)).returncode == 0, "cancel")
        check(no_slurm_jobs_left(), "torc cancel scanceled the allocation")
        st = s.status(wf)
        check(st["counts"]["canceled"] == 4, f"all canceled: {st['counts']}")
    finally:
        s.stop()


def case_distributed_training_mpi(d):
    open(f"{d}/wf.yaml", "w").write("""name: distributed_training_mpi
execution_config:
  mode: direct
resource_requirements:
  - name: mpi_training
    num_cpus: 4
    memory: 1g
    num_nodes: 4
    runtime: PT8M
jobs:
  - name: train
    command: 'echo "$SLURMD_NODENAME ${SLURM_STEP_ID:-none} $TORC_JOB_NAME" >> train.txt'
    resource_requirements: mpi_training
    scheduler: training_nodes
slurm_schedulers:
  - name: training_nodes
    account: myproject
    nodes: 4
    walltime: "00:10:00"
actions:
  - trigger_type: on_workflow_start
    action_type: schedule_nodes
    scheduler: training_nodes
    scheduler_type: slurm
    num_allocations: 1
""")
    s = Server(d)
    try:
        wf = s.submit("wf.yaml", d)
        st = s.wait(wf)
        check(st["counts"]["completed"] == 1, f"train completed: {st['counts']}")
        lines = open(f"{d}/train.txt").read().split("\n") if os.path.exists(f"{d}/train.txt") else []
        lines = [l for l in lines if l]
        check(len(lines) == 1, f"the command ran once, unwrapped (mpirun would spread it): {lines}")
        job = json.loads(s.cli("jobs", "list", str(wf), "--json").stdout)[0]
        check(job["status"] == "completed", "completed")
    finally:
        s.stop()


def case_preprocess_then_train(d):
    log = f"{d}/rec.txt"
    open(f"{d}/wf.yaml", "w").write(f"""name: preprocess_then_train
resource_requirements:
  - name: preprocess
    num_cpus: 2
    memory: 900m
    runtime: PT5M
  - name: distributed_training
    num_cpus: 4
    memory: 1g
    num_nodes: 4
    runtime: PT5M
jobs:
  - name: prep_{{i}}
    command: '{RECORD.format(sleep=0.5, cpus=2, log=log)}'
    resource_requirements: preprocess
    scheduler: prep_nodes
    parameters:
      i: "1:8"
  - name: train
    command: 'echo "$SLURMD_NODENAME $(date +%s.%N)" >> train.txt'
    resource_requirements: distributed_training
    scheduler: training_nodes
    depends_on: [prep_1, prep_2, prep_3, prep_4, prep_5, prep_6, prep_7, prep_8]
slurm_schedulers:
  - name: prep_nodes
    account: myproject
    nodes: 2
    walltime: "01:00:00"
  - name: training_nodes
    account: myproject
    nodes: 4
    walltime: "00:10:00"
actions:
  - trigger_type: on_workflow_start
    action_type: schedule_nodes
    scheduler: prep_nodes
    scheduler_type: slurm
    num_allocations: 1
  - trigger_type: on_jobs_ready
    action_type: schedule_nodes
    jobs: [train]
    scheduler: training_nodes
    scheduler_type: slurm
    num_allocations: 1
""")
    s = Server(d)
    try:
        wf = s.submit("wf.yaml", d)
        st = s.wait(wf)
        check(st["counts"]["completed"] == 9, f"all 9 completed: {st['counts']}")
        recs = records(log)
        allocs = {a["scheduler"]: a for a in st["allocations"]}
        check(set(allocs) == {"prep_nodes", "training_nodes"}, f"two allocations: {allocs}")
        if recs and "training_nodes" in allocs:
            last_prep = max(r["end"] for r in recs)
            check(allocs["training_nodes"]["submitted_at"] >= last_prep,
                  "the 4-node allocation was asked for only after every prep_* completed")
        lines = [l for l in open(f"{d}/train.txt").read().split("\n") if l] if os.path.exists(f"{d}/train.txt") else []
        check({l.split()[0] for l in lines} == {"n1", "n2", "n3", "n4"}, f"train spanned 4 nodes: {lines}")
    finally:
        s.stop()


def case_mixed_whole_nodes(d):
    log = f"{d}/rec.txt"
    open(f"{d}/wf.yaml", "w").write(f"""name: mixed
resource_requirements:
  - {{name: one, num_cpus: 1, memory: 500m, runtime: PT5M}}
  - {{name: two_nodes, num_cpus: 1, memory: 500m, num_nodes: 2, runtime: PT5M}}
jobs:
  - name: wide
    command: 'r=$(date +%s.%N); sleep 3; echo "wide $SLURMD_NODENAME $r $(date +%s.%N)" >> wide.txt'
    resource_requirements: two_nodes
    priority: 10
    scheduler: s
  - name: single_{{i}}
    command: '{RECORD.format(sleep=0.5, cpus=1, log=log)}'
    resource_requirements: one
    scheduler: s
    parameters: {{i: "1:40"}}
slurm_schedulers:
  - {{name: s, nodes: 4, walltime: "00:10:00"}}
actions:
  - {{trigger_type: on_workflow_start, action_type: schedule_nodes, scheduler: s, scheduler_type: slurm}}
""")
    s = Server(d)
    try:
        wf = s.submit("wf.yaml", d)
        st = s.wait(wf)
        check(st["counts"]["completed"] == 41, f"all completed: {st['counts']}")
        wide = [l.split() for l in open(f"{d}/wide.txt")] if os.path.exists(f"{d}/wide.txt") else []
        check(len(wide) == 2 and len({w[1] for w in wide}) == 2, f"the 2-node job spans 2 nodes: {wide}")
        if len(wide) == 2:
            nodes = {w[1] for w in wide}
            start, end = min(float(w[2]) for w in wide), max(float(w[3]) for w in wide)
            overlap = [r for r in records(log) if r["node"] in nodes and r["start"] < end and r["end"] > start]
            check(not overlap, f"nothing else ran on the 2-node job's nodes meanwhile: {overlap[:3]}")
            others = [r for r in records(log) if r["node"] not in nodes and r["start"] < end and r["end"] > start]
            check(others, "single-node jobs ran on the other nodes meanwhile")
    finally:
        s.stop()


def case_scancel_loss(d):
    log = f"{d}/rec.txt"
    open(f"{d}/wf.yaml", "w").write(f"""name: loss
resource_requirements:
  - {{name: r, num_cpus: 1, memory: 500m, runtime: PT5M}}
jobs:
  - name: j_{{i}}
    command: '{RECORD.format(sleep=4, cpus=1, log=log)}'
    resource_requirements: r
    scheduler: s
    parameters: {{i: "1:8"}}
slurm_schedulers:
  - {{name: s, nodes: 2, walltime: "00:10:00"}}
actions:
  - {{trigger_type: on_workflow_start, action_type: schedule_nodes, scheduler: s, scheduler_type: slurm}}
""")
    s = Server(d)
    try:
        wf = s.submit("wf.yaml", d)
        for _ in range(60):
            if s.status(wf)["counts"]["running"] > 0:
                break
            time.sleep(0.3)
        st = s.status(wf)
        check(st["counts"]["running"] > 0, "jobs running in the first allocation")
        first = st["allocations"][0]["slurm_job_id"]
        subprocess.run(["scancel", first], check=False)
        t0 = time.time()
        while time.time() - t0 < 30:
            c = s.status(wf)["counts"]
            if c["running"] == 0 and c["claimed"] == 0:
                break
            time.sleep(0.3)
        c = s.status(wf)["counts"]
        check(c["running"] == 0 and c["claimed"] == 0 and c["ready"] > 0,
              f"jobs back to ready within the lease timeout ({time.time() - t0:.1f} s): {c}")
        # A second allocation, asked for with torc, finishes the work.
        check(s.cli("slurm", "schedule", str(wf), "--scheduler", "s").returncode == 0,
              "torc slurm schedule")
        st = s.wait(wf)
        check(st["counts"]["completed"] == 8, f"all completed in the second allocation: {st['counts']}")
        jobs = json.loads(s.cli("jobs", "list", str(wf), "--json").stdout)
        check(all(j["status"] == "completed" for j in jobs), "nothing lost")
        check(any(j["attempt"] > 1 for j in jobs), "the interrupted jobs ran again as new attempts")
        names = [r["job"] for r in records(log)]
        check(len(names) == 8 and len(set(names)) == 8, f"each job ran to its end exactly once: {names}")
    finally:
        s.stop()


def case_gpus(d):
    if os.environ.get("TORC_TEST_GPUS") != "2":
        print("gpus: skipped (run with --gpus 2 and TORC_TEST_GPUS=2)")
        return
    open(f"{d}/wf.yaml", "w").write("""name: gpus
resource_requirements:
  - {name: g, num_cpus: 1, num_gpus: 1, memory: 500m, runtime: PT5M}
jobs:
  - name: "g_{i}"
    command: 's=$(date +%s.%N); sleep 2; echo "$TORC_JOB_NAME $SLURMD_NODENAME $CUDA_VISIBLE_DEVICES $s $(date +%s.%N)" >> gpus.txt'
    resource_requirements: g
    scheduler: s
    parameters: {i: "1:2"}
slurm_schedulers:
  - {name: s, nodes: 1, walltime: "00:10:00", gres: "gpu:2"}
actions:
  - {trigger_type: on_workflow_start, action_type: schedule_nodes, scheduler: s, scheduler_type: slurm}
""")
    s = Server(d)
    try:
        wf = s.submit("wf.yaml", d)
        st = s.wait(wf)
        check(st["counts"]["completed"] == 2, f"both completed: {st['counts']}")
        lines = [l.split() for l in open(f"{d}/gpus.txt")] if os.path.exists(f"{d}/gpus.txt") else []
        check(len(lines) == 2, f"two records: {lines}")
        if len(lines) == 2:
            check(lines[0][1] == lines[1][1], "same node")
            check(lines[0][2] != lines[1][2], f"different CUDA_VISIBLE_DEVICES: {lines}")
            check(float(lines[0][3]) < float(lines[1][4]) and float(lines[1][3]) < float(lines[0][4]),
                  "they ran at the same time")
    finally:
        s.stop()


def case_walltime(d):
    log = f"{d}/rec.txt"
    open(f"{d}/wf.yaml", "w").write(f"""name: walltime
resource_requirements:
  - {{name: r, num_cpus: 1, memory: 500m, runtime: PT4M}}
  - {{name: too_long, num_cpus: 1, memory: 500m, runtime: PT2H}}
jobs:
  - name: long
    command: 'if [ "$TORC_ATTEMPT" = 1 ]; then sleep 300; fi; echo "long $TORC_ATTEMPT" >> {log}'
    resource_requirements: r
    scheduler: s
  - name: never
    command: 'echo never >> {log}'
    resource_requirements: too_long
    scheduler: s
slurm_schedulers:
  - {{name: s, nodes: 1, walltime: "00:10:00"}}
actions:
  - {{trigger_type: on_workflow_start, action_type: schedule_nodes, scheduler: s, scheduler_type: slurm}}
""")
    s = Server(d)
    try:
        wf = s.submit("wf.yaml", d)
        for _ in range(60):
            if s.status(wf)["counts"]["running"] > 0:
                break
            time.sleep(0.3)
        st = s.status(wf)
        check(st["counts"]["running"] == 1, f"long is running: {st['counts']}")
        reasons = {u["job"]: u["reason"] for u in st["unclaimable"]}
        check("runtime 7200 s exceeds the walltime of 's'" in reasons.get("never", ""),
              f"status says why 'never' cannot run: {reasons}")
        # The allocation's walltime ends mid-job: Slurm signals the worker, which
        # stops its job before Slurm kills it and reports it terminated.
        first = st["allocations"][0]["slurm_job_id"]
        subprocess.run(["scontrol", "update", f"jobid={first}", "TimeLimit=1"], check=True)
        t0 = time.time()
        while time.time() - t0 < 150:
            if s.status(wf)["counts"]["running"] == 0:
                break
            time.sleep(1)
        show = json.loads(s.cli("jobs", "list", str(wf), "--json").stdout)
        long = [j for j in show if j["name"] == "long"][0]
        check(long["status"] == "ready" and long["attempt"] == 2,
              f"terminated by walltime and requeued as attempt 2: {long}")
        check(not os.path.exists(log), "the first attempt never got to its end")
        check(s.cli("slurm", "schedule", str(wf)).returncode == 0, "torc slurm schedule")
        t0 = time.time()
        while time.time() - t0 < 60 and s.status(wf)["counts"]["completed"] < 1:
            time.sleep(0.5)
        check(open(log).read().split() == ["long", "2"] if os.path.exists(log) else False,
              "attempt 2 completed in the second allocation")
        check(s.cli("cancel", str(wf)).returncode == 0, "cancel the rest")
    finally:
        s.stop()


CASES = {name[5:]: fn for name, fn in globals().items() if name.startswith("case_")}

if __name__ == "__main__":
    if not os.environ.get("SLURM_CONF"):
        print("SLURM_CONF is not set: run under tests/slurm/with-cluster.sh", file=sys.stderr)
        sys.exit(2)
    for name in sys.argv[2:] or list(CASES):
        with tempfile.TemporaryDirectory(prefix=f"torc-slurm-{name}-") as d:
            t0 = time.time()
            before = len(failures)
            CASES[name](d)
            print(f"{name}: {'ok' if len(failures) == before else 'FAILED'} ({time.time() - t0:.1f} s)")
    if failures:
        print(f"{len(failures)} check(s) failed", file=sys.stderr)
        sys.exit(1)
    print("all slurm end-to-end checks passed")
