# `make run` and `make test` create or refresh .venv (whenever pyproject.toml changes) and install
# what they need; nothing else has to be on the machine but Python 3.11+.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

MODEL := nlp/model/crophub.json

.PHONY: install run test bench migrate model clean dovecot chromium

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

# The classifier is built from the repository: again whenever its data (a file changed, added or
# removed: the directory's own time changes then), taxonomy or trainer change.
$(MODEL): $(STAMP) nlp/data/train $(wildcard nlp/data/train/*.jsonl) nlp/data/categories.yaml nlp/classify.py nlp/features.py
	$(BIN)/crophub train

model: $(MODEL)

run: $(STAMP) $(MODEL)
	$(BIN)/crophub run

# The email channel's tests run a real IMAP server on loopback: Debian's Dovecot, installed here when it
# is missing (as root, or with password-less sudo). This step never fails the build: without Dovecot
# those tests are skipped (under CI=1 they fail instead, so CI cannot pass without running them).
APT_DOVECOT := env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends dovecot-imapd
dovecot:
	@if command -v dovecot >/dev/null 2>&1 || [ -x /usr/sbin/dovecot ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then sudo=""; elif sudo -n true 2>/dev/null; then sudo="sudo -n"; \
	else echo "dovecot: not installed and no root: the email server tests will be skipped"; exit 0; fi; \
	echo "dovecot: installing dovecot-imapd for the email tests"; \
	$$sudo $(APT_DOVECOT) >/dev/null 2>&1 || { $$sudo apt-get update -q >/dev/null 2>&1 && \
	  $$sudo $(APT_DOVECOT) >/dev/null 2>&1; } || \
	  echo "dovecot: could not install dovecot-imapd: the email server tests will be skipped"

# The browser tests (tests/browser) drive Debian's Chromium headless through Playwright's Python package (never a
# browser Playwright downloads): installed here when /usr/bin/chromium is missing, as Dovecot is above. This step
# never fails the build: without Chromium those tests are skipped (under CI=1 they fail instead).
APT_CHROMIUM := env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium
chromium:
	@if [ -x /usr/bin/chromium ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then sudo=""; elif sudo -n true 2>/dev/null; then sudo="sudo -n"; \
	else echo "chromium: not installed and no root: the browser tests will be skipped"; exit 0; fi; \
	echo "chromium: installing chromium for the browser tests"; \
	$$sudo $(APT_CHROMIUM) >/dev/null 2>&1 || { $$sudo apt-get update -q >/dev/null 2>&1 && \
	  $$sudo $(APT_CHROMIUM) >/dev/null 2>&1; } || \
	  echo "chromium: could not install chromium: the browser tests will be skipped"

test: $(STAMP) $(MODEL) dovecot chromium
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

bench: $(STAMP) $(MODEL)
	$(BIN)/python bench/intake.py
	$(BIN)/python bench/nlp.py
	$(BIN)/python bench/waze.py

migrate: $(STAMP)
	$(BIN)/crophub migrate

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
