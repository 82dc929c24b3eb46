#!/usr/bin/env bash
# The GPU checks of issues 4 and 5 in one call on a lent machine. Here, first:
#   bench/gpu/fetch_wheels.sh            # .whl/ (about 25 MB): what the machine's image lacks
#   .venv/bin/python -m bench.gpu.prepare_train_smoke   # .gpu_smoke/: the voice bench.gpu.train_smoke trains
# then through the device tool:
#   run(command="bash bench/gpu/run_checks.sh", carry=[".whl", ".gpu_smoke"], timeout_s=600)
# `run_checks.sh --tiny` runs the same steps with tiny models, to try the script on a CPU;
# `run_checks.sh NAME...` runs only the named checks (qwen3_0.6B, xtts, qwen3_1.7B, train_smoke), to redo one.
# Each bench has its own time limit, so one that fails or hangs leaves the others' figures; JSON and
# logs land in $OUT and a markdown table is printed last.
set -uo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-/tmp/gpu_checks}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  || { echo "installing the carried wheels failed"; exit 1; }
export PYTHONPATH=/tmp/site:$PWD
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
} 2>&1 | tee "$out/machine.txt"

only=" $* "
bench() {  # NAME SECONDS ARGS...
  local name=$1 limit=$2; shift 2
  [ "$only" = "  " ] || [ "$only" = " --tiny " ] || [[ "$only" == *" $name "* ]] || return 0
  echo "== $name"
  timeout "$limit" python3 -m "$@" --out "$out/$name.json" >"$out/$name.log" 2>&1
  echo "exit $?"; grep '^{' "$out/$name.log" || tail -5 "$out/$name.log"
}
if [ "${1:-}" = "--tiny" ]; then
  bench qwen3_tiny 120 bench.qwen3_step --size tiny --batch-size 2 --seconds 3 --steps 2
  bench xtts_tiny 120 bench.xtts_step --tiny --steps 2 --batch-size 2 --seconds 3 --precisions fp32,bf16
else
  bench qwen3_0.6B 150 bench.qwen3_step --size 0.6B --batch-size 8 --seconds 8 --steps 10
  bench xtts 150 bench.xtts_step --steps 20 --batch-size 3 --seconds 10 --precisions fp32,fp16,bf16
  bench qwen3_1.7B 150 bench.qwen3_step --size 1.7B --batch-size 8 --seconds 8 --steps 10
  bench train_smoke 120 bench.gpu.train_smoke --voice-data .gpu_smoke/data
fi
python3 -m bench.gpu.summarize "$out"/*.json
