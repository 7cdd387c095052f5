# Two commands for a new machine: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo demo-surfaces test lint chromium bench bench-cluster bench-judgement bench-report bench-dashboard clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/sk-loadagent demo

# The surfaces beyond HTTP on the sample: WebSocket feed, webhooks, report jobs, RabbitMQ worker (~1 min).
demo-surfaces: $(STAMP)
	$(BIN)/sk-loadagent demo --surfaces

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy sk_loadagent

# The report's browser tests drive Debian's chromium (Playwright with executable_path, no browser download).
# Installed with apt-get only when missing; without it those tests skip, or fail under CI=true.
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

chromium:
	@test -x $(CHROMIUM) || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium; } \
		|| echo "chromium could not be installed: the report's browser tests will skip (fail under CI=true)"

# Two processes, a test file each at a time (--dist loadfile keeps a file's fixtures in one process): the
# suite mostly waits on real load and services, so this halves its wall time on two cores.
test: lint chromium
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

bench: $(STAMP)
	$(BIN)/python benchmarks/engine_bench.py
	$(BIN)/python benchmarks/cluster_bridge_bench.py

bench-cluster: $(STAMP)
	$(BIN)/python benchmarks/cluster_bridge_bench.py

bench-judgement: $(STAMP)
	$(BIN)/python benchmarks/judgement_bench.py

bench-report: $(STAMP)
	$(BIN)/python benchmarks/report_bench.py

bench-dashboard: $(STAMP)
	$(BIN)/python benchmarks/dashboard_bench.py

clean:
	rm -rf $(VENV) perf .mypy_cache .ruff_cache
