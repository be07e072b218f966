# `make run` and `make test` create or refresh .venv (whenever pyproject.toml changes) and install
# what they need; nothing else has to be on the machine but Python 3.11+.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test bench migrate clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/crophub run

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python bench/intake.py

migrate: $(STAMP)
	$(BIN)/crophub migrate

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
