# boxmask developer commands. Each target creates .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test demo bench lint fmt clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,ray]'
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/python -m pytest

demo: $(STAMP)
	$(BIN)/boxmask demo --out out

bench: $(STAMP)
	@for f in benchmarks/bench_*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

fmt: $(STAMP)
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

clean:
	rm -rf $(VENV) out build *.egg-info src/*.egg-info

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
