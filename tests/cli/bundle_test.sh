#!/usr/bin/env bash
# The bundle runs on a node that has nothing but glibc: unpacks BUNDLE.tar.gz (from
# .ci/bundle.sh) into a chroot that holds only glibc's libraries, bash (and the one library bash
# itself links, libtinfo), /proc, /dev/null and the bundle, then runs there `torc --version`,
# `torc validate` and `torc run` of a workflow whose commands are bash builtins, to completion,
# and `torc-job-exec` as a slurm-mode step would run it.
# Needs root (chroot, mount). Usage: tests/cli/bundle_test.sh dist/torc-*-linux-x86_64.tar.gz
set -uo pipefail
source "$(dirname "$0")/lib.sh"
bundle=$(realpath "${1:?usage: bundle_test.sh BUNDLE.tar.gz}")

root=$(mktemp -d)
cleanup() {
  umount "$root/proc" 2>/dev/null
  rm -rf "$root"
}
trap cleanup EXIT

# glibc's own libraries (Debian's libc6 package: libc, libm, ld.so, libnss_*, ...; not its
# gconv charset modules), nothing else.
mkdir -p "$root/usr/lib" "$root/usr/lib64" "$root/usr/bin"
ln -s usr/lib "$root/lib"  # Debian 12's merged /usr
ln -s usr/lib64 "$root/lib64"
ln -s usr/bin "$root/bin"
while read -r f; do
  [[ ! -d $f && ${f##*/} =~ \.so(\.[0-9]+)*$ && $f != */gconv/* ]] || continue
  [[ $f == /lib* ]] && f=/usr$f  # the same file, by its merged-/usr path
  mkdir -p "$root${f%/*}" && cp -a "$f" "$root$f"
done < <(dpkg -L libc6)
mkdir -p "$root/proc" "$root/dev" "$root/tmp" "$root/work" "$root/data"
chmod 1777 "$root/tmp"
cp /bin/bash "$root/bin/bash"
for lib in $(ldd /bin/bash | awk '$3 ~ /^\// && $1 !~ /^libc\.so/ {print $3}'); do
  [[ $lib == /lib* ]] && lib=/usr$lib
  mkdir -p "$root${lib%/*}" && cp -L "$lib" "$root$lib"
done
mknod -m 666 "$root/dev/null" c 1 3
mount -t proc proc "$root/proc"
tar -C "$root" -xzf "$bundle"
torc_in_root=$(cd "$root" && ls -d torc-*/bin/torc)
expect_eq "bundle has one bin/torc" "$(wc -w <<<"$torc_in_root")" 1
# Nothing in the chroot outside the bundle but glibc, bash and libtinfo.
extra=$(cd "$root" && find . -path ./proc -prune -o -path './torc-*' -prune -o -name '*.so*' -not -type d -print |
  grep -v -E '/(ld-linux-x86-64|libc|libm|libpthread|libdl|librt|libresolv|libutil|libanl|libnsl|libmvec|libBrokenLocale|libnss_[a-z]*|libthread_db|libmemusage|libpcprofile|libc_malloc_debug|libtinfo)[.-]' || true)
expect_eq "no library in the chroot beyond glibc and bash's" "$extra" ""


version=$(chroot "$root" "/$torc_in_root" --version 2>&1)
expect_contains "torc --version in the chroot" "$version" "torc "
expect_contains "--version names the build type" "$version" "Release build"

cat >"$root/work/wf.yaml" <<'EOF'
name: bundle_check
jobs:
  - name: write_{i}
    command: echo "hello {i}" > out_{i}.txt
    parameters:
      i: "1:3"
  - name: gather
    command: for f in out_*.txt; do read -r line < "$f"; echo "$line"; done > all.txt
    depends_on_regexes: ["write_.*"]
EOF
validate=$(chroot "$root" /bin/bash -c "cd /work && PATH=/bin /$torc_in_root validate wf.yaml" 2>&1)
expect_contains "torc validate in the chroot" "$validate" "ok: bundle_check: 4 jobs"

run=$(chroot "$root" /bin/bash -c \
  "cd /work && PATH=/bin TORC_DATA_DIR=/data /$torc_in_root run wf.yaml" 2>&1)
rc=$?
expect_eq "torc run in the chroot exits 0 (output: $run)" "$rc" 0
expect_eq "the last job read every output" "$(cat "$root/work/all.txt" 2>&1)" \
  "$(printf 'hello 1\nhello 2\nhello 3')"

# What a slurm-mode step runs on each node: the static torc-job-exec beside torc, which runs the
# command, passes on its exit status and leaves the node's figures file.
job_exec=$(chroot "$root" /bin/bash -c \
  "SLURMD_NODENAME=n7 /${torc_in_root}-job-exec --report /tmp/rep -- /bin/bash -c 'echo from-job; exit 3'" 2>&1)
rc=$?
expect_eq "torc-job-exec in the chroot passes on the job's exit status (output: $job_exec)" "$rc" 3
expect_contains "the job's output" "$job_exec" "from-job"
expect_contains "the node's figures file" "$(cat "$root/tmp/rep.n7.json" 2>&1)" '"exit_code":3'
finish
