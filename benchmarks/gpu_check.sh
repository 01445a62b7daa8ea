#!/usr/bin/env bash
# GPU check for a lent machine (torch with CUDA; onnx, onnxruntime, tensorrt optional).
# Runs from the source checkout, no pip install: PYTHONPATH points at the repository.
#   bash benchmarks/gpu_check.sh                 # NAFNet-w32 at 512 and 1024
#   bash benchmarks/gpu_check.sh --preset nafnet-w64 --sizes 512
# The table is printed and written to $OUT/gpu_check.md (or benchmarks/results/gpu_check.md).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
PYTHON="${PYTHON:-python3}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || echo "nvidia-smi: none"
"$PYTHON" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'available', torch.cuda.is_available())"
exec "$PYTHON" "$ROOT/benchmarks/gpu_check.py" "$@"
