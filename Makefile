# TuneLab: `make run` starts the dashboard, `make test` runs the tests. Both create .venv when missing.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8501
# pytest-xdist workers for make test: one per core, at most 4 (each holds torch, ~1 GB)
JOBS ?= $(shell n=$$(nproc 2>/dev/null || echo 2); [ $$n -gt 4 ] && n=4; echo $$n)

.PHONY: run test test-fast bench venv clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -qq --disable-pip-version-check -r requirements.txt -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

run: venv
	$(PY) -m core.serve --server.port $(PORT) --server.headless true --browser.gatherUsageStats false

# everything (what CI and the README run); the browser tests take turns on one worker
test: venv
	TUNELAB_OFFLINE=1 $(PY) -m pytest -q -n $(JOBS) --dist loadgroup $(PYTEST_ARGS)

# the edit-test loop: all but the browser and slow tests
test-fast: venv
	TUNELAB_OFFLINE=1 $(PY) -m pytest -q -n $(JOBS) -m "not browser and not slow" $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
