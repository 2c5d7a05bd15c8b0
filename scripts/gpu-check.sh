#!/usr/bin/env bash
# `make gpu-check`: the gpu profile's riskiest paths on one GPU in about ten minutes
# (maga/deploy/gpu_check.py). Needs vLLM 0.24's CUDA build, as carried onto a lent
# H100/H200 by ../shared/gpu/README.md (then `source /tmp/parts/device.sh && install_vllm`).
# One line per step goes to $OUT/gpu-check.txt (default var/gpu-check/out); the engine
# logs to $OUT/gpu-check.log; issue 28's figures to $OUT/throughput.json, which
# `python -m maga.bench.gpu_throughput --from-json ... --record var` stores anywhere.
# Arguments go to maga.deploy.gpu_check (--dry-run, --budget-s, --only STEP).
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-var/gpu-check/out}
mkdir -p "$out"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 MAGA_HOME=$PWD
# An engine that hangs must not eat the whole check: each step fails on its own.
export MAGA_ENGINE_START_TIMEOUT_S=${MAGA_ENGINE_START_TIMEOUT_S:-300}
export MAGA_ENGINE_REPLY_TIMEOUT_S=${MAGA_ENGINE_REPLY_TIMEOUT_S:-300}
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version \
  --format=csv,noheader | tee "$out/gpu.txt"
${GPU_PYTHON:-python3} -m maga.deploy.gpu_check --out "$out" "$@" 2> >(cat >>"$out/gpu-check.log")
