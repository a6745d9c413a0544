#!/usr/bin/env bash
# Inputs checked before start: `torc run` and `torc submit` refuse a workflow whose declared
# input file does not exist and is produced by no job, naming the job and the file, before
# anything is created or run; `--no-input-check` skips the check.
# Usage: inputs_cli_test.sh TORC_BINARY
set -uo pipefail
torc=$1
. "$(dirname "$0")/lib.sh"
cli_sandbox

cat > wf.yaml <<'YAML'
name: pipeline
files:
  - {name: raw, path: data/raw.csv}
  - {name: clean, path: clean.csv}
jobs:
  - {name: prep, command: 'cp data/raw.csv clean.csv', input_files: [raw], output_files: [clean]}
  - {name: use, command: 'cat clean.csv >> used.txt', input_files: [clean]}
YAML

# torc run: exit 1 before any job starts; the message names job and file.
out=$("$torc" run wf.yaml 2>&1); rc=$?
expect_eq "run exit code" "$rc" 1
expect_contains "run names job and file" "$out" \
  "wf.yaml: job 'prep' reads input file 'raw' (data/raw.csv), which does not exist and which no job of the workflow produces"
expect_contains "run says nothing ran" "$out" "nothing was run"
[[ -e torc_output ]] && fail "torc run created its output directory before refusing"
[[ -e used.txt ]] && fail "a job ran"

# torc submit: the same, before anything is created on the server.
"$torc" server run --port 0 >"$TORC_DATA_DIR/log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do [[ -s $TORC_DATA_DIR/server.url ]] && break; sleep 0.05; done
out=$("$torc" submit wf.yaml 2>&1); rc=$?
expect_eq "submit exit code" "$rc" 1
expect_contains "submit names job and file" "$out" "job 'prep' reads input file 'raw' (data/raw.csv)"
expect_contains "submit says nothing was created" "$out" "nothing was created"
expect_eq "no workflow on the server" "$("$torc" workflows list --json | json 'print(len(d))')" "0"

# --no-input-check: an input some action or outside process makes later.
out=$("$torc" submit wf.yaml --no-input-check 2>&1); rc=$?
expect_eq "submit --no-input-check exit code" "$rc" 0

# Once the input exists, torc run runs the pipeline.
mkdir -p data && echo 1,2 > data/raw.csv
out=$("$torc" run wf.yaml 2>&1); rc=$?
expect_eq "run with the input exit code ($out)" "$rc" 0
expect_eq "the pipeline ran" "$(cat used.txt)" "1,2"
finish
