# Two set-up commands: `make demo` (the main job on the built-in default model) and `make test`.
# `make setup` builds .venv from scratch. On a machine without an NVIDIA GPU it installs the CPU
# build of torch first, so no extra ever drags in the multi-GB CUDA build.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
TORCH_VERSION ?= 2.13.0
# Extra pip arguments for torch, e.g. TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cpu"
TORCH_PIP_ARGS ?=
HAS_GPU := $(shell command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 && echo 1)

ifeq ($(HAS_GPU),1)
TORCH_SPEC := torch==$(TORCH_VERSION)
else
TORCH_SPEC := torch==$(TORCH_VERSION)+cpu
endif

.PHONY: setup test test-all demo quality default-model lint bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade --quiet pip
	$(PIP) install --quiet "$(TORCH_SPEC)" $(TORCH_PIP_ARGS)
# setuptools warns on every editable install that a folder named like the package may shadow
# it; here that folder IS the package (the editable install maps it), so the warning is noise.
	PYTHONWARNINGS="ignore:Editable installation" $(PIP) install --quiet -e ".[cpu,dev]"
	touch $@

setup: $(VENV)/.installed

test: setup
	$(PY) -m pytest -q

test-all: setup
	$(PY) -m pytest -q -m "slow or not slow"

demo: setup
	$(PY) -m dcpt_sdk.demo

# Per-class PSNR/SSIM of the default model vs its input and vs the same model trained without
# DCPT pre-training (benchmarks/models/), classifier accuracy and confusion matrix.
quality: setup
	$(PY) benchmarks/quality_report.py --scratch benchmarks/models/default-scratch-baseline.safetensors

# Re-train the built-in default model from scratch (CPU-hours; resumable: run it again).
default-model: setup
	bash train/default_model.sh

# ruff's minor versions change rules and formatting, so pyproject pins the minor series.
LINTED = dcpt_sdk export train runtimes tests benchmarks examples
lint: setup
	$(VENV)/bin/ruff check $(LINTED)
	$(VENV)/bin/ruff format --check $(LINTED)
	$(VENV)/bin/mypy dcpt_sdk

bench: setup
	DCPT_WRITE_RESULTS=1 $(PY) -m pytest benchmarks -q -m "slow or not slow"
# The auto-vs-torch figure again in a process whose malloc backs large blocks with huge pages.
	GLIBC_TUNABLES=glibc.malloc.hugetlb=1 DCPT_WRITE_RESULTS=1 $(PY) -m pytest \
		benchmarks/test_auto_vs_torch.py -q -m slow

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .benchmarks
