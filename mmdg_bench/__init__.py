"""mmdg-bench: multimodal domain generalisation under interchangeable gradient strategies.

    mmdg-bench run --strategy baseline       # every leave-one-domain-out split of the synth preset
    mmdg-bench compare results/runs          # leaderboard of the run folders
"""

__version__ = "0.1.0"
