# Stand-in for the official postgres image (docker-compose.yaml's MAGA_POSTGRES_IMAGE),
# from Debian 12's PostgreSQL 15 packages. What compose relies on: POSTGRES_USER,
# POSTGRES_PASSWORD and POSTGRES_DB create the superuser and the database on the first
# start, data in /var/lib/postgresql/data, listening on 5432 for every address with
# password (scram-sha-256) logins, pg_isready on PATH, running as `postgres`.
ARG DEBIAN_IMAGE=maga-standin/debian:bookworm
FROM ${DEBIAN_IMAGE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-15 \
 && apt-get clean && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /var/lib/postgresql/data /var/run/postgresql \
 && chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql \
 && chmod 0700 /var/lib/postgresql/data
COPY entrypoint-postgres.sh /usr/local/bin/docker-entrypoint.sh
ENV PATH=/usr/lib/postgresql/15/bin:$PATH \
    PGDATA=/var/lib/postgresql/data \
    LANG=C.UTF-8
USER postgres
EXPOSE 5432
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
CMD ["postgres"]
