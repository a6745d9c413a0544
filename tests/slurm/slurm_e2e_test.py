#!/usr/bin/env python3
"""Slurm end to end on a real local cluster (run under tests/slurm/with-cluster.sh).

The seed workflows, with their commands replaced by short stand-ins that record
SLURMD_NODENAME, SLURM_STEP_ID and their start and end times, and their
resources scaled to the 4 x 4-CPU test nodes, go through `torc submit` and the
actions (sbatch) to completion.

Usage: slurm_e2e_test.py TORC_BINARY [CASE ...]
"""
import contextlib
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from torc_testlib import (Server, cases_of, check, finish, lines_of, max_overlap,  # noqa: E402
                          records, run_cases, wait_for, write)

TORC = os.path.abspath(sys.argv[1])

RECORD = ('s=$(date +%s.%N); sleep {sleep}; '
          'echo "$TORC_JOB_NAME ${{SLURMD_NODENAME:-none}} ${{SLURM_STEP_ID:-none}} $s $(date +%s.%N) {cpus}" '
          '>> {log}')
FIELDS = ["job", "node", "step", "start:f", "end:f", "cpus:i"]
DIRECT = "execution_config:\n  mode: direct\n"


@contextlib.contextmanager
def submitted(d, spec):
    """Writes <d>/wf.yaml, starts a server on <d>/data and submits the file: (server, id)."""
    write(f"{d}/wf.yaml", spec)
    with Server(TORC, f"{d}/data", ["--heartbeat-seconds", "2"], log_path=f"{d}/server.log") as s:
        yield s, s.submit("wf.yaml", d)


def status_once_running(s, wf, interval):
    """The status after waiting (up to 60 polls) for a job to run."""
    wait_for(lambda: s.status(wf)["counts"]["running"], bool, 60 * interval, interval)
    return s.status(wf)


def cpu_peak(recs):
    return max_overlap([(r["start"], r["end"], r["cpus"]) for r in recs])


def no_slurm_jobs_left():
    return wait_for(lambda: not subprocess.run(["squeue", "-h"], capture_output=True,
                                               text=True).stdout.strip(), bool, 30, 0.5)


def one_allocation(scheduler, nodes, account=None, gres=None, per_node=False):
    """The slurm_schedulers and actions sections: `scheduler`, `nodes` nodes for 10 minutes,
    and one allocation of it asked for when the workflow starts."""
    opts = (f", account: {account}" if account else "") + (f', gres: "{gres}"' if gres else "")
    per_node = ", start_one_worker_per_node: true" if per_node else ""
    return (f'slurm_schedulers:\n  - {{name: {scheduler}{opts}, nodes: {nodes}, walltime: "00:10:00"}}\n'
            "actions:\n  - {trigger_type: on_workflow_start, action_type: schedule_nodes, "
            f"scheduler: {scheduler}, scheduler_type: slurm{per_node}, num_allocations: 1}}\n")


def analysis_spec(name, n, nodes, log, direct=False):
    """The parallel_analysis seed (2-CPU analyze_{i} jobs, one allocation of `nodes` nodes);
    `direct`: the parallel_analysis_direct variant, one worker per node, no srun per job."""
    mode, one_node = (DIRECT, "    num_nodes: 1\n") if direct else ("", "")
    return f"""name: {name}
description: Run {n} analysis tasks across {nodes} nodes
{mode}resource_requirements:
  - name: analysis
    num_cpus: 2
{one_node}    memory: 900m
    runtime: {"PT3M" if direct else "PT5M"}
jobs:
  - name: analyze_{{i}}
    command: '{RECORD.format(sleep=0.3, cpus=2, log=log)}'
    resource_requirements: analysis
    scheduler: multi_node
    parameters:
      i: "1:{n}"
""" + one_allocation("multi_node", nodes, account="myproject", per_node=direct)


