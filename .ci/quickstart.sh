#!/usr/bin/env bash
# README command 1: install what is needed, build, and run an example workflow
# end to end on this machine (a fan-out, a parameter sweep and fan-ins).
set -euo pipefail
cd "$(dirname "$0")/.."
.ci/install-deps.sh
.ci/build.sh
./build/cmd/torc validate examples/sweep_pipeline.yaml
rm -rf torc_output/quickstart
./build/cmd/torc run examples/sweep_pipeline.yaml --output-dir torc_output/quickstart
echo "report: $(cat torc_output/quickstart/1/report.1.out)"
