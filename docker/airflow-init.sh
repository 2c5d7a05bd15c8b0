#!/usr/bin/env bash
# One-shot setup for the `airflow-init` compose service. It runs as root before any
# other Airflow component starts and:
#   1. refuses to go on while a secret still holds the `change-me` placeholder from
#      .env.example, or the Fernet key is not a valid key;
#   2. makes the shared volumes writable for ${AIRFLOW_UID}:0;
#   3. creates the bucket of MAGA_STORAGE_ROOT unless it exists;
#   4. runs the official image's entrypoint, which migrates the metadata
#      database (_AIRFLOW_DB_MIGRATE) and creates the admin user
#      (_AIRFLOW_WWW_USER_CREATE, FAB auth manager) before printing the version;
#   5. creates the pools of the tasks that load a model (maga.deploy.routing).
set -euo pipefail

AIRFLOW_UID="${AIRFLOW_UID:-50000}"
# Airflow is installed in the airflow user's site-packages; root needs it on its path
# (the official entrypoint does the same).
py_version=$(python -c 'import sys; print("%d.%d" % sys.version_info[:2])')
export PYTHONPATH="${AIRFLOW_USER_HOME_DIR:-/home/airflow}/.local/lib/python${py_version}/site-packages:${PYTHONPATH:-}"

# 1. Secrets. Only variable names are printed, never values.
placeholders=$(env | grep -i 'change-me' | cut -d= -f1 | sort || true)
if [[ -n "${placeholders}" ]]; then
    echo "ERROR: these settings still contain the 'change-me' placeholder from .env.example:" >&2
    echo "${placeholders}" | sed 's/^/  /' >&2
    echo "(AIRFLOW__* settings and AIRFLOW_CONN_* connections are built from the .env secrets.)" >&2
    echo "Edit .env (see .env.example for how to generate each value) and start again." >&2
    exit 1
fi
if ! python -c 'import os, sys; from cryptography.fernet import Fernet; Fernet(os.environ["AIRFLOW__CORE__FERNET_KEY"])' 2>/dev/null; then
    echo "ERROR: AIRFLOW_FERNET_KEY is not a valid Fernet key (32 url-safe base64-encoded bytes)." >&2
    echo "Generate one with: python3 -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'" >&2
    exit 1
fi

# 2. Shared volumes (named volumes start out owned by root).
mkdir -p /opt/airflow/logs /opt/maga/var/models
chown -R "${AIRFLOW_UID}:0" /opt/airflow/logs /opt/maga/var
chmod -R g+rwX /opt/airflow/logs /opt/maga/var

# 3. The bucket in MAGA_STORAGE_ROOT, with the pipeline's own keys (maga.deploy.bucket;
#    run from /opt/maga because root's interpreter skips the user site's .pth files).
(cd /opt/maga && python -m maga.deploy.bucket)

# 4. Database migration and admin user, done by the official entrypoint.
/entrypoint airflow version

# 5. Pools of the tasks that load a model (`gpu`, and the profile's refresh.model_pool):
#    Airflow never schedules a task whose pool does not exist. Slots: MAGA_GPU_POOL_SLOTS.
(cd /opt/maga && python -m maga.deploy.routing)
