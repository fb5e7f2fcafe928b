#!/usr/bin/env bash
# Installs what kanaria needs on a Debian machine, as root: Debian packages that are missing,
# then a virtual environment in .venv with kanaria and its tools. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v prometheus >/dev/null || need+=(prometheus)
command -v hey >/dev/null || need+=(hey)
command -v curl >/dev/null || need+=(curl)
command -v unshare >/dev/null || need+=(util-linux)
if [ "${KANARIA_BROWSER_TESTS:-1}" = 1 ] && [ "${1:-}" = "--dev" ]; then
  command -v chromium >/dev/null || need+=(chromium)
fi
if [ "${1:-}" = "--dev" ]; then
  # real metrics backends for the provider tests: Graphite (carbon-cache, and graphite-web run
  # by Debian's python3) and InfluxDB 1.x
  command -v carbon-cache >/dev/null || need+=(graphite-carbon)
  /usr/bin/python3 -c "import graphite" 2>/dev/null || need+=(graphite-web)
  command -v influxd >/dev/null || need+=(influxdb)
  # the tests drive the API emulator with real kubectl; Debian's is 1.20, which works with it
  command -v kubectl >/dev/null || need+=(kubernetes-client)
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}"
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
extras="[local]"
[ "${1:-}" = "--dev" ] && extras="[local,dev]"
.venv/bin/pip install -q --disable-pip-version-check -e ".${extras}"
