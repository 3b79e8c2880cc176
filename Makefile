# The two commands: `make demo` and `make test`. Both create .venv and install what they need.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench bench-quick soak package clean conformance conformance-fixtures

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
	$(PY) -m pip install -q -e '.[local,test]' 2>&1 | grep -v '^WARNING: Location' || true
	$(PY) -c 'import saasbridge, pyarrow, duckdb, fastapi, moto, pytest'
	touch $(STAMP)

# checkov (the `scan` extra) in a virtualenv of its own: it pins boto3 and packaging.
SCAN_VENV := .venv-scan
SCAN_STAMP := $(SCAN_VENV)/.installed

$(SCAN_STAMP): pyproject.toml
	test -x $(SCAN_VENV)/bin/python || $(PYTHON) -m venv $(SCAN_VENV)
	$(SCAN_VENV)/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
	$(SCAN_VENV)/bin/python -m pip install -q $$($(PYTHON) -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['project']['optional-dependencies']['scan'])") 2>&1 | grep -v '^WARNING: Location' || true
	$(SCAN_VENV)/bin/checkov --version
	touch $(SCAN_STAMP)

demo: $(STAMP)
	$(VENV)/bin/saasbridge demo

test: $(STAMP) $(SCAN_STAMP)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -n 2 -m 'not soak' tests
	@if command -v java >/dev/null && command -v mvn >/dev/null; then $(PY) -m conformance.launch; \
	else echo "conformance: skipped (java and mvn are not on the PATH; see README, Conformance)"; fi

# The published AWS SDKs (Java, Maven) judge the connectors' messages; starts and stops its own servers.
conformance: $(STAMP)
	$(PY) -m conformance.launch

# The same, and the SDKs write back the fixtures they judge into tests/fixtures/ (review, then commit).
conformance-fixtures: $(STAMP)
	$(PY) -m conformance.launch --write-fixtures

lint: $(STAMP)
	$(VENV)/bin/ruff check .

bench-deps: $(STAMP)
	$(PY) -m pip install -q -e '.[local,test,bench]' 2>&1 | grep -v '^WARNING: Location' || true

bench: bench-deps
	$(PY) -m bench

bench-quick: bench-deps
	$(PY) -m bench --quick

soak: $(STAMP)
	$(PY) -m pytest -m soak tests

package: $(STAMP)
	$(VENV)/bin/saasbridge package

clean:
	rm -rf $(VENV) $(SCAN_VENV) build dist .pytest_cache .ruff_cache .saasbridge
