#!/usr/bin/env bash
# The dashboard in headless Chromium against a real server with a running
# workflow: installs playwright-core (package-lock.json) into OUT_DIR/npm,
# starts `torc server run` and a direct-mode worker, then runs
# dashboard_test.mjs, which leaves dashboard.png in OUT_DIR.
# Needs /usr/bin/chromium, node and npm (.ci/install-deps.sh installs them).
# Usage: run_dashboard_test.sh TORC_BINARY OUT_DIR
set -uo pipefail
torc=$1
out=$2
here=$(cd "$(dirname "$0")" && pwd)
for tool in /usr/bin/chromium node npm; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool is missing (run .ci/install-deps.sh)" >&2; exit 1; }
done
mkdir -p "$out/npm"
# playwright-core, pinned by the lock file; installed again only when the lock changes.
if ! cmp -s "$here/package-lock.json" "$out/npm/package-lock.json" ||
   [[ ! -d $out/npm/node_modules/playwright-core ]]; then
  cp "$here/package.json" "$here/package-lock.json" "$out/npm/"
  (cd "$out/npm" && npm ci --no-audit --no-fund >npm.log 2>&1) ||
    { cat "$out/npm/npm.log" >&2; echo "FAIL: npm ci" >&2; exit 1; }
fi

export TORC_DATA_DIR=$(mktemp -d)
unset TORC_API_URL TORC_TOKEN
server_pid= worker_pid=
cleanup() {
  # The worker leads its own process group (setsid): its sleeping jobs go with it.
  [[ -n $worker_pid ]] && kill -TERM -- "-$worker_pid" 2>/dev/null
  [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null
  sleep 0.5
  [[ -n $worker_pid ]] && kill -KILL -- "-$worker_pid" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$TORC_DATA_DIR"
}
trap cleanup EXIT
cd "$TORC_DATA_DIR"

"$torc" server run --port 0 >server.log 2>&1 &
server_pid=$!
for _ in $(seq 200); do [[ -s server.url ]] && break; sleep 0.05; done
[[ -s server.url ]] || { cat server.log >&2; echo "FAIL: the server did not start" >&2; exit 1; }

# 6 quick jobs complete, 1 fails, 2 sleep (running), 1 waits for a sleeper (blocked).
cat > wf.yaml <<'EOF'
name: browser_demo
jobs:
  - name: quick_{i}
    command: "echo quick {i}"
    parameters: {i: "1:6"}
  - name: broken
    command: "echo something broke >&2; exit 2"
  - name: slow_{i}
    command: "sleep 600"
    parameters: {i: "1:2"}
  - name: after_slow
    command: "true"
    depends_on: [slow_1]
EOF
"$torc" submit wf.yaml >submit.log 2>&1 || { cat submit.log >&2; exit 1; }
setsid "$torc" worker run --workflow 1 --mode direct --cpus 4 >worker.log 2>&1 &
worker_pid=$!

TORC_URL=$(cat server.url) TORC_TOKEN=$(cat token) OUT_DIR=$out NPM_DIR=$out/npm \
  node "$here/dashboard_test.mjs"
rc=$?
if ((rc)); then
  echo "--- server.log" >&2; tail -20 server.log >&2
  echo "--- worker.log" >&2; tail -20 worker.log >&2
fi
exit $rc
