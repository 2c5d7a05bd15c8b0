#!/usr/bin/env bash
# First start: initdb with POSTGRES_USER as superuser (password POSTGRES_PASSWORD) and
# create POSTGRES_DB; then run the server on every address.
set -euo pipefail
: "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}"
user="${POSTGRES_USER:-postgres}"
db="${POSTGRES_DB:-${user}}"
if [[ ! -s "${PGDATA}/PG_VERSION" ]]; then
    pwfile=$(mktemp)
    printf '%s\n' "${POSTGRES_PASSWORD}" > "${pwfile}"
    initdb --username="${user}" --pwfile="${pwfile}" --auth-local=trust \
        --auth-host=scram-sha-256 --encoding=UTF8 -D "${PGDATA}" >/dev/null
    rm -f "${pwfile}"
    echo "host all all all scram-sha-256" >> "${PGDATA}/pg_hba.conf"
    if [[ "${db}" != "postgres" ]]; then
        echo "CREATE DATABASE \"${db}\" OWNER \"${user}\";" \
            | postgres --single -D "${PGDATA}" -j postgres >/dev/null
    fi
    echo "database ${db} initialised"
fi
if [[ "${1:-}" == "postgres" ]]; then
    shift
    exec postgres -D "${PGDATA}" -c listen_addresses='*' "$@"
fi
exec "$@"
