"""Fused and per-modality accuracy (percent) of a model on a loader."""

import torch
import torch.nn.functional as F

from mmdg_bench.device import autocast, to_device
from mmdg_bench.models.multimodal import MultimodalModel


@torch.no_grad()
def evaluate(model: MultimodalModel, loader, device: str, precision: str = "fp32",
             channels_last: bool = False) -> dict[str, float]:
    """The forward pass as training runs it (the run's autocast, channels-last clips where the encoders
    are channels-last): a bf16 run is evaluated in bf16; accuracy and loss from float32 logits."""
    model.eval()
    # Counts and the loss summed on the device and read once at the end, not per batch (a read waits for
    # the GPU); the loss in float64, as the Python float it replaces was summed.
    correct = {"fused": 0, **{m: 0 for m in model.modalities}}
    loss, total = 0, 0
    for batch in loader:
        batch = to_device(batch, device, channels_last)
        with autocast(device, precision):
            out = model(batch)
        labels = batch["label"]
        logits = {head: x.float() for head, x in {"fused": out.fused_logits, **out.unimodal_logits}.items()}
        for head, head_logits in logits.items():
            correct[head] = correct[head] + (head_logits.argmax(1) == labels).sum()
        loss = loss + F.cross_entropy(logits["fused"], labels, reduction="sum").double()
        total += len(labels)
    read = read_at_once({**correct, "loss": loss}, device)
    metrics = {head: 100.0 * read[head] / max(total, 1) for head in correct}
    metrics["loss"] = read["loss"] / max(total, 1)
    return metrics


def read_at_once(values: dict, device: str) -> dict:
    """The values as Python numbers, the tensors among them (on `device`, or on the CPU: AGM keeps its
    scores there) read from the device in one transfer, in float64."""
    keys = [k for k, v in values.items() if torch.is_tensor(v)]
    read = dict(zip(keys, torch.stack([values[k].to(device).double() for k in keys]).tolist())) if keys else {}
    return {k: read.get(k, v) for k, v in values.items()}
