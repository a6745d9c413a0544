#!/usr/bin/env bash
# Limits seen from the CLI (docs/limits.md): `torc run --max-log-bytes` cuts a job's output file
# with a marker while the job completes normally; a job gets SIGPIPE and SIGXFSZ at their
# defaults; `torc validate` refuses a 10^12-job sweep at once.
set -uo pipefail
torc=$1
source "$(dirname "$0")/lib.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

# A job that prints 20 MB (in 2 s, so the worker's 0.5 s checks see it grow), one that prints a
# little: only the first is cut, both complete.
cat > wf.yaml <<'YAML'
name: chatty
jobs:
  - name: loud
    command: "for i in $(seq 1 20); do head -c 1000000 /dev/zero | tr '\\0' x; sleep 0.1; done; echo done-loud >&2"
  - name: quiet
    command: echo hello
YAML
out=$("$torc" run wf.yaml --max-log-bytes 100000 --output-dir out 2>&1)
rc=$?
expect_eq "torc run exit code" "$rc" "0"
loud=$(find out -name 'loud.1.out' | head -n 1)
if [[ -z "$loud" ]]; then
  fail "no stdout file for job loud under out/: $(find out -type f | head)"
else
  size=$(stat -c %s "$loud")
  ((size <= 100000 + 200)) || fail "loud's stdout is $size bytes, over the cap of 100000 + marker"
  ((size >= 100000)) || fail "loud's stdout is $size bytes, under the cap: not its first 100000 bytes"
  expect_contains "the marker" "$(tail -c 200 "$loud")" "[torc: output truncated: this file reached the limit of 100000 bytes"
  expect_eq "loud's first bytes" "$(head -c 5 "$loud")" "xxxxx"
fi
quiet=$(find out -name 'quiet.1.out' | head -n 1)
expect_eq "quiet's stdout is untouched" "$(cat "$quiet" 2>/dev/null)" "hello"

# `torc run` serves (its embedded server ignores SIGPIPE and SIGXFSZ, so that a client gone
# or a full file cannot kill it), but its jobs get both at their defaults: `yes | head` ends by
# SIGPIPE, a write past `ulimit -f` by SIGXFSZ, as outside torc.
cat > sig.yaml <<'YAML'
name: signals
jobs:
  - name: show
    command: grep '^SigIgn' /proc/self/status > ignored.txt
YAML
"$torc" run sig.yaml --output-dir out >/dev/null 2>&1
ign=$(awk '{print $2}' ignored.txt 2>/dev/null)
expect_eq "the job's status file was read" "${ign:+read}" "read"
expect_eq "SIGPIPE (13) and SIGXFSZ (25) are not ignored in a job (SigIgn $ign)" \
  "$(( 0x${ign:-0} & 0x1001000 ))" "0"

# The default limits refuse a 10^12-job sweep from its text, in well under a second.
cat > huge.yaml <<'YAML'
name: huge
jobs:
  - name: j_{i}
    command: echo {i}
    parameters: {i: "1:1000000000000"}
YAML
start=$(date +%s%N)
msg=$("$torc" validate huge.yaml 2>&1)
rc=$?
ms=$((($(date +%s%N) - start) / 1000000))
expect_eq "validate of a 10^12 sweep fails" "$rc" "1"
expect_contains "validate's message" "$msg" "it has 1000000000000 values, more than the limit of 10000000"
((ms < 5000)) || fail "validate of a 10^12 sweep took $ms ms"
finish
