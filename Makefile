# Every target creates (once) and reuses a local virtual environment in .venv.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.krazy_gym-installed
PYTEST_ARGS ?=

.PHONY: install test test-kernels test-all lint demo bench clean

$(STAMP): setup.cfg pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	@# torch: the CPU build on local disk; an unpinned torch would pull a multi-GB CUDA build.
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[all,test]"
	@touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(PY) -m ruff check .

test: $(STAMP) lint
	$(PY) -m pytest -n 2 --dist loadgroup -m "not slow" $(PYTEST_ARGS)

# The baselines' tests again on PyTorch's portable (non-SIMD) CPU kernels: a test that holds only
# for the kernels of the machine it was written on fails here too (CI runs it after `make test`).
# And the golden-value tests with numpy's SIMD dispatch off (the baseline kernels an older CPU
# would run): an env that used a CPU-dependent numpy kernel would fail them.
NUMPY_DISPATCH = $(PY) -c "from numpy._core._multiarray_umath import __cpu_dispatch__ as d, __cpu_features__ as f; print(','.join(x for x in d if f.get(x)))"
test-kernels: $(STAMP)
	ATEN_CPU_CAPABILITY=default $(PY) -m pytest -n 2 --dist loadgroup -m "not slow" tests/baselines $(PYTEST_ARGS)
	NPY_DISABLE_CPU_FEATURES="$$($(NUMPY_DISPATCH))" $(PY) -m pytest -n 2 -m "not slow" tests/test_golden.py tests/classic $(PYTEST_ARGS)

test-all: $(STAMP)
	$(PY) -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

demo: $(STAMP)
	$(PY) -m krazy_gym.demo --out demo_output

bench: $(STAMP)
	$(PY) benchmarks/throughput.py

clean:
	rm -rf $(VENV) build *.egg-info demo_output
