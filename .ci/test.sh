#!/usr/bin/env bash
# README command 2: install what is needed, build, and run the whole test suite:
# unit and integration tests on the release build, then the unit tests again
# under AddressSanitizer + UndefinedBehaviorSanitizer, then the fuzzers for a bounded time,
# then the Release bundle users and packagers make (-O3, warnings as errors; docs/install.md),
# run in a chroot that holds only glibc and bash.
set -euo pipefail
cd "$(dirname "$0")/.."
.ci/install-deps.sh
.ci/build.sh
ctest --test-dir build --output-on-failure -j2
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DTORC_SANITIZE=ON \
  -DTORC_BUILD_BENCH=OFF >/dev/null
cmake --build build-asan -j2
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  LSAN_OPTIONS=suppressions=$PWD/.ci/lsan.supp \
  ctest --test-dir build-asan --output-on-failure -j2 -L unit
.ci/fuzz.sh  # libFuzzer targets, TORC_FUZZ_SECONDS (default 60) each
.ci/bundle.sh build-bundle/dist
tests/cli/bundle_test.sh build-bundle/dist/torc-*-linux-x86_64.tar.gz
echo "test.sh: all tests passed"
