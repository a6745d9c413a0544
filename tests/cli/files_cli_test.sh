#!/usr/bin/env bash
# The files torc reads and keeps (docs/security.md, docs/limits.md): every file it reads is a
# bounded regular file (/dev/zero, a FIFO or a directory is refused with a message naming it,
# at once); the data directory, server.url and the token are refused when others could replace
# them (or read the token), each with its own message; the server's files are private.
set -uo pipefail
torc=$1
source "$(dirname "$0")/lib.sh"
cli_sandbox
data=$TORC_DATA_DIR
unset TORC_TOKEN_FILE

# Runs torc with a memory cap (a file read whole would hit it, not the machine) and a time
# limit (a FIFO would block); sets $out and $rc.
bounded() {
  out=$( (ulimit -v 4000000; timeout 20 "$torc" "$@") 2>&1)
  rc=$?
}

# --- Workflow files: /dev/zero, a FIFO, a directory, a file over 64 MiB.
mkfifo fifo.yaml
mkdir dir.yaml
truncate -s $((64 * 1024 * 1024 + 1)) big.yaml
for command in validate plan submit run "slurm script"; do
  bounded $command /dev/zero
  expect_eq "torc $command /dev/zero: exit code" "$rc" "1"
  expect_contains "torc $command /dev/zero" "$out" \
    "/dev/zero: cannot read the file: it is a character device, not a regular file"
  bounded $command fifo.yaml
  expect_eq "torc $command FIFO: exit code (124: it blocked)" "$rc" "1"
  expect_contains "torc $command FIFO" "$out" "fifo.yaml: cannot read the file: it is a FIFO (named pipe), not a regular file"
done
bounded validate dir.yaml
expect_contains "torc validate DIR" "$out" "dir.yaml: cannot read the file: it is a directory, not a regular file"
bounded validate big.yaml
expect_eq "torc validate of a 64 MiB + 1 file: exit code" "$rc" "1"
expect_contains "torc validate of a 64 MiB + 1 file" "$out" \
  "big.yaml: cannot read the file: it holds more than 64 MiB, the limit for a workflow file"
printf 'name: ok\njobs:\n  - name: a\n    command: "true"\n' >ok.yaml
bounded validate ok.yaml
expect_eq "torc validate of a good file" "$rc" "0"

# --- server.url: a link to /dev/zero, a FIFO, an empty file (what a full disk left).
head -c 64 /dev/urandom | od -An -tx1 | tr -d ' \n' | head -c 64 >"$data/token"
chmod 600 "$data/token"
ln -s /dev/zero "$data/server.url"
bounded workflows list
expect_eq "server.url -> /dev/zero: exit code" "$rc" "1"
expect_contains "server.url -> /dev/zero" "$out" \
  "cannot read the server URL file $data/server.url: it is a character device, not a regular file"
rm "$data/server.url"
mkfifo "$data/server.url"
bounded workflows list
expect_eq "server.url a FIFO: exit code (124: it blocked)" "$rc" "1"
expect_contains "server.url a FIFO" "$out" "it is a FIFO (named pipe), not a regular file"
rm "$data/server.url"
: >"$data/server.url"
chmod 600 "$data/server.url"
bounded workflows list
expect_contains "an empty server.url is not 'does not exist'" "$out" \
  "the server URL file $data/server.url is empty (a server could not write it: a full disk?)"

# --- A data directory or server.url others may write: the CLI sends the token nowhere.
# A listener records whatever reaches it; server.url points at it.
python3 - "$work/listener.port" "$work/received" <<'PY' &
import socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(5)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
s.settimeout(15)
with open(sys.argv[2], "ab") as got:
    try:
        while True:
            c, _ = s.accept()
            c.settimeout(2)
            try:
                got.write(c.recv(65536))
                got.flush()
            except OSError:
                pass
            c.close()
    except OSError:
        pass
PY
listener=$!
for _ in $(seq 100); do [[ -s $work/listener.port ]] && break; sleep 0.05; done
: >"$work/received"
echo "http://127.0.0.1:$(cat "$work/listener.port")" >"$data/server.url"
chmod 777 "$data"
bounded workflows list
expect_eq "data dir 0777: exit code" "$rc" "1"
expect_contains "data dir 0777" "$out" \
  "refusing the data directory $data: its mode is 777, so its group and others can write in it"
