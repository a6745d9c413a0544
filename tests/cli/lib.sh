# Helpers for the CLI tests: each check prints what failed and counts failures.
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
expect_eq() {  # expect_eq WHAT ACTUAL EXPECTED
  [[ "$2" == "$3" ]] || fail "$1: expected [$3], got [$2]"
}
expect_contains() {  # expect_contains WHAT HAYSTACK NEEDLE
  [[ "$2" == *"$3"* ]] || fail "$1: expected to contain [$3], got [$2]"
}
finish() {
  if ((failures)); then echo "$failures check(s) failed" >&2; exit 1; fi
  echo "all checks passed"
}
