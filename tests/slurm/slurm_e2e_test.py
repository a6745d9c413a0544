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
        events = json.loads(s.cli("workflows", "show", str(wf)).stdout)
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
