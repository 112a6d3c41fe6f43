# Every target does its own idempotent set-up into .venv.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.glancevad-installed
# The CPU build of torch that lies on this machine's disk; the package itself only asks torch>=2.4.
TORCH_PIN ?= torch==2.13.0
DEMO_DIR ?= runs/demo

.PHONY: setup demo test bench lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q $(TORCH_PIN)
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

demo: setup
	$(VENV)/bin/glancevad synth $(DEMO_DIR)/data --preset demo --force
	$(VENV)/bin/glancevad data check $(DEMO_DIR)/data
	$(VENV)/bin/glancevad glances stats $(DEMO_DIR)/data/synthetic_glance_annotations.csv \
		--data $(DEMO_DIR)/data --out $(DEMO_DIR)/glance_stats

lint: setup
	$(VENV)/bin/ruff check src tests benchmarks

test: setup lint
	$(VENV)/bin/python -m pytest

bench: setup
	$(VENV)/bin/python benchmarks/run.py

clean:
	rm -rf $(VENV) runs .pytest_cache
