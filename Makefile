# The README's two commands: `make train` (main job) and `make test` (tests + ruff + mypy).
VENV := .venv
PY := $(VENV)/bin/python
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup train test lint integration bench

setup:
	bash scripts/bootstrap.sh

train: setup
	$(VENV)/bin/cotune train configs/wnut16-ner.yaml --overwrite

lint:
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/mypy src
	$(VENV)/bin/lint-imports --no-cache

test: setup lint
	$(PY) -m pytest -q

integration: setup
	$(PY) -m pytest -q -m integration
