#!/usr/bin/env bash
# Change a file, run again: only what changed runs (docs/rerun.md). A sweep pipeline run with
# the real `torc run` on real files: prep reads data/raw.csv -> train_{1,2,3} read prep's output
# and write models/m{i}.bin -> report reads the models. Every job appends its name to ran.log,
# so the log says exactly which jobs ran.
set -uo pipefail
torc=$1
examples=$(cd "$(dirname "$0")/../../examples" && pwd)
source "$(dirname "$0")/lib.sh"
cli_sandbox

write_pipeline() {  # write_pipeline EPOCHS TRAINS (the trains' per-job epochs, zipped with i)
  cat >pipeline.yaml <<YAML
name: sweep
files:
  - {name: raw, path: data/raw.csv}
  - {name: clean, path: out/clean.csv}
  - {name: 'model_{i}', path: 'models/m{i}.bin', parameters: {i: "$2"}}
  - {name: summary, path: out/report.txt}
jobs:
  - name: prep
    command: echo prep >>ran.log && mkdir -p out && cp data/raw.csv out/clean.csv
    input_files: [raw]
    output_files: [clean]
  - name: 'train_{i}'
    command: echo train_{i} >>ran.log && mkdir -p models && echo {epochs} | cat out/clean.csv - >models/m{i}.bin
    parameters: {i: "$2", epochs: "$1"}
    parameter_mode: zip
    input_files: [clean]
    output_files: ['model_{i}']
  - name: report
    command: echo report >>ran.log && cat models/m1.bin models/m2.bin models/m3.bin >out/report.txt
    input_files: [model_1, model_2, model_3]
    output_files: [summary]
YAML
}

# run [FLAGS]: `torc run pipeline.yaml` into torc_out; sets $out (stderr and stdout), $rc and
# $ran (the jobs that ran, sorted, one line), and empties the log.
run() {
  out=$("$torc" run pipeline.yaml --output-dir torc_out "$@" 2>&1)
  rc=$?
  ran=$(sort ran.log 2>/dev/null | tr '\n' ' ' | sed 's/ $//')
  : >ran.log
}

mkdir -p data
echo "a,b" >data/raw.csv
write_pipeline "[10,10,10]" "[1,2,3]"

run
expect_eq "first run: exit code" "$rc" "0"
expect_eq "first run: every job ran" "$ran" "prep report train_1 train_2 train_3"

# --- Nothing changed: nothing runs.
run
expect_eq "unchanged: exit code" "$rc" "0"
expect_eq "unchanged: no job ran" "$ran" ""
expect_contains "unchanged: says so" "$out" "torc: 0 of 5 jobs are out of date: 0 jobs to run again"
expect_contains "unchanged: all completed" "$out" "completed   5"

# --- An input file changes: the jobs that read it and everything downstream.
echo "a,b,c" >data/raw.csv
run --dry-run
expect_eq "dry run after a changed input: exit code" "$rc" "0"
expect_eq "dry run: nothing ran" "$ran" ""
expect_contains "dry run: the count" "$out" "5 of 5 jobs are out of date and would run again:"
expect_contains "dry run: prep and why" "$out" "  prep: input file data/raw.csv changed"
expect_contains "dry run: train_2 and why" "$out" "  train_2: upstream job 'prep' reruns"
expect_contains "dry run: report and why" "$out" "  report: upstream job 'train_"
run --dry-run
expect_contains "a dry run changed nothing: asked again, the same" "$out" \
  "  prep: input file data/raw.csv changed"
run
expect_eq "changed input: exit code" "$rc" "0"
expect_eq "changed input: prep, the trains and report ran" "$ran" \
  "prep report train_1 train_2 train_3"
expect_contains "changed input: said before running" "$out" \
  "5 of 5 jobs are out of date and run again:"
run
expect_eq "after the rerun: up to date again" "$ran" ""

