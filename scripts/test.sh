#!/usr/bin/env bash
# Runs every test: sets up on first use, then ctest (C++ unit tests and the
# Python suites that compare against transformers/tokenizers/jinja2/openai).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export TESSERA_STRICT_TESTS=1
ctest --test-dir build --output-on-failure -j "$(nproc)" "$@"