expect_contains "data dir 0777: the fix" "$out" "run: chmod 700 $data"
chmod 700 "$data"
chmod 666 "$data/server.url"
bounded workflows list
expect_eq "server.url 0666: exit code" "$rc" "1"
expect_contains "server.url 0666" "$out" \
  "refusing the server URL file $data/server.url: its mode is 666, so its group and others can write it"
sleep 0.5
expect_eq "nothing reached the listener (no token sent)" "$(wc -c <"$work/received")" "0"
kill "$listener" 2>/dev/null
wait "$listener" 2>/dev/null
rm -f "$data/server.url"

# --- The server refuses a data directory others may write in.
chmod 775 "$data"
bounded server run --port 0
expect_eq "server run, data dir 0775: exit code" "$rc" "1"
expect_contains "server run, data dir 0775" "$out" \
  "refusing the data directory $data: its mode is 775, so its group can write in it"
chmod 700 "$data"

# --- Token files, as the server meets them at start: one message for each.
token=$data/token
mv "$token" "$work/good-token"
start_expecting() {  # start_expecting WHAT MESSAGE: the server must refuse to start, at once
  bounded server run --port 0
  expect_eq "$1: exit code (124: it started or blocked)" "$rc" "1"
  expect_contains "$1" "$out" "$2"
}
mkfifo "$token"
start_expecting "a FIFO token" "cannot read the token file $token: it is a FIFO (named pipe), not a regular file"
rm "$token"
echo x >"$token"
chmod 600 "$token"
start_expecting "a 1-character token" \
  "the token file $token holds a token of 1 characters; a token must have at least 32"
chmod 620 "$token"
start_expecting "a token of mode 620" \
  "refusing the token file $token: its mode is 620, so its group can write it; run: chmod 600 $token"
rm "$token"
mkdir -m 755 "$token"
start_expecting "a directory as the token" "cannot read the token file $token: it is a directory, not a regular file"
rmdir "$token"
mv "$work/good-token" "$token"

# --- The users file of a multi-user server: a FIFO does not hang its start.
mkfifo -m 600 "$data/users"
bounded server run --port 0 --multi-user
expect_eq "a FIFO users file: exit code (124: it blocked)" "$rc" "1"
expect_contains "a FIFO users file" "$out" \
  "cannot read the users file $data/users: it is a FIFO (named pipe), not a regular file"
rm "$data/users"

# --- A data directory made by hand with mode 0755: the server's files in it are private, and
# the ones an older version left readable are made private, with a message.
shared=$(mktemp -d)
chmod 755 "$shared"
TORC_DATA_DIR=$shared "$torc" server run --port 0 >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 200); do [[ -s $shared/server.url ]] && break; sleep 0.05; done
for f in token torc.db server.url server.port; do
  expect_eq "$f in a 0755 data dir: mode" "$(stat -c %a "$shared/$f" 2>&1)" "600"
done
for f in torc.db-wal torc.db-shm; do
  [[ -e $shared/$f ]] && expect_eq "$f: mode" "$(stat -c %a "$shared/$f")" "600"
done
kill "$server_pid"
wait "$server_pid" 2>/dev/null
server_pid=
chmod 644 "$shared/torc.db" "$shared/server.url"
TORC_DATA_DIR=$shared "$torc" server run --port 0 >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 200); do grep -q "listening on" "$work/server.log" && break; sleep 0.05; done
expect_eq "torc.db made private again" "$(stat -c %a "$shared/torc.db")" "600"
expect_contains "the server says so" "$(cat "$work/server.log")" \
  "made $shared/torc.db private (mode 644 -> 600)"
expect_eq "a client reaches it" "$(TORC_DATA_DIR=$shared "$torc" workflows list >/dev/null 2>&1; echo $?)" "0"
kill "$server_pid"
wait "$server_pid" 2>/dev/null
server_pid=
rm -rf "$shared"
finish
