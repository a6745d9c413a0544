#!/usr/bin/env bash
# A full disk and the data directory's files (docs/security.md, "Storage faults"), on a real full
# file system (a 2 MiB tmpfs; needs root, else the test is skipped: exit 77). The token is written
# whole or not at all, so a first start on a full disk leaves nothing that blocks the next one;
# a restart on a full disk keeps the old server.url (never an empty one) and writes the new one
# when space returns, while the server runs. (tests/util/ inject the same failures with a file
# size limit, without root.)
set -uo pipefail
torc=$1
source "$(dirname "$0")/lib.sh"
if [[ $(id -u) != 0 ]]; then echo "SKIP: needs root to mount a tmpfs"; exit 77; fi
mnt=$(mktemp -d)
if ! mount -t tmpfs -o size=2m,mode=0700 tmpfs "$mnt"; then
  rmdir "$mnt"
  echo "SKIP: cannot mount a tmpfs"
  exit 77
fi
log=$(mktemp)
server_pid=
cleanup() {
  [[ -n $server_pid ]] && kill -9 "$server_pid" 2>/dev/null
  wait 2>/dev/null
  umount "$mnt" && rmdir "$mnt"
  rm -f "$log"
}
trap cleanup EXIT
unset TORC_API_URL TORC_TOKEN TORC_TOKEN_FILE
export TORC_DATA_DIR=$mnt/data
data=$TORC_DATA_DIR
fill() { dd if=/dev/zero of="$mnt/fill" bs=4k 2>/dev/null; sync; }
unfill() { rm -f "$mnt/fill"; }
start() {  # start: the server in the background, waiting for its ready line; $url from it
  : >"$log"
  "$torc" server run --port 0 >"$log" 2>&1 &
  server_pid=$!
  url=
  for _ in $(seq 200); do
    url=$(sed -n 's/^torc server listening on \([^ ,]*\).*/\1/p' "$log")
    [[ -n $url ]] && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.05
  done
}

# --- A first start on a full disk: refused, and no (empty) token file is left behind.
mkdir -m 700 "$data"
fill
out=$(timeout 20 "$torc" server run --port 0 2>&1)
expect_eq "first start on a full disk: exit code" "$?" "1"
expect_contains "first start on a full disk" "$out" "cannot write $data/token: No space left on device"
expect_eq "nothing left in the data directory" "$(ls -A "$data")" ""
unfill
start
[[ -n $url ]] || fail "the start after space returned failed: $(cat "$log")"
expect_eq "its token" "$(wc -c <"$data/token")" "65"
# Killed, as a crashed server is: SQLite's journals stay, so the next start can open the
# database without new space (SQLite cannot create them on a full disk).
kill -9 "$server_pid"
wait "$server_pid" 2>/dev/null
old_url=$(cat "$data/server.url")

# --- A restart on a full disk (on another port): the server runs, server.url keeps the old URL.
fill
start
[[ -n $url ]] || fail "the restart on a full disk failed: $(cat "$log")"
expect_eq "server.url while the disk is full (not emptied)" "$(cat "$data/server.url")" "$old_url"
expect_contains "the server says it could not write it" "$(cat "$log")" \
  "cannot write $data/server.url: No space left on device"
# --- Space returns: the server writes the new URL by itself, and clients find it.
unfill
for _ in $(seq 100); do [[ $(cat "$data/server.url") == "$url" ]] && break; sleep 0.1; done
expect_eq "server.url once space returned" "$(cat "$data/server.url")" "$url"
expect_contains "the server says so" "$(cat "$log")" "wrote $data/server.url after"
"$torc" workflows list >/dev/null 2>&1
expect_eq "a client finds the server through server.url" "$?" "0"
kill "$server_pid"
wait "$server_pid" 2>/dev/null
server_pid=
finish
