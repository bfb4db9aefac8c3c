# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.edgekit-installed
# Converter toolchains (litert: PyTorch -> TFLite, onnx2tf: ONNX -> TFLite) are environments edgekit
# makes and caches itself (~/.cache/edgekit/toolchains, or $EDGEKIT_TOOLCHAINS_DIR, keyed by the hash of
# their pins: an unchanged pin set is not reinstalled). Offline: EDGEKIT_WHEELHOUSE=DIR make toolchains.
TOOLCHAINS := litert onnx2tf

.PHONY: setup toolchains lint demo test test-quick bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -c constraints.txt -e '.[all]'
	touch $(STAMP)

toolchains: setup
	$(PY) -m edgekit toolchains install $(TOOLCHAINS)

# ruff (rules and line length in pyproject.toml): lint, and the formatter's check (no edits).
lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

demo: setup
	$(PY) examples/demo.py

# EDGEKIT_REQUIRE_TOOLCHAINS=1: a test that needs a toolchain fails instead of skipping when it is missing.
# PyTorch -> TFLite (tests/build_torch/test_tflite_torch.py) converts in the litert toolchain.
test: setup toolchains
	EDGEKIT_REQUIRE_TOOLCHAINS=1 $(PY) -m pytest

test-quick: setup
	$(PY) -m pytest -m "not slow"

bench: setup
	$(PY) benchmarks/harness_overhead.py

clean:
	rm -rf $(VENV) out .pytest_cache
