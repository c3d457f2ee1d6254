#!/usr/bin/env bash
# Set up genlab with its test extras and run the test suite (slow tests are excluded by default).
set -euo pipefail
cd "$(dirname "$0")/.."
GENLAB_EXTRAS=${GENLAB_EXTRAS:-test,explorer,inception} bash scripts/setup.sh
# The browser tests drive Debian's chromium; the voices dataset is spoken by espeak-ng.
if { ! command -v chromium >/dev/null || ! command -v espeak-ng >/dev/null; } \
   && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium espeak-ng >/dev/null
fi
exec .venv/bin/python -m pytest -q "$@"
