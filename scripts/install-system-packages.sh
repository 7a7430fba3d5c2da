#!/usr/bin/env bash
# Installs the Debian packages the test suite needs when they are missing:
# nghttp2-server (nghttpd, an independent HTTP/2 server for interop tests), postgresql
# (the tests start their own server from /usr/lib/postgresql/*/bin) and chromium (the
# browser tests drive /usr/bin/chromium through Playwright; no browser is downloaded).
# Runs apt-get directly as root (as on CI) or through sudo otherwise.
set -euo pipefail
packages=()
[ -x /usr/sbin/nghttpd ] || command -v nghttpd >/dev/null 2>&1 || packages+=(nghttp2-server)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || packages+=(postgresql)
[ -x /usr/bin/chromium ] || packages+=(chromium)
[ ${#packages[@]} -eq 0 ] && exit 0
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