def training_spec(name, command, direct=False):
    """The distributed_training seed: one 4-node job (`direct`: its _mpi variant)."""
    return f"""name: {name}
{DIRECT if direct else ""}resource_requirements:
  - name: mpi_training
    num_cpus: 4
    memory: 1g
    num_nodes: 4
    runtime: PT8M
jobs:
  - name: train
    command: '{command}'
    resource_requirements: mpi_training
    scheduler: training_nodes
""" + one_allocation("training_nodes", 4, account="myproject")


def case_parallel_analysis(d):
    log = f"{d}/rec.txt"
    with submitted(d, analysis_spec("parallel_analysis", 100, 4, log)) as (s, wf):
        st = s.wait(wf)
        check(st["counts"]["completed"] == 100, f"all 100 completed: {st['counts']}")
        recs = records(log, FIELDS)
        nodes = {r["node"] for r in recs}
        check(nodes == {"n1", "n2", "n3", "n4"}, f"jobs ran on all 4 nodes: {nodes}")
        for n in sorted(nodes):
            peak = cpu_peak([r for r in recs if r["node"] == n])
            check(peak <= 4, f"node {n} never over its 4 CPUs (peak {peak})")
        check(len({r["step"] for r in recs}) == 100, "one srun step per job")
        check(len(st["allocations"]) == 1, f"one allocation: {st['allocations']}")
        check(no_slurm_jobs_left(), "the allocation ended once the workflow was done")


def case_parallel_analysis_direct(d):
    log = f"{d}/rec.txt"
    with submitted(d, analysis_spec("parallel_analysis_direct", 20, 2, log, direct=True)) as (s, wf):
        st = s.wait(wf)
        check(st["counts"]["completed"] == 20, f"all 20 completed: {st['counts']}")
        recs = records(log, FIELDS)
        nodes = {r["node"] for r in recs}
        check(len(nodes) == 2, f"jobs ran on both nodes: {nodes}")
        # No srun per job: every job on a node runs inside that node's worker step.
        for n in nodes:
            steps = {r["step"] for r in recs if r["node"] == n}
            check(len(steps) == 1, f"node {n}: one worker step for all its jobs ({steps})")
            check(cpu_peak([r for r in recs if r["node"] == n]) <= 4, f"node {n} within 4 CPUs")
        show = json.loads(s.cli("workflows", "show", str(wf), "--json").stdout)
        check(s.cli("jobs", "list", str(wf), "--json").returncode == 0, "jobs list works")
        check(show["complete"], "workflow complete")


def case_distributed_training(d):
    command = 'echo "$SLURMD_NODENAME $SLURM_STEP_ID $SLURM_STEP_NODELIST $SLURM_NTASKS" >> train.txt'
    with submitted(d, training_spec("distributed_training", command)) as (s, wf):
        st = s.wait(wf)
        check(st["counts"]["completed"] == 1, f"train completed: {st['counts']}")
        lines = lines_of(f"{d}/train.txt")
        check(len(lines) == 4, f"one task per node: {lines}")
        check({l[0] for l in lines} == {"n1", "n2", "n3", "n4"}, "4 distinct nodes")
        check(len({l[1] for l in lines}) == 1, "one step spanning them")
        check(all(l[3] == "4" for l in lines), "SLURM_NTASKS=4")


def case_cancel_scancels(d):
    with submitted(d, """name: cancel
resource_requirements:
  - {name: short, runtime: PT5M}
jobs:
  - {name: "long_{i}", command: "sleep 120", scheduler: s, resource_requirements: short, parameters: {i: "1:4"}}
""" + one_allocation("s", 1)) as (s, wf):
        st = status_once_running(s, wf, 0.5)
        check(st["counts"]["running"] > 0, "jobs started in the allocation")
        check(s.cli("cancel", str(wf)).returncode == 0, "cancel")
        check(no_slurm_jobs_left(), "torc cancel scanceled the allocation")
        st = s.status(wf)
        check(st["counts"]["canceled"] == 4, f"all canceled: {st['counts']}")


