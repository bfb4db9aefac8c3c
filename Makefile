# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.edgekit-installed
# Converter toolchains (litert: PyTorch -> TFLite, onnx2tf: ONNX -> TFLite) are environments edgekit
# makes and caches itself (~/.cache/edgekit/toolchains, or $EDGEKIT_TOOLCHAINS_DIR, keyed by the hash of
# their pins: an unchanged pin set is not reinstalled). Offline: EDGEKIT_WHEELHOUSE=DIR make toolchains.
TOOLCHAINS := litert onnx2tf
# Until tests/build_torch/test_tflite_from_torch.py runs its conversion through the litert toolchain,
# it still runs in a venv of its own (.venv-litert: constraints-litert.txt says which pins move and why).
LT_VENV := .venv-litert
LT_PY := $(LT_VENV)/bin/python
LT_STAMP := $(LT_VENV)/.edgekit-installed
LT_TESTS := tests/build_torch/test_tflite_from_torch.py

.PHONY: setup setup-litert toolchains demo test test-litert test-quick bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -c constraints.txt -e '.[all]'
	touch $(STAMP)

setup-litert: $(LT_STAMP)

$(LT_STAMP): pyproject.toml constraints-litert.txt
	test -x $(LT_PY) || $(PYTHON) -m venv $(LT_VENV)
	$(LT_PY) -m pip install -q --upgrade pip
	$(LT_PY) -m pip install -c constraints-litert.txt -e '.[all,torch-tflite]'
	touch $(LT_STAMP)

toolchains: setup
	$(PY) -m edgekit toolchains install $(TOOLCHAINS)

demo: setup
	$(PY) examples/demo.py

# EDGEKIT_REQUIRE_TOOLCHAINS=1: a test that needs a toolchain fails instead of skipping when it is missing.
test: setup toolchains setup-litert
	EDGEKIT_REQUIRE_TOOLCHAINS=1 $(PY) -m pytest
	$(LT_PY) -m pytest -q $(LT_TESTS)

test-litert: setup-litert
	$(LT_PY) -m pytest -q $(LT_TESTS)

test-quick: setup
	$(PY) -m pytest -m "not slow"

bench: setup
	$(PY) benchmarks/harness_overhead.py

clean:
	rm -rf $(VENV) $(LT_VENV) out .pytest_cache
