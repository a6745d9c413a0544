#!/usr/bin/env bash
# Checks that `torc validate` accepts every KDL example of NREL's Torc v0.25.1 (examples/kdl and
# examples/subgraphs, 17 files), read straight from a git copy of github:nreinicke/torc. Not run
# by CI (it needs that copy); tests/spec/kdl_test.cc checks the sample in ../shared.
#   tests/spec/check_torc_kdl_examples.sh build/cmd/torc [TORC_GIT_DIR]
set -euo pipefail
torc=$(realpath "${1:?usage: $0 TORC_BINARY [TORC_GIT_DIR]}")
repo=${2:-/work/.mirror/nreinicke+torc/repo}
commit=1293d666be0754b3ef1ac527303f416149ab5d17
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
files=$(git -C "$repo" ls-tree -r --name-only "$commit" examples/kdl examples/subgraphs | grep '\.kdl$')
checked=0 failed=0
for f in $files; do
  git -C "$repo" show "$commit:$f" >"$work/$(basename "$f")"
  if out=$("$torc" validate "$work/$(basename "$f")" 2>&1); then
    echo "ok   $f: $(echo "$out" | grep '^ok:' | head -1)"
  else
    echo "FAIL $f:"
    echo "$out" | sed 's/^/     /'
    failed=$((failed + 1))
  fi
  checked=$((checked + 1))
done
echo "$checked KDL examples, $failed refused"
[ "$checked" -eq 17 ] && [ "$failed" -eq 0 ]
