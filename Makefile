# The two commands of the README, on a fresh machine:
#   make train   fine-tune on DATA with the offline default backbone and report held-out figures
#   make test    run the test suite
# Both create .venv first, installing the CPU build of torch before the project so
# that nothing pulls a CUDA build.

PYTHON ?= python3
VENV ?= .venv
DATA ?= data/bbc-news.csv.gz
OUT ?= models/bbc
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin

.PHONY: install train test lint typecheck docs check check-onnx-runtime

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e '.[dev,docs]'
	touch $@

install: $(VENV)/.installed

train: install
	$(BIN)/topicbert train $(DATA) --output $(OUT)

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check src tests benchmarks examples noxfile.py docs
	$(BIN)/ruff format --check src tests benchmarks examples noxfile.py docs

typecheck: install
	$(BIN)/mypy

docs: install
	$(BIN)/sphinx-build -W --keep-going -b html docs docs/_build/html

check: test lint typecheck docs

# The torch-free install of an ONNX export's runtime, proved in a fresh virtual
# environment (examples/onnx-server's recipe); about a minute and a half.
check-onnx-runtime: install
	MAIN_PYTHON=$(BIN)/python PYTHON=$(PYTHON) scripts/check_torch_free_install.sh
