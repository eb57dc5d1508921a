"""The feature cache of the `frozen` regime: build it once (build.py), check it (verify.py), train
adapters and heads from it (dataset.py); cache.py says where it lives and what its key holds.

    mmdg-bench features build --preset P --set data.source=features --set model.encoders.video.regime=frozen ...
    mmdg-bench features verify --preset P --set ...
    mmdg-bench run --preset P --set data.source=features --set ...
"""

from mmdg_bench.features.dataset import FeatureCache, FeatureDataset, open_caches

__all__ = ["FeatureCache", "FeatureDataset", "open_caches"]
