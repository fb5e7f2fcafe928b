#!/usr/bin/env bash
# The whole test suite: install what is missing, then lint, type-check, check the layer
# contracts, and run every test. Any failure (pytest's "no tests collected" too) fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh --dev
export PATH="$PWD/.venv/bin:$PATH"
echo "== ruff"; ruff check . && ruff format --check .
echo "== mypy"; mypy
echo "== import-linter"; lint-imports
echo "== pytest"; pytest "$@"
