# mmdg-bench: `make run` and `make test` are all a newcomer needs (see README.md).
VENV   := .venv
PY     := $(VENV)/bin/python
BENCH  := $(VENV)/bin/mmdg-bench
STAMP  := $(VENV)/.installed-stamp

.PHONY: install run test bench leaderboard clean

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

# The committed synthetic leaderboard: 5 strategies x 3 held-out domains x 3 seeds, plus gmp-fast
# beside gmp (resumable: an interrupted `make leaderboard` continues where it stopped).
SYNTH := results/synth
leaderboard: $(STAMP)
	$(BENCH) sweep --strategies baseline,ogm-ge,grad-blending,pcgrad,gmp --targets all --seeds 0-2 --out $(SYNTH)/runs
	$(BENCH) sweep --strategies gmp-fast --targets all --seeds 0-2 --out $(SYNTH)/runs
	$(BENCH) compare $(SYNTH)/runs --format md > $(SYNTH)/leaderboard.md
	$(BENCH) compare $(SYNTH)/runs --format csv > $(SYNTH)/leaderboard.csv
	$(BENCH) plot $(SYNTH)/runs --out $(SYNTH)/figures

clean:
	rm -rf results/runs
