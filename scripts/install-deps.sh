#!/usr/bin/env bash
# Installs the Debian packages and Python packages tessera builds and tests
# with. Idempotent: does nothing when everything is there.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

debs=(build-essential cmake ninja-build pkg-config unzip libboost1.81-dev nlohmann-json3-dev
      libcli11-dev libspdlog-dev libfmt-dev libpcre2-dev libutf8proc-dev libxxhash-dev
      libgtest-dev libgmock-dev libbenchmark-dev clang libclang-rt-14-dev)
missing=()
for p in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  echo "installing Debian packages: ${missing[*]}"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

if ! python3 -c "import pytest, tokenizers, gguf, numpy, jinja2, openai, requests, prometheus_client, safetensors, transformers" 2>/dev/null; then
  echo "installing Python packages from requirements-dev.txt"
  python3 -m pip install -q --disable-pip-version-check -r "$here/../requirements-dev.txt"
fi
