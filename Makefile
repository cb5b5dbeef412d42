# The two commands: `make demo` (the offline default loop) and `make test`.
# Both create the virtual environment at .venv/ on first use.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
CORES   ?= 2
STAMP   := $(VENV)/.installed

.PHONY: venv demo test test-oldest lint bench-loop bench-teacher bench-targeting bench-anchor bench-bound bench-knobs bench-redraw bench-pooled bench-noise bench-data bench-gpu bench-extraction bench-render bench-guard clean

venv: $(STAMP)

# torch 2.14.1 with torchvision 0.29.1 (a CUDA build that also runs on a CPU; both lie on these machines'
# disk) is installed first, so that no other requirement picks a torch. torchvision is what the processors
# of Qwen-VL, SmolVLM, LLaVA-OneVision and InternVL need (docs/models.md).
TORCH   := torch==2.14.1 torchvision==0.29.1
$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(TORCH)
	$(BIN)/pip install --quiet -e '.[dev,slurm]'
	touch $@

# The offline loop with its teacher behind the local OpenAI-compatible server (some faults on), so its
# report shows cost and rejections: results/demo/report/index.html.
demo: venv
	$(BIN)/python -m tools.demo --cores $(CORES)

# One pytest worker per CPU; a module's tests stay on one worker, so its fixtures are built once.
test: venv
	$(BIN)/pytest -q -n auto --dist loadfile --durations=15

# The tests of the model code against the oldest transformers and peft that pyproject.toml admits
# (transformers 5.17 is what the GPU machines run), in a second venv: .venv-oldest/.
OLDEST       := .venv-oldest
MODEL_TESTS  := tests/test_student.py tests/test_evaluate.py tests/test_training.py tests/test_checkpoint.py \
                tests/test_real_model.py tests/test_bfloat16.py tests/test_streaming.py tests/test_bench_gpu.py tests/test_assemble.py tests/test_conversations.py \
                tests/test_families.py
$(OLDEST)/.installed: pyproject.toml
	$(PY) -m venv $(OLDEST)
	$(OLDEST)/bin/pip install --quiet --upgrade pip
	$(OLDEST)/bin/pip install --quiet torch==2.13.0
	$(OLDEST)/bin/pip install --quiet -e '.[dev]' transformers==5.17.0 peft==0.18.0
	touch $@

test-oldest: $(OLDEST)/.installed
	$(OLDEST)/bin/pytest -q -p no:cacheprovider -n auto --dist loadfile $(MODEL_TESTS)

lint: venv
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check Snakefile rules
	$(BIN)/ruff check dataengine scripts tests bench tools
	$(BIN)/ruff format --check dataengine scripts tests bench tools

bench-loop: venv
	$(BIN)/python bench/loop.py --cores $(CORES)

# Sampling strategies at equal budget in two worlds (default; small_text, with a type that cannot be learned),
# five seeds, paired by seed: results/bench/targeting.json (45 min on 2 cores, measured; half of it the ten base models).
bench-targeting: venv
	$(BIN)/python bench/targeting.py --cores $(CORES)

# The similar-image anchor (similar_share 0.5, the paper) against none (0), paired over the default world's
# five seeds, reusing bench-targeting's base models and arms: results/bench/anchor.json.
bench-anchor: venv
	$(BIN)/python bench/targeting.py --ablation anchor --cores $(CORES)

# The default told that the small_text world's Text Understanding cannot be learned (sampling.exclude),
# before its first plan and after the first round, reusing that world's base models and arms:
# results/bench/bound.json.
bench-bound: venv
	$(BIN)/python bench/targeting.py --ablation bound --cores $(CORES)

# The default with each gain knob moved from its default, paired over the small_text world's five seeds,
# reusing that world's base models and arms: results/bench/knobs.json.
bench-knobs: venv
	$(BIN)/python bench/targeting.py --ablation knobs --cores $(CORES)

# gain, paper and the bounds in a second and a third draw of the small_text world (seeds 1 and 2: each its
# own benchmark, pool and base models), five seeds each: results/bench/redraw.json.
bench-redraw: venv
	$(BIN)/python bench/targeting.py --ablation redraw --cores $(CORES)

# Each arm's lead over paper pooled over the three draws of small_text (the records of bench-bound and
# bench-redraw, which it reads; it runs nothing): results/bench/pooled.json.
bench-pooled: venv
	$(BIN)/python bench/pooled.py

# Training's own noise (an A/A test): small_text's gain arm, iteration 1, retrained on the same data with
# four more training seeds per seed (reads bench-targeting's run): results/bench/noise.json.
bench-noise: venv
	$(BIN)/python bench/noise.py --cores $(CORES)

# The openai teacher against the local fake server (200 ms latency): results/bench/teacher.json.
bench-teacher: venv
	$(BIN)/python bench/teacher.py

# Host memory and speed of the streaming data path over 2k, 8k and 32k images: results/bench/data.json.
bench-data: venv
	$(BIN)/python bench/data.py --threads $(CORES)

# Scenes per second drawn and PNG-encoded, per type (a wall-clock figure: printed, not asserted in a test).
bench-render: venv
	$(BIN)/python bench/render.py

# The quality guard's loop over eight seeds: the margins tests/test_quality_guard.py asserts are set
# from these figures (results/bench/quality_guard.json, ~15 min on 2 cores).
bench-guard: venv
	$(BIN)/python bench/quality_guard.py

# The 7B-shaped stand-ins of LLaVA-1.5 and Qwen2.5-VL through evaluation and LoRA training on a GPU (tiny
# shapes on a CPU): results/bench/gpu-<family>.json, which plan-cost reads. Needs a CUDA build of torch.
bench-gpu: venv
	$(BIN)/python bench/gpu.py --family llava
	$(BIN)/python bench/gpu.py --family qwen2_5_vl

# Choice extraction on the labelled replies of tests/data/ against the project's earlier rules and
# VLMEvalKit's can_infer: results/bench/extraction.json (seconds).
bench-extraction: venv
	$(BIN)/python bench/extraction.py

clean:
	rm -rf results/demo .snakemake
