"""What L_c holds under `loss.classification` (paper, author, both), checked against torch.autograd
on a small three-modality model: which loss reaches which encoder, in which task group."""

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from mmdg_bench.config import load_config
from mmdg_bench.engine.train import step_losses
from mmdg_bench.errors import UserError
from mmdg_bench.losses import CLASSIFICATION, DOMAIN, PLAIN, detaches_unimodal_heads
from mmdg_bench.models import MultimodalModel
from mmdg_bench.strategies import STRATEGIES
from mmdg_bench.strategies.gradients import split_encoder_gradients

MODALITIES = ["video", "audio", "flow"]


def setup(classification: str, strategy: str = "gmp"):
    torch.manual_seed(0)
    encoders = {m: nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 5)) for m in MODALITIES}
    detach = detaches_unimodal_heads(classification, STRATEGIES.get(strategy))
    model = MultimodalModel(encoders, feature_dim=5, num_classes=3, num_domains=2, head_hidden=7, grl_coeff=0.3,
                            detach_unimodal=detach)
    batch = {m: torch.randn(12, 6) for m in MODALITIES}
    batch.update(label=torch.arange(12) % 3, domain=torch.arange(12) % 2)
    config = SimpleNamespace(loss=SimpleNamespace(classification=classification, unimodal_weight=3.0,
                                                  domain_weight=0.5))
    return model, batch, config


def encoder_grad(loss: torch.Tensor, model, m: str) -> torch.Tensor:
    params = model.encoder_parameters(m)
    grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
    return torch.cat([(g if g is not None else torch.zeros_like(p)).reshape(-1) for g, p in zip(grads, params)])


def ce_terms(step) -> dict[str, torch.Tensor]:
    return {t.name: t.value for t in step.terms}


def split_and_terms(classification: str):
    """(model, the split of each encoder's gradient into task groups, a fresh step of the same batch,
    its weighted terms by name) to check the split against autograd."""
    model, batch, config = setup(classification)
    split = split_encoder_gradients(model, step_losses(model, batch, config))
    step = step_losses(model, batch, config)
    return model, split, step, ce_terms(step)


@pytest.mark.parametrize("classification", ["paper", "author", "both"])
def test_each_setting_puts_the_ces_in_its_groups(classification):
    model, batch, config = setup(classification)
    step = step_losses(model, batch, config)
    groups = {t.name: t.group for t in step.terms}
    fused_group = {"paper": CLASSIFICATION, "author": PLAIN, "both": CLASSIFICATION}[classification]
    assert groups["ce/fused"] == fused_group
    assert all(groups[f"ce/{m}"] == CLASSIFICATION and groups[f"domain/{m}"] == DOMAIN for m in MODALITIES)
    assert [t.head for t in step.head_terms()] == ["fused", *MODALITIES]


def test_paper_g_c_is_the_fused_ce_alone_and_the_unimodal_heads_still_learn():
    model, split, step, terms = split_and_terms("paper")
    for m in MODALITIES:
        torch.testing.assert_close(split[m].cls, encoder_grad(terms["ce/fused"], model, m))
        # The unimodal head reads a detached feature: its CE never reaches the encoder ...
        assert encoder_grad(terms[f"ce/{m}"], model, m).abs().sum() == 0
    # ... but trains the head, which gives per-modality accuracy and rho.
    head = model.unimodal_heads["video"][0].weight
    assert head.grad is not None and head.grad.abs().sum() > 0


def test_author_g_c_is_three_times_the_own_head_ce_and_the_fused_ce_is_plain():
    model, split, step, terms = split_and_terms("author")
    for m in MODALITIES:
        torch.testing.assert_close(split[m].cls, encoder_grad(terms[f"ce/{m}"], model, m))
        torch.testing.assert_close(split[m].plain, encoder_grad(terms["ce/fused"], model, m))
        assert step.terms[1 + MODALITIES.index(m)].weight == 3.0


def test_both_g_c_holds_fused_and_unimodal_ces():
    model, split, step, terms = split_and_terms("both")
    for m in MODALITIES:
        want = encoder_grad(terms["ce/fused"] + terms[f"ce/{m}"], model, m)
        torch.testing.assert_close(split[m].cls, want)
        assert split[m].plain.abs().sum() == 0


def test_grad_blending_keeps_the_unimodal_heads_attached_under_paper():
    assert detaches_unimodal_heads("paper", STRATEGIES.get("gmp"))
    assert not detaches_unimodal_heads("paper", STRATEGIES.get("grad-blending"))
    assert not detaches_unimodal_heads("both", STRATEGIES.get("gmp"))


@pytest.mark.parametrize("name", ["baseline", "pcgrad", "gmp", "ogm-ge", "gmp-fast"])
def test_author_and_both_are_the_same_total_loss(name):
    """For every strategy the total loss is the same; only how a strategy may split it differs."""
    totals = []
    for classification in ("author", "both"):
        model, batch, config = setup(classification, name)
        totals.append(step_losses(model, batch, config).total.item())
    assert totals[0] == pytest.approx(totals[1])


def test_an_unknown_setting_is_refused():
    with pytest.raises(UserError, match="loss.classification"):
        load_config("synth", ["loss.classification=papper"])
