#!/usr/bin/env bash
# The test suite: set up (including Slurm and munge for the Slurm test), build, run ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup-debian.sh slurm-wlm munge
tools/build.sh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
ctest --test-dir build --output-on-failure -j "$(nproc)" "$@"
