"""A dataset is a pandas table of clips, one row each: domain, split, label, a path per modality.

Leave-one-domain-out protocol (SimMMDG, SPEC §1): train = the source domains' `train` split,
validation = the source domains' `test` split, target = the target domain's `target_splits`.
"""

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from mmdg_bench.errors import UserError, unknown
from mmdg_bench.registry import Registry

CLIP_COLUMNS = ["clip_id", "domain", "split", "label"]


@dataclass
class DatasetIndex:
    clips: pd.DataFrame  # CLIP_COLUMNS plus "<modality>_path" per modality
    domains: list[str]
    classes: list[str]
    target_splits: tuple[str, ...]  # HAC: train+test of the target; EPIC-Kitchens: test only

    def check_domain(self, domain: str) -> str:
        if domain not in self.domains:
            raise unknown("target domain", domain, self.domains)
        return domain

    def sources(self, target: str) -> list[str]:
        return [d for d in self.domains if d != self.check_domain(target)]

    def select(self, domains: list[str], splits: tuple[str, ...]) -> pd.DataFrame:
        rows = self.clips[self.clips.domain.isin(domains) & self.clips.split.isin(splits)]
        return rows.reset_index(drop=True)

    def protocol(self, target: str) -> dict[str, pd.DataFrame]:
        sources = self.sources(target)
        return {
            "train": self.select(sources, ("train",)),
            "val": self.select(sources, ("test",)),
            "target": self.select([target], self.target_splits),
        }

    def counts(self) -> pd.DataFrame:
        """Clips per domain x split x class (what `data index` prints)."""
        table = self.clips.assign(cls=self.clips.label.map(dict(enumerate(self.classes))))
        return table.pivot_table(index=["domain", "split"], columns="cls", values="clip_id",
                                 aggfunc="count", fill_value=0)


DATASETS: Registry[Callable[..., DatasetIndex]] = Registry("dataset")


def load_index(data_config) -> DatasetIndex:
    """Build the clip index of `data_config.dataset`, restricted to the configured modalities."""
    index = DATASETS.get(data_config.dataset)(data_config)
    missing = [m for m in data_config.modalities if f"{m}_path" not in index.clips.columns]
    if missing:
        raise unknown(f"modality of dataset '{data_config.dataset}'", missing[0],
                      [c.removesuffix("_path") for c in index.clips.columns if c.endswith("_path")])
    if index.clips.empty:
        raise UserError(f"dataset '{data_config.dataset}' has no clips under {data_config.root}")
    return index