def case_distributed_training_mpi(d):
    command = 'echo "$SLURMD_NODENAME ${SLURM_STEP_ID:-none} $TORC_JOB_NAME" >> train.txt'
    with submitted(d, training_spec("distributed_training_mpi", command, direct=True)) as (s, wf):
        st = s.wait(wf)
        check(st["counts"]["completed"] == 1, f"train completed: {st['counts']}")
        lines = lines_of(f"{d}/train.txt")
        check(len(lines) == 1, f"the command ran once, unwrapped (mpirun would spread it): {lines}")
        job = json.loads(s.cli("jobs", "list", str(wf), "--json").stdout)[0]
        check(job["status"] == "completed", "completed")


def case_preprocess_then_train(d):
    log = f"{d}/rec.txt"
    with submitted(d, f"""name: preprocess_then_train
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
""") as (s, wf):
        st = s.wait(wf)
        check(st["counts"]["completed"] == 9, f"all 9 completed: {st['counts']}")
        recs = records(log, FIELDS)
        allocs = {a["scheduler"]: a for a in st["allocations"]}
        check(set(allocs) == {"prep_nodes", "training_nodes"}, f"two allocations: {allocs}")
        if recs and "training_nodes" in allocs:
            last_prep = max(r["end"] for r in recs)
            check(allocs["training_nodes"]["submitted_at"] >= last_prep,
                  "the 4-node allocation was asked for only after every prep_* completed")
        lines = lines_of(f"{d}/train.txt")
        check({l[0] for l in lines} == {"n1", "n2", "n3", "n4"}, f"train spanned 4 nodes: {lines}")


def case_mixed_whole_nodes(d):
    log = f"{d}/rec.txt"
    with submitted(d, f"""name: mixed
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
""" + one_allocation("s", 4)) as (s, wf):
        st = s.wait(wf)
        check(st["counts"]["completed"] == 41, f"all completed: {st['counts']}")
        wide = lines_of(f"{d}/wide.txt")
        check(len(wide) == 2 and len({w[1] for w in wide}) == 2, f"the 2-node job spans 2 nodes: {wide}")
        if len(wide) == 2:
            nodes = {w[1] for w in wide}
            start, end = min(float(w[2]) for w in wide), max(float(w[3]) for w in wide)
            during = [r for r in records(log, FIELDS) if r["start"] < end and r["end"] > start]
            overlap = [r for r in during if r["node"] in nodes]
            check(not overlap, f"nothing else ran on the 2-node job's nodes meanwhile: {overlap[:3]}")
            others = [r for r in during if r["node"] not in nodes]
            check(others, "single-node jobs ran on the other nodes meanwhile")


def case_scancel_loss(d):
    log = f"{d}/rec.txt"
    with submitted(d, f"""name: loss
resource_requirements:
  - {{name: r, num_cpus: 1, memory: 500m, runtime: PT5M}}
jobs:
  - name: j_{{i}}
    command: '{RECORD.format(sleep=4, cpus=1, log=log)}'
    resource_requirements: r
    scheduler: s
    parameters: {{i: "1:8"}}
""" + one_allocation("s", 2)) as (s, wf):
        st = status_once_running(s, wf, 0.3)
        check(st["counts"]["running"] > 0, "jobs running in the first allocation")
        first = st["allocations"][0]["slurm_job_id"]
        subprocess.run(["scancel", first], check=False)
        t0 = time.time()
        wait_for(lambda: s.status(wf)["counts"], lambda c: c["running"] == 0 and c["claimed"] == 0, 30, 0.3)
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
        # Stopped by the scancel (the worker reported them) or given up with the lease, never
        # mistaken for the walltime or a failure.
        ended = [a["reason"] for j in s.get(f"/workflows/{wf}/attempts")["jobs"]
                 for a in j["attempts"] if a["status"] != "completed"]
        check(ended and all(r == "stopped" or r.startswith("abandoned") for r in ended),
              f"interrupted attempts say why: {ended}")
        names = [r["job"] for r in records(log, FIELDS)]
        check(len(names) == 8 and len(set(names)) == 8, f"each job ran to its end exactly once: {names}")


