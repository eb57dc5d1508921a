# mmdg-bench: `make run` and `make test` are all a newcomer needs (see README.md).
VENV   := .venv
PY     := $(VENV)/bin/python
BENCH  := $(VENV)/bin/mmdg-bench
STAMP  := $(VENV)/.installed-stamp

.PHONY: install run test bench clean

install: $(STAMP)

# Re-install whenever pyproject.toml changes (pinned versions live there).
$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BENCH) run --strategy gmp

test: $(STAMP)
	$(PY) -m pytest

bench: $(STAMP)
	$(BENCH) bench

clean:
	rm -rf results/runs
