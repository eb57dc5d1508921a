"""Strategies compute in float32 whatever the autocast dtype (issue 21): the step's forward may run under
bf16 autocast, and the confidences, ratios, dot products and projections built on its logits and
feature gradients must not round to bf16's 8 bits."""

from types import SimpleNamespace

import pytest
import torch

from mmdg_bench.config import load_config
from mmdg_bench.device import autocast
from mmdg_bench.engine.train import step_losses
from mmdg_bench.losses import detaches_unimodal_heads
from mmdg_bench.models import build_model
from mmdg_bench.strategies import STRATEGIES
from mmdg_bench.strategies.gmp import GMP, GMPParams
from tests.conftest import training_batch

TINY = ["threads=1", "data.synth.train_per_class=4", "data.synth.test_per_class=2", "data.synth.frames=4",
        "data.video.num_frames=4", "data.synth.seconds=0.5", "data.audio.seconds=0.5", "optim.batch_size=16"]
# The strategies that need nothing but a step (no loader, no teacher runs).
STEP_ONLY = ["baseline", "ogm-ge", "pcgrad", "gmp", "gmp-fast", "agm", "cggm", "balgrad", "mmpareto"]


def gmp_on(logits: dict[str, torch.Tensor], domain_logits: dict[str, torch.Tensor], labels, domains):
    """GMP's rho, sigma, k, p on hand-made logits, through the strategy's own code."""
    gmp = GMP.__new__(GMP)  # no model needed: the ratios read the step and the modality names only
    gmp.params, gmp.model = GMPParams(), SimpleNamespace(modalities=list(logits))
    step = SimpleNamespace(outputs=SimpleNamespace(unimodal_logits=logits, domain_logits=domain_logits),
                           labels=labels, domains=domains)
    rho, sigma = gmp.ratios(step)
    return (rho, sigma, *gmp.coefficients(rho, sigma))


def test_gmp_domain_modulation_survives_bf16_logits():
    # 16 clips, two source domains. Video's discriminator is at chance (8.00 summed), audio's a hair
    # above (8.02): in float32 sigma_video = 1.0025 and its p = 1 - tanh(0.5 sigma) = 0.54; in bf16 both
    # sums round to 8.0 (spacing 0.0625 there), sigma to 1 and p to 1: the modulation would be off.
    batch = 16
    labels, domains = torch.zeros(batch, dtype=torch.long), torch.zeros(batch, dtype=torch.long)
    logits = {m: torch.zeros(batch, 4, dtype=torch.bfloat16) for m in ("video", "audio")}
    domain_logits = {"video": torch.zeros(batch, 2, dtype=torch.bfloat16),
                     "audio": torch.tensor([[0.005, 0.0]] * batch, dtype=torch.bfloat16)}
    rho, sigma, k, p = gmp_on(logits, domain_logits, labels, domains)
    want = gmp_on({m: x.float() for m, x in logits.items()}, {m: x.float() for m, x in domain_logits.items()},
                  labels, domains)
    for got, expected in zip((rho, sigma, k, p), want):
        assert got.dtype == torch.float32
        torch.testing.assert_close(got, expected)
    assert sigma[0] > 1.002 and p[0] < 0.6  # video leads in domain invariance: its g_d is slowed


@pytest.fixture(scope="module")
def setup():
    config = load_config("synth", TINY)
    return config, training_batch(config, "toon")


def one_step(config, batch, name: str, precision: str, dtypes: list | None = None):
    """A fresh seeded model, one forward under `precision`'s autocast and the strategy's backward:
    (diagnostics, {parameter: gradient})."""
    cls = STRATEGIES.get(name)
    torch.manual_seed(0)
    model = build_model(config.model, config.data.modalities, config.data.synth.classes,
                        len(config.data.synth.domains) - 1, detaches_unimodal_heads(config.loss.classification, cls))
    strategy = cls(cls.Params(), model, seed=0)
    strategy.start_epoch(1)
    with autocast("cpu", precision):
        step = step_losses(model, batch, config)
    diagnostics = strategy.backward(step)
    return diagnostics, {n: p.grad for n, p in model.named_parameters() if p.grad is not None}


def test_gmp_fast_balances_feature_gradients_in_float32(setup, monkeypatch):
    config, batch = setup
    seen = []
    balance = GMP.balance

    def recording(self, step, grads, *args, **kwargs):
        seen.extend(g.dtype for pair in grads.values() for g in pair)
        return balance(self, step, grads, *args, **kwargs)

    monkeypatch.setattr(GMP, "balance", recording)
    _, grads = one_step(config, batch, "gmp-fast", "bf16")
    assert seen and set(seen) == {torch.float32}  # bf16 features, float32 balancing
    assert all(g.dtype == torch.float32 and torch.isfinite(g).all() for g in grads.values())


@pytest.mark.parametrize("name", STEP_ONLY)
def test_a_bf16_step_gives_the_fp32_coefficients(setup, name):
    """Every step-only strategy runs under bf16 autocast on the CPU, writes float32 gradients, and logs the
    same diagnostics as in fp32 up to the forward pass's bf16 rounding (a few 1e-3 on probabilities)."""
    config, batch = setup
    want, _ = one_step(config, batch, name, "fp32")
    got, grads = one_step(config, batch, name, "bf16")
    assert got.keys() == want.keys()
    assert all(g.dtype == torch.float32 and torch.isfinite(g).all() for g in grads.values())
    for key in want:
        if key.rsplit("/", 1)[-1] in ("rho", "sigma", "k", "p", "ratio", "coeff", "score", "weight"):
            assert float(got[key]) == pytest.approx(float(want[key]), rel=0.02, abs=0.02), key
