# One-command set-up: `make lab` opens JupyterLab on the quickstart notebook, `make test` runs every
# suite. Both build what they need first (venv, npm packages, the front-end bundle).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
BUNDLE := backprop_lens/static/widget.js
LABEXT := backprop_lens/labextension/package.json
LABEXT_SOURCES := $(wildcard js/labextension/src/*.ts js/labextension/schema/*.json js/labextension/style/*)
# Where JupyterLab looks for this venv's prebuilt extensions; a wheel installs ours there.
LABEXT_LINK := $(VENV)/share/jupyter/labextensions/backprop-lens
NODE_STAMP := node_modules/.package-lock.json
DEV_STAMP := $(VENV)/.dev-installed
LAB_STAMP := $(VENV)/.lab-installed

CHROMIUM := /usr/bin/chromium

.PHONY: setup lab test test-fast test-js lint typecheck bundle labextension benchmark benchmark-widget site clean

setup: $(DEV_STAMP) $(LABEXT) $(CHROMIUM)

# Browser tests use Debian's Chromium; Playwright never downloads a browser of its own.
$(CHROMIUM):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund

$(BUNDLE): $(NODE_STAMP) $(wildcard js/*.ts js/*.css)
	npm run build:widget

# The bundle is built first: the wheel's build hook then finds it and needs no Node of its own.
$(DEV_STAMP): pyproject.toml $(BUNDLE)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	touch $@

$(LAB_STAMP): $(DEV_STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[dev,lab]"
	touch $@

bundle: $(BUNDLE)

# The lab extension is built with this venv's JupyterLab (`jupyter labextension build`), so after
# the editable install, and linked where a wheel would put it: the launcher card is there on the
# next start of `make lab`, as after `pip install backprop-lens`.
$(LABEXT): $(DEV_STAMP) $(NODE_STAMP) $(LABEXT_SOURCES)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" npm run build:labextension
	mkdir -p $(dir $(LABEXT_LINK))
	# The editable install may leave a folder here holding only install.json (shared-data); a link
	# would then land inside it and JupyterLab would find no extension.
	rm -rf $(LABEXT_LINK)
	ln -sfn "$(CURDIR)/backprop_lens/labextension" $(LABEXT_LINK)

labextension: $(LABEXT)

lint: $(DEV_STAMP)
	$(PY) -m ruff check backprop_lens tests benchmarks
	$(PY) -m mypy

typecheck: $(NODE_STAMP)
	npx tsc --noEmit

test: lint typecheck test-js $(DEV_STAMP) $(LABEXT) $(CHROMIUM)
	$(PY) -m pytest -q

test-fast: $(DEV_STAMP)
	$(PY) -m pytest -q -m "not slow and not browser"

test-js: $(NODE_STAMP)
	npx vitest run

# JupyterLab refuses to run as root unless told; these machines run everything as root.
lab: $(LAB_STAMP) $(LABEXT)
	$(VENV)/bin/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) notebooks/quickstart.ipynb

benchmark: $(DEV_STAMP)
	$(PY) benchmarks/engine.py
	$(PY) benchmarks/retained.py
	$(PY) benchmarks/methods.py
	$(PY) benchmarks/stats.py

benchmark-widget: $(DEV_STAMP) $(CHROMIUM)
	$(PY) benchmarks/widget_latency.py
	$(PY) benchmarks/widget_traffic.py
	$(PY) benchmarks/weights_level.py

# Self-contained pages of the notebooks, to open from disk with no network and no kernel.
# The widget manager, its loader and its icon font are copied from node_modules by `npm run vendor`
# (part of `npm run build`); this rule brings them into a checkout built before they were needed.
VENDOR := backprop_lens/static/libembed-amd.js

$(VENDOR): $(NODE_STAMP)
	npm run vendor

site: $(DEV_STAMP) $(VENDOR)
	$(VENV)/bin/backprop-lens publish notebooks/quickstart.ipynb --out site/quickstart.html
	$(VENV)/bin/backprop-lens publish notebooks/paper.ipynb --out site/paper.html

clean:
	rm -rf $(VENV) node_modules backprop_lens/static backprop_lens/labextension js/labextension/lib .pytest_cache .mypy_cache .ruff_cache
