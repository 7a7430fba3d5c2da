#!/usr/bin/env bash
# Installs the Debian packages the test suite needs when they are missing.
# Runs apt-get directly as root (as on CI) or through sudo otherwise.
set -euo pipefail
packages=(nghttp2-server)
if [ "$(id -u)" -eq 0 ]; then
  apt=(apt-get)
elif command -v sudo >/dev/null 2>&1; then
  apt=(sudo apt-get)
else
  echo "install these Debian packages first: ${packages[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${apt[@]}" install -y -q "${packages[@]}" >/dev/null 2>&1 || {
  "${apt[@]}" update -q >/dev/null
  "${apt[@]}" install -y -q "${packages[@]}" >/dev/null
}
