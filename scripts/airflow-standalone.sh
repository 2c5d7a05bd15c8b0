#!/usr/bin/env bash
# Airflow on the embedded default: `airflow standalone` (scheduler, DAG processor, API
# server and UI, triggerer) with SQLite and the LocalExecutor, reading this repo's dags/
# and plugins/. Everything Airflow writes stays in var/airflow.
#
# Login: user "admin" with a password generated on first start, printed once and kept in
# var/airflow/simple_auth_manager_passwords.json (delete the file for a new one).
#
# Settings (environment): MAGA_AIRFLOW_HOME (default var/airflow), MAGA_AIRFLOW_PORT
# (default 8080), MAGA_STORAGE_ROOT (where runs are written; default var/ of the repo).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV_BIN="${VENV_BIN:-$ROOT/.venv/bin}"
if [[ -x "$VENV_BIN/airflow" ]]; then
  export PATH="$VENV_BIN:$PATH"
fi
command -v airflow >/dev/null || { echo "airflow not found: run 'make env' first" >&2; exit 1; }

export MAGA_HOME="${MAGA_HOME:-$ROOT}"
export AIRFLOW_HOME="${MAGA_AIRFLOW_HOME:-$ROOT/var/airflow}"
mkdir -p "$AIRFLOW_HOME"
PORT="${MAGA_AIRFLOW_PORT:-8080}"

export AIRFLOW__CORE__DAGS_FOLDER="$ROOT/dags"
export AIRFLOW__CORE__PLUGINS_FOLDER="$ROOT/plugins"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="sqlite:///$AIRFLOW_HOME/airflow.db"
# The LocalExecutor, with great-expectations, pandas and transformers imported once in the
# scheduler, so task processes start with them (maga/deploy/executor.py; MAGA_AIRFLOW_PRELOAD).
export AIRFLOW__CORE__EXECUTOR=maga.deploy.executor.WarmLocalExecutor
export AIRFLOW__CORE__AUTH_MANAGER="airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
# More users as name:role (viewer, user, op, admin); their passwords are added to the file.
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS:-admin:admin}"
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS=False
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE="$AIRFLOW_HOME/simple_auth_manager_passwords.json"
export AIRFLOW__CORE__LAZY_LOAD_PLUGINS=False
export AIRFLOW__API__PORT="$PORT"
export AIRFLOW__API__BASE_URL="${AIRFLOW__API__BASE_URL:-http://localhost:$PORT}"
# Small machines: one API worker, few parallel tasks (each may start a model engine).
export AIRFLOW__API__WORKERS="${AIRFLOW__API__WORKERS:-1}"
export AIRFLOW__CORE__PARALLELISM="${AIRFLOW__CORE__PARALLELISM:-4}"
export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="${AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION:-True}"

PASSWORDS="$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"
if [[ ! -s "$PASSWORDS" ]]; then
  PASSWORD="$(python3 -c 'import secrets; print(secrets.token_urlsafe(18))')"
  (umask 077 && printf '{"admin": "%s"}\n' "$PASSWORD" > "$PASSWORDS")
  echo "Airflow login: admin / $PASSWORD  (stored in $PASSWORDS; shown only this once)"
fi

# The pools of the tasks that load a model (maga.deploy.routing; Airflow never schedules a
# task whose pool does not exist): on a CPU, `cpu_models` with one slot per core, so
# tasks whose engines bind the same cores run one after the other.
airflow db migrate >"$AIRFLOW_HOME/db-migrate.log" 2>&1 || {
  echo "airflow db migrate failed: see $AIRFLOW_HOME/db-migrate.log" >&2; exit 1; }
(cd "$ROOT" && python -m maga.deploy.routing)

echo "Airflow UI: http://localhost:$PORT  (AIRFLOW_HOME=$AIRFLOW_HOME, data quality: Browse > Data quality)"
exec airflow standalone
