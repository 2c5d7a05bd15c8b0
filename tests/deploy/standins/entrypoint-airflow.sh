#!/usr/bin/env bash
# Entrypoint of the Airflow stand-in image: the part of the official image's /entrypoint
# that docker-compose.yaml relies on.
#   _AIRFLOW_DB_MIGRATE=true         wait for the database, then `airflow db migrate`
#   _AIRFLOW_WWW_USER_CREATE=true    create the admin user from _AIRFLOW_WWW_USER_* (FAB)
#   bash ... / python ...            run that instead of airflow
#   anything else                    `airflow <args>` (a leading `airflow` is dropped)
set -euo pipefail

wait_for_db() {
    local tries=0
    until airflow db check >/dev/null 2>&1; do
        tries=$((tries + 1))
        if (( tries >= ${CONNECTION_CHECK_MAX_COUNT:-20} )); then
            echo "ERROR: the metadata database did not answer after ${tries} tries" >&2
            airflow db check
            exit 1
        fi
        sleep "${CONNECTION_CHECK_SLEEP_TIME:-3}"
    done
}

if [[ "${_AIRFLOW_DB_MIGRATE:-false}" == "true" ]]; then
    wait_for_db
    airflow db migrate
fi
if [[ "${_AIRFLOW_WWW_USER_CREATE:-false}" == "true" ]]; then
    airflow users create \
        --username "${_AIRFLOW_WWW_USER_USERNAME:-admin}" \
        --firstname "${_AIRFLOW_WWW_USER_FIRSTNAME:-Airflow}" \
        --lastname "${_AIRFLOW_WWW_USER_LASTNAME:-Admin}" \
        --email "${_AIRFLOW_WWW_USER_EMAIL:-airflowadmin@example.com}" \
        --role "${_AIRFLOW_WWW_USER_ROLE:-Admin}" \
        --password "${_AIRFLOW_WWW_USER_PASSWORD:?set _AIRFLOW_WWW_USER_PASSWORD}" \
        || true  # already there on a re-run
fi

case "${1:-}" in
    bash | python) exec "$@" ;;
    airflow) shift ;;
esac
exec airflow "$@"
