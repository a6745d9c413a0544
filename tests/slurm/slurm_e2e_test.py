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
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from torc_testlib import (Server, cases_of, check, finish, free_port, lines_of,  # noqa: E402
                          max_overlap, plain_http_answer, records, run_cases, run_torc,
                          wait_for, write, write_hog)

TORC = os.path.abspath(sys.argv[1])
# The lab's login node (this machine on the lab's bridge): where the nodes reach the server.
LOGIN_IP = os.environ.get("LAB_LOGIN_IP", "127.0.0.1")
if os.environ.get("SLURM_LAB_NETNS") == "1" and not os.environ.get("LAB_LOGIN_IP"):
    sys.exit("LAB_LOGIN_IP is not set on a NETNS lab: the nodes could not reach the server")
# As a cluster's user starts it: on every interface, so that the nodes can reach it, and so over
# HTTPS (the nodes and every client trust the data directory's server.crt). Told to advertise
# the lab's login address: the test's own traffic stays on the lab (with --host 0.0.0.0 alone
# it would advertise one of this machine's other addresses; access_test.py case_advertise).
SERVER_FLAGS = ["--heartbeat-seconds", "2", "--host", "0.0.0.0", "--advertise-url",
                f"https://{LOGIN_IP}"]

RECORD = ('s=$(date +%s.%N); sleep {sleep}; '
          'echo "$TORC_JOB_NAME ${{SLURMD_NODENAME:-none}} ${{SLURM_STEP_ID:-none}} $s $(date +%s.%N) {cpus} '
          '$(hostname) ${{SLURM_PROCID:-none}}" >> {log}')
FIELDS = ["job", "node", "step", "start:f", "end:f", "cpus:i", "host", "procid"]
DIRECT = "execution_config:\n  mode: direct\n"


@contextlib.contextmanager
def submitted(d, spec, env=None):
    """Writes <d>/wf.yaml, starts a server on <d>/data (environment `env`, default ours) and
    submits the file: (server, id)."""
    write(f"{d}/wf.yaml", spec)
    with Server(TORC, f"{d}/data", SERVER_FLAGS, log_path=f"{d}/server.log", env=env) as s:
        check(s.url.startswith(f"https://{LOGIN_IP}:"), f"the server speaks HTTPS on {s.url}")
        yield s, s.submit("wf.yaml", d)


def events_text(s, wf):
    """Every event of the workflow as one text (kind and detail)."""
    return "\n".join(f"{e.get('kind')} {e.get('detail', '')}"
                     for e in s.get(f"/workflows/{wf}/events?limit=10000")["events"])


def status_once_running(s, wf, interval):
    """The status after waiting (up to 60 polls) for a job to run."""
    wait_for(lambda: s.status(wf)["counts"]["running"], bool, 60 * interval, interval)
    return s.status(wf)


def placed_on(s, wf):
    """{job name: the nodes torc says its completed attempt ran on}."""
    out = {}
    for j in s.get(f"/workflows/{wf}/attempts")["jobs"]:
        done = [a for a in j["attempts"] if a["status"] == "completed"]
        if done:
            out[j["name"]] = done[-1]["nodes"].split(",")
    return out


def check_hosts(s, wf, recs, what="each job"):
    """Every record's hostname (each node has its own, as on a cluster) is its node's, and a
    node torc placed the job on."""
    placed = placed_on(s, wf)
    wrong = [r for r in recs if r["host"] != r["node"] and r["node"] != "none"]
    check(recs and not wrong, f"{what}: the hostname it saw is its Slurm node's: {wrong[:3]}")
    wrong = [(r["job"], r["host"], placed.get(r["job"])) for r in recs
             if r["host"] not in placed.get(r["job"], [])]
    check(recs and not wrong, f"{what}: ran on the node torc placed it on: {wrong[:3]}")


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


def case_measures_the_job(d):
    """Slurm mode reports the job's own figures (torc job-exec in the step), not srun's: a job
    holding ~300 MB and burning ~2 s, on each node of a 2-node step (node_usage); a 5 s job's
    time series at 1 s; a job over its memory request is killed with reason memory."""
    write_hog(f"{d}/hog.py", 300, 1.5)
    write_hog(f"{d}/five.py", 50, 0, sleep=5)
    write_hog(f"{d}/over.py", 300, 0, sleep=20)
    spec = """name: measure
resource_monitor:
  sample_interval_seconds: 1
  jobs: {enabled: true, granularity: time_series}
resource_requirements:
  - {name: wide, num_cpus: 1, num_nodes: 2, memory: 1g, runtime: PT2M}
  - {name: small, num_cpus: 1, memory: 100m, runtime: PT2M}
  - {name: medium, num_cpus: 1, memory: 500m, runtime: PT2M}
jobs:
  - {name: hog, command: python3 hog.py, resource_requirements: wide, scheduler: two}
  - {name: five, command: python3 five.py, resource_requirements: medium, scheduler: two}
  - {name: over, command: python3 over.py, resource_requirements: small, scheduler: two}
""" + one_allocation("two", 2)
    with submitted(d, spec) as (s, wf):
        st = s.wait(wf, timeout=120)
        check(st["complete"], f"complete: {st['counts']}")
        attempts = {j: s.get(f"/workflows/{wf}/jobs/{j}")["attempts"][-1]
                    for j in ("hog", "five", "over")}
        hog = attempts["hog"]
        usage = sorted(hog["node_usage"], key=lambda n: n["node"])
        check(len(usage) == 2 and {n["node"] for n in usage} == set(hog["nodes"].split(",")),
              f"both nodes of the step reported: {hog}")
        for n in usage:
            check(280 <= n["peak_rss_bytes"] / 2**20 <= 400 and 1.6 <= n["cpu_seconds"] <= 4.5,
                  f"each node's figures are the job's own (not srun's): {n}")
        five = attempts["five"]
        check(five["samples"] >= 4, f"a 5 s job has >= 4 samples at 1 s: {five}")
        series = s.get(f"/workflows/{wf}/jobs/five/attempts/1/samples")["samples"]
        check(len(series) == five["samples"] and max(x["rss_bytes"] for x in series) >= 50 * 2**20,
              f"served, with the job's RSS: {series}")
        over = attempts["over"]
        check(over["status"] == "failed" and over["reason"] == "memory" and over["exit_code"] == 137
              and over["end_time"] - over["start_time"] < 10,
              f"over its 100m request: killed by torc with reason memory: {over}")


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
        check_hosts(s, wf, recs)
        check(len(st["allocations"]) == 1, f"one allocation: {st['allocations']}")
        check(no_slurm_jobs_left(), "the allocation ended once the workflow was done")
        # Allocation truth: running from its worker's registration, ended within seconds of
        # its worker leaving (not the 30 s squeue period), with its nodes and times.
        a = wait_for(lambda: s.status(wf)["allocations"][0], lambda a: a["state"] == "done", 10, 0.3)
        check(a["state"] == "done" and a["nodes"] == "n[1-4]" and
              a["submitted_at"] <= a["started_at"] <= a["ended_at"],
              f"the allocation's state, nodes and times: {a}")


def case_parallel_analysis_direct(d):
    log = f"{d}/rec.txt"
    with submitted(d, analysis_spec("parallel_analysis_direct", 20, 2, log, direct=True)) as (s, wf):
        st = s.wait(wf)
        check(st["counts"]["completed"] == 20, f"all 20 completed: {st['counts']}")
        recs = records(log, FIELDS)
        nodes = {r["node"] for r in recs}
        check(len(nodes) == 2, f"jobs ran on both nodes: {nodes}")
        # No srun per job: the jobs run inside their node's worker step, but do not carry its
        # step identity (an srun or mpirun of their own would inherit it).
        check({r["step"] for r in recs} == {"none"} and {r["procid"] for r in recs} == {"none"},
              f"no job sees the worker's SLURM_STEP_ID or SLURM_PROCID: {recs[:2]}")
        for n in nodes:
            check(cpu_peak([r for r in recs if r["node"] == n]) <= 4, f"node {n} within 4 CPUs")
        check_hosts(s, wf, recs)
        show = json.loads(s.cli("workflows", "show", str(wf), "--json").stdout)
        check(s.cli("jobs", "list", str(wf), "--json").returncode == 0, "jobs list works")
        check(show["complete"], "workflow complete")


