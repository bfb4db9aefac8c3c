# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.edgekit-installed
# PyTorch -> TFLite (litert-torch) needs three pins moved, so it is tested in a venv of its own
# (constraints-litert.txt says which and why).
LT_VENV := .venv-litert
LT_PY := $(LT_VENV)/bin/python
LT_STAMP := $(LT_VENV)/.edgekit-installed
LT_TESTS := tests/build_torch/test_tflite_from_torch.py

.PHONY: setup setup-litert demo test test-litert test-quick bench clean

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

demo: setup
	$(PY) examples/demo.py

test: setup setup-litert
	$(PY) -m pytest
	$(LT_PY) -m pytest -q $(LT_TESTS)

test-litert: setup-litert
	$(LT_PY) -m pytest -q $(LT_TESTS)

test-quick: setup
	$(PY) -m pytest -m "not slow"

bench: setup
	$(PY) benchmarks/harness_overhead.py

clean:
	rm -rf $(VENV) $(LT_VENV) out .pytest_cache
