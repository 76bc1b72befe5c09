# The README's commands. Everything installs into $(VENV) from this project's own files.
PYTHON ?= python3
VENV ?= .venv
# pip constraints applied to every install: torch==2.13.0 (the CPU wheel on a CPU-only machine).
# A GPU user installs their own torch build into $(VENV) first; see the README.
CONSTRAINTS ?= constraints.txt
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check

.PHONY: demo test lab install install-dev install-lab readme export bench

demo: install
	$(BIN)/repl-nb reproduce lc_dynamics --scale small

test: install-dev
	$(BIN)/python -m pytest

# JupyterLab on the notebooks, on this machine only (127.0.0.1); as root it needs --allow-root. Kernels' OpenMP workers
# sleep while they wait (a busy laptop slows a run in proportion). LAB_ARGS adds options (e.g. LAB_ARGS=--no-browser on
# a remote machine reached through an SSH tunnel).
LAB_ARGS ?=
lab: install-lab
	OMP_WAIT_POLICY=$${OMP_WAIT_POLICY:-PASSIVE} $(BIN)/jupyter lab --ServerApp.ip=127.0.0.1 --ServerApp.root_dir=$(CURDIR)/nbs \
		$(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev
install-lab: $(VENV)/.installed-lab

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml $(CONSTRAINTS) | $(BIN)/python
	$(PIP) install -q -c $(CONSTRAINTS) -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PIP) install -q -c $(CONSTRAINTS) -e ".[dev]"
	touch $@

$(VENV)/.installed-lab: $(VENV)/.installed
	$(PIP) install -q -c $(CONSTRAINTS) -e ".[lab]"
	touch $@

# Developer loop: notebooks -> library, README and clean notebooks (the tests check all three).
export: install-dev
	cd $(CURDIR) && $(BIN)/nbdev-export && $(BIN)/nbdev-clean && $(MAKE) readme

# nbdev-readme needs the quarto binary (a download); nbconvert renders index.ipynb to the same Markdown offline.
readme: install-dev
	$(BIN)/jupyter nbconvert --log-level WARN --to markdown nbs/index.ipynb --output-dir . --output README

bench: install
	$(BIN)/python bench/train_overhead.py
	$(BIN)/python bench/losses.py
	$(BIN)/python bench/splines.py
	$(BIN)/python bench/classwise.py
	$(BIN)/python bench/partition_redraw.py
	$(BIN)/python bench/contention.py
