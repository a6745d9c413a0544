#!/usr/bin/env bash
# `torc validate` and `torc plan` as a user runs them: exit codes, output, JSON schema.
# Usage: spec_cli_test.sh TORC_BINARY SOURCE_DIR
set -uo pipefail
torc=$1
src=$2
# Torc's examples and the seed files live beside the project, in ../shared (never copied).
shared=${TORC_SHARED_EXAMPLES:-$src/../shared/spec-examples}
. "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# validate: one-line summary, exit 0
out=$("$torc" validate "$shared/seed/preprocess_then_train.yaml"); rc=$?
expect_eq "validate exit code" "$rc" 0
expect_eq "validate summary" "$out" "ok: preprocess_then_train: 9 jobs, 8 dependencies, 2 schedulers, 2 actions"

for f in "$shared"/seed/*.yaml "$shared"/torc/*.yaml "$src"/examples/*.yaml; do
  "$torc" validate "$f" >/dev/null 2>"$tmp/err" || fail "validate $f: $(cat "$tmp/err")"
done

# validate: errors with file:line:col, exit 1, nothing else on stdout
cat > "$tmp/bad.yaml" <<'YAML'
name: bad
jobs:
  - name: a
    command: echo a
    depends_on: [b]
  - name: c
    comand: echo c
YAML
out=$("$torc" validate "$tmp/bad.yaml" 2>"$tmp/err"); rc=$?
expect_eq "bad file exit code" "$rc" 1
expect_eq "bad file stdout" "$out" ""
expect_eq "bad file errors" "$(cat "$tmp/err")" "$tmp/bad.yaml:6:5: job 'c' needs 'command'
$tmp/bad.yaml:7:5: unknown key 'comand' in job 'c'; did you mean 'command'?
torc: 2 error(s) in $tmp/bad.yaml; nothing was created"

# missing file
out=$("$torc" validate "$tmp/nope.yaml" 2>&1); rc=$?
expect_eq "missing file exit code" "$rc" 1
expect_contains "missing file message" "$out" "$tmp/nope.yaml: cannot read the file: No such file or directory"

# plan --json: the documented schema
"$torc" plan --json "$shared/seed/preprocess_then_train.yaml" > "$tmp/plan.json"; rc=$?
expect_eq "plan --json exit code" "$rc" 0
python3 - "$tmp/plan.json" <<'PY' || fail "plan --json schema"
import json, sys
d = json.load(open(sys.argv[1]))
jobs = {j["name"]: j for j in d["jobs"]}
assert len(jobs) == 9, len(jobs)
t = jobs["train"]
assert t["depends_on"] == sorted("prep_%d" % i for i in range(1, 9)), t["depends_on"]
for key in ["name", "command", "depends_on", "num_cpus", "memory_bytes", "num_gpus", "num_nodes",
            "runtime_seconds", "scheduler"]:
    assert key in t, key
assert t["num_nodes"] == 4 and t["num_cpus"] == 32 and t["memory_bytes"] == 128 << 30
assert t["runtime_seconds"] == 4 * 3600 and t["scheduler"] == "training_nodes"
assert jobs["prep_1"]["command"] == "python preprocess.py --shard 1"
assert [s["name"] for s in d["schedulers"]] == ["prep_nodes", "training_nodes"]
a = d["actions"][1]
assert a["trigger_type"] == "on_jobs_ready" and a["jobs"] == ["train"], a
assert d["dependency_count"] == 8
PY

# plan (table form) mentions every job and its command
out=$("$torc" plan "$shared/torc/diamond_workflow.yaml")
expect_contains "plan text" "$out" "postprocess  [1 cpu"
expect_contains "plan text deps" "$out" "depends on: work1 work2"

# validate warns (stderr, exit 0) about what will not run as expected (#14)
rm -rf "$tmp"  # the trap removes only the last one
tmp=$(mktemp -d)
printf 'name: w\nresource_requirements:\n  - {name: long, runtime: PT2H}\njobs:\n  - {name: slow, command: x, resource_requirements: long, scheduler: s}\nslurm_schedulers:\n  - {name: s, walltime: "00:10:00"}\nactions:\n  - {trigger_type: on_workflow_start, action_type: schedule_nodes, scheduler: s, scheduler_type: slurm}\n' > "$tmp/slow.yaml"
out=$("$torc" validate "$tmp/slow.yaml" 2>"$tmp/err"); rc=$?
expect_eq "validate with a warning: exit code" "$rc" 0
expect_contains "validate warning" "$(cat "$tmp/err")" "$tmp/slow.yaml: warning: job 'slow' can never run: runtime 7200 s exceeds the walltime of 's' (00:10:00); raise the scheduler's walltime or nodes, or lower the job's runtime"
printf 'name: w\njobs:\n  - {name: a, command: x}\n' > "$tmp/local.yaml"
"$torc" validate "$tmp/local.yaml" 2>"$tmp/err" >/dev/null
expect_contains "validate: no schedulers" "$(cat "$tmp/err")" "warning: no slurm_schedulers: 'torc submit' alone will not run the jobs"
"$torc" validate "$shared/seed/preprocess_then_train.yaml" 2>"$tmp/err" >/dev/null
expect_eq "a seed workflow has no warning" "$(cat "$tmp/err")" ""
rm -rf "$tmp"

# torc slurm generate / plan, off a cluster: scontrol (a fake that prints the lab's records)
# or a cluster file; what each says when it cannot.
tmp=$(mktemp -d)
printf '#!/bin/bash\ncase "$2" in partition) cat "%s";; node) cat "%s";; esac\n' \
  "$src/tests/data/slurm/lab_partitions.txt" "$src/tests/data/slurm/lab_nodes.txt" > "$tmp/scontrol"
chmod +x "$tmp/scontrol"
printf 'name: g\nresource_requirements: [{name: gpu, num_gpus: 1, runtime: PT5M}]\njobs:\n  - {name: a, command: x}\n  - {name: b, command: y, depends_on: [a], resource_requirements: gpu}\n' > "$tmp/wf.yaml"
TORC_SCONTROL=/nonexistent "$torc" slurm generate "$tmp/wf.yaml" >"$tmp/out" 2>"$tmp/err"; rc=$?
expect_eq "generate without Slurm: exit code" "$rc" 1
expect_contains "generate without Slurm says what to do" "$(cat "$tmp/err")" "or pass --cluster-file FILE written there by \`torc slurm generate --save-cluster FILE\`"
TORC_SCONTROL=$tmp/scontrol "$torc" slurm generate --save-cluster "$tmp/cluster.json" 2>"$tmp/err"; rc=$?
expect_eq "--save-cluster: exit code" "$rc" 0
expect_contains "--save-cluster wrote the partitions" "$(cat "$tmp/cluster.json")" '"name": "gpu"'
TORC_SCONTROL=/nonexistent "$torc" slurm generate "$tmp/wf.yaml" --cluster-file "$tmp/cluster.json" -o "$tmp/gen.yaml" --account acct 2>"$tmp/err"; rc=$?
expect_eq "generate from the cluster file: exit code" "$rc" 0
expect_contains "generate: summary" "$(cat "$tmp/err")" "stage 1: 1 job(s) on gpu_gpu (partition gpu)"
"$torc" validate "$tmp/gen.yaml" >/dev/null 2>"$tmp/err"; rc=$?
expect_eq "the generated file validates" "$rc" 0
expect_eq "... without a warning" "$(cat "$tmp/err")" ""
expect_contains "the generated file: a stage-1 action" "$("$torc" plan --json "$tmp/gen.yaml")" '"on_jobs_ready"'
"$torc" slurm generate "$tmp/wf.yaml" --cluster-file "$tmp/cluster.json" --partition cpu >/dev/null 2>"$tmp/err"; rc=$?
expect_eq "a GPU job on the cpu partition: exit code" "$rc" 1
expect_contains "... names the job and the largest node" "$(cat "$tmp/err")" "job 'b' needs 1 CPUs, 1 GPUs, no memory request per node on 1 node for 00:05:00: partition cpu has a node that large"
"$torc" slurm plan "$tmp/wf.yaml" --cluster-file "$tmp/cluster.json" --json >"$tmp/plan.json"; rc=$?
expect_eq "plan --json: exit code" "$rc" 0
expect_eq "plan --json: two groups, both strategies" "$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(len(j["groups"]), sorted(j["strategies"]), j["recommendation"] in ("many_small","one_large"))' "$tmp/plan.json")" "2 ['many_small', 'one_large'] True"
# The seed parallel_analysis on a site's partitions (scontrol -o text of tests/data/slurm/site_*).
printf '#!/bin/bash\ncase "$2" in partition) cat "%s";; node) cat "%s";; esac\n' \
  "$src/tests/data/slurm/site_partitions.txt" "$src/tests/data/slurm/site_nodes.txt" > "$tmp/scontrol"
TORC_SCONTROL=$tmp/scontrol "$torc" slurm plan "$shared/seed/parallel_analysis.yaml" --max-nodes 4 --json >"$tmp/plan.json"; rc=$?
expect_eq "plan --json on the seed parallel_analysis: exit code" "$rc" 0
expect_eq "... both strategies with node-hours" "$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); s=j["strategies"]; print(s["one_large"]["node_hours"], 0 < s["many_small"]["node_hours"] < s["one_large"]["node_hours"], j["groups"][0]["partition"])' "$tmp/plan.json")" "16.0 True standard"
echo '{"partitions": 3}' > "$tmp/bad.json"
"$torc" slurm plan "$tmp/wf.yaml" --cluster-file "$tmp/bad.json" >/dev/null 2>"$tmp/err"; rc=$?
expect_eq "a bad cluster file: exit code" "$rc" 1
expect_contains "... says what it is not" "$(cat "$tmp/err")" "bad.json: not a torc cluster file"
rm -rf "$tmp"

# Keys torc does not act on: a located warning (exit 0); --strict makes it an error (exit 1),
# for validate and run (nothing runs).
tmp=$(mktemp -d)
printf 'name: w\nuse_pending_failed: true\njobs:\n  - {name: a, command: "touch %s/ran"}\n' "$tmp" > "$tmp/keys.yaml"
"$torc" validate "$tmp/keys.yaml" >/dev/null 2>"$tmp/err"; rc=$?
expect_eq "validate with an ignored key: exit code" "$rc" 0
expect_contains "validate: the key's warning" "$(cat "$tmp/err")" "$tmp/keys.yaml:2:1: warning: 'use_pending_failed' has no effect in torc: failed jobs run again through failure_handlers or 'torc restart --failed'"
"$torc" validate --strict "$tmp/keys.yaml" >/dev/null 2>"$tmp/err"; rc=$?
expect_eq "validate --strict: exit code" "$rc" 1
expect_contains "validate --strict says why" "$(cat "$tmp/err")" "keys.yaml: 2 warnings, which --strict makes errors"
(cd "$tmp" && "$torc" run --strict keys.yaml >/dev/null 2>"$tmp/err"); rc=$?
expect_eq "run --strict: exit code" "$rc" 1
expect_contains "run --strict: the key" "$(cat "$tmp/err")" "keys.yaml:2:1: warning: 'use_pending_failed' has no effect in torc"
[[ -e $tmp/ran ]] && fail "run --strict ran the job"
rm -rf "$tmp"

# "@file" parameter values: read from the file, one per line, the path taken from the workflow
# file's directory (not the working directory); validate, plan and run all read it.
tmp=$(mktemp -d)
mkdir -p "$tmp/wf" "$tmp/elsewhere"
printf '# the sizes\n1\n\n  2.5  \nbig\n' > "$tmp/wf/vals.txt"
cat > "$tmp/wf/sweep.yaml" <<YAML
name: atfile
jobs:
  - name: j_{x}
    command: touch $tmp/ran_{x}
    parameters:
      x: "@vals.txt"
YAML
(cd "$tmp/elsewhere" && "$torc" plan --json ../wf/sweep.yaml >"$tmp/plan.json" 2>"$tmp/err"); rc=$?
expect_eq "plan --json with @file from another directory: exit code" "$rc" 0
expect_eq "... the jobs come from the file's lines" \
  "$(python3 -c 'import json,sys; print(" ".join(j["name"] for j in json.load(open(sys.argv[1]))["jobs"]))' "$tmp/plan.json")" \
  "j_1 j_2.5 j_big"
out=$(cd "$tmp/elsewhere" && "$torc" validate ../wf/sweep.yaml 2>&1); rc=$?
expect_eq "validate with @file: exit code" "$rc" 0
expect_contains "validate with @file: 3 jobs" "$out" "ok: atfile: 3 jobs"
(cd "$tmp/elsewhere" && "$torc" run ../wf/sweep.yaml --output-dir out >"$tmp/out" 2>&1); rc=$?
expect_eq "run with @file: exit code" "$rc" 0
for v in 1 2.5 big; do [[ -e $tmp/ran_$v ]] || fail "run with @file did not run j_$v: $(cat "$tmp/out")"; done
# slurm generate writes the workflow again, "@vals.txt" and all, and checks what it wrote.
printf '#!/bin/bash\ncase "$2" in partition) cat "%s";; node) cat "%s";; esac\n' \
  "$src/tests/data/slurm/lab_partitions.txt" "$src/tests/data/slurm/lab_nodes.txt" > "$tmp/scontrol"
chmod +x "$tmp/scontrol"
(cd "$tmp/elsewhere" && TORC_SCONTROL=$tmp/scontrol "$torc" slurm generate ../wf/sweep.yaml \
  -o ../wf/generated.yaml >"$tmp/out" 2>&1); rc=$?
expect_eq "slurm generate with @file: exit code" "$rc" 0
expect_contains "slurm generate with @file: the file's 3 jobs" \
  "$(cd "$tmp/elsewhere" && "$torc" validate ../wf/generated.yaml 2>&1)" "ok: atfile: 3 jobs"
mv "$tmp/wf/vals.txt" "$tmp/elsewhere/vals.txt"  # in the working directory, as Torc would read it
out=$(cd "$tmp/elsewhere" && "$torc" validate ../wf/sweep.yaml 2>&1); rc=$?
expect_eq "validate with a missing @file: exit code" "$rc" 1
expect_eq "... says which file, where it was looked for and where it is named" "$out" \
  "../wf/sweep.yaml:6:10: parameter 'x': cannot read the parameter file 'vals.txt': No such file or directory ($tmp/wf/vals.txt, relative to the workflow file's directory)
torc: 1 error(s) in ../wf/sweep.yaml; nothing was created"
rm -rf "$tmp"

# help texts carry an example; no subcommand is a usage error
expect_contains "validate --help" "$("$torc" validate --help)" "Example:"
expect_contains "plan --help" "$("$torc" plan --help)" "Example:"
"$torc" >/dev/null 2>&1 && fail "torc without a subcommand should fail"
finish
