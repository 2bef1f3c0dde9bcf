#!/usr/bin/env bash
# First-run setup: packages, build, default model. Fast when already done.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
scripts/fetch-model.sh smollm2-135m