def case_distributed_training(d):
    command = ('echo "$SLURMD_NODENAME $SLURM_STEP_ID $SLURM_STEP_NODELIST $SLURM_NTASKS '
               '$(hostname)" >> train.txt')
    with submitted(d, training_spec("distributed_training", command)) as (s, wf):
        st = s.wait(wf)
        check(st["counts"]["completed"] == 1, f"train completed: {st['counts']}")
        lines = lines_of(f"{d}/train.txt")
        check(len(lines) == 4, f"one task per node: {lines}")
        check({l[0] for l in lines} == {"n1", "n2", "n3", "n4"}, "4 distinct nodes")
        check({l[4] for l in lines} == set(placed_on(s, wf).get("train", [])),
              f"each task's hostname is one of the nodes torc placed it on: {lines}")
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


def case_canceled_step_ends(d):
    """Slurm mode: a job canceled while it runs, ignoring the termination signal (SIGUSR1 here,
    which srun passes to the tasks; srun itself takes SIGTERM as "kill the step"): when the
    grace is over torc sends SIGINT to its srun (--quit-on-interrupt), which cancels the step,
    where SIGKILL would leave the step running without its srun. Its process on the node is
    gone, and the job waiting for its CPUs starts only after that."""
    log = f"{d}/rec.txt"
    mark = 3000 + os.getpid() % 1000  # the victim's `sleep N`, unique on this machine
    with submitted(d, f"""name: canceled_step
execution_config: {{termination_signal: SIGUSR1}}
resource_requirements:
  - {{name: node, num_cpus: 4, memory: 900m, runtime: PT5M}}
jobs:
  - name: victim
    command: 'trap "" TERM USR1; touch {d}/victim.started; sleep {mark}; true'
    resource_requirements: node
    scheduler: s
    priority: 10
  - name: after
    command: '{RECORD.format(sleep=0.1, cpus=4, log=log)}'
    resource_requirements: node
    scheduler: s
""" + one_allocation("s", 1)) as (s, wf):
        check(wait_for(lambda: os.path.exists(f"{d}/victim.started"), bool, 120, 0.2),
              "the victim started")
        def sleeping():
            return subprocess.run(["pgrep", "-f", f"^sleep {mark}$"],
                                  capture_output=True).returncode == 0
        check(sleeping(), "its sleep runs on the node")
        t0 = time.time()
        check(s.cli("cancel", str(wf), "victim").returncode == 0, "torc cancel WF victim")
        # Watch the node's process until the next job has run.
        last_seen = t0
        while time.time() - t0 < 120 and not records(log, FIELDS):
            if sleeping():
                last_seen = time.time()
            time.sleep(0.1)
        recs = records(log, FIELDS)
        check(len(recs) == 1, f"the next job ran: {recs}")
        check(not sleeping(), f"no `sleep {mark}` is left on the node")
        if recs:
            check(recs[0]["start"] >= last_seen - 0.2,
                  f"the next job started after the step's process was gone "
                  f"({recs[0]['start'] - last_seen:+.2f} s; gone {last_seen - t0:.1f} s after "
                  f"the cancel)")
        st = s.wait(wf, timeout=30)
        jobs = s.jobs(wf)
        check(jobs["victim"]["status"] == "canceled" and jobs["after"]["status"] == "completed",
              f"victim canceled, after completed: {st['counts']}")
        err = open(f"{d}/torc_output/{wf}/victim.1.err").read() \
            if os.path.exists(f"{d}/torc_output/{wf}/victim.1.err") else ""
        check("task 0: Exited with exit code" not in err,
              f"srun's task line is not in the victim's stderr: {err[-400:]!r}")


def case_distributed_training_mpi(d):
    # The command runs once, unwrapped, on the worker's node; like mpirun, it then spreads
    # itself over the job's nodes with an srun of its own.
    command = ('echo "$SLURMD_NODENAME ${SLURM_STEP_ID:-none} $TORC_JOB_NAME $(hostname)" >> train.txt; '
               'srun --nodes=4 --ntasks=4 bash -c "echo \\$(hostname)" >> ranks.txt')
    with submitted(d, training_spec("distributed_training_mpi", command, direct=True)) as (s, wf):
        st = s.wait(wf)
        check(st["counts"]["completed"] == 1, f"train completed: {st['counts']}")
        lines = lines_of(f"{d}/train.txt")
        check(len(lines) == 1, f"the command ran once, unwrapped (mpirun would spread it): {lines}")
        placed = placed_on(s, wf).get("train", [])
        check(lines and lines[0][3] in placed, f"on one of its nodes ({placed}): {lines}")
        ranks = sorted(l[0] for l in lines_of(f"{d}/ranks.txt"))
        check(ranks == sorted(placed), f"its own srun ran a task on each of its nodes: {ranks}")


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
        check_hosts(s, wf, recs, "every prep_* job")


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
        # Nothing will run them now: torc status says so, and what to do (within 10 s; the
        # allocation's end is reported by its worker or by squeue).
        t0 = time.time()
        kinds = wait_for(lambda: [p["kind"] for p in s.status(wf)["problems"]],
                         lambda k: "no_compute" in k, 10, 0.3)
        check("no_compute" in kinds, f"a no_compute problem within 10 s ({time.time() - t0:.1f} s): "
              f"{s.status(wf)['problems']}")
        # A second allocation, asked for with torc, finishes the work.
        r = s.cli("slurm", "schedule", str(wf), "--scheduler", "s")
        check(r.returncode == 0 and "submitted 1 allocation: Slurm job " in r.stdout,
              f"torc slurm schedule names the job it submitted: {r.stdout}")
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


def case_defaults_run(d):
    """No runtime and no walltime (the defaults, PT1H and 01:00:00), and a runtime equal to the
    walltime: the jobs run (a worker that subtracted its stop lead from the walltime found
    that nothing fit and left the jobs ready for ever)."""
    log = f"{d}/rec.txt"
    with submitted(d, f"""name: defaults
jobs:
  - name: plain
    command: '{RECORD.format(sleep=0.2, cpus=1, log=log)}'
    scheduler: plain
  - name: exact
    command: '{RECORD.format(sleep=0.2, cpus=1, log=log)}'
    resource_requirements: ten
    scheduler: exact
resource_requirements:
  - {{name: ten, runtime: PT10M}}
slurm_schedulers:
  - {{name: plain, nodes: 1}}
  - {{name: exact, nodes: 1, walltime: "00:10:00"}}
actions:
  - {{trigger_type: on_workflow_start, action_type: schedule_nodes, scheduler: plain, scheduler_type: slurm}}
  - {{trigger_type: on_workflow_start, action_type: schedule_nodes, scheduler: exact, scheduler_type: slurm}}
""") as (s, wf):
        st = s.wait(wf, timeout=60)
        check(st["counts"]["completed"] == 2, f"both completed: {st['counts']}")
        check(not st["unclaimable"], f"nothing reported as unable to run: {st['unclaimable']}")
        check_hosts(s, wf, records(log, FIELDS))


def case_restart_requests_compute(d):
    """torc restart after the allocation ended asks for compute the way the workflow's
    action did; with "schedule": false it does not, and status says nothing will run the jobs."""
    with submitted(d, """name: again
resource_requirements:
  - {name: r, num_cpus: 1, memory: 100m, runtime: PT5M}
jobs:
  - {name: flaky, command: "test -f ok || { touch ok; exit 1; }", resource_requirements: r, scheduler: s}
  - {name: steady, command: "true", resource_requirements: r, scheduler: s}
""" + one_allocation("s", 1)) as (s, wf):
        st = s.wait(wf, timeout=60)
        check(st["counts"]["failed"] == 1 and st["counts"]["completed"] == 1,
              f"first run: flaky failed: {st['counts']}")
        check(no_slurm_jobs_left(), "the allocation ended with the workflow")
        status, body = s.api("POST", f"/workflows/{wf}/restart", {"schedule": False})
        check(status == 200 and body["restarted"] == 1 and body["allocations_requested"] == 0,
              f"restart without scheduling: {body}")
        kinds = wait_for(lambda: [p["kind"] for p in s.status(wf)["problems"]],
                         lambda k: "no_compute" in k, 10, 0.3)
        check("no_compute" in kinds, f"... then nothing will run it, and status says so: {kinds}")
        s.cli("cancel", str(wf))
        r = s.cli("restart", str(wf))
        check(r.returncode == 0, f"torc restart: {r.stdout} {r.stderr}")
        st = s.wait(wf, timeout=60)
        check(st["counts"]["completed"] == 2, f"the restarted job ran in a new allocation: {st['counts']}")
        check(len(st["allocations"]) == 2 and st["allocations"][1]["action"] is None,
              f"two allocations, the second asked for by the restart (no action): "
              f"{st['allocations']}")


