"""erm: the benchmark's own loss and nothing else (the default method; GMP's "Base" rows)."""

from mmdg_bench.facts import METHOD_FACTS
from mmdg_bench.methods.base import METHODS, Method


@METHODS.register("erm", **METHOD_FACTS["erm"].given())
class ERM(Method):
    description = "empirical risk minimisation: fused and unimodal CEs + the domain-adversarial loss"
