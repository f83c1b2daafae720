#!/usr/bin/env bash
# The GPU measurement in one go, on a machine without package registries (../shared/device/README.md).
# Here, after `make install`: `bash ../shared/device/prepare.sh`; there, from the project root, with
# .device-kit carried: `bash bench/gpu.sh`. It installs the kit's wheels, makes random-weight models
# of real shapes (speed figures only), runs the GPU tests, then bench/serving.py and
# bench/decode_step.py per shape. Under 8 minutes on an H200 for the default PARTS.
#   SHAPES="135m 1b 8b"      which shapes to make (the 8B one takes a minute to write)
#   PARTS="serve-1b serve-135m step-1b tests"   which parts, in order; serve-8b and step-8b exist too, and
#     `families`: every family's tiny-model tests on CUDA (eager steps, nf4 and int4, the captured CUDA
#     graphs with adapter rows and contexts crossing the sliding window, LongRoPE, the trainer)
#   FORMATS=int4,none,nf4    the weight formats bench/serving.py serves on the 1B shapes
# Logs and JSON go to $OUT (the last lines of each part are printed), the servers' logs in one archive.
set -u
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
root=$(pwd); kit=$root/.device-kit; OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$kit"/whl/*.whl > /tmp/pip.txt 2>&1 \
  || { tail -5 /tmp/pip.txt; exit 1; }
export PYTHONPATH=/tmp/site:$root:$root/clients/python/src BENCH_LOG_DIR=/tmp/server-logs
mkdir -p "$BENCH_LOG_DIR"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.mem --format=csv,noheader
python3 -c "import torch,transformers,triton;print('torch',torch.__version__,'cuda',torch.version.cuda,'transformers',transformers.__version__,'triton',triton.__version__)"
for s in ${SHAPES:-135m 1b}; do [ -d "/tmp/m$s" ] || python3 "$kit/mkmodel.py" "$kit/tok" "/tmp/m$s" "$s" 2>&1 | tail -1; done

part() {  # name, seconds, command...
  local name=$1 limit=$2; shift 2
  local started=$SECONDS
  timeout "$limit" "$@" > "/tmp/$name.log" 2>&1
  local rc=$?
  echo "== $name: exit $rc after $((SECONDS - started)) s"
  grep -v "^\s*$" "/tmp/$name.log" | tail -n "${TAIL:-14}"
  cat "/tmp/$name.log" >> "$OUT/parts.log"
}

for p in ${PARTS:-serve-1b serve-135m step-1b tests}; do
  case $p in
    tests) TUNESERVE_TEST_MODEL=/tmp/m135m part tests "${TESTS_LIMIT:-240}" python3 -m pytest -q -p no:cacheprovider -x -m gpu \
             tests/server/engine/test_cuda_graph.py tests/server/engine/test_prefill_attention.py tests/common/test_precision.py \
             tests/trainer/test_training.py ;;
    families) part families "${FAMILIES_LIMIT:-300}" python3 -m pytest -q -p no:cacheprovider -k "not compiled_decode_step" \
                tests/mechanics/test_engine_mechanics.py ;;
    step-*) part "$p" 150 python3 bench/decode_step.py --model "/tmp/m${p#step-}" --rows 1,8,32 --contexts 128,2048 --json "$OUT/$p.json" ;;
    serve-1b) part serve-1b "${SERVE_LIMIT:-330}" python3 bench/serving.py --model /tmp/m1b --max-new-tokens 64 --levels 1,32 \
                --formats "${FORMATS:-int4,none,nf4}" --baseline-requests 8 --json "$OUT/serve-1b.json" ;;
    serve-*) part "$p" 200 python3 bench/serving.py --model "/tmp/m${p#serve-}" --max-new-tokens 64 --levels 1,32 \
               --formats auto --baseline-requests 8 --json "$OUT/$p.json" ;;
  esac
done
tar -czf "$OUT/server-logs.tgz" -C /tmp server-logs 2>/dev/null