def case_job_fits_no_node(d):
    """A job bigger than any node (8 CPUs, 10g on 4-CPU nodes) and its dependent: once the
    small job is done the worker leaves at once (the allocation ends, no node idles), and
    torc status says which job fits no node, beside the largest node, and why the worker left."""
    with submitted(d, """name: too_big
resource_requirements:
  - {name: big, num_cpus: 8, memory: 10g, runtime: PT5M}
  - {name: small, num_cpus: 1, memory: 100m, runtime: PT5M}
jobs:
  - {name: huge, command: "true", resource_requirements: big, scheduler: s}
  - {name: after_huge, command: "true", resource_requirements: small, scheduler: s, depends_on: [huge]}
  - {name: fine, command: "sleep 1", resource_requirements: small, scheduler: s}
""" + one_allocation("s", 2)) as (s, wf):
        wait_for(lambda: s.status(wf)["counts"]["completed"], lambda n: n == 1, 60, 0.3)
        t0 = time.time()
        kinds = wait_for(lambda: {p["kind"]: p for p in s.status(wf)["problems"]},
                         lambda k: "cannot_fit" in k and "worker_left" in k, 10, 0.3)
        check("cannot_fit" in kinds and "worker_left" in kinds,
              f"within 10 s ({time.time() - t0:.1f} s): the job that fits no node and the worker "
              f"that left: {list(kinds)}")
        if "cannot_fit" in kinds:
            m = kinds["cannot_fit"]["message"]
            check(kinds["cannot_fit"]["jobs"] == ["huge"] and "huge asks for 1 node(s) x 8 CPUs, "
                  "10.0 GiB, 0 GPUs; the largest a worker had: 2 node(s) x 4 CPUs" in m,
                  f"... the request and the largest node side by side: {m}")
        if "worker_left" in kinds:
            check("no unfinished job can run on its resources" in kinds["worker_left"]["message"],
                  f"... and why the worker left: {kinds['worker_left']['message']}")
        check(no_slurm_jobs_left(), "no allocation left running idle")
        s.cli("cancel", str(wf))


def case_direct_job_runs_its_own_srun(d):
    """Direct mode, one worker for 4 nodes: a 2-node job's own `srun --nodes=2 --ntasks=2`
    (the mpirun pattern) runs on the two nodes torc reserved for it, not on the first two of
    the allocation, and without the worker's step identity."""
    with submitted(d, f"""name: own_srun
{DIRECT}resource_requirements:
  - {{name: one, num_cpus: 1, num_nodes: 1, memory: 500m, runtime: PT5M}}
  - {{name: two, num_cpus: 4, num_nodes: 2, memory: 1g, runtime: PT5M}}
jobs:
  - name: first
    command: 'echo "$(hostname)" > first.txt; sleep 4'
    resource_requirements: one
    priority: 10
    scheduler: s
  - name: pair
    command: 'sleep 1; echo "${{SLURM_STEP_ID:-none}} ${{SLURM_PROCID:-none}} $SLURM_JOB_NODELIST" > pair.txt; srun --nodes=2 --ntasks=2 hostname > ranks.txt'
    resource_requirements: two
    scheduler: s
""" + one_allocation("s", 4)) as (s, wf):
        st = s.wait(wf)
        check(st["counts"]["completed"] == 2, f"both completed: {st['counts']}")
        placed = placed_on(s, wf)
        first = (lines_of(f"{d}/first.txt") or [["?"]])[0][0]
        pair = sorted(placed.get("pair", []))
        check(len(pair) == 2 and first not in pair,
              f"the 2-node job was given two nodes the first job was not on ({first}): {pair}")
        ranks = sorted(l[0] for l in lines_of(f"{d}/ranks.txt"))
        check(ranks == pair, f"its own srun ran one task on each of its nodes: {ranks} vs {pair}")
        env = (lines_of(f"{d}/pair.txt") or [[]])[0]
        check(env[:2] == ["none", "none"], f"no SLURM_STEP_ID/SLURM_PROCID of the worker: {env}")
        check(len(env) == 3 and sorted(env[2].split(",")) == pair,
              f"SLURM_JOB_NODELIST names its own nodes: {env}")


def fake_sbatch(d, body):
    """An executable `sbatch` in d that prints a site banner on stderr, counts its calls in
    d/sbatch_calls, then runs `body` (the real sbatch is `real_sbatch`)."""
    real = subprocess.run(["bash", "-c", "command -v sbatch"], capture_output=True,
                          text=True).stdout.strip()
    write(f"{d}/sbatch", f"""#!/bin/bash
echo '*** Welcome to the lab cluster. Be nice to the scheduler. ***' >&2
echo call >> {d}/sbatch_calls
real_sbatch() {{ exec {real} "$@"; }}
{body}
""")
    os.chmod(f"{d}/sbatch", 0o755)
    return dict(os.environ, TORC_SBATCH=f"{d}/sbatch")


def case_sbatch_banner_and_timeout(d):
    """A site's sbatch: a banner on stderr, and a first call that times out. torc retries and
    gets one allocation; the banner is logged, never read as the job id."""
    env = fake_sbatch(d, """if [ $(wc -l < %s/sbatch_calls) = 1 ]; then
  echo 'sbatch: error: Batch job submission failed: Socket timed out on send/recv operation' >&2
  exit 1
fi
real_sbatch "$@"
""" % d)
    log = f"{d}/rec.txt"
    with submitted(d, f"""name: flaky_sbatch
resource_requirements:
  - {{name: r, num_cpus: 1, memory: 500m, runtime: PT5M}}
jobs:
  - name: j_{{i}}
    command: '{RECORD.format(sleep=0.2, cpus=1, log=log)}'
    resource_requirements: r
    scheduler: s
    parameters: {{i: "1:4"}}
""" + one_allocation("s", 1), env=env) as (s, wf):
        st = s.wait(wf)
        check(st["counts"]["completed"] == 4, f"all completed: {st['counts']}")
        check(len(st["allocations"]) == 1, f"one allocation: {st['allocations']}")
        check(len(lines_of(f"{d}/sbatch_calls")) == 2, "sbatch was called twice (one retry)")
        check("Socket timed out" in s.log() and "retrying" in s.log(),
              "the retry is logged with Slurm's message")
        check("Welcome to the lab cluster" in s.log(), "the banner is logged")
        check_hosts(s, wf, records(log, FIELDS))


def case_sbatch_refused(d):
    """A partition that does not exist: the real sbatch refuses, no allocation is recorded,
    and Slurm's message is; the same for a fake sbatch and for `torc slurm schedule`."""
    with submitted(d, """name: bad_partition
jobs:
  - {name: a, command: "true", scheduler: s}
slurm_schedulers:
  - {name: s, partition: nope, nodes: 1, walltime: "00:10:00"}
actions:
  - {trigger_type: on_workflow_start, action_type: schedule_nodes, scheduler: s, scheduler_type: slurm}
""") as (s, wf):
        text = wait_for(lambda: events_text(s, wf), lambda t: "action_failed" in t, 30, 0.3)
        check("invalid partition specified: nope" in text,
              f"Slurm's own message is recorded: {text[-400:]}")
        check(not s.status(wf)["allocations"], "no allocation is recorded")
        problems = {p["kind"]: p["message"] for p in s.status(wf)["problems"]}
        check("invalid partition specified: nope" in problems.get("allocation_request_failed", "")
              and "torc slurm schedule" in problems["allocation_request_failed"],
              f"torc status: the refused request is a problem, with Slurm's message: {problems}")
        check("no allocation is pending or running" in problems.get("no_compute", ""),
              f"... and the ready job has nothing to run it: {problems}")
        env = fake_sbatch(d, "echo 'sbatch: error: invalid partition specified: gpuz' >&2; exit 1")
        s.stop()
        s.env.update(TORC_SBATCH=env["TORC_SBATCH"])
        s.start()
        r = s.cli("slurm", "schedule", str(wf), "--scheduler", "s")
        check(r.returncode == 1 and r.stderr.strip() == "torc: allocation request failed: sbatch "
              "failed (exit 1): sbatch: error: invalid partition specified: gpuz",
              f"torc slurm schedule fails with Slurm's message (exit {r.returncode}): {r.stderr}")
        text = wait_for(lambda: events_text(s, wf), lambda t: "sbatch_failed" in t, 30, 0.3)
        check("invalid partition specified: gpuz" in text,
              f"a refused schedule request is recorded with Slurm's message: {text[-300:]}")
        check(len(lines_of(f"{d}/sbatch_calls")) == 1, "a permanent failure is not retried")
        check(not s.status(wf)["allocations"], "still no allocation")
        s.cli("cancel", str(wf))


