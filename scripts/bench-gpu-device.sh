#!/usr/bin/env bash
# `maga bench-gpu` on a lent GPU machine (H100/H200), with vLLM 0.24 carried there by the
# recipe in ../shared/gpu/README.md:
#   here:        ../shared/gpu/prepare_vllm_wheels.sh              (.gpu-wheels/chunk-0..5)
#   device x6:   carry [".gpu-wheels/chunk-N"]; source .gpu-wheels/chunk-0/device.sh (first) or
#                /tmp/parts/device.sh (then) && stash .gpu-wheels/chunk-N
#   device:      source /tmp/parts/device.sh && install_vllm && scripts/bench-gpu-device.sh
#   here again:  .venv/bin/maga bench-gpu --from-json <files_at>/bench-gpu.json --record var
# Extra arguments go to `maga bench-gpu` (e.g. --teacher '' to skip the 8B-shaped teacher).
set -euo pipefail
out=${OUT:-$PWD}
export PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}$PWD"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$out/gpu.txt"
python3 -m maga.bench.gpu --device gpu --cache /tmp/maga-shapes --out "$out/bench-gpu.json" "$@"
