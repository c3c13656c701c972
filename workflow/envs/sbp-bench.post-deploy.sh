#!/usr/bin/env bash
# Runs inside the freshly created conda env, from the workflow's working directory (the checkout).
set -euo pipefail
pip install --no-deps --no-build-isolation -e .