def case_lab_gpus_partitions(d):
    """Two partitions (cpu = n1-n2, gpu = n3-n4 with 2 GPUs each): a CPU stage on the cpu
    partition, then one allocation of a GPU node whose GPU and CPU-only jobs run side by side:
    the CPU-only steps ask for no GRES, so they do not take the GPUs."""
    log, glog = f"{d}/rec.txt", f"{d}/gpu.txt"
    gpu_record = ('s=$(date +%s.%N); sleep 3; echo "$TORC_JOB_NAME $SLURMD_NODENAME '
                  '${CUDA_VISIBLE_DEVICES:-none} $s $(date +%s.%N) $(hostname)" >> ' + glog)
    with submitted(d, f"""name: cpu_then_gpu
resource_requirements:
  - {{name: cpu, num_cpus: 1, memory: 500m, runtime: PT5M}}
  - {{name: gpu, num_cpus: 1, num_gpus: 1, memory: 500m, runtime: PT5M}}
jobs:
  - name: prep_{{i}}
    command: '{RECORD.format(sleep=0.3, cpus=1, log=log)}'
    resource_requirements: cpu
    scheduler: cpu_nodes
    parameters: {{i: "1:4"}}
  - name: gpu_{{i}}
    command: '{gpu_record}'
    resource_requirements: gpu
    scheduler: gpu_node
    depends_on: [prep_1, prep_2, prep_3, prep_4]
    parameters: {{i: "1:2"}}
  - name: side_{{i}}
    command: '{gpu_record}'
    resource_requirements: cpu
    scheduler: gpu_node
    depends_on: [prep_1, prep_2, prep_3, prep_4]
    parameters: {{i: "1:2"}}
slurm_schedulers:
  - {{name: cpu_nodes, partition: cpu, nodes: 2, walltime: "00:10:00"}}
  - {{name: gpu_node, partition: gpu, nodes: 1, walltime: "00:10:00", gres: "gpu:2"}}
actions:
  - {{trigger_type: on_workflow_start, action_type: schedule_nodes, scheduler: cpu_nodes, scheduler_type: slurm}}
  - {{trigger_type: on_jobs_ready, jobs: [gpu_1, gpu_2, side_1, side_2], action_type: schedule_nodes, scheduler: gpu_node, scheduler_type: slurm}}
""") as (s, wf):
        st = s.wait(wf)
        check(st["counts"]["completed"] == 8, f"all completed: {st['counts']}")
        recs = records(log, FIELDS)
        check({r["node"] for r in recs} <= {"n1", "n2"}, f"the CPU stage ran in partition cpu: {recs}")
        check_hosts(s, wf, recs, "every prep_* job")
        g = {l[0]: l for l in lines_of(glog)}
        check(set(g) == {"gpu_1", "gpu_2", "side_1", "side_2"}, f"four GPU-stage records: {g}")
        if len(g) == 4:
            nodes = {l[1] for l in g.values()}
            check(len(nodes) == 1 and nodes <= {"n3", "n4"}, f"on one GPU node: {nodes}")
            check(all(l[5] == l[1] for l in g.values()), "each saw its node's hostname")
            devs = [g["gpu_1"][2], g["gpu_2"][2]]
            check("none" not in devs and devs[0] != devs[1],
                  f"the GPU jobs got distinct CUDA_VISIBLE_DEVICES: {devs}")
            check(g["side_1"][2] in ("none", "") and g["side_2"][2] in ("none", ""),
                  f"the CPU jobs see no GPU: {g['side_1'][2]}, {g['side_2'][2]}")
            span = lambda n: (float(g[n][3]), float(g[n][4]))  # noqa: E731
            both = [(c, x) for c in ("side_1", "side_2") for x in ("gpu_1", "gpu_2")
                    if span(c)[0] < span(x)[1] and span(x)[0] < span(c)[1]]
            check(both, "CPU and GPU jobs of the allocation ran at the same time "
                  f"({ {n: span(n) for n in g} })")
        allocs = {a["scheduler"] for a in st["allocations"]}
        check(allocs == {"cpu_nodes", "gpu_node"}, f"one allocation per partition: {allocs}")


def case_lab_site_settings(d):
    """A site with SBATCH_EXPORT=NONE (in the server's environment) and WaitTime=5 (the lab's
    slurm.conf): one worker per node, uneven work. The node whose worker runs out of work
    leaves (idle timeout) while the other still runs a long job; without srun --wait=0 Slurm
    would kill that worker and its job 5 s later."""
    log = f"{d}/rec.txt"
    env = dict(os.environ, SBATCH_EXPORT="NONE")
    with submitted(d, f"""name: uneven
{DIRECT}resource_requirements:
  - {{name: r, num_cpus: 1, num_nodes: 1, memory: 500m, runtime: PT5M}}
jobs:
  - name: long
    command: '{RECORD.format(sleep=75, cpus=1, log=log)}'
    resource_requirements: r
    priority: 10
    scheduler: s
  - name: short_{{i}}
    command: '{RECORD.format(sleep=0.2, cpus=1, log=log)}'
    resource_requirements: r
    scheduler: s
    parameters: {{i: "1:6"}}
""" + one_allocation("s", 2, per_node=True), env=env) as (s, wf):
        st = s.wait(wf, timeout=150)
        check(st["counts"]["completed"] == 7, f"all completed: {st['counts']}")
        names = sorted(r["job"] for r in records(log, FIELDS))
        check(names == sorted(["long"] + [f"short_{i}" for i in range(1, 7)]),
              f"each job ran to its end exactly once: {names}")
        jobs = s.jobs(wf)
        check(all(j["attempt"] == 1 for j in jobs.values()), "no job was interrupted and rerun")
        out = "".join(open(os.path.join(root, f)).read()
                      for root, _, files in os.walk(f"{d}/torc_output") for f in files
                      if f.endswith(".err") and "slurm" in root)
        check("idle for 60 s; stopping" in out,
              f"one node's worker left early while the other ran the long job: {out[-600:]}")
        check("Killed" not in out and "error" not in out.lower(),
              f"no worker was killed: {out[-600:]}")
        check_hosts(s, wf, records(log, FIELDS))


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


# ---- the faults a production allocation throws (issue 19) ----------------------------------

def slurm_err_text(d, wf):
    """The text of every allocation's stderr (the workers' logs)."""
    slurm_dir = f"{d}/torc_output/{wf}/slurm"
    return "".join(open(os.path.join(slurm_dir, f)).read() for f in sorted(os.listdir(slurm_dir))
                   if f.endswith(".err")) if os.path.isdir(slurm_dir) else ""


def all_output_text(d):
    """Every file under <d>/torc_output (job and allocation output), as one text."""
    out = []
    for root, _, files in os.walk(f"{d}/torc_output"):
        for f in files:
            with open(os.path.join(root, f), errors="replace") as fh:
                out.append(fh.read())
    return "".join(out)


def allocations_ended(s, wf):
    """Whether every allocation of the workflow has ended (squeue has none running)."""
    ids = [a["slurm_job_id"] for a in s.status(wf)["allocations"]]
    running = subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True,
                             text=True).stdout.split()
    return bool(ids) and not any(i in running for i in ids)


