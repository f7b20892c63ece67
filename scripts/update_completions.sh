#!/usr/bin/env bash
# Regenerate completions/ (tests/test_completions_cli.py checks they are current).
set -euo pipefail
cd "$(dirname "$0")/.."
"${PYTHON:-python3}" -m glsgn_cli.completions completions