# --- One job's definition changes (train_2's epochs): it and its dependents.
write_pipeline "[10,20,10]" "[1,2,3]"
run --dry-run
expect_eq "dry run after an edited command: nothing ran" "$ran" ""
expect_contains "dry run: train_2's command" "$out" "  train_2: command changed"
expect_contains "dry run: report follows" "$out" "  report: upstream job 'train_2' reruns"
expect_contains "dry run: only those" "$out" "2 of 5 jobs are out of date and would run again:"
run
expect_eq "edited command: train_2 and report ran" "$ran" "report train_2"
expect_contains "edited command: the new command ran" "$(cat models/m2.bin)" "20"

# --- An output is deleted: its producer and its dependents.
rm models/m1.bin
run --dry-run
expect_contains "dry run: the missing output" "$out" "  train_1: output file models/m1.bin is missing"
expect_eq "dry run after a deleted output: nothing ran" "$ran" ""
run
expect_eq "deleted output: train_1 and report ran" "$ran" "report train_1"
[[ -f models/m1.bin ]] || fail "models/m1.bin was not made again"

# --- The reasons and new attempts are recorded in the store: train_1 ran 3 times (the first
# run, raw.csv changed, m1.bin deleted), train_3 twice, each rerun with an event saying why.
recorded=$(python3 - torc_out/.torc/torc.db <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
for kind, job, attempt, detail in db.execute(
        "SELECT kind, job, attempt, detail FROM events WHERE kind = 'rerun' ORDER BY seq"):
    print(job, attempt, detail)
PY
)
expect_contains "rerun event: prep, attempt 2" "$recorded" "0 2 input file data/raw.csv changed"
expect_contains "rerun event: train_1, attempt 3" "$recorded" "1 3 output file models/m1.bin is missing"
expect_contains "rerun event: train_2, attempt 3" "$recorded" "2 3 command changed"

# --- Other jobs: refused as an update, started as a new workflow in the same output dir.
write_pipeline "[10,20,10,10]" "[1,2,3,4]"
run --dry-run
expect_eq "dry run with another job: nothing ran" "$ran" ""
expect_contains "dry run with another job: why" "$out" "added 'train_4'"
expect_contains "dry run with another job: what run would do" "$out" "would start it as a new workflow"
run
expect_eq "another job: exit code" "$rc" "0"
expect_contains "another job: said so" "$out" "starting it as a new workflow in"
expect_eq "another job: the new workflow ran everything" "$ran" \
  "prep report train_1 train_2 train_3 train_4"
run
expect_eq "the new workflow is resumed from then on" "$ran" ""

# --- A submitted workflow on a server: torc plan --against, torc submit --update [--dry-run].
rm -rf torc_out models out ran.log
write_pipeline "[10,10,10]" "[1,2,3]"
start_server_with_fake_slurm
wf=$("$torc" submit pipeline.yaml --json | json 'print(d["workflow_id"])')
work_off() {  # runs the workflow's ready jobs with a local worker; sets $ran like run()
  timeout 120 "$torc" worker run --workflow "$wf" --mode direct --output-dir torc_out \
    --idle-timeout 2 >/dev/null 2>&1
  ran=$(sort ran.log 2>/dev/null | tr '\n' ' ' | sed 's/ $//')
  : >ran.log
}
work_off
expect_eq "submitted: every job ran" "$ran" "prep report train_1 train_2 train_3"
out=$("$torc" plan pipeline.yaml --against "$wf" 2>&1)
expect_contains "plan --against, unchanged" "$out" "workflow $wf: 0 of 5 jobs are out of date"
echo "x,y,z,w" >data/raw.csv
write_pipeline "[10,10,30]" "[1,2,3]"
out=$("$torc" plan pipeline.yaml --against "$wf" 2>&1)
expect_contains "plan --against: prep's input" "$out" "  prep: input file data/raw.csv changed"
expect_contains "plan --against: train_3's own change (its own reasons are listed)" "$out" \
  "  train_3: command changed"