def case_lab_step_limit(d):
    """MaxStepCount=25 (the lab's slurm.conf): 60 slurm-mode jobs, one allocation at a time. Each
    worker starts at most 24 steps (steps 0-23, one spare), leaves saying why, and `torc status`
    says so while nothing runs; `torc slurm schedule` asks for the next allocation until all ran.
    No srun ever fails with "Step limit reached", no job fails."""
    log = f"{d}/rec.txt"
    with submitted(d, f"""name: step_limit
resource_requirements:
  - {{name: r, num_cpus: 1, memory: 200m, runtime: PT2M}}
jobs:
  - name: j_{{i}}
    command: '{RECORD.format(sleep=0.1, cpus=1, log=log)}'
    resource_requirements: r
    scheduler: s
    parameters: {{i: "1:60"}}
""" + one_allocation("s", 1)) as (s, wf):
        allocations = 1
        while allocations <= 5:
            wait_for(lambda: allocations_ended(s, wf), bool, 150, 0.5)
            st = s.status(wf)
            if st["complete"]:
                break
            if allocations == 1:
                # Nothing runs now: status says why the worker left (not a silent stall).
                problems = " | ".join(p.get("message", "") for p in st["problems"])
                check("reached Slurm's step limit (MaxStepCount=25)" in problems,
                      f"torc status says the worker left at the step limit: {problems}")
                check(st["counts"]["completed"] == 24,
                      f"the first allocation ran 24 jobs (steps 0-23): {st['counts']}")
            r = s.cli("slurm", "schedule", str(wf))
            check(r.returncode == 0, f"torc slurm schedule: {r.stdout} {r.stderr}")
            allocations += 1
        st = s.wait(wf, timeout=60)
        check(st["counts"]["completed"] == 60, f"all 60 completed: {st['counts']}")
        check(allocations == 3, f"in three allocations (24 + 24 + 12 steps): {allocations}")
        recs = records(log, FIELDS)
        names = sorted(r["job"] for r in recs)
        check(names == sorted(f"j_{i}" for i in range(1, 61)), f"each job ran exactly once: {names}")
        steps = [int(r["step"]) for r in recs if r["step"].isdigit()]
        check(steps and max(steps) <= 23, f"no step id past 23: max {max(steps, default=None)}")
        jobs = s.jobs(wf)
        check(all(j["status"] == "completed" and j["attempt"] == 1 for j in jobs.values()),
              "no job failed or ran twice")
        err = slurm_err_text(d, wf)
        check(err.count("reached Slurm's step limit (MaxStepCount=25)") == 2,
              f"the first two workers left at the limit, saying why: {err[-800:]}")
        check("Step limit reached" not in all_output_text(d), "no srun hit Slurm's step limit")


def preemption_spec(name, log, mode):
    """Four 1-CPU jobs whose first attempt runs long, a failure handler that would leave a trace,
    one allocation of one node on the partition `low`. The first attempt execs its sleep: Slurm
    signals every process of the batch step, and a shell that outlived its killed sleep would
    record the attempt as done."""
    direct = DIRECT if mode == "direct" else ""
    return f"""name: {name}
{direct}failure_handlers:
  - name: h
    rules:
      - {{match_all_exit_codes: true, max_retries: 3, recovery_script: "echo $TORC_JOB_NAME >> {log}.handler"}}
resource_requirements:
  - {{name: r, num_cpus: 1, num_nodes: 1, memory: 300m, runtime: PT3M}}
jobs:
  - name: p_{{i}}
    command: '[ "$TORC_ATTEMPT" != 1 ] || exec sleep 120; echo "$TORC_JOB_NAME $TORC_ATTEMPT" >> {log}'
    resource_requirements: r
    failure_handler: h
    scheduler: s
    parameters: {{i: "1:4"}}
slurm_schedulers:
  - {{name: s, partition: low, nodes: 1, walltime: "00:10:00"}}
actions:
  - {{trigger_type: on_workflow_start, action_type: schedule_nodes, scheduler: s, scheduler_type: slurm, num_allocations: 1}}
"""


def preempt_once(s, wf):
    """A high-priority job on every node preempts torc's running allocation; returns its id."""
    st = wait_for(lambda: s.status(wf), lambda st: st["counts"]["running"] == 4, 90, 0.5)
    check(st["counts"]["running"] == 4, f"the four jobs run: {st['counts']}")
    time.sleep(2)
    r = subprocess.run(["sbatch", "--parsable", "-p", "high", "-N4", "--exclusive", "-o", "/dev/null",
                        "--wrap", "sleep 5"], capture_output=True, text=True)
    check(r.returncode == 0, f"sbatch -p high: {r.stderr}")
    return r.stdout.strip()


def check_preempted(s, d, wf, log, requeue):
    """Every job completed exactly once (attempt 2), the interrupted attempts say `preempted`,
    no retry used, no failure handler ran."""
    st = s.wait(wf, timeout=150)
    check(st["counts"]["completed"] == 4, f"all 4 completed: {st['counts']}")
    done = sorted(open(log).read().split("\n")) if os.path.exists(log) else []
    check([x for x in done if x] == [f"p_{i} 2" for i in range(1, 5)],
          f"each job completed exactly once, as attempt 2: {done}")
    ended = [(j["name"], a["status"], a["reason"]) for j in s.get(f"/workflows/{wf}/attempts")["jobs"]
             for a in j["attempts"] if a["status"] != "completed"]
    check(len(ended) == 4 and all(e[1:] == ("terminated", "preempted") for e in ended),
          f"the interrupted attempts were preempted: {ended}")
    jobs = s.jobs(wf)
    check(all(j.get("retries", 0) == 0 for j in jobs.values()), f"no retry used: {jobs}")
    check(not os.path.exists(f"{log}.handler"), "no failure handler ran")
    if requeue:
        check(len(st["allocations"]) == 1, f"Slurm restarted the one allocation: {st['allocations']}")
        check("Slurm requeued this allocation 1 time(s)" in slurm_err_text(d, wf),
              "the restarted worker said so (SLURM_RESTART_COUNT)")


def preemption_rounds(d, rounds):
    """Each (mode, requeue) of `rounds`: a workflow whose allocation on `low` is preempted."""
    for mode, requeue in rounds:
        sub = f"{d}/{mode}{'_requeue' if requeue else ''}"
        os.makedirs(sub)
        print(f"-- {mode} mode, PreemptMode={'REQUEUE' if requeue else 'CANCEL'}", flush=True)
        r = subprocess.run(["scontrol", "update", "PartitionName=low",
                            f"PreemptMode={'REQUEUE' if requeue else 'CANCEL'}"],
                           capture_output=True, text=True)
        check(r.returncode == 0, f"scontrol update PreemptMode: {r.stderr}")
        log = f"{sub}/done.txt"
        with submitted(sub, preemption_spec(f"preempt_{mode}", log, mode)) as (s, wf):
            preempt_once(s, wf)
            if not requeue:
                # CANCEL: the allocation is gone; a new one (after the high job) takes the rest.
                wait_for(lambda: allocations_ended(s, wf), bool, 90, 0.5)
                c = wait_for(lambda: s.status(wf)["counts"], lambda c: c["ready"] == 4, 30, 0.5)
                check(c["running"] == 0 and c["ready"] == 4, f"the jobs are ready again: {c}")
                r = s.cli("slurm", "schedule", str(wf))
                check(r.returncode == 0, f"torc slurm schedule: {r.stdout} {r.stderr}")
            else:
                # Slurm holds a requeued job back (BeginTime about 2 min on): start it now.
                job = s.status(wf)["allocations"][0]["slurm_job_id"]
                wait_for(lambda: subprocess.run(["squeue", "-h", "-j", job, "-o", "%T"],
                                                capture_output=True, text=True).stdout.strip(),
                         lambda st: st == "PENDING", 60, 0.5)
                subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now"],
                               capture_output=True)
            check_preempted(s, sub, wf, log, requeue)
        no_slurm_jobs_left()


# TORC_LAB_MODES=direct (or slurm) narrows the preemption cases to one mode while developing.
PREEMPT_MODES = os.environ.get("TORC_LAB_MODES", "direct slurm").split()


