#!/usr/bin/env bash
# Installs the Debian 12 packages torc needs to build and test (idempotent:
# nothing is downloaded when they are all present already).
set -euo pipefail
packages=(
  cmake ninja-build g++ ccache pkg-config git python3 iproute2 openssl
  libcpprest-dev libssl-dev libsqlite3-dev sqlite3 libyaml-cpp-dev nlohmann-json3-dev
  libcli11-dev libspdlog-dev doctest-dev libre2-dev
  slurm-wlm slurm-client
  chromium
  clang-14 libclang-rt-14-dev
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# The dashboard's browser test (tests/browser) runs playwright-core from npm on node: Debian's
# nodejs and npm, unless a node and npm are there already (a NodeSource nodejs, which
# Debian's npm package would conflict with).
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  missing+=(nodejs npm)
fi
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
