#!/usr/bin/env bash
# Set up genlab with its test extras and run the test suite (slow tests are excluded by default).
set -euo pipefail
cd "$(dirname "$0")/.."
GENLAB_EXTRAS=${GENLAB_EXTRAS:-test,explorer,inception} bash scripts/setup.sh
exec .venv/bin/python -m pytest -q "$@"