def case_lab_preemption(d):
    """Partitions low (PriorityTier=1, GraceTime=5, PreemptMode=CANCEL) and high over the same
    nodes (the lab's slurm.conf): torc's allocation on low is preempted mid-run by a job on
    high, in direct mode and in slurm mode; then with PreemptMode=REQUEUE, where Slurm restarts
    the allocation itself."""
    preemption_rounds(d, [(m, q) for m in PREEMPT_MODES for q in (False, True)])


def case_lab_preemption_user_signal(d):
    """The same with Slurm told to send the job's --signal at preemption (22.05:
    SchedulerParameters=preempt_send_user_signal): CANCEL then REQUEUE, in both modes."""
    sched = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True).stdout
    check("preempt_send_user_signal" in sched, "the lab sends the user signal at preemption")
    preemption_rounds(d, [(m, q) for m in PREEMPT_MODES for q in (False, True)])


def lab_netns(node):
    """The network namespace of lab node `node` (start-cluster.sh's netns.tag)."""
    lab = os.path.dirname(os.path.dirname(os.environ["SLURM_CONF"]))
    return open(f"{lab}/netns.tag").read().strip() + "-" + node


def kill_node(node):
    """The node dies: kill -9 every process of its namespace (its slurmd, its slurmstepds, which
    survive slurmd under proctrack/linuxproc, and their tasks)."""
    killed = 0
    for _ in range(5):  # again: a step being set up as the node dies may fork after a listing
        pids = subprocess.run(["ip", "netns", "pids", lab_netns(node)], capture_output=True,
                              text=True).stdout.split()
        for p in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(p), 9)
                killed += 1
        time.sleep(0.2)
    check(killed, f"{node} had processes to kill")


def revive_node(node):
    """The node comes back: its slurmd again (as start-cluster.sh starts it), then resumed."""
    subprocess.run(["nsenter", f"--net=/run/netns/{lab_netns(node)}", "unshare", "--uts", "sh",
                    "-c", f"hostname {node} && exec slurmd -N {node}"], check=True)
    wait_for(lambda: subprocess.run(["scontrol", "update", f"NodeName={node}", "State=RESUME"],
                                    capture_output=True).returncode, lambda rc: rc == 0, 30, 1)


def lost_node_spec(log, extra=""):
    """24 one-CPU slurm-mode jobs of 4 s on a 4-node allocation; each records its attempt and
    node when it ends."""
    return f"""name: lost_node
resource_requirements:
  - {{name: r, num_cpus: 1, memory: 200m, runtime: PT2M}}
jobs:
  - name: j_{{i}}
    command: 'sleep 4; echo "$TORC_JOB_NAME $TORC_ATTEMPT $SLURMD_NODENAME $(date +%s.%N)" >> {log}'
    resource_requirements: r
    scheduler: s
    parameters: {{i: "1:24"}}
slurm_schedulers:
  - {{name: s, nodes: 4, walltime: "00:10:00"{extra}}}
actions:
  - {{trigger_type: on_workflow_start, action_type: schedule_nodes, scheduler: s, scheduler_type: slurm, num_allocations: 1}}
"""


def check_nothing_lost(s, wf, log):
    """Every job completed; each ran to its end at most once per attempt, the last time in its
    final attempt; every attempt is recorded."""
    st = s.wait(wf, timeout=240)
    check(st["counts"]["completed"] == 24, f"all 24 completed: {st['counts']}")
    recs = [line.split() for line in open(log).read().splitlines() if line.strip()]
    pairs = [(r[0], int(r[1])) for r in recs]
    check(len(pairs) == len(set(pairs)), f"no job ran twice in the same attempt: {sorted(pairs)}")
    jobs = s.jobs(wf)
    final = {(name, j["attempt"]) for name, j in jobs.items()}
    check(final <= set(pairs), f"each job's final attempt ran to its end: {sorted(final - set(pairs))}")
    recorded = {j["name"]: [a["attempt"] for a in j["attempts"]]
                for j in s.get(f"/workflows/{wf}/attempts")["jobs"]}
    check(all(recorded[n] == list(range(1, j["attempt"] + 1)) for n, j in jobs.items()),
          f"every attempt is recorded: {recorded}")
    return st, recs


def slurm_state(job):
    """squeue's state of Slurm job `job` ("" once it is gone)."""
    return subprocess.run(["squeue", "-h", "-j", job, "-o", "%T"], capture_output=True,
                          text=True).stdout.strip()


def case_lab_lost_node(d):
    """SlurmdTimeout=5 (the lab's slurm.conf). A node of a running 4-node slurm-mode allocation
    dies (kill -9 of everything in its namespace). srun says "Node failure on n3" (and exits 0:
    measured), or another error: the jobs it ran there are requeued as Slurm's failures naming
    n3, the worker keeps off the
    node; Slurm then ends the allocation (NODE_FAIL) and requeues it, unless the worker finished
    first. Once the node is back the workflow completes: nothing lost, no job run twice in one
    attempt. Then with --no-kill: the allocation lives on and the worker finishes on the other
    three nodes."""
    log = f"{d}/rec.txt"
    with submitted(d, lost_node_spec(log)) as (s, wf):
        wait_for(lambda: s.status(wf)["counts"]["running"], lambda n: n >= 12, 90, 0.3)
        job = s.status(wf)["allocations"][0]["slurm_job_id"]
        kill_node("n3")
        # The worker finishes on the other nodes, or Slurm ends the allocation first.
        state = wait_for(lambda: "done" if s.status(wf)["complete"] else slurm_state(job),
                         lambda st: st not in ("RUNNING", "COMPLETING"), 150, 1)
        check(state in ("done", "PENDING", ""), f"the workflow or the allocation ended: {state!r}")
        revive_node("n3")
        if state == "PENDING":  # requeued by Slurm (BeginTime about 2 min on): start it now
            subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now"],
                           capture_output=True)
        elif state == "":
            check(s.cli("slurm", "schedule", str(wf)).returncode == 0, "torc slurm schedule")
        st, recs = check_nothing_lost(s, wf, log)
        attempts = [(j["name"], a) for j in s.get(f"/workflows/{wf}/attempts")["jobs"]
                    for a in j["attempts"]]
        lost = [(n, a["status"], a["reason"], a["nodes"]) for n, a in attempts
                if a["status"] != "completed"]
        check(lost, "the jobs the dead node ran were run again in a new attempt")
        check(all(r[1] == "terminated" and r[2] for r in lost),
              f"each interrupted attempt was requeued, saying why: {lost}")
        # srun says "Node failure on n3" or, when it loses the step first, "Communication
        # connection failure" or "Unable to get address: ..." (all seen on this lab); the worker
        # names the node of a step Slurm failed: the dead node is in the reason of each job that
        # ran there, even when Slurm requeued the allocation as they died.
        on_n3 = [r for r in lost if r[3] == "n3"]
        check(on_n3 and all(r[2] == "slurm: Node failure on n3" or
                            (r[2].startswith("slurm: ") and r[2].endswith(", on n3"))
                            for r in on_n3),
              f"the dead node n3 is named in the reason of each job it ran: {lost}")
        # Jobs elsewhere were interrupted only by Slurm requeueing the allocation.
        check(all(r[2] in ("preempted", "stopped") for r in lost if r[3] != "n3") and
              (state != "done" or len(on_n3) == len(lost)),
              f"the jobs on other nodes ran on, unless Slurm ended or requeued the allocation "
              f"({state}): {lost}")
        # Slurm may still hold a requeued copy of the allocation (its worker would find the
        # workflow complete); the next round needs the nodes.
        subprocess.run(["scancel", job])
    no_slurm_jobs_left()
    log = f"{d}/no_kill.txt"
    os.makedirs(f"{d}/no_kill")
    with submitted(f"{d}/no_kill", lost_node_spec(log, ', extra: "--no-kill"')) as (s, wf):
        wait_for(lambda: s.status(wf)["counts"]["running"], lambda n: n >= 12, 90, 0.3)
        killed_at = time.time()
        kill_node("n4")
        st, recs = check_nothing_lost(s, wf, log)
        check(len(st["allocations"]) == 1, f"in the one allocation: {st['allocations']}")
        late_on_n4 = [r for r in recs if r[2] == "n4" and float(r[3]) > killed_at + 1]
        check(not late_on_n4, f"nothing ran on the dead node after it died: {late_on_n4}")
        attempts = [a for j in s.get(f"/workflows/{wf}/attempts")["jobs"] for a in j["attempts"]]
        lost = [a for a in attempts if a["status"] != "completed"]
        # srun's words vary (above): Slurm's failures either way, each naming n4.
        check(lost and all(a["status"] == "terminated" and
                           (a["reason"] == "slurm: Node failure on n4" or
                            (a["reason"].startswith("slurm: ") and a["reason"].endswith(", on n4")))
                           for a in lost),
              f"the jobs of the dead node were requeued as Slurm's failures: "
              f"{[(a['status'], a['reason']) for a in lost]}")
        # Its 4 CPUs held 4 jobs when it died; a step started there after that failed too, and
        # then the worker kept off the node, saying so.
        if len(lost) > 4:
            check("node n4" in slurm_err_text(f"{d}/no_kill", wf),
                  f"the worker said it stopped using n4: {slurm_err_text(f'{d}/no_kill', wf)[-600:]}")
        subprocess.run(["scancel", *[a["slurm_job_id"] for a in st["allocations"]]])
    revive_node("n4")
    no_slurm_jobs_left()


