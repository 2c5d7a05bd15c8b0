# NOT vLLM: a stand-in for vllm/vllm-openai:v0.24.0 with neither vLLM nor CUDA, for the
# checks of docker/teacher.Dockerfile and docker/gpu-worker.Dockerfile that need no GPU
# (tests/deploy/test_compose_up.py). Debian 12 with Python and pip, useradd, and a
# `vllm` command that only prints the arguments it was given, one per line, so the
# teacher's entrypoint can be checked for the command line it builds.
ARG DEBIAN_IMAGE=maga-standin/debian:bookworm
FROM ${DEBIAN_IMAGE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-pip \
 && apt-get clean && rm -rf /var/lib/apt/lists/* \
 && printf '#!/bin/sh\nprintf "%%s\\n" "$@"\n' > /usr/local/bin/vllm \
 && chmod 0755 /usr/local/bin/vllm
ENTRYPOINT ["vllm", "serve"]
