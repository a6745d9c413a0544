#!/usr/bin/env bash
# Builds torc in Release and writes a relocatable bundle for a cluster's shared filesystem:
#   OUTDIR/torc-<version>-linux-x86_64.tar.gz        bin/torc (stripped), bin/torc-job-exec
#                                                     (static, stripped), lib/ (every shared
#                                                     library beyond glibc), MANIFEST
#   OUTDIR/torc-<version>-linux-x86_64.debug.tar.gz  bin/torc.debug, bin/torc-job-exec.debug
# Usage: .ci/bundle.sh [OUTDIR]   (default dist/; build tree in build-bundle/, or $BUNDLE_BUILD)
# docs/install.md says how to put the bundle on a cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mkdir -p "${1:-dist}" && cd "${1:-dist}" && pwd)
build=${BUNDLE_BUILD:-build-bundle}

# -g: the debug info goes into the separate .debug file; the shipped binary is stripped.
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS=-g \
  -DTORC_BUNDLE=ON -DTORC_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j2 --target torc
version=$(sed -n 's/^project(torc VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
name=torc-$version-linux-x86_64
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root=$stage/$name
cmake --install "$build" --prefix "$root" >/dev/null
mkdir -p "$root/lib" "$stage/debug/$name/bin"

# Every library the binary loads, except glibc's own (the one thing a node must have): those
# must match the node's kernel interface and its ld.so, so they are never shipped.
glibc='^(linux-vdso|ld-linux-x86-64|libc|libm|libpthread|libdl|librt|libresolv|libutil|libanl|libnsl|libmvec|libBrokenLocale|libnss_[a-z]*)\.so'
ldd "$root/bin/torc" | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}' | while read -r soname path; do
  [[ $soname =~ $glibc ]] && continue
  cp -L "$path" "$root/lib/$soname"
  chmod 0644 "$root/lib/$soname"
done

# Debug info apart, linked back by name (gdb finds it with `set debug-file-directory`).
# torc-job-exec (what a slurm-mode step runs) is static: it needs no library from lib/.
for exe in torc torc-job-exec; do
  objcopy --only-keep-debug "$root/bin/$exe" "$stage/debug/$name/bin/$exe.debug"
  strip --strip-debug --strip-unneeded "$root/bin/$exe"
  objcopy --add-gnu-debuglink="$stage/debug/$name/bin/$exe.debug" "$root/bin/$exe"
done
strip --strip-unneeded "$root"/lib/*.so*

# The newest glibc symbol version anything in the bundle needs: the oldest glibc it runs on.
min_glibc=$(objdump -T "$root/bin/torc" "$root"/lib/*.so* 2>/dev/null |
  grep -o 'GLIBC_[0-9][0-9.]*' | sort -uV | tail -1 | sed 's/GLIBC_//')
needed_by=$(cd "$root" && for f in bin/torc lib/*.so*; do
  if objdump -T "$f" 2>/dev/null | grep "GLIBC_$min_glibc[^.0-9]" >/dev/null; then echo -n " ${f#*/}"; fi
done)
{
  echo "torc $("$root/bin/torc" --version | sed 's/^torc //')"
  echo "minimum glibc: $min_glibc (needed by:$needed_by)"
  echo "libraries (lib/):"
  (cd "$root/lib" && ls -1 | sed 's/^/  /')
} >"$root/MANIFEST"

tar -C "$stage" -czf "$out/$name.tar.gz" "$name"
tar -C "$stage/debug" -czf "$out/$name.debug.tar.gz" "$name"
echo "bundle.sh: $out/$name.tar.gz ($(du -h "$out/$name.tar.gz" | cut -f1)), minimum glibc $min_glibc"
