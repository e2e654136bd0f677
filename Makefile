# Switchboard: `make run` serves the product, `make test` runs the whole suite.
# Both do every set-up step themselves on a fresh machine (venv, packages, database).

PYTHON := $(shell scripts/find-python)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DATA ?= ../shared/datasets/train_provenance.csv

ifeq ($(PYTHON),)
$(error No Python 3.12+ found; see the message above)
endif

.PHONY: run test install services db model demo lint format bench clean-venv

$(STAMP): pyproject.toml package-lock.json
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@command -v npm >/dev/null || { echo "npm is needed for the chart library: apt-get install npm"; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $(STAMP)

install: $(STAMP)

.env:
	cp .env.example .env

services:
	scripts/ensure-services.sh

db: install services .env
	$(PY) scripts/ensure_database.py
	$(PY) manage.py migrate --noinput

run: db
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) manage.py load_default_model
	$(PY) manage.py seed_demo
	mkdir -p .run
	$(VENV)/bin/honcho start

test: install services
	scripts/ensure-chromium.sh
	$(PY) -m pytest $(PYTEST_ARGS)

# Rebuild the shipped classifier from the labelled data (read in place, never copied).
model: install .env
	$(PY) manage.py train_classifier --data $(DATA) --out routing/artifacts/default.npz

# Figures, not tests: classifier speed, ingest throughput and POST-to-routed time, and page
# latency on a seeded store (BENCH_ITEMS items; seeding a million takes about 5 minutes).
BENCH_ITEMS ?= 1000000
bench: install services .env
	$(PY) bench/bench_classifier.py --model routing/artifacts/default.npz
	$(PY) bench/ingest_e2e.py
	$(PY) bench/pages.py --seed-items $(BENCH_ITEMS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean-venv:
	rm -rf $(VENV)
