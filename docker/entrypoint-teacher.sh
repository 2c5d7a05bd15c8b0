#!/usr/bin/env bash
# Starts `vllm serve` for the teacher model from environment settings; any arguments
# given to the container (compose `command:`) are appended to vLLM's own flags.
#
#   MAGA_TEACHER_MODEL                    Hugging Face id or local folder (required)
#   MAGA_TEACHER_API_KEY                  bearer token clients must send (required)
#   MAGA_TEACHER_MAX_MODEL_LEN            context length (default 8192)
#   MAGA_TEACHER_GPU_MEMORY_UTILIZATION   share of GPU memory vLLM may take (default 0.4:
#                                         the GPU worker shares the GPU; see .env.example)
#   MAGA_TEACHER_TENSOR_PARALLEL_SIZE     GPUs to shard the model over (default 1)
#
# Structured outputs use xgrammar without free whitespace: the pipeline's JSON and
# choice constraints then produce compact output.
set -euo pipefail

: "${MAGA_TEACHER_MODEL:?set MAGA_TEACHER_MODEL to a Hugging Face model id or a local folder}"
: "${MAGA_TEACHER_API_KEY:?set MAGA_TEACHER_API_KEY; clients send it as their bearer token}"

exec vllm serve "${MAGA_TEACHER_MODEL}" \
    --host 0.0.0.0 \
    --port 8000 \
    --api-key "${MAGA_TEACHER_API_KEY}" \
    --max-model-len "${MAGA_TEACHER_MAX_MODEL_LEN:-8192}" \
    --gpu-memory-utilization "${MAGA_TEACHER_GPU_MEMORY_UTILIZATION:-0.4}" \
    --tensor-parallel-size "${MAGA_TEACHER_TENSOR_PARALLEL_SIZE:-1}" \
    --structured-outputs-config '{"backend":"xgrammar","disable_any_whitespace":true}' \
    "$@"
