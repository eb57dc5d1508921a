# mmdg-bench: `make run` and `make test` are all a newcomer needs (see README.md).
VENV   := .venv
PY     := $(VENV)/bin/python
BENCH  := $(VENV)/bin/mmdg-bench
STAMP  := $(VENV)/.installed-stamp

.PHONY: install run test bench gpu-wheels gpu-check leaderboard studies clean

install: $(STAMP)

# Re-install whenever pyproject.toml changes (pinned versions live there).
$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BENCH) run --strategy gmp

# The linter, then every test tier (`$(PY) -m pytest -m "not slow and not e2e"` is the unit tier alone).
test: $(STAMP)
	$(VENV)/bin/ruff check mmdg_bench tests
	$(PY) -m pytest

bench: $(STAMP)
	$(BENCH) bench

# The prepared GPU call (docs/gpu-and-feature-cache.md): `make gpu-wheels` here (the pinned wheels the GPU
# machine's python3 lacks, cp312, and the media its checks read, into .whl/; PYVER=3.11 for a 3.11 rehearsal);
# there, with .whl carried and no venv, `bash scripts/gpu-check "$OUT"` (what `make gpu-check` runs, PYTHON=python3).
PYVER ?= 3.12
gpu-wheels: $(STAMP)
	PYTHON=$(PY) PYVER=$(PYVER) bash scripts/gpu-wheels

gpu-check:
	bash scripts/gpu-check $(OUT)

# The committed synthetic leaderboard (resumable: an interrupted `make leaderboard` continues where it
# stopped). Table 2: its eight strategies, pcgrad, mmpareto, pmr, umt and gmp-fast; Table 4: GMP's ablation
# blocks; Table 1: each modality trained alone; Table 3: the four MMDG methods alone and with GMP;
# Table 5: the fusions with and without GMP. 3 held-out domains x 3 seeds for Tables 1 and 2; 2 seeds
# (6 pairs, the fewest that can reach p < 0.05) for Tables 3, 4 and 5.
SYNTH := results/synth
RUNS  := $(SYNTH)/runs
JOBS  ?= 2
# keep_weights=false: the committed run folders stay small (it is not part of a run's identity).
SWEEP := $(BENCH) sweep --targets all --jobs $(JOBS) --out $(RUNS) --set keep_weights=false
leaderboard: $(STAMP)
	$(SWEEP) --seeds 0-2 --strategies baseline,ogm-ge,grad-blending,agm,cggm,drb,balgrad,pcgrad,mmpareto,pmr,umt,gmp,gmp-fast
	$(SWEEP) --seeds 0-1 --strategies gmp-unified,gmp-no-k,gmp-no-p,gmp-igdm-only,gmp-fixed-proj-cls,gmp-fixed-proj-dom,gmp-reverse-cagp,gmp-cagp-only,gmp-pcgrad
	$(SWEEP) --seeds 0-2 --strategies baseline --set 'data.modalities=[video]'
	$(SWEEP) --seeds 0-2 --strategies baseline --set 'data.modalities=[audio]'
	$(SWEEP) --seeds 0-1 --strategies baseline,gmp --methods rna-net,simmmdg,moosa,cmrf
	for fusion in sum film gated late; do $(SWEEP) --seeds 0-1 --strategies baseline,gmp --set model.fusion=$$fusion || exit 1; done
	$(BENCH) compare $(RUNS) --format md --reference paper --against 'baseline [fusion=concat]' > $(SYNTH)/leaderboard.md
	$(BENCH) compare $(RUNS) --format csv --against 'baseline [fusion=concat]' > $(SYNTH)/leaderboard.csv
	$(BENCH) plot $(RUNS) --out $(SYNTH)/figures

# The committed studies (resumable). GMP's Fig. 4 on synth: alpha_k x alpha_p, toon held out, 2 seeds
# (50 runs, about 30 min on 2 cores); the mild shift: synth with the held-out domain's colour cue made
# uninformative (random; absent as a check), the four Table 3 methods with and without GMP and video
# alone (78 runs, about 30 min); equal-budget tuning: 5 strategies x 5 draws x 3 held-out domains x 2 seeds
# (150 runs; the 30 draw-0 runs are the leaderboard's own: 120 new ones took 20 min); the feature maps of
# baseline and gmp (toon, seed 0, weights kept); the reports of the committed leaderboard and the tuning.
SENSITIVITY := results/synth-sensitivity
MILD        := results/synth-mild
TUNED       := results/synth-tuned
FEATURES    := results/synth-features
MILD_SWEEP  := $(BENCH) sweep --preset synth --targets all --seeds 0-1 --jobs $(JOBS) --set keep_weights=false
studies: $(STAMP)
	$(MILD_SWEEP) --strategies baseline,gmp --methods erm,simmmdg,moosa,cmrf --set data.synth.target_shortcut=random \
	  --out $(MILD)/runs
	$(MILD_SWEEP) --strategies baseline --set data.synth.target_shortcut=random --set 'data.modalities=[video]' \
	  --out $(MILD)/runs
	$(MILD_SWEEP) --strategies baseline --methods erm,simmmdg,moosa,cmrf --set data.synth.target_shortcut=absent \
	  --out $(MILD)/absent/runs
	$(BENCH) compare $(MILD)/runs --format md --reference paper > $(MILD)/leaderboard.md
	$(BENCH) compare $(MILD)/absent/runs --format md --reference paper > $(MILD)/absent/leaderboard.md
	$(BENCH) sweep --preset synth --strategies gmp --targets toon --seeds 0-1 --jobs $(JOBS) \
	  --vary strategy.gmp.alpha_k=0,0.25,0.5,0.75,1 --vary strategy.gmp.alpha_p=0,0.25,0.5,0.75,1 \
	  --set keep_weights=false --out $(SENSITIVITY)/runs
	$(BENCH) plot $(SENSITIVITY)/runs --sensitivity strategy.gmp.alpha_k --sensitivity strategy.gmp.alpha_p \
	  --out $(SENSITIVITY)/figures
	$(BENCH) plot $(SENSITIVITY)/runs --sensitivity strategy.gmp.alpha_k --out $(SENSITIVITY)/figures
	$(BENCH) plot $(SENSITIVITY)/runs --sensitivity strategy.gmp.alpha_p --out $(SENSITIVITY)/figures
	$(BENCH) report $(SENSITIVITY)/runs --out $(SENSITIVITY)/report.html
	$(BENCH) sweep --preset synth --strategies baseline,ogm-ge,grad-blending,pcgrad,gmp --targets all --seeds 0-1 \
	  --tune 5 --jobs $(JOBS) --set keep_weights=false --out $(TUNED)/runs
	$(BENCH) compare $(TUNED)/runs --tuned --format md > $(TUNED)/leaderboard.md
	$(BENCH) report $(TUNED)/runs --out $(TUNED)/report.html
	for strategy in baseline gmp; do $(BENCH) run --preset synth --strategy $$strategy --target toon --seed 0 \
	  --set keep_weights=true --out $(FEATURES)/runs || exit 1; done
	$(BENCH) evaluate $(FEATURES)/runs/*/ --features
	$(BENCH) plot $(FEATURES)/runs --features --out $(FEATURES)/figures
	$(BENCH) report $(FEATURES)/runs --out $(FEATURES)/report.html
	$(BENCH) report $(RUNS) --out $(SYNTH)/report.html --against 'baseline [fusion=concat]'

clean:
	rm -rf results/runs
