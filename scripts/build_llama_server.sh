#!/usr/bin/env bash
# Builds llama.cpp's llama-server, the peer bench/peer.py measures tuneserve against, from the source
# that the llama-cpp-python 0.3.36 sdist vendors (PyPI is the only registry these machines reach).
# About 8 minutes on 2 cores. A benchmark tool, not a dependency: nothing else needs it, CI does not
# build it, and bench/peer.py says how to run this when the binary is missing.
#
#   scripts/build_llama_server.sh [DIR]     # default DIR: .peer (ignored by git)
#
# GGML_FLAGS replaces -DGGML_NATIVE=ON. On a VM that reports AMX but cannot run it, the native build
# dies with SIGILL at its warm-up; build for AVX-512 without AMX instead (slower than native: an
# underestimate of the peer):
#   GGML_FLAGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=ON \
#     -DGGML_AVX512_VBMI=ON -DGGML_AVX512_VNNI=ON -DGGML_AVX512_BF16=ON" scripts/build_llama_server.sh
#
# The binary ends up at DIR/llama-server.
set -euo pipefail
cd "$(dirname "$0")/.."

dir=${1:-.peer}
version=0.3.36
python=${PYTHON:-.venv/bin/python}
[ -x "$python" ] || python=python3
mkdir -p "$dir"
if [ -x "$dir/llama-server" ]; then
  echo "$dir/llama-server is already built"
  exit 0
fi
command -v cmake >/dev/null || { echo "cmake is needed (apt-get install cmake)"; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$python" -m pip download --quiet --no-deps --no-binary :all: "llama-cpp-python==$version" -d "$work"
tar -xzf "$work"/llama_cpp_python-"$version".tar.gz -C "$work"
src="$work/llama_cpp_python-$version/vendor/llama.cpp"
# GGML_FLAGS holds several flags: split on purpose
# shellcheck disable=SC2086
cmake -S "$src" -B "$src/build" -DCMAKE_BUILD_TYPE=Release ${GGML_FLAGS:--DGGML_NATIVE=ON} -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON -DBUILD_SHARED_LIBS=OFF >/dev/null
cmake --build "$src/build" --target llama-server -j "$(nproc)" >/dev/null
cp "$src/build/bin/llama-server" "$dir/llama-server"
echo "built $dir/llama-server"
