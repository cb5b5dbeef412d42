# The two commands: `make demo` (the offline default loop) and `make test`.
# Both create the virtual environment at .venv/ on first use.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
CORES   ?= 2
STAMP   := $(VENV)/.installed

.PHONY: venv demo test lint bench-loop bench-teacher bench-targeting clean

venv: $(STAMP)

# torch==2.13.0 is the CPU wheel these machines carry; it is installed first so that
# no other requirement can pull a CUDA build.
$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev,slurm]'
	touch $@

demo: venv
	$(BIN)/snakemake --cores $(CORES)

test: venv
	$(BIN)/pytest -q

lint: venv
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check Snakefile rules
	$(BIN)/ruff check dataengine scripts tests bench

bench-loop: venv
	$(BIN)/python bench/loop.py --cores $(CORES)

# Sampling strategies over three seeds at equal budget: results/bench/targeting.json (~18 min on 2 cores).
bench-targeting: venv
	$(BIN)/python bench/targeting.py --cores $(CORES)

# The openai teacher against the local fake server (200 ms latency): results/bench/teacher.json.
bench-teacher: venv
	$(BIN)/python bench/teacher.py

clean:
	rm -rf results/demo .snakemake
