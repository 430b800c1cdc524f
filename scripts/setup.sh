#!/usr/bin/env bash
# Create .venv and install Synthpipe with its dev tools. Torch goes first: `torch==2.13.0` is the
# local CPU wheel here; any other torch request would pull GBs of CUDA wheels.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet torch==2.13.0
.venv/bin/python -m pip install --quiet -e ".[dev]"
