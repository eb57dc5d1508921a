"""Data only produces clips: an index of clips (pandas), decoding (decord), transforms (torchaudio)."""

from mmdg_bench.data.dataset import ClipDataset
from mmdg_bench.data.index import DATASETS, DatasetIndex, index_report, load_index
from mmdg_bench.data.sampling import EpochSampler
from mmdg_bench.data.verify import VerifyReport, verify

# Register the datasets.
from mmdg_bench.data import epic_kitchens as _epic_kitchens  # noqa: F401,E402
from mmdg_bench.data import hac as _hac  # noqa: F401,E402
from mmdg_bench.data import synthetic as _synthetic  # noqa: F401,E402

__all__ = ["ClipDataset", "DATASETS", "DatasetIndex", "EpochSampler", "VerifyReport", "index_report", "load_index",
           "verify"]
