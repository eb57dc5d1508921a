"""Sweeps: a grid of (strategy, target domain, seed) runs, launched locally or on Slurm, resumable.

    mmdg-bench sweep --strategies baseline,gmp --targets all --seeds 0-2
    mmdg-bench sweep status
"""