# ---- HTTPS and a server that moves (issue 17) ------------------------------------------------

def case_https_on_the_lab(d):
    """The server on the lab's login address serves HTTPS only: a plain-HTTP request gets no
    workflow data, and a client whose data directory holds another certificate (with this
    server's token and URL) is refused with a clear message. (Every other case runs its
    workflow over HTTPS too: SERVER_FLAGS.)"""
    with submitted(d, analysis_spec("https", 4, 1, f"{d}/rec.txt")) as (s, wf):
        got = plain_http_answer(LOGIN_IP, s.port, s.token())
        check(b"https" not in got and b"HTTP/" not in got,
              f"http:// to {LOGIN_IP}:{s.port} gets no data ({got[:80]!r})")
        with Server(TORC, f"{d}/elsewhere", ["--tls"], log_path=f"{d}/elsewhere.log"):
            pass  # made its own key and certificate
        other = f"{d}/other"
        os.makedirs(other, mode=0o700)
        for f in ("token", "server.url"):
            shutil.copy(f"{d}/data/{f}", f"{other}/{f}")
        shutil.copy(f"{d}/elsewhere/server.crt", f"{other}/server.crt")
        r = run_torc(TORC, ["workflows", "list"], dict(s.env, TORC_DATA_DIR=other))
        check(r.returncode == 1 and "presented a certificate whose key is" in r.stderr and
              f"not the key of {other}/server.crt" in r.stderr,
              f"a client with another certificate is refused, saying why: {r.stderr.strip()}")
        st = s.wait(wf)
        check(st["counts"]["completed"] == 4, f"the workflow ran over HTTPS: {st['counts']}")


def case_server_moves(d):
    """The server stops while a workflow runs on two nodes (one worker per node) and comes back
    on another port: the workers read the shared data directory's server.url again and carry
    on, and every job completes exactly once."""
    log = f"{d}/rec.txt"
    spec = analysis_spec("moves", 24, 2, log, direct=True).replace("sleep 0.3", "sleep 1")
    with submitted(d, spec) as (s, wf):
        check(wait_for(lambda: len(records(log, FIELDS)) if os.path.exists(log) else 0,
                       lambda n: n >= 4, 120, 0.3), "jobs ran before the move")
        old = s.url
        s.stop()
        time.sleep(1)
        s.port = free_port()
        s.start()
        check(s.url != old, f"moved: {old} -> {s.url}")
        st = s.wait(wf, timeout=240)
        check(st["counts"]["completed"] == 24, f"all 24 completed after the move: {st['counts']}")
        recs = records(log, FIELDS)
        names = sorted(r["job"] for r in recs)
        check(names == sorted(f"analyze_{i}" for i in range(1, 25)),
              f"every job ran exactly once: {names}")
        again = [j["name"] for j in s.get(f"/workflows/{wf}/attempts")["jobs"]
                 if len(j["attempts"]) != 1]
        check(not again, f"... each in one attempt: {again}")
        check(len(st["allocations"]) == 1, f"in the one allocation: {st['allocations']}")
        check_hosts(s, wf, recs)
        slurm_dir = f"{d}/torc_output/{wf}/slurm"
        err = "".join(open(os.path.join(slurm_dir, f)).read() for f in os.listdir(slurm_dir)
                      if f.endswith(".err"))
        check(f"cannot reach server at {old}" in err and "the server answers again" in err,
              f"the workers lost the server at its old address and found it again: {err[-600:]}")


def case_lab_generate(d):
    """`torc submit --slurm` on the two-partition lab (cpu = n1-n2; gpu = n3-n4, 2 GPUs each):
    a workflow with no schedulers or actions — 40 CPU jobs, 4 GPU jobs after them, a fan-in —
    completes with the setup torc derives from `scontrol`; the GPU jobs run on n3/n4, the CPU
    jobs on n1/n2, and no stage's allocation is asked for before its jobs are ready. A job
    larger than every node is refused naming it and the largest node; the cluster saved with
    --save-cluster plans the same elsewhere (no scontrol)."""
    log = f"{d}/rec.txt"
    gpu_record = ('s=$(date +%s.%N); sleep 2; echo "$TORC_JOB_NAME ${SLURMD_NODENAME:-none} '
                  '${CUDA_VISIBLE_DEVICES:-none} $s $(date +%s.%N) $(hostname)" >> ' + f"{d}/gpu.txt")
    spec = f"""name: generated
resource_requirements:
  - {{name: small, num_cpus: 1, memory: 200m, runtime: PT1M}}
  - {{name: gpu, num_cpus: 1, num_gpus: 1, memory: 200m, runtime: PT1M}}
jobs:
  - name: prep_{{i}}
    command: '{RECORD.format(sleep=0.5, cpus=1, log=log)}'
    resource_requirements: small
    parameters: {{i: "1:40"}}
  - name: train_{{g}}
    command: '{gpu_record}'
    resource_requirements: gpu
    depends_on_regexes: ["^prep_"]
    parameters: {{g: "1:4"}}
  - name: fanin
    command: '{RECORD.format(sleep=0.1, cpus=1, log=log)}'
    resource_requirements: small
    depends_on_regexes: ["^train_"]
"""
    write(f"{d}/wf.yaml", spec)
    r = run_torc(TORC, ["slurm", "generate", "wf.yaml"], cwd=d)
    check(r.returncode == 0, f"torc slurm generate: exit {r.returncode} {r.stderr}")
    check("partition: gpu" in r.stdout and "gres: gpu:2" in r.stdout and "partition: cpu" in r.stdout,
          f"the GPU jobs get the gpu partition with its GPUs, the others cpu: {r.stdout[:1500]}")
    check("stage 1: 4 job(s)" in r.stderr and "when ready" in r.stderr, f"the stages: {r.stderr}")
    # Larger than every node: exit 1 naming the job and the largest node (the lab's scontrol).
    write(f"{d}/big.yaml", """name: big
resource_requirements: [{name: huge, num_cpus: 16, runtime: PT10M}]
jobs:
  - {name: fine, command: "true"}
  - {name: hog, command: "true", resource_requirements: huge}
""")
    r = run_torc(TORC, ["slurm", "generate", "big.yaml"], cwd=d)
    check(r.returncode == 1 and "job 'hog' needs 16 CPUs" in r.stderr
          and "the largest node has 4 CPUs, 2 GPUs" in r.stderr and r.stdout == "",
          f"too large: exit {r.returncode}: {r.stderr}")
    # The cluster saved here plans the same where there is no Slurm.
    r = run_torc(TORC, ["slurm", "generate", "--save-cluster", "cluster.json"], cwd=d)
    check(r.returncode == 0, f"--save-cluster: {r.stderr}")
    here = run_torc(TORC, ["slurm", "plan", "wf.yaml", "--json"], cwd=d)
    away = run_torc(TORC, ["slurm", "plan", "wf.yaml", "--json", "--cluster-file", "cluster.json"],
                    cwd=d, env=dict(os.environ, TORC_SCONTROL="/bin/false"))
    check(here.returncode == 0 and away.returncode == 0 and
          json.loads(here.stdout)["groups"] == json.loads(away.stdout)["groups"],
          f"plan from the cluster file = plan from scontrol: {here.stderr} {away.stderr}")
    with Server(TORC, f"{d}/data", SERVER_FLAGS, log_path=f"{d}/server.log") as s:
        r = s.cli("submit", "--json", "--slurm", "wf.yaml", cwd=d)
        check(r.returncode == 0, f"torc submit --slurm: exit {r.returncode} {r.stderr}")
        wf = json.loads(r.stdout)["workflow_id"]
        st = s.wait(wf, timeout=300)
        check(st["complete"] and st["counts"]["completed"] == 45, f"all 45 completed: {st['counts']}")
        placed = placed_on(s, wf)
        gpu_nodes = {n for j, ns in placed.items() if j.startswith("train_") for n in ns}
        cpu_nodes = {n for j, ns in placed.items() if not j.startswith("train_") for n in ns}
        check(gpu_nodes and gpu_nodes <= {"n3", "n4"}, f"the GPU jobs ran on n3/n4: {gpu_nodes}")
        check(cpu_nodes and cpu_nodes <= {"n1", "n2"}, f"the CPU jobs ran on n1/n2: {cpu_nodes}")
        g = lines_of(f"{d}/gpu.txt")
        check(len(g) == 4 and all(l[2] != "none" for l in g), f"each GPU job saw a GPU: {g}")
        check_hosts(s, wf, records(log, FIELDS), "every CPU job")
        # When each stage became ready: its last parent's end (the server's attempt records).
        ends = {j["name"]: max(a["end_time"] for a in j["attempts"] if a["status"] == "completed")
                for j in s.get(f"/workflows/{wf}/attempts")["jobs"]}
        ready = {1: max(t for n, t in ends.items() if n.startswith("prep_")),
                 2: max(t for n, t in ends.items() if n.startswith("train_"))}
        allocs = st["allocations"]
        by_action = {}
        for a in allocs:
            by_action.setdefault(a["action"], []).append(a)
        check(sorted(by_action) == [0, 1, 2] and len(by_action[0]) == 2 and len(by_action[1]) == 2
              and len(by_action[2]) == 1, f"2 CPU, 2 GPU, 1 fan-in allocations: {allocs}")
        for action, stage in ((1, 1), (2, 2)):
            early = [a for a in by_action.get(action, []) if a["submitted_at"] < ready[stage]]
            check(not early, f"stage {stage}: no allocation before its jobs were ready "
                  f"({ready[stage]:.2f}): {early}")
