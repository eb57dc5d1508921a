"""`evaluate --features`: a finished run's pooled features at its selected epoch, for the feature maps
and separability scores of `plot --features` (mmdg_bench/results/feature_maps.py; the paper's t-SNE
figures of the fused and per-modality features, by domain and by class).

The model is rebuilt and its kept weights loaded as `evaluate` does (mmdg_bench/robustness/evaluate.py);
the source-validation clips, then the held-out domain's, are read as evaluation clips. <run>/features.npz,
written atomically, holds one row per clip:

    feature_<modality>  (clips, width)  z_m, each modality's pooled encoder feature
    feature_fused       (clips, width)  what the fused classifier reads (fused_inputs)
    label, domain, split, clip_id       the clip's class index, domain name, "val" or "target", id
    class_names, modalities             the run's classes (label order) and modalities
    run, weights, epoch, fusion         the run folder's name, best-val|last, that epoch, model.fusion
"""

from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from torch import nn

from mmdg_bench.device import autocast, to_device
from mmdg_bench.files import FEATURES, write_atomically
from mmdg_bench.robustness.evaluate import check_run, restore_run, target_loader

SPLITS = ("val", "target")  # source validation (never trained on), then the held-out domain
FUSED = "fused"


@contextmanager
def fused_inputs(model):
    """The batches of what the fused classifier reads, collected while the model runs: the input of the
    fusion's MLP `head` (concat: [z_1 | z_2 | ...]; sum, film, gated: the combined mapped feature).
    None for a fusion without one (late: the unimodal heads are the classifier, so the modalities'
    features, concatenated, are what it reads)."""
    head = getattr(model.fused_head, "head", None)
    if not isinstance(head, nn.Module):
        yield None
        return
    captured = []
    handle = head.register_forward_pre_hook(lambda module, args: captured.append(args[0].detach().float().cpu()))
    try:
        yield captured
    finally:
        handle.remove()


@torch.no_grad()
def extract(model, loader, device: str, precision: str = "fp32") -> dict[str, np.ndarray]:
    """Per modality and FUSED, the features of every clip the loader yields, in its order."""
    model.eval()
    rows = {m: [] for m in model.modalities}
    concatenated = []
    with fused_inputs(model) as fused:
        for batch in loader:
            with autocast(device, precision):
                out = model(to_device(batch, device))
            for m in model.modalities:
                rows[m].append(out.features[m].detach().float().cpu())
            if fused is None:
                concatenated.append(torch.cat([rows[m][-1] for m in model.modalities], dim=1))
        rows[FUSED] = fused if fused is not None else concatenated
    return {view: torch.cat(batches).numpy() for view, batches in rows.items()}


def save_features(folder: Path | str, weights: str = "best-val", device: str = "cpu") -> Path:
    """Write <run>/features.npz (the module's docstring says what it holds) from the run's `weights`;
    returns its path."""
    from mmdg_bench.device import resolve_device

    folder = Path(folder)
    weights_path = check_run(folder, weights)
    device = resolve_device(device)
    run = restore_run(folder, weights_path, device, "evaluate --features")
    config, index, model, summary = run.config, run.index, run.model, run.summary
    parts, clips = {}, []
    for split in SPLITS:
        loader = target_loader(config, index, run.target, run.sources, split)
        parts[split] = extract(model, loader, device, config.precision)
        clips.append(loader.dataset.clips.assign(split=split))  # after prepare: the clips actually read
    views = [*model.modalities, FUSED]
    table = {f"feature_{view}": np.concatenate([parts[s][view] for s in SPLITS]) for view in views}
    epoch = summary["selection"][weights]["epoch"] if weights in summary["selection"] else summary["epochs"]
    table.update(
        label=np.concatenate([c.label.to_numpy(dtype=np.int64) for c in clips]),
        domain=np.concatenate([c.domain.astype(str).to_numpy(dtype=str) for c in clips]),
        split=np.concatenate([c.split.to_numpy(dtype=str) for c in clips]),
        clip_id=np.concatenate([c.clip_id.astype(str).to_numpy(dtype=str) for c in clips]),
        class_names=np.array(index.classes, dtype=str), modalities=np.array(model.modalities, dtype=str),
        run=np.array(folder.resolve().name), weights=np.array(weights), epoch=np.array(int(epoch)),
        fusion=np.array(config.model.fusion),
    )
    path = folder / FEATURES

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as file:  # a file object: np.savez would add ".npz" to the temporary's name
            np.savez_compressed(file, **table)

    write_atomically(path, write)
    return path
