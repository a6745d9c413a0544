# Helpers for the CLI tests: each check prints what failed and counts failures.
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
expect_eq() {  # expect_eq WHAT ACTUAL EXPECTED
  [[ "$2" == "$3" ]] || fail "$1: expected [$3], got [$2]"
}
expect_contains() {  # expect_contains WHAT HAYSTACK NEEDLE
  [[ "$2" == *"$3"* ]] || fail "$1: expected to contain [$3], got [$2]"
}
expect_not_contains() {  # expect_not_contains WHAT HAYSTACK NEEDLE
  [[ "$2" != *"$3"* ]] || fail "$1: expected not to contain [$3], got [$2]"
}
finish() {
  if ((failures)); then echo "$failures check(s) failed" >&2; exit 1; fi
  echo "all checks passed"
}

# A private data dir ($TORC_DATA_DIR) and work dir ($work, the current directory from now on),
# no inherited server settings, and a cleanup on exit that stops $server_pid (if started) and
# removes both; json 'python on d' reads JSON from stdin.
cli_sandbox() {
  export TORC_DATA_DIR=$(mktemp -d)
  work=$(mktemp -d)
  unset TORC_API_URL TORC_TOKEN TORC_CA_FILE NO_COLOR
  server_pid=
  trap cli_sandbox_cleanup EXIT
  cd "$work" || exit 1
}
cli_sandbox_cleanup() {
  [[ -n ${server_pid:-} ]] && kill "$server_pid" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$TORC_DATA_DIR" "$work"
}
json() { python3 -c "import json, sys; d = json.load(sys.stdin); $1"; }  # json 'print(...)'

# Starts `torc server run --port 0` in the background ($server_pid) behind a fake sbatch and
# squeue in $work (every allocation is Slurm job 4242, pending; each sbatch call is a line in
# $work/sbatch.calls), and waits for server.url.
start_server_with_fake_slurm() {
  printf '#!/bin/sh\necho called >>"%s/sbatch.calls"\necho 4242\n' "$work" >"$work/sbatch"
  printf '#!/bin/sh\necho "4242 PENDING"\n' >"$work/squeue"
  chmod +x "$work/sbatch" "$work/squeue"
  TORC_SBATCH=$work/sbatch TORC_SQUEUE=$work/squeue "$torc" server run --port 0 \
    >"$TORC_DATA_DIR/log" 2>&1 &
  server_pid=$!
  for _ in $(seq 100); do [[ -s $TORC_DATA_DIR/server.url ]] && break; sleep 0.05; done
}
