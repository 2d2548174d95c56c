# make demo / make test work on a fresh machine with only python3: they create .venv.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install demo test lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { \
	  echo "python3 -m venv failed: installing python3-venv"; \
	  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y python3-venv && $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,demo]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/okrsync demo

test: $(STAMP)
	bash .ci/ensure-postgres
	bash .ci/ensure-chromium
	$(BIN)/python -m pytest -q

# ruff everywhere; mypy --strict on the product and the sandbox; the tests type-checked too
# (strict, less the rules that would ask every test and fixture for annotations).
lint: $(STAMP)
	$(BIN)/ruff check okrsync okrsync_sandbox tests bench tools
	$(BIN)/ruff format --check okrsync okrsync_sandbox tests tools
	$(BIN)/mypy --strict okrsync
	$(BIN)/mypy tests

# The standard set (bench/standard.py: start-up, syncs at 1k/10k/100k, the tap-github peer,
# a CPU profile when pyinstrument is installed in .venv), then the report page; each
# writes its figures to bench/RESULTS.md.
# BENCH_ARGS picks sizes and parts, e.g. `make bench BENCH_ARGS="--sizes 1000,10000"`.
# Not run by CI (figures need a quiet machine); the in-process benches stay runnable alone.
# The bench's CPU profile needs pyinstrument (bench only, not a project dependency);
# bench/standard.py installs tap-github into its own bench/.venv-tap.
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check pyinstrument
	$(BIN)/python bench/standard.py $(BENCH_ARGS)
	$(BIN)/python bench/report.py
	$(BIN)/python bench/webhook_burst.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