def case_lab_elastic(d):
    """An elastic action (max_allocations 3, idle_timeout 15 s) of a 1-node scheduler runs 60
    jobs of 2 s (1 CPU each), a `straggler` of 30 s and a `sum` after all of them: more than
    one allocation is used, never more than 3 are live at once (by torc's records and by squeue
    sampled every 0.5 s), all complete, and no allocation stays idle (from its last job's end,
    or its start, to its end) longer than idle_timeout + 10 s: those idle while the straggler
    runs leave at their idle timeout although `sum` waits for it. `torc status` prints the
    action's autoscale line."""
    import threading
    log = f"{d}/rec.txt"
    idle_timeout = 15
    command = ('s=$(date +%s.%N); sleep {sleep}; '
               f'echo "$TORC_JOB_NAME $SLURM_JOB_ID $s $(date +%s.%N)" >> {log}')
    seen = {"max": 0, "samples": 0, "stop": False}

    def sample_squeue():
        while not seen["stop"]:
            out = subprocess.run(["squeue", "-h", "-o", "%i %j %T"], capture_output=True,
                                 text=True).stdout.split("\n")
            live = [x for x in out if " torc_" in x]
            seen["max"] = max(seen["max"], len(live))
            seen["samples"] += 1
            time.sleep(0.5)

    sampler = threading.Thread(target=sample_squeue, daemon=True)
    sampler.start()
    with submitted(d, f"""name: elastic
resource_requirements:
  - {{name: r, num_cpus: 1, memory: 200m, runtime: PT2M}}
jobs:
  - name: j_{{i}}
    command: '{command.format(sleep=2)}'
    resource_requirements: r
    scheduler: s
    parameters: {{i: "1:60"}}
  - name: straggler
    command: '{command.format(sleep=30)}'
    resource_requirements: r
    scheduler: s
  - name: sum
    command: '{command.format(sleep=0)}'
    resource_requirements: r
    scheduler: s
    depends_on_regexes: ["^j_", "^straggler$"]
slurm_schedulers:
  - {{name: s, nodes: 1, walltime: "00:10:00"}}
actions:
  - {{trigger_type: on_workflow_start, action_type: schedule_nodes, scheduler: s,
     max_allocations: 3, idle_timeout: {idle_timeout}}}
""") as (s, wf):
        t0 = time.time()
        line = wait_for(lambda: s.cli("status", str(wf)).stdout,
                        lambda out: "autoscale: action 0 (s)" in out, 30, 0.5)
        check("autoscale: action 0 (s)" in line, f"torc status prints the autoscale line: {line}")
        st = s.wait(wf, timeout=240)
        check(st["counts"]["completed"] == 62, f"all 62 completed: {st['counts']}")
        print(f"   all 62 completed in {time.time() - t0:.1f} s", flush=True)
        auto = st.get("autoscale", [])
        check(len(auto) == 1 and auto[0]["why"] == "not asking: the workflow is complete",
              f"status autoscale once complete: {auto}")
        check(wait_for(lambda: allocations_ended(s, wf), bool, 120, 0.5),
              "every allocation ended by itself (idle timeout or the workflow complete)")
        st = wait_for(lambda: s.status(wf), lambda x: all(a["ended_at"] for a in x["allocations"]),
                      30, 0.5)
        seen["stop"] = True
        sampler.join()
        allocs = st["allocations"]
        for a in allocs:
            print(f"   allocation {a['slurm_job_id']}: submitted +{a['submitted_at'] - t0:.1f} s, "
                  f"started +{(a['started_at'] or 0) - t0:.1f} s, ended +{a['ended_at'] - t0:.1f} s, "
                  f"{a['state']}", flush=True)
        check(all(a["action"] == 0 for a in allocs), f"every allocation is the action's: {allocs}")
        live = max_overlap([(a["submitted_at"], a["ended_at"], 1) for a in allocs])
        check(live <= 3, f"never more than 3 allocations live at once (torc's records): {live}")
        check(seen["samples"] > 10 and seen["max"] <= 3,
              f"never more than 3 in squeue at once: max {seen['max']} over {seen['samples']} samples")
        recs = records(log, ["job", "alloc", "start:f", "end:f"])
        names = sorted(r["job"] for r in recs)
        check(names == sorted([f"j_{i}" for i in range(1, 61)] + ["straggler", "sum"]),
              f"each job ran exactly once: {names}")
        used = {r["alloc"] for r in recs}
        check(len(used) > 1, f"more than one allocation ran jobs: {sorted(used)}")
        worst = 0
        for a in allocs:
            ends = [r["end"] for r in recs if r["alloc"] == a["slurm_job_id"]]
            busy_until = max(ends) if ends else (a["started_at"] or a["submitted_at"])
            idle = a["ended_at"] - busy_until
            worst = max(worst, idle)
            check(idle <= idle_timeout + 10,
                  f"allocation {a['slurm_job_id']} idle {idle:.1f} s before its end "
                  f"(at most {idle_timeout} + 10)")
        print(f"   {len(allocs)} allocations, {len(used)} ran jobs, at most {live} live at once "
              f"(squeue: {seen['max']}), longest idle {worst:.1f} s", flush=True)
        events = events_text(s, wf)
        check("autoscale action 0: asking for" in events, "the requests are events (autoscale)")
        idle_left = events.count(f"idle for {idle_timeout} s")
        check(idle_left >= 1, f"workers left at their idle timeout while 'sum' waited: {idle_left}")


if __name__ == "__main__":
    if not os.environ.get("SLURM_CONF"):
        print("SLURM_CONF is not set: run under tests/slurm/with-cluster.sh", file=sys.stderr)
        sys.exit(2)
    # lab_* cases need a lab of their own (tests/CMakeLists.txt starts it) and run by name.
    cases = cases_of(globals())
    names = sys.argv[2:] or [n for n in cases if not n.startswith("lab_")]
    run_cases(cases, names, "torc-slurm")
    finish(passed="all slurm end-to-end checks passed")
