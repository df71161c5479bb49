# The commands: `make demo`, `make test` and `make bench`. Each does its own set-up.
SHELL := /bin/bash
PYTHON ?= python3
# Use uv from PATH, or install it into .tools/ (a tiny bootstrap venv) if missing.
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export GX_ANALYTICS_ENABLED := False
export DO_NOT_TRACK := 1

.PHONY: install demo test test-fast fuzz faults lint bench clean

.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet uv==0.13.8

# System packages, installed with apt-get when missing (best effort, never fatal: root on Debian only).
# docker-compose: Compose v1 lets tests/unit/test_compose.py run `docker-compose config`.
# fonts-dejavu-core: DejaVu Sans, the reports' font (report/pdf.py).
# chromium, chromium-driver: headless Chromium for the check page's browser test (tests/integration/test_check_page.py).
SYSTEM_PACKAGES := docker-compose fonts-dejavu-core chromium chromium-driver

# --compile-bytecode: every later process start (airflow, dbt, each test) reads .pyc
# instead of compiling the sources again (PYTHONDONTWRITEBYTECODE may be set).
install: $(if $(filter .tools/bin/uv,$(UV)),.tools/bin/uv)
	$(UV) sync --frozen --python 3.11 --compile-bytecode
	@missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done | xargs); \
	if [ -n "$$missing" ]; then { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
	  && export DEBIAN_FRONTEND=noninteractive && { timeout 600 apt-get install -y -qq $$missing >/dev/null 2>&1 \
	  || { timeout 120 apt-get update -qq >/dev/null 2>&1 && timeout 600 apt-get install -y -qq $$missing >/dev/null 2>&1; }; } \
	  && echo "installed $$missing (apt-get)"; } || echo "not installed: $$missing (see README, Prerequisites)"; fi
	@# axe-core (pinned, integrity-checked) from the npm registry, for the check page's accessibility test.
	@.venv/bin/python -m tests.browser

demo: install
	.venv/bin/nns demo

# Everything: the linters, then every test (unit and integration). What CI runs (.ci/run).
test: lint
	.venv/bin/python -m pytest --durations=15

# The fast loop while working: the unit tests only (about 2 minutes on 2 cores).
test-fast: install
	.venv/bin/python -m pytest tests/unit -q

# The hostile-input fuzz test run long: 2,000 random files, truncated and mutated workbooks per
# strategy, with a random seed (make test runs 60 each, seeded). About 10 minutes.
fuzz: install
	NNS_FUZZ_EXAMPLES=2000 NNS_FUZZ_SEED=random .venv/bin/python -m pytest tests/unit/test_hostile_reading.py -q -k "never_escape or truncated or mutated or broken_part"

# The full fault sweep: every kill moment (53) across ingest, dbt, the gate and promotion, each
# followed by a rerun that must publish what a clean run publishes (`make test` runs a seeded
# sample of one moment per step; NNS_FAULT_SEED picks another). About half an hour on 2 cores.
faults: install
	NNS_FAULT_SWEEP=all .venv/bin/python -m pytest tests/integration/test_faults.py -q -s \
	  -k "sweep or named_crash_point" -p no:cacheprovider

# ruff for Python, sqlfluff (dbt templater) for the models, and the import contract.
# The dbt templater compiles the project, so it gets an empty data home of its own.
lint: install
	.venv/bin/ruff check .
	mkdir -p .lint-home && NNS_HOME=$(CURDIR)/.lint-home .venv/bin/sqlfluff lint dbt_project/models dbt_project/macros
	.venv/bin/lint-imports --no-cache

# BENCH_RUNS (default 3) and BENCH_PROFILES (default "small national x10") make a quicker run,
# e.g. BENCH_RUNS=1 BENCH_PROFILES=small make bench. Results: bench/results.md and .json.
bench: install
	.venv/bin/python -m bench.run

clean:
	rm -rf var .venv .tools .pytest_cache bench/work .lint-home
