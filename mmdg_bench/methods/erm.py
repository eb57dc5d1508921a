"""erm: the benchmark's own loss and nothing else (the default method; GMP's "Base" rows)."""

from mmdg_bench.methods.base import METHODS, Method


@METHODS.register("erm", paper_row=None, order=0)
class ERM(Method):
    description = "empirical risk minimisation: fused and unimodal CEs + the domain-adversarial loss"
