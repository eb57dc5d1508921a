"""Evaluate a finished run under test-time conditions and record them in <run>/robustness.json.

The model is rebuilt from the run's config.yaml as the engine builds it (`run_model`), its kept
weights (<run>/weights/<best-val|last>.pt) are loaded, and the held-out domain's clips are read as
evaluation clips. robustness.json, written atomically, keeps earlier conditions:

    {"best-val": {"epoch": 7, "missing_as": "features",
                  "conditions": {"clean": {"fused": 61.2, "video": 9.4, "audio": 80.1, "loss": 1.1},
                                 "missing:audio": {...}, "blur:3": {...}}}}
"""

import json
from dataclasses import dataclass
from pathlib import Path

from torch.utils.data import DataLoader

from mmdg_bench.engine.checkpoint import WEIGHTS, load_trainable_state
from mmdg_bench.engine.run_folder import CONFIG, RunFolder
from mmdg_bench.errors import UserError, check_choice
from mmdg_bench.files import write_text_atomically
from mmdg_bench.models.weights import read_kept_weights
from mmdg_bench.robustness.conditions import MISSING_AS, Condition
from mmdg_bench.seeding import stream

ROBUSTNESS = "robustness.json"
SELECTIONS = ("best-val", "last")


class CorruptedBatches:
    """The loader's batches with a condition's corruption applied, from a generator seeded per condition."""

    def __init__(self, loader, condition: Condition, seed: int):
        self.loader, self.condition, self.seed = loader, condition, seed

    def __iter__(self):
        generator = stream(self.seed, "robustness", self.condition.name)
        return (self.condition.corrupt(batch, generator) for batch in self.loader)


def check_run(folder: Path, weights: str) -> Path:
    check_choice(weights, SELECTIONS, "--weights")
    if not RunFolder(folder).is_done():
        raise UserError(f"{folder} is not a finished run folder (it has no 'done' marker)")
    path = folder / WEIGHTS / f"{weights}.pt"
    if not path.is_file():
        raise UserError(f"{folder} kept no {weights} weights ({path} is missing): it ran with keep_weights false "
                        f"or before weights were kept; rerun it with --set keep_weights=true --force")
    return path


def target_loader(config, index, target: str, sources: list[str], split: str = "target") -> DataLoader:
    """The held-out domain's clips (or another `split` of the protocol: "val"), read as the engine reads
    its evaluation splits."""
    from mmdg_bench.data import ClipDataset
    from mmdg_bench.engine.train import prepare

    data = config.data
    dataset = ClipDataset(index.protocol(target)[split], data.modalities, data, sources, seed=config.seed)
    prepare(dataset, data.on_corrupt, decode_all=False)
    return DataLoader(dataset, batch_size=config.optim.batch_size)


@dataclass
class RestoredRun:
    """A finished run rebuilt as the engine built it, with its kept weights loaded."""

    config: object
    index: object
    target: str
    sources: list[str]
    model: object
    summary: dict


def restore_run(folder: Path, weights_path: Path, device: str, command: str = "evaluate") -> RestoredRun:
    """The run's model from its config.yaml (`run_model`), its kept weights loaded; `command` names what
    refuses a run trained on cached features (it reads clips)."""
    from mmdg_bench.config import load_config
    from mmdg_bench.data import load_index
    from mmdg_bench.engine.train import run_model

    summary = RunFolder(folder).summary()
    config = load_config(str(folder / CONFIG), ["threads=0"])  # the thread count of the machine it trained on
    if getattr(config.data, "source", "clips") != "clips":
        raise UserError(f"{folder} trained on cached features; {command} reads clips, so rerun it with "
                        f"data.source=clips")
    index = load_index(config.data)
    target = summary["target_domain"]
    sources = index.sources(target)
    model = run_model(config, len(index.classes), len(sources), device)
    load_trainable_state(model, read_kept_weights(weights_path, device))
    return RestoredRun(config, index, target, sources, model, summary)


def evaluate_run(folder: Path | str, conditions: list[Condition], weights: str = "best-val",
                 missing_as: str = "features", device: str = "cpu") -> dict:
    """Accuracy (fused and per modality, %) of the run's `weights` under each condition; merged into
    robustness.json and returned ({condition name: metrics})."""
    from mmdg_bench.device import resolve_device
    from mmdg_bench.engine.evaluate import evaluate

    folder = Path(folder)
    weights_path = check_run(folder, weights)
    check_choice(missing_as, MISSING_AS, "--missing-as")
    modalities = RunFolder(folder).summary().get("modalities")
    for condition in conditions if modalities else ():  # before the model is built: a wrong modality is quick
        condition.check(modalities)
    device = resolve_device(device)
    run = restore_run(folder, weights_path, device)
    config, model, summary = run.config, run.model, run.summary
    for condition in conditions:
        condition.check(config.data.modalities)
    loader = target_loader(config, run.index, run.target, run.sources)
    results = {}
    for condition in conditions:
        with condition.on_model(model, missing_as):
            results[condition.name] = evaluate(model, CorruptedBatches(loader, condition, config.seed), device,
                                               config.precision, config.channels_last)
    record(folder, weights, summary, missing_as, results)
    return results


def record(folder: Path, weights: str, summary: dict, missing_as: str, results: dict) -> None:
    path = folder / ROBUSTNESS
    saved = json.loads(path.read_text()) if path.is_file() else {}
    entry = saved.get(weights, {})
    if entry.get("missing_as", missing_as) != missing_as:  # conditions measured two ways are not comparable
        entry = {}
    epoch = summary["selection"][weights]["epoch"] if weights in summary["selection"] else summary["epochs"]
    saved[weights] = {"epoch": epoch, "missing_as": missing_as,
                      "conditions": {**entry.get("conditions", {}), **results}}
    write_text_atomically(path, json.dumps(saved, indent=2))
