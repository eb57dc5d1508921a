"""Speed benchmarks (`mmdg-bench bench`, `make bench`): medians over repeats, measured in one process
tree on this machine. Never timed tests: the figures go into docs/speed.md. One module per part:

    pipeline      the synth pipeline as a user meets it (generate, one run, every run)
    strategies    each strategy's training step against baseline's, on synth
    data          the loaders' clips/s, synth and the paper layouts at paper size
    compare       `compare` over 1,000 run folders
    backbones     the paper's backbones, forward + backward at paper size
    step          a paper preset's training step per strategy; `grid`: the paper grid's wall time
    cached_sweep  a paper-sized sweep from a feature cache, timed

    mmdg-bench bench --part strategies --step-repeats 20
"""
