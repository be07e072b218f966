# `make run` and `make test` create or refresh .venv (whenever pyproject.toml changes) and install
# what they need; nothing else has to be on the machine but Python 3.11+.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

MODEL := nlp/model/crophub.json

.PHONY: install run test bench migrate model clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

# The classifier is built from the repository: again whenever its data (a file changed, added or
# removed: the directory's own time changes then), taxonomy or trainer change.
$(MODEL): $(STAMP) nlp/data/train $(wildcard nlp/data/train/*.jsonl) nlp/data/categories.yaml nlp/classify.py
	$(BIN)/crophub train

model: $(MODEL)

run: $(STAMP) $(MODEL)
	$(BIN)/crophub run

test: $(STAMP) $(MODEL)
	$(BIN)/python -m pytest -q

bench: $(STAMP) $(MODEL)
	$(BIN)/python bench/intake.py
	$(BIN)/python bench/nlp.py

migrate: $(STAMP)
	$(BIN)/crophub migrate

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
