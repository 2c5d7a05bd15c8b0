#!/usr/bin/env bash
# System packages the slow tests need, from Debian:
#   - chromium, chromium-driver: the data-quality UI test drives a headless browser;
#   - postgresql, redis-server: the multi-worker deployment test (tests/deploy) starts
#     its own PostgreSQL and Redis servers, on free ports in temp folders;
#   - docker.io, debootstrap: the compose deployment test (tests/deploy/test_compose_up.py)
#     starts a Docker engine and builds its base images from a Debian root filesystem.
# Idempotent: installs only what is missing, and does nothing (no apt-get update) when
# everything is there. Needs root (or sudo) and the Debian mirrors.
# On a host with systemd, installing postgresql or redis-server also starts their
# default services (ports 5432 and 6379); the tests do not use them.
set -euo pipefail

missing=()
if [[ ! -x /usr/bin/chromium ]]; then
  missing+=(chromium chromium-driver fonts-dejavu-core)
fi
if ! compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null; then
  missing+=(postgresql)
fi
if ! command -v redis-server >/dev/null; then
  missing+=(redis-server)
fi
if ! command -v dockerd >/dev/null; then
  missing+=(docker.io)
fi
if ! command -v debootstrap >/dev/null; then
  missing+=(debootstrap)
fi

if (( ${#missing[@]} )); then
  SUDO=""
  if [[ "$(id -u)" != "0" ]]; then
    command -v sudo >/dev/null || { echo "need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    SUDO="sudo"
  fi
  export DEBIAN_FRONTEND=noninteractive
  echo "installing: ${missing[*]}"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq "${missing[@]}"
fi

echo "chromium: $(/usr/bin/chromium --version 2>/dev/null || echo missing)"
pg=$(compgen -G "/usr/lib/postgresql/*/bin/postgres" | sort -V | tail -n1)
echo "postgresql: $("$pg" --version)"
echo "redis: $(redis-server --version)"
echo "dockerd: $(dockerd --version)"