out=$("$torc" submit pipeline.yaml --update "$wf" --dry-run 2>&1)
expect_contains "submit --update --dry-run" "$out" "5 of 5 jobs are out of date and would run again:"
work_off
expect_eq "after a dry run nothing runs" "$ran" ""
out=$("$torc" submit pipeline.yaml --update "$wf" 2>&1)
expect_contains "submit --update" "$out" "5 of 5 jobs are out of date and run again:"
work_off
expect_eq "after submit --update: the out-of-date jobs ran" "$ran" "prep report train_1 train_2 train_3"
out=$("$torc" plan pipeline.yaml --against "$wf" 2>&1)
expect_contains "up to date after the update (the stamps were kept)" "$out" "0 of 5 jobs are out of date"
write_pipeline "[10,10]" "[1,2]"
sed -i "s/, model_3\]/]/; s/ models\/m3.bin//" pipeline.yaml
out=$("$torc" submit pipeline.yaml --update "$wf" 2>&1)
rc=$?
expect_eq "submit --update with other jobs: exit code" "$rc" "1"
expect_contains "submit --update with other jobs: why" "$out" \
  "cannot be updated in place: the jobs changed (5 -> 4 jobs; removed 'train_3'); submit the file as a new workflow"

# --- --hash: input files compared by content. A touch is no change; new bytes of the same size
# with the old modification time are.
hd=$work/hashed && mkdir -p "$hd/data" && cd "$hd" || exit 1
echo "a,b" >data/raw.csv
write_pipeline "[10,10,10]" "[1,2,3]"
run --hash
expect_eq "--hash: first run" "$ran" "prep report train_1 train_2 train_3"
touch -d '+1 minute' data/raw.csv
run --hash
expect_eq "--hash: a touch is no change" "$ran" ""
cp -p data/raw.csv stamp.ref
echo "x,y" >data/raw.csv && touch -r stamp.ref data/raw.csv
run --hash --dry-run
expect_contains "--hash: same size and time, new bytes" "$out" "  prep: input file data/raw.csv changed"
run --hash
expect_eq "--hash: the new bytes rerun the pipeline" "$ran" "prep report train_1 train_2 train_3"
touch -d '+2 minutes' data/raw.csv
run
expect_eq "without --hash a touch is a change (size and time)" "$ran" "prep report train_1 train_2 train_3"

# --- The sweep pipeline example (examples/sweep_pipeline.yaml, a copy edited here): run, run
# again (nothing), delete one score (its train, its summarize and report), edit prepare's
# command (everything: all depend on its data).
ex=$work/example && mkdir -p "$ex" && cd "$ex" || exit 1
cp "$examples/sweep_pipeline.yaml" sweep.yaml
out=$("$torc" run sweep.yaml 2>&1); rc=$?
expect_eq "example: first run" "$rc" "0"
out=$("$torc" run sweep.yaml 2>&1); rc=$?
expect_contains "example: again, nothing" "$out" "torc: 0 of 10 jobs are out of date: 0 jobs to run again"
rm out/score_0.1_3.txt
out=$("$torc" run sweep.yaml 2>&1); rc=$?
expect_eq "example: a deleted score: exit code" "$rc" "0"
expect_contains "example: a deleted score: 3 jobs" "$out" "3 of 10 jobs are out of date and run again:"
expect_contains "example: its producer" "$out" "  train_0.1_3: output file out/score_0.1_3.txt is missing"
expect_contains "example: its reader" "$out" "  summarize_0.1: upstream job 'train_0.1_3' reruns"
expect_contains "example: the report" "$out" "  report: upstream job 'summarize_0.1' reruns"
[[ -f out/score_0.1_3.txt ]] || fail "example: the score was not made again"
sed -i 's/seq 1 1000/seq 1 999/' sweep.yaml
out=$("$torc" run sweep.yaml 2>&1); rc=$?
expect_contains "example: prepare's command edited: all 10" "$out" "10 of 10 jobs are out of date and run again:"
expect_contains "example: prepare's reason" "$out" "  prepare: command changed"

finish