def case_gpus(d):
    if os.environ.get("TORC_TEST_GPUS") != "2":
        print("gpus: skipped (run with --gpus 2 and TORC_TEST_GPUS=2)")
        return
    with submitted(d, """name: gpus
resource_requirements:
  - {name: g, num_cpus: 1, num_gpus: 1, memory: 500m, runtime: PT5M}
jobs:
  - name: "g_{i}"
    command: 's=$(date +%s.%N); sleep 2; echo "$TORC_JOB_NAME $SLURMD_NODENAME $CUDA_VISIBLE_DEVICES $s $(date +%s.%N)" >> gpus.txt'
    resource_requirements: g
    scheduler: s
    parameters: {i: "1:2"}
""" + one_allocation("s", 1, gres="gpu:2")) as (s, wf):
        st = s.wait(wf)
        check(st["counts"]["completed"] == 2, f"both completed: {st['counts']}")
        lines = lines_of(f"{d}/gpus.txt")
        check(len(lines) == 2, f"two records: {lines}")
        if len(lines) == 2:
            check(lines[0][1] == lines[1][1], "same node")
            check(lines[0][2] != lines[1][2], f"different CUDA_VISIBLE_DEVICES: {lines}")
            check(float(lines[0][3]) < float(lines[1][4]) and float(lines[1][3]) < float(lines[0][4]),
                  "they ran at the same time")


def case_walltime(d):
    log = f"{d}/rec.txt"
    with submitted(d, f"""name: walltime
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
""" + one_allocation("s", 1)) as (s, wf):
        st = status_once_running(s, wf, 0.3)
        check(st["counts"]["running"] == 1, f"long is running: {st['counts']}")
        reasons = {u["job"]: u["reason"] for u in st["unclaimable"]}
        check("runtime 7200 s exceeds the walltime of 's'" in reasons.get("never", ""),
              f"status says why 'never' cannot run: {reasons}")
        # The allocation's walltime ends mid-job: Slurm signals the worker, which
        # stops its job before Slurm kills it and reports it terminated.
        first = st["allocations"][0]["slurm_job_id"]
        subprocess.run(["scontrol", "update", f"jobid={first}", "TimeLimit=1"], check=True)
        wait_for(lambda: s.status(wf)["counts"]["running"], lambda n: n == 0, 150, 1)
        long = s.jobs(wf)["long"]
        check(long["status"] == "ready" and long["attempt"] == 2,
              f"terminated by walltime and requeued as attempt 2: {long}")
        # The time limit changed after the worker read it: Slurm's reason tells it apart
        # from an scancel.
        first_attempt = next(j for j in s.get(f"/workflows/{wf}/attempts")["jobs"]
                             if j["name"] == "long")["attempts"][0]
        check((first_attempt["status"], first_attempt["reason"]) == ("terminated", "walltime"),
              f"recorded as ended by the walltime: {first_attempt}")
        check(not os.path.exists(log), "the first attempt never got to its end")
        check(s.cli("slurm", "schedule", str(wf)).returncode == 0, "torc slurm schedule")
        wait_for(lambda: s.status(wf)["counts"]["completed"], lambda n: n >= 1, 60, 0.5)
        check(open(log).read().split() == ["long", "2"] if os.path.exists(log) else False,
              "attempt 2 completed in the second allocation")
        check(s.cli("cancel", str(wf)).returncode == 0, "cancel the rest")


if __name__ == "__main__":
    if not os.environ.get("SLURM_CONF"):
        print("SLURM_CONF is not set: run under tests/slurm/with-cluster.sh", file=sys.stderr)
        sys.exit(2)
    run_cases(cases_of(globals()), sys.argv[2:], "torc-slurm")
    finish(passed="all slurm end-to-end checks passed")
