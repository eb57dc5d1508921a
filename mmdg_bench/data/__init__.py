"""Data only produces clips: an index of clips (pandas), decoding (decord), transforms (torchaudio)."""

from mmdg_bench.data import epic_kitchens, hac, synthetic  # noqa: F401  (importing them registers the datasets)
from mmdg_bench.data.dataset import ClipDataset
from mmdg_bench.data.index import DATASETS, DatasetIndex, index_report, load_index
from mmdg_bench.data.sampling import EpochSampler
from mmdg_bench.data.verify import VerifyReport, verify

__all__ = ["ClipDataset", "DATASETS", "DatasetIndex", "EpochSampler", "VerifyReport", "index_report", "load_index",
           "verify"]
