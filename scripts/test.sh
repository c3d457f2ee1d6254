#!/usr/bin/env bash
# Set up genlab with its test extras and run the test suite (slow tests are excluded by default).
set -euo pipefail
cd "$(dirname "$0")/.."
GENLAB_EXTRAS=${GENLAB_EXTRAS:-test,explorer,inception,voice} bash scripts/setup.sh
# The browser tests drive Debian's chromium; the voices are spoken by espeak-ng and festival's recorded voices.
if { ! command -v chromium >/dev/null || ! command -v espeak-ng >/dev/null || ! command -v text2wave >/dev/null; } \
   && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium espeak-ng festival \
    festvox-kallpc16k festvox-us-slt-hts >/dev/null
fi
exec .venv/bin/python -m pytest -q "$@"
