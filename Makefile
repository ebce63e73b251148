# seedsoil: `make demo` runs the default case, `make test` runs the whole suite.
# Both create .venv from Python >= 3.12 and install the pinned lock file first.

VENV   := .venv
PY     := $(VENV)/bin/python
MPIRUN := $(VENV)/bin/mpirun
CASE   ?= cases/demo.toml
# pyenv honours .python-version (3.12); otherwise take the first python3.12+ on PATH.
PYTHON ?= $(shell for p in python3.12 python3.13 python3; do \
            command -v $$p >/dev/null && $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null && { echo $$p; break; }; done)

.PHONY: demo test lint verify bench lock clean

$(VENV)/.installed: requirements.lock pyproject.toml
	@test -n "$(PYTHON)" || { echo "error: seedsoil needs Python >= 3.12 (python3.12 on PATH or pyenv)"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.lock
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/seedsoil run $(CASE)

# Style, lint and types (ruff and mypy, settings in pyproject.toml) before the tests: about a
# minute, and a failure names the file and line. The parallel run has a time limit: a hung collective
# must not hang CI.
lint: $(VENV)/.installed
	$(VENV)/bin/ruff format --check solver scripts tests docs
	$(VENV)/bin/ruff check solver scripts tests docs
	$(VENV)/bin/mypy

test: lint
	$(PY) -m pytest -q --durations=15 tests
	timeout 1500 $(MPIRUN) -n 2 $(PY) -m mpi4py -m pytest -q -m parallel -p no:cacheprovider tests

verify: $(VENV)/.installed
	$(PY) scripts/verify.py --quick

bench: $(VENV)/.installed
	$(PY) scripts/bench.py

lock:  # refresh the pinned lock file from the current venv
	$(PY) -m pip freeze --exclude-editable | grep -v '^seedsoil' > requirements.lock

clean:
	rm -rf $(VENV) output
