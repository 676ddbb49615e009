# boxmask developer commands. Each target creates .venv on first use and installs what it
# needs into it: `make demo` only the runtime (numpy, Pillow, OpenCV, shapely, httpx, ...),
# `make test` / `make docs` everything else on top (dev, docs, eval and Ray extras).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --quiet --disable-pip-version-check
# one stamp per install level, so `make demo` then `make test` upgrades the same venv
RUNTIME_STAMP := $(VENV)/.installed-runtime
STAMP := $(VENV)/.installed
EXTRAS := dev,docs,eval,heif,ray

.PHONY: test demo docs lint bench fmt clean bytecode

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

# __init__.py holds the version the installed metadata repeats
$(RUNTIME_STAMP): pyproject.toml src/boxmask/__init__.py | $(BIN)/python
	$(PIP) install -e .
	touch $@

$(STAMP): pyproject.toml $(RUNTIME_STAMP)
	$(PIP) install -e '.[$(EXTRAS)]'
	touch $@

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks tools docs
	$(BIN)/ruff format --check src tests benchmarks tools docs
	$(BIN)/mypy

# Bytecode for the editable install, as a wheel install has it: where
# PYTHONDONTWRITEBYTECODE is set, every boxmask process (each CLI test, each batch
# worker) would otherwise compile the sources again (~150 ms). Up-to-date files are skipped.
bytecode: $(RUNTIME_STAMP)
	$(BIN)/python -m compileall -q src/boxmask

test: lint docs bytecode
	$(BIN)/python -m pytest

demo: $(RUNTIME_STAMP) bytecode
	$(BIN)/boxmask demo --out out

# the documentation site (mkdocs-material + mkdocstrings), warnings are errors
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir build/site

bench: $(STAMP) bytecode
	@for f in benchmarks/bench_*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

fmt: $(STAMP)
	$(BIN)/ruff format src tests benchmarks tools docs
	$(BIN)/ruff check --fix src tests benchmarks tools docs

clean:
	rm -rf $(VENV) out build dist *.egg-info src/*.egg-info

# Coverage-guided fuzzing (atheris/libFuzzer) of every target in fuzz/targets.py for
# FUZZ_SECONDS each (FUZZ_TARGETS="a b" to pick). Inputs that add coverage and crashes go
# under FUZZ_WORK; a crash or a 4 GB peak fails the run (a long atheris run itself grows
# towards 2 GB). Replay a crash without atheris: .venv/bin/python -m fuzz.run T --replay F
.PHONY: fuzz
FUZZ_SECONDS ?= 120
FUZZ_WORK ?= $(or $(TMPDIR),/tmp)/boxmask-fuzz
fuzz: $(STAMP)
	$(BIN)/python -c "import atheris" 2>/dev/null || $(BIN)/python -m pip install --quiet atheris
	@mkdir -p $(FUZZ_WORK)/crashes
	@for t in $(or $(FUZZ_TARGETS),$$($(BIN)/python -m fuzz.run --list)); do \
	  echo "== fuzz $$t for $(FUZZ_SECONDS) s (log $(FUZZ_WORK)/$$t.log)"; \
	  mkdir -p $(FUZZ_WORK)/$$t; \
	  dirs="fuzz/corpus/$$t"; test -d tests/fuzz_regressions/$$t && dirs="$$dirs tests/fuzz_regressions/$$t"; \
	  $(BIN)/python -m fuzz.run $$t -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=4096 \
	    -timeout=30 -max_len=4096 -print_final_stats=1 \
	    -artifact_prefix=$(FUZZ_WORK)/crashes/$$t- $(FUZZ_WORK)/$$t $$dirs \
	    >$(FUZZ_WORK)/$$t.log 2>&1 || { grep -av "WARN\|libpng" $(FUZZ_WORK)/$$t.log | tail -30; exit 1; }; \
	  grep -a "stat::number_of_executed_units" $(FUZZ_WORK)/$$t.log; \
	done
