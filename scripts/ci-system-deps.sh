#!/usr/bin/env bash
# System packages the slow tests need: Debian's chromium and chromedriver (the
# data-quality UI test drives a headless browser). Idempotent: does nothing when
# /usr/bin/chromium is already there. Needs root (or sudo) and the Debian mirrors.
set -euo pipefail

if [[ -x /usr/bin/chromium ]]; then
  echo "chromium already installed: $(/usr/bin/chromium --version 2>/dev/null || echo present)"
  exit 0
fi

SUDO=""
if [[ "$(id -u)" != "0" ]]; then
  command -v sudo >/dev/null || { echo "need root or sudo to install chromium" >&2; exit 1; }
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq chromium chromium-driver fonts-dejavu-core
/usr/bin/chromium --version
