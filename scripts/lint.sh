#!/usr/bin/env bash
# Lint (ruff), format check (ruff format) and type check (mypy) of the package, as configured in
# pyproject.toml; run after scripts/setup.sh with the test extra (which installs ruff and mypy).
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python -m ruff check src tests benchmarks
.venv/bin/python -m ruff format --check src tests benchmarks
.venv/bin/python -m mypy
