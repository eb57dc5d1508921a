"""Fusion variants (`model.fusion`, GMP's Table 5): each trains through the engine, late fusion is
the mean of the unimodal heads' logits, and every variant takes two or three modalities of any
widths."""

import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mmdg_bench.config import load_config
from mmdg_bench.engine import train_run
from mmdg_bench.errors import UserError
from mmdg_bench.models import MultimodalModel
from mmdg_bench.models.fusion import FUSIONS

FUSION_NAMES = ["concat", "sum", "film", "gated", "late"]
TINY = ["threads=1", "data.synth.train_per_class=4", "data.synth.test_per_class=2", "data.synth.frames=4",
        "data.video.num_frames=4", "data.synth.seconds=0.5", "data.audio.seconds=0.5", "optim.batch_size=8",
        "optim.epochs=2"]
DIMS = {"video": 8, "audio": 6, "flow": 10}


class Encoder(nn.Linear):
    def __init__(self, out_dim: int):
        super().__init__(5, out_dim)
        self.out_dim = out_dim


def model_with(fusion: str, modalities=("video", "audio"), detach: bool = False) -> MultimodalModel:
    torch.manual_seed(0)
    return MultimodalModel({m: Encoder(DIMS[m]) for m in modalities}, feature_dim=4, num_classes=3, num_domains=2,
                           head_hidden=5, grl_coeff=0.3, detach_unimodal=detach, fusion=fusion)


def batch_of(modalities, n: int = 6) -> dict:
    generator = torch.Generator().manual_seed(1)
    return {m: torch.randn(n, 5, generator=generator) for m in modalities}


@pytest.mark.slow
@pytest.mark.parametrize("fusion", FUSION_NAMES)
def test_each_fusion_trains_through_the_engine(tmp_path, fusion):
    result = train_run(load_config("synth", [*TINY, f"model.fusion={fusion}", "strategy.name=gmp"]), "day", tmp_path)
    assert result.summary["config"]["model"]["fusion"] == fusion
    lines = [json.loads(x) for x in (result.path / "metrics.jsonl").read_text().splitlines()]
    assert len(lines) == 2 and all(torch.isfinite(torch.tensor(line["train"]["loss_cls"])) for line in lines)
    assert (result.path / "done").exists()


@pytest.mark.parametrize("detach", [False, True])
def test_late_fusion_is_the_mean_of_the_unimodal_heads_logits(detach):
    model = model_with("late", detach=detach)
    out = model(batch_of(model.modalities))
    heads = torch.stack([model.unimodal_heads[m](out.features[m]) for m in model.modalities])
    torch.testing.assert_close(out.fused_logits, heads.mean(0))
    torch.testing.assert_close(out.fused_logits, (out.unimodal_logits["video"] + out.unimodal_logits["audio"]) / 2)
    # The late fused CE trains the encoders even where the unimodal heads' own CE reads detached features.
    loss = F.cross_entropy(out.fused_logits, torch.tensor([0, 1, 2, 0, 1, 2]))
    grad = torch.autograd.grad(loss, model.encoders["audio"].weight)[0]
    assert grad.abs().sum() > 0
    assert not list(model.fused_head.parameters())  # no fused head of its own


@pytest.mark.parametrize("fusion", FUSION_NAMES)
@pytest.mark.parametrize("modalities", [("video", "audio"), ("video", "audio", "flow")])
def test_every_fusion_takes_any_modalities_and_widths(fusion, modalities):
    model = model_with(fusion, modalities)
    batch = batch_of(modalities)
    out = model(batch)
    assert out.fused_logits.shape == (6, 3)
    # Every modality reaches the fused prediction: changing one changes the logits.
    for m in modalities:
        changed = model({**batch, m: batch[m] + 1.0})
        assert not torch.allclose(changed.fused_logits, out.fused_logits)


def test_sum_fusion_is_the_head_of_the_summed_mapped_features():
    model = model_with("sum")
    out = model(batch_of(model.modalities))
    head = model.fused_head
    summed = sum(head.maps[m](out.features[m]) for m in model.modalities)
    torch.testing.assert_close(out.fused_logits, head.head(summed))


def test_film_scales_and_shifts_the_first_modality_by_the_others():
    model = model_with("film")
    out = model(batch_of(model.modalities))
    head = model.fused_head
    gamma, beta = head.condition(out.features["audio"]).chunk(2, dim=1)
    torch.testing.assert_close(out.fused_logits, head.head(gamma * head.maps["video"](out.features["video"]) + beta))


def test_gated_fusion_gates_the_first_modality_by_a_sigmoid_of_the_others():
    model = model_with("gated")
    out = model(batch_of(model.modalities))
    head = model.fused_head
    gate = torch.sigmoid(head.condition(out.features["audio"]))
    torch.testing.assert_close(out.fused_logits, head.head(gate * head.maps["video"](out.features["video"])))


def test_the_fusions_are_registered_and_an_unknown_one_is_a_user_error():
    assert set(FUSION_NAMES) <= set(FUSIONS.names())
    with pytest.raises(UserError, match="fusion"):
        load_config("synth", ["model.fusion=attention"])
