"""Fused and per-modality accuracy (percent) of a model on a loader."""

import torch
import torch.nn.functional as F

from mmdg_bench.device import autocast, to_device
from mmdg_bench.models.multimodal import MultimodalModel


@torch.no_grad()
def evaluate(model: MultimodalModel, loader, device: str, precision: str = "fp32") -> dict[str, float]:
    model.eval()
    correct = {"fused": 0, **{m: 0 for m in model.modalities}}
    loss, total = 0.0, 0
    for batch in loader:
        batch = to_device(batch, device)
        with autocast(device, precision):
            out = model(batch)
        labels = batch["label"]
        logits = {"fused": out.fused_logits, **out.unimodal_logits}
        for head, head_logits in logits.items():
            correct[head] += int((head_logits.argmax(1) == labels).sum())
        loss += float(F.cross_entropy(out.fused_logits.float(), labels, reduction="sum"))
        total += len(labels)
    metrics = {head: 100.0 * n / max(total, 1) for head, n in correct.items()}
    metrics["loss"] = loss / max(total, 1)
    return metrics
