# Two entry points, each bootstrapping .venv from uv.lock:
#   make demo   - run the demo (always against the embedded fake CHING server; CHING_API_KEY is ignored)
#   make test   - lint, type-check and build the docs once, then run the whole
#                 test suite on every supported CPython (PYTHONS), each in
#                 .venvs/py<version> synced from uv.lock (scripts/test_pythons.py)
# and `make docs` builds the documentation site into site/ (mkdocs.yml).
PYTHON ?= python3
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
# The CPythons the classifiers in pyproject.toml name. `make test PYTHONS=3.12`
# runs one; PYTEST_WORKERS (default 2) sets the pytest-xdist workers of each.
PYTHONS := 3.11 3.12 3.13

.PHONY: demo test lint docs bench clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) uv.lock pyproject.toml
	$(UV) sync --frozen --all-extras --group docs --python $(PYTHON)
	touch $@

demo: $(VENV)/.synced
	$(VENV)/bin/ching demo

lint: $(VENV)/.synced
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy --strict ching_async

# The guide is README.md split at its `##` sections (docs/hooks.py), the API
# reference comes from the docstrings; a warning (a broken reference, a
# docstring that does not match its signature) fails the build.
docs: $(VENV)/.synced
	$(VENV)/bin/mkdocs build --strict --quiet

test: lint docs
	$(VENV)/bin/python scripts/test_pythons.py --uv $(UV) $(PYTHONS)

bench: $(VENV)/.synced
	$(VENV)/bin/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) .venvs $(TOOLS) site
