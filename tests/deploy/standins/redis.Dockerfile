# Stand-in for the official redis image (docker-compose.yaml's MAGA_REDIS_IMAGE), from
# Debian 12's redis-server package: redis-server and redis-cli on PATH, data in /data,
# running as `redis`. Compose gives the command line (password, append-only file).
ARG DEBIAN_IMAGE=maga-standin/debian:bookworm
FROM ${DEBIAN_IMAGE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server \
 && apt-get clean && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /data && chown redis:redis /data
USER redis
WORKDIR /data
EXPOSE 6379
CMD ["redis-server", "--protected-mode", "no"]
