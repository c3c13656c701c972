# Two commands on a fresh machine: `make run` (the default profile, offline, about 6 minutes) and
# `make test`. Both create .venv and install the package into it first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORES ?= 2
SNAKEMAKE := $(BIN)/snakemake --workflow-profile workflow/profiles/default
RETITLE = $(BIN)/python -c "import sys; from sbp_core.report.summary import retitle; retitle(sys.argv[1])"

.PHONY: install run report paper mlflow-ui test lint docs clean

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e '.[test]'
	touch $@

install: $(VENV)/.installed

run: install
	$(SNAKEMAKE) --cores $(CORES)
	$(SNAKEMAKE) --report results/default/report.html
	$(RETITLE) results/default/report.html
	@echo "What the profile found: results/default/summary.md (report: results/default/report.html)"

report: install
	$(SNAKEMAKE) --report results/default/report.html
	$(RETITLE) results/default/report.html

paper: install
	$(SNAKEMAKE) --cores $(CORES) --configfile config/paper.yaml
	$(SNAKEMAKE) --configfile config/paper.yaml --report results/paper/report.html
	$(RETITLE) results/paper/report.html

mlflow-ui: install
	$(BIN)/mlflow ui --backend-store-uri sqlite:///results/default/mlflow.db --host 127.0.0.1 --port 5000

test: install  # two workers, a test file each: module fixtures are built once
	$(BIN)/pytest -n 2 --dist loadfile

docs: install
	$(BIN)/mkdocs build --strict

lint: install
	$(BIN)/python workflow/lint.py
	$(BIN)/snakefmt --check .
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/actionlint

clean:
	rm -rf results .snakemake site
