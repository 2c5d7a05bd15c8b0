# Stand-in for apache/airflow:3.3.2-python3.11, for machines that cannot pull it (the
# deployment test, tests/deploy/test_compose_up.py). Built from a Debian 12 root
# filesystem and PyPI, with the official image's conventions that docker/airflow.Dockerfile
# and docker-compose.yaml rely on:
#   - user `airflow`, UID 50000, group 0, HOME=/home/airflow; packages in its user site
#     (PIP_USER=true, /home/airflow/.local/bin on PATH), readable by any UID in group 0;
#   - AIRFLOW_HOME=/opt/airflow, the working directory;
#   - ENTRYPOINT dumb-init + /entrypoint: `airflow <args>` for Airflow commands, `bash`
#     and `python` passed through, _AIRFLOW_DB_MIGRATE and _AIRFLOW_WWW_USER_* honoured;
#   - curl (health checks), Python 3.11, apache-airflow 3.3.2 and providers.
# Differences are listed in docs/deploy.md ("What the deployment test checks").
ARG DEBIAN_IMAGE=maga-standin/debian:bookworm
FROM ${DEBIAN_IMAGE}

ARG AIRFLOW_VERSION=3.3.2
# The providers the official image bundles that this deployment touches, at the versions
# the project pins (the official image bundles more: Google, Azure, MySQL, ...).
ARG AIRFLOW_PROVIDERS="apache-airflow-providers-celery==3.26.0 apache-airflow-providers-fab==3.10.2 apache-airflow-providers-amazon==9.39.0 apache-airflow-providers-postgres==7.1.1 apache-airflow-providers-standard==1.21.0 apache-airflow-providers-common-sql==2.4.0 apache-airflow-providers-common-io==1.11.0 apache-airflow-providers-common-compat==1.23.0 apache-airflow-providers-smtp==3.2.0"
ARG PIP_VERSION=25.3

ENV DEBIAN_FRONTEND=noninteractive \
    LANG=C.UTF-8 \
    LC_ALL=C.UTF-8 \
    PYTHONUNBUFFERED=1 \
    AIRFLOW_HOME=/opt/airflow \
    AIRFLOW_USER_HOME_DIR=/home/airflow \
    HOME=/home/airflow \
    PATH=/home/airflow/.local/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PIP_USER=true \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Debian's Python is marked externally managed; the official image's python.org build is
# not, and pip installs into the user site there.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      python3 python3-pip python3-venv python-is-python3 ca-certificates curl dumb-init \
      libpq5 procps \
 && rm -f /usr/lib/python3*/EXTERNALLY-MANAGED \
 && apt-get clean && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 50000 --gid 0 --home-dir /home/airflow --create-home --shell /bin/bash airflow \
 && mkdir -p /opt/airflow/dags /opt/airflow/logs /opt/airflow/plugins /opt/airflow/config \
 && chown -R airflow:0 /opt/airflow /home/airflow \
 && chmod -R g+rwX /opt/airflow /home/airflow

USER airflow
RUN --mount=type=secret,id=extra_ca,mode=0444 \
    if [ -s /run/secrets/extra_ca ]; then \
      cat /etc/ssl/certs/ca-certificates.crt /run/secrets/extra_ca > /tmp/pip-ca.pem \
      && export PIP_CERT=/tmp/pip-ca.pem; \
    fi \
 && python -m pip install "pip==${PIP_VERSION}" \
 && pip install "apache-airflow==${AIRFLOW_VERSION}" ${AIRFLOW_PROVIDERS} \
 && rm -f /tmp/pip-ca.pem \
 && chmod -R g+rwX /home/airflow \
 && airflow version

COPY --chown=airflow:0 entrypoint-airflow.sh /entrypoint
WORKDIR /opt/airflow
EXPOSE 8080
ENTRYPOINT ["/usr/bin/dumb-init", "--", "/entrypoint"]
CMD []
