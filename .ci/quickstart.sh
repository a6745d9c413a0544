#!/usr/bin/env bash
# README command 1: install what is needed, build, and show an example workflow
# end to end as far as torc goes today (validate, then the expanded plan).
set -euo pipefail
cd "$(dirname "$0")/.."
.ci/install-deps.sh
.ci/build.sh
./build/cmd/torc validate examples/sweep_pipeline.yaml
./build/cmd/torc plan examples/sweep_pipeline.yaml
