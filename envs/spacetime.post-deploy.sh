#!/usr/bin/env bash
# Run by Snakemake inside the freshly created conda environment, from the workflow's working directory (the
# repository root): install the spacetime_snn package (editable, so the environment follows the checkout; its
# dependencies are already pinned in spacetime.yaml).
set -euo pipefail
python -m pip install --no-deps --editable .
