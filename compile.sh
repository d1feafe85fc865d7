#!/usr/bin/env bash
# Build the compiled extensions (grouping, tracking) in place, for development (pip does
# this on install).
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
"$PY" setup.py build_ext --inplace
