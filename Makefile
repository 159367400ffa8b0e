# farmannot: `make demo` runs the main job on sample_data/, `make test` runs the test suite.
# Both set up the virtual environment .venv first (once; again when pyproject.toml changes).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
OUT ?= out/demo
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: setup demo test test-fast lint bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[all,test]'
	$(BIN)/python -m pip install --quiet --no-deps sam3==0.1.4  # its numpy pin is stale: see pyproject.toml
	touch $@

demo: setup
	bash scripts/demo.sh $(OUT)

lint: setup
	$(BIN)/ruff check .

# Everything CI runs: lint, then every test (slow ones included).
test: lint
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q -p no:cacheprovider tests

# While editing: the tests not marked slow.
test-fast: setup
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q -p no:cacheprovider -m "not slow" tests

bench: setup
	for f in bench/bench_*.py; do $(BIN)/python $$f || exit 1; done

clean:
	rm -rf out .pytest_cache
