#!/usr/bin/env bash
# The main job: install what is missing, then run `kanaria demo` (the seed scenario end to end).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
exec .venv/bin/kanaria demo "$@"
