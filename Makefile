# One-command setup: `make run` and `make test` (see README.md).
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON311 ?= $(shell command -v python3.11 || command -v python3)
VENV      := .venv
RASA_VENV := .venv-rasa
PY        := $(VENV)/bin/python
RASA_PY   := $(RASA_VENV)/bin/python
VAR       := var
RASA      := $(RASA_VENV)/bin/rasa
MODEL     := models/xuexihao.tar.gz
# Rasa, TensorFlow, matplotlib and Jieba write caches under HOME and TMPDIR:
# keep them in var/.
RASA_ENV  := HOME=$(CURDIR)/$(VAR)/rasa-home TMPDIR=$(CURDIR)/$(VAR)/tmp
TRAINING_INPUTS := config.yml domain.yml $(shell find data bot identity contract -type f \( -name '*.yml' -o -name '*.py' -o -name '*.txt' \) 2>/dev/null)
export RASA_TELEMETRY_ENABLED := false
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help install run run-scaled shell test test-fast lint bench clean demo-registry train chromium nginx

help:
	@echo "make run    install what is missing, train the model if needed, seed the demo registry,"
	@echo "            start the backend (8080), action server (5055) and Rasa (5005)"
	@echo "make run-scaled  the same on PostgreSQL and Redis, two Rasa and two action servers behind nginx"
	@echo "make shell  chat with the bot in this terminal (while make run runs)"
	@echo "make test   install what is missing (Chromium for the browser tests too), lint, and run every test"
	@echo "make lint   ruff (lint and format check) and mypy, as make test runs them first"
	@echo "make bench  run the benchmarks (see bench/README.md)"
	@echo "make clean  remove virtual environments, databases and logs"

install: $(VENV)/.installed $(RASA_VENV)/.installed

# The project's own code: Python 3.11 and current libraries.
$(VENV)/.installed: pyproject.toml
	@$(PYTHON311) -c 'import sys; assert sys.version_info >= (3, 11), "need Python >= 3.11 for .venv, found " + sys.version' \
	  || { echo "ERROR: set PYTHON311=/path/to/python3.11"; exit 1; }
	test -x $(PY) || $(PYTHON311) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade 'pip>=25.1'
	$(PY) -m pip install -q -e . --group test
	touch $@

# The Rasa 3.6 engine: Python 3.8-3.10 (scripts/find-python310 explains
# what to do when there is none).
# Reinstalled (and so the model retrained) only when the rasa-engine group
# itself changed, not on every edit of pyproject.toml.
RASA_GROUP = $(shell $(PYTHON311) -c 'import tomllib, json; print(json.dumps(tomllib.load(open("pyproject.toml", "rb"))["dependency-groups"]["rasa-engine"]))')
$(RASA_VENV)/.installed: pyproject.toml
	@py310=$$(scripts/find-python310) || exit 1; \
	  test -x $(RASA_PY) || $$py310 -m venv $(RASA_VENV)
	@if [ -f $@ ] && [ '$(RASA_GROUP)' = "$$(cat $(RASA_VENV)/.group 2>/dev/null)" ]; then \
	  echo "rasa-engine dependencies unchanged"; touch $@; exit 0; fi; \
	  set -e; $(RASA_PY) -m pip install -q --upgrade 'pip>=25.1'; \
	  $(RASA_PY) -m pip install -q --group rasa-engine; \
	  echo '$(RASA_GROUP)' > $(RASA_VENV)/.group; touch $@

# var/ holds the databases, keys and logs: readable by its owner only.
$(VAR):
	mkdir -p -m 700 $(VAR)

# The model is retrained only when the data, domain, config or our
# components change (Rasa's cache in .rasa/ makes partial retraining fast).
# The model depends on what is installed in the Rasa environment (.group,
# rewritten only when the rasa-engine group changes), not on when the
# environment was last checked.
$(RASA_VENV)/.group: $(RASA_VENV)/.installed ;

$(MODEL): $(RASA_VENV)/.group $(TRAINING_INPUTS) | $(VAR) $(RASA_VENV)/.installed
	mkdir -p $(VAR)/rasa-home $(VAR)/tmp models
	touch models/.train-start
	$(RASA_ENV) $(RASA) train --fixed-model-name xuexihao --out models
	# Dated when training started: an input edited during training retrains next time.
	touch -r models/.train-start $@

train: $(MODEL)

# Demo registry: generated deterministically, imported once into var/backend.db.
$(VAR)/demo/students.csv: $(VENV)/.installed | $(VAR)
	$(PY) -m backend demo-registry --students 5000 --teachers 800 --out $(VAR)/demo

$(VAR)/.seeded: $(VAR)/demo/students.csv
	$(PY) -m backend import-registry --students $(VAR)/demo/students.csv --teachers $(VAR)/demo/teachers.csv
	touch $@

demo-registry: $(VAR)/.seeded

run: install $(MODEL) $(VAR)/.seeded
	$(PY) -m backend demo-identities --count 6
	$(PY) -m devstack

# Several Rasa and action servers behind nginx, PostgreSQL and Redis
# (settings: devstack/profiles.py and README.md, "Scaled profile").
run-scaled: install $(MODEL) nginx $(VAR)/demo/students.csv
	$(PY) -m backend demo-identities --count 6
	$(PY) -m devstack --scaled

# Chat in the terminal, while `make run` runs in another one.
shell: install $(MODEL)
	$(PY) -m devstack shell

# The browser tests drive Debian's headless Chromium through its chromedriver
# (never a browser downloaded from the internet), with a Chinese font for the
# pages and their screenshots: installed once with apt-get.
CHROMEDRIVER := /usr/bin/chromedriver
CJK_FONT     := /usr/share/fonts/truetype/wqy/wqy-microhei.ttc
CHROMIUM_PACKAGES := chromium chromium-driver fonts-wqy-microhei

$(CHROMEDRIVER) $(CJK_FONT) &:
	@scripts/apt-install "the browser tests' Chromium" $(CHROMIUM_PACKAGES)
	@for f in $(CHROMEDRIVER) $(CJK_FONT); do test -e $$f || { echo "ERROR: $$f is still missing"; exit 1; }; done

chromium: $(CHROMEDRIVER) $(CJK_FONT)

# The scaled profile's load balancer: Debian's nginx (its service is not
# started; devstack runs nginx with its own configuration, devstack/nginx.conf.j2).
NGINX := /usr/sbin/nginx
$(NGINX):
	@scripts/apt-install "the scaled profile's load balancer" nginx
	@test -x $@ || { echo "ERROR: $@ is still missing"; exit 1; }

nginx: $(NGINX)

test: install $(MODEL) chromium nginx lint
	$(PY) -m pytest

# Everything but the tests that need the Rasa engine (a quick loop while
# working on the backend or the actions).
test-fast: $(VENV)/.installed lint
	$(PY) -m pytest -m "not rasa"

# ruff and mypy, configured in pyproject.toml. `ruff format .` fixes what
# the format check finds; `ruff check --fix .` what it can of the rest.
# ruff checks the whole tree (pyproject.toml excludes the environments,
# models/ and var/); mypy the packages pyproject.toml names (bot/, which
# runs inside Rasa, tests/ and bench/ are ruff's only). identity/,
# contract/ and trust/ also run inside Rasa: checked for Python 3.10 as well.
lint: $(VENV)/.installed
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	$(PY) -m mypy --python-version 3.10 -p identity -p contract -p trust

bench: install
	$(PY) -m bench.run_all

clean:
	rm -rf $(VENV) $(RASA_VENV) $(VAR) .pytest_cache .hypothesis .ruff_cache .mypy_cache
