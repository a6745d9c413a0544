#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz: the workflow reader and the API handlers) with clang,
# ASan and UBSan in build-fuzz/, then runs each for TORC_FUZZ_SECONDS (default 60) starting from
# its committed seed corpus (tests/fuzz/corpus/NAME, never modified; the reader's target also starts
# from every file of ../shared/spec-examples and examples/, prefixed at run time with the byte that
# picks its format, so no fetched file is copied into the project). Fails on any crash, leak,
# timeout, out-of-memory or sanitizer report, and keeps the input that caused it in
# build-fuzz/fuzz-artifacts/. docs/reliability.md says how to reproduce one.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${TORC_FUZZ_SECONDS:-60}
dir=build-fuzz
CXX=${TORC_FUZZ_CXX:-clang++-14} cmake -S . -B "$dir" -G Ninja -DTORC_FUZZ=ON \
  -DTORC_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$dir" -j2 --target spec_fuzz api_fuzz
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$dir/fuzz-artifacts"

# The reader's extra seeds: each workflow file of the shared examples and of examples/, with its
# format byte ('J' JSON, '5' JSON5, 'K' KDL, 'Y' YAML) in front.
mkdir -p "$work/spec-seeds"
shared=${TORC_SHARED_EXAMPLES:-../shared/spec-examples}
find "$shared" examples -type f \( -name '*.yaml' -o -name '*.yml' -o -name '*.json' \
  -o -name '*.json5' -o -name '*.kdl' \) 2>/dev/null | while read -r f; do
  case $f in *.json) b=J ;; *.json5) b=5 ;; *.kdl) b=K ;; *) b=Y ;; esac
  { printf %s "$b"; cat "$f"; } >"$work/spec-seeds/$(printf %s "$f" | tr '/.' '__')"
done
echo "fuzz.sh: $(ls "$work/spec-seeds" | wc -l) workflow files as extra seeds of spec_fuzz"

# run NAME MAX_LEN [EXTRA_SEED_DIR]: one target for $seconds on a scratch copy of its corpus.
run() {
  local name=$1 max_len=$2 extra=${3:-}
  mkdir -p "$work/$name" "$work/$name-artifacts"
  echo "fuzz.sh: ${name}_fuzz for ${seconds} s"
  if ! ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$dir/tests/fuzz/${name}_fuzz" "$work/$name" "tests/fuzz/corpus/$name" ${extra:+"$extra"} \
    -max_total_time="$seconds" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$work/$name-artifacts/" >"$work/$name.log" 2>&1; then
    tail -n 80 "$work/$name.log"
    cp "$work/$name-artifacts/"* "$dir/fuzz-artifacts/" 2>/dev/null || true
    echo "fuzz.sh: ${name}_fuzz FAILED; the input is in $dir/fuzz-artifacts/:" >&2
    ls -l "$dir/fuzz-artifacts/" >&2
    exit 1
  fi
  awk -v name="$name" '/^stat::number_of_executed_units/ {runs = $2} /^stat::peak_rss_mb/ {rss = $2}
    /cov: [0-9]+/ {for (i = 1; i < NF; ++i) if ($i == "cov:") cov = $(i + 1)}
    END {printf "fuzz.sh: %s_fuzz ok: %d inputs, %s edges covered, peak RSS %d MB\n", name, runs, cov, rss}' \
    "$work/$name.log"
}

run spec 16384 "$work/spec-seeds"
run api 8192
echo "fuzz.sh: no crash, leak, timeout or sanitizer report"
