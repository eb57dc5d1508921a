"""Tests of the gradient strategies on real models: each trains through the engine, and the gradients
they write are checked against torch.autograd and the pure maths of `functional.py`."""

import json
from types import SimpleNamespace

import pandas as pd
import pytest
import torch
from rich.console import Console
from torch import nn

from mmdg_bench.bench.strategies import bench_strategies
from mmdg_bench.config import load_config
from mmdg_bench.data import load_index
from mmdg_bench.engine import train_run
from mmdg_bench.engine.train import NonFiniteGradient, check_finite, step_losses
from mmdg_bench.errors import UserError
from mmdg_bench.losses import detaches_unimodal_heads
from mmdg_bench.models import MultimodalModel, build_model
from mmdg_bench.strategies import STRATEGIES, ogm_ge
from mmdg_bench.strategies.baseline import Baseline
from mmdg_bench.strategies.functional import cagp, cagp_choice, project_out, tanh_modulation
from mmdg_bench.strategies.gmp import GMP, GMPParams
from mmdg_bench.strategies.grad_blending import GradBlending, GradBlendingParams
from mmdg_bench.strategies.gradients import split_encoder_gradients
from mmdg_bench.strategies.ogm_ge import OGMGE, OGMGEParams
from mmdg_bench.strategies.pcgrad import PCGrad
from tests.strategies.conftest import TARGET, TINY

# The strategies of the issue (other test modules may register test-only ones).
NAMES = ["baseline", "ogm-ge", "grad-blending", "pcgrad", "gmp", "gmp-igdm-only", "gmp-cagp-only", "gmp-unified",
         "gmp-no-k", "gmp-no-p", "gmp-fixed-proj-cls", "gmp-fixed-proj-dom", "gmp-pcgrad", "gmp-reverse-cagp",
         "gmp-fast"]
PAIR_KEYS = ("cos_cd", "conflict", "norm_c", "norm_d")
GMP_KEYS = PAIR_KEYS + ("rho", "sigma", "k", "p", "proj_cls", "proj_dom")


def assert_close(got: torch.Tensor, want: torch.Tensor) -> None:
    """Equal up to float32 summation order: the strategies add the same terms in another order."""
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5 * float(want.abs().max()) + 1e-12)


def synth_model(config, seed: int = 0, strategy: str = "baseline") -> MultimodalModel:
    """The synth model as the engine builds it for `strategy` (unimodal heads detached under the
    default loss.classification=paper, except for Gradient-Blending)."""
    torch.manual_seed(seed)
    detach = detaches_unimodal_heads(config.loss.classification, STRATEGIES.get(strategy))
    return build_model(config.model, config.data.modalities, config.data.synth.classes,
                       len(config.data.synth.domains) - 1, detach)


def gradients(model) -> dict[str, torch.Tensor]:
    grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    model.zero_grad(set_to_none=True)
    return grads


def reference_pair(model, batch, config, m: str) -> tuple[torch.Tensor, torch.Tensor]:
    """g_c^m and g_d^m by torch.autograd.grad on a fresh forward, flat."""
    step = step_losses(model, batch, config)
    params = model.encoder_parameters(m)
    flat = [torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, params, retain_graph=True)])
            for loss in (step.classification, step.domain)]
    return flat[0], flat[1]


def set_conflict(model, batch, config, conflict: bool) -> None:
    """Flip the gradient-reversal sign of each modality whose g_c . g_d sign is not the wanted one:
    g_d is linear in that coefficient, so this sets whether the pair conflicts."""
    for m in model.modalities:
        g_c, g_d = reference_pair(model, batch, config, m)
        if bool(g_c @ g_d < 0) != conflict:
            model.discriminators[m].reverse.coeff *= -1


def encoder_update(grads: dict[str, torch.Tensor], model, m: str) -> torch.Tensor:
    """The flat gradient a strategy wrote for encoder m, laid out as `split_encoder_gradients` reads it."""
    return torch.cat([grads[f"encoders.{m}.{name}"].reshape(-1) for name, _ in model.encoders[m].named_parameters()])


def strategy_backward(cls, params, model, batch, config) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
    """One backward of a fresh `cls` strategy: its diagnostics and the gradients it wrote."""
    diagnostics = cls(params, model).backward(step_losses(model, batch, config))
    return diagnostics, gradients(model)


def expected_keys(name: str, modalities: list[str]) -> set[str]:
    if name == "baseline":
        return set()
    if name == "ogm-ge":
        return {"ogm/active"} | {f"ogm/{m}/{key}" for m in modalities for key in ("ratio", "coeff")}
    if name == "grad-blending":
        return {f"gb/w_{head}" for head in ["fused", *modalities]}
    if name == "gmp-fast":  # its gradient diagnostics are feature-level, under their own names
        keys = tuple(f"feature_{key}" if key in PAIR_KEYS else key for key in GMP_KEYS)
    else:
        keys = PAIR_KEYS if name == "pcgrad" else GMP_KEYS
    return {f"{m}/{key}" for m in modalities for key in keys}


# --------------------------------------------------------------------------- #
# every registered strategy, through the engine
# --------------------------------------------------------------------------- #


def test_registry_holds_the_issue_names():
    assert set(NAMES) <= set(STRATEGIES.names())
    for name in NAMES:
        cls = STRATEGIES.get(name)
        assert cls.description and "\n" not in cls.description
        cls.Params().validate()


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_every_strategy_trains_through_the_engine(name, tmp_path):
    result = train_run(load_config("synth", TINY, strategy__name=name), TARGET, tmp_path)
    assert result.summary["strategy"] == name and result.summary["epochs"] == 2
    lines = [json.loads(line) for line in (result.path / "metrics.jsonl").read_text().splitlines()]
    assert [line["epoch"] for line in lines] == [1, 2]
    for line in lines:
        assert set(line["strategy"]) == expected_keys(name, ["video", "audio"])
        assert all(torch.isfinite(torch.tensor(v)) for v in line["strategy"].values())
    info = result.summary["strategy_info"]
    assert info == STRATEGIES.info(name) and info["block"] in ("main", "modulation", "projection", "extra")
    if name == "grad-blending":
        assert result.summary["clips"]["holdout"] == 8 and result.summary["clips"]["train"] == 24
        assert result.summary["clips"]["train_eval"] == 8
        first, second = ([line["strategy"][f"gb/w_{h}"] for h in ("fused", "video", "audio")] for line in lines)
        # Baseline's total head weight is 1 + 3.0 x 2 modalities = 7: uniform first, then estimated.
        assert first == pytest.approx([7 / 3] * 3)
        assert sum(second) == pytest.approx(7.0) and second != pytest.approx(first)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ogm-ge", "gmp"])
def test_same_seed_gives_identical_metrics(name, tmp_path):
    config = load_config("synth", TINY, strategy__name=name)
    runs = [train_run(config, TARGET, tmp_path / str(i)) for i in range(2)]
    first, second = ((run.path / "metrics.jsonl").read_text() for run in runs)
    assert first == second


# --------------------------------------------------------------------------- #
# GMP
# --------------------------------------------------------------------------- #


def test_two_pass_split_equals_autograd_of_each_loss(config, batch):
    model = synth_model(config)
    split = split_encoder_gradients(model, step_losses(model, batch, config))
    for m in model.modalities:
        g_c, g_d = reference_pair(model, batch, config, m)
        assert_close(split[m].cls, g_c)
        assert_close(split[m].dom, g_d)
        assert split[m].plain.abs().sum() == 0  # loss.classification=paper has no plain term
        assert g_d.norm() > 0 and not torch.allclose(g_c, g_d)
    # The heads keep their own loss's gradient: classifiers from L_c, discriminators from L_d.
    step = step_losses(model, batch, config)
    head = list(model.unimodal_heads.parameters())[0]
    disc = list(model.discriminators.parameters())[0]
    assert_close(head.grad, torch.autograd.grad(step.classification, head, retain_graph=True)[0])
    assert_close(disc.grad, torch.autograd.grad(step.domain, disc)[0])


def test_gmp_with_alpha_zero_and_no_conflict_equals_baseline(config, batch):
    model = synth_model(config)
    set_conflict(model, batch, config, conflict=False)
    Baseline(None, model).backward(step_losses(model, batch, config))
    baseline = gradients(model)
    diagnostics, grads = strategy_backward(GMP, GMPParams(alpha_k=0.0, alpha_p=0.0), model, batch, config)
    assert grads.keys() == baseline.keys()
    for name, grad in grads.items():
        assert_close(grad, baseline[name])
    assert all(diagnostics[f"{m}/conflict"] == 0 and diagnostics[f"{m}/k"] == 1 for m in model.modalities)


def test_cagp_removes_the_conflict_and_matches_functional_cagp(config, batch):
    model = synth_model(config)
    set_conflict(model, batch, config, conflict=True)
    pairs = {m: reference_pair(model, batch, config, m) for m in model.modalities}
    diagnostics, grads = strategy_backward(GMP, GMPParams(), model, batch, config)
    for m, (g_c, g_d) in pairs.items():
        d = {key: diagnostics[f"{m}/{key}"] for key in GMP_KEYS}
        assert d["conflict"] == 1 and d["cos_cd"] < 0
        k_gc, p_gd = d["k"] * g_c, d["p"] * g_d
        new_c, new_d = cagp(k_gc, p_gd, d["rho"], d["sigma"])
        update = encoder_update(grads, model, m)
        assert_close(update, new_c + new_d)
        # Exactly the dominant task's gradient yielded, and the pair no longer conflicts.
        dominant = cagp_choice(-1.0, d["rho"], d["sigma"])
        assert (d["proj_cls"], d["proj_dom"]) == ((1.0, 0.0) if dominant == "cls" else (0.0, 1.0))
        assert float(new_c @ new_d) >= -1e-5 * float(new_c.norm() * new_d.norm())
        assert float(k_gc @ p_gd) < 0


def authors_step(model, batch, config, alpha: float = 0.5) -> dict[str, torch.Tensor]:
    """The first author's GMP step (train_GMP.py's train_one_step and helpers), written out from its code
    on our model: theta_m = the encoder and its own classifier head; g_cls = d(3 CE_m)/d theta,
    g_dom = d(0.5 CE_dom_m)/d theta, None where the loss does not reach (the head); mean true-class
    confidences, ratios with + 1e-6; k, p = clamp(1 - tanh(alpha r), 0, 1) where r > 1, else 1; on a
    negative dot (over the tensors both reach) g_cls is projected off g_dom when the semantic ratio is
    >= the domain one, else g_dom off g_cls (|g|^2 over its tensors + 1e-12; a None stays None); then
    the fused CE's backward, and theta's gradients added. Returns the gradients it leaves."""
    def confidence(logits, targets):
        return torch.softmax(logits, 1)[torch.arange(len(targets)), targets].mean()

    def ratio_of(conf, m, domain=False):
        others = torch.stack([c for o, c in conf.items() if o != m]).mean()
        return others / (conf[m] + 1e-6) if domain else conf[m] / (others + 1e-6)

    def coefficient(r):
        return torch.where(r > 1.0, torch.clamp(1.0 - torch.tanh(alpha * r), 0.0, 1.0), torch.ones_like(r))

    def dot(a, b):
        return sum(((x * y).sum() for x, y in zip(a, b) if x is not None and y is not None), torch.tensor(0.0))

    def project(strong, weak):
        coeff = dot(strong, weak) / (sum((g * g).sum() for g in weak if g is not None) + 1e-12)
        return [None if s is None else s if w is None else s - coeff * w for s, w in zip(strong, weak)]

    model.zero_grad(set_to_none=True)
    step = step_losses(model, batch, config)
    terms = {t.name: t for t in step.terms}
    out, modalities = step.outputs, model.modalities
    sem = {m: confidence(out.unimodal_logits[m].detach(), step.labels) for m in modalities}
    dom = {m: confidence(out.domain_logits[m].detach(), step.domains) for m in modalities}
    final = {}
    for m in modalities:
        theta = model.encoder_parameters(m) + list(model.unimodal_heads[m].parameters())
        g_cls = torch.autograd.grad(3.0 * terms[f"ce/{m}"].loss, theta, retain_graph=True, allow_unused=True)
        g_dom = torch.autograd.grad(0.5 * terms[f"domain/{m}"].loss, theta, retain_graph=True, allow_unused=True)
        sem_ratio, dom_ratio = ratio_of(sem, m), ratio_of(dom, m, domain=True)
        g_cls = [None if g is None else g * coefficient(sem_ratio) for g in g_cls]
        g_dom = [None if g is None else g * coefficient(dom_ratio) for g in g_dom]
        if dot(g_cls, g_dom) < 0:
            if sem_ratio >= dom_ratio:
                g_cls = project(g_cls, g_dom)
            else:
                g_dom = project(g_dom, g_cls)
        final[m] = (theta, [a if b is None else b if a is None else a + b for a, b in zip(g_cls, g_dom)])
    terms["ce/fused"].loss.backward()
    for theta, grads in final.values():
        for p, g in zip(theta, grads):
            if g is not None:
                p.grad = g.clone() if p.grad is None else p.grad + g
    return gradients(model)


def test_gmp_under_the_authors_loss_is_the_authors_step_heads_included(config, batch):
    """Both projection branches, over a few initialisations; the discriminators are not compared (the
    author's are never trained: the departures table)."""
    author = load_config("synth", [*TINY, "loss.classification=author"], strategy__name="gmp")
    branches = set()
    for seed in range(4):
        model = synth_model(author, seed=seed, strategy="gmp")
        set_conflict(model, batch, author, conflict=True)
        want = authors_step(model, batch, author)
        diagnostics, got = strategy_backward(GMP, GMPParams(), model, batch, author)
        for m in model.modalities:
            branches.add("cls" if diagnostics[f"{m}/proj_cls"] else "dom")
            for name in (n for n in want if n.startswith((f"encoders.{m}.", f"unimodal_heads.{m}."))):
                assert_close(got[name], want[name])
        _, encoder_only = strategy_backward(GMP, GMPParams(theta="encoder"), model, batch, author)
        assert not all(torch.allclose(encoder_only[n], want[n], rtol=1e-3) for n in want if "unimodal_heads" in n)
    assert branches == {"cls", "dom"}


def test_gmps_author_denominators_are_the_authors_ratios(config, batch):
    """strategy.gmp.denominator=author: train_GMP.py's rho = q_m / (mean_{j!=m} q_j + 1e-6) and
    sigma = mean_{j!=m} c_j / (c_m + 1e-6) on batch-mean confidences; the default (sums, the others'
    mean clamped at 1e-8) is within about 1e-6 of it, relatively, and not equal."""
    model = synth_model(config, strategy="gmp")
    step = step_losses(model, batch, config)
    out, m = step.outputs, model.modalities
    q = torch.stack([torch.softmax(out.unimodal_logits[x].detach(), 1)[torch.arange(len(step.labels)), step.labels]
                     .mean() for x in m])
    c = torch.stack([torch.softmax(out.domain_logits[x].detach(), 1)[torch.arange(len(step.domains)), step.domains]
                     .mean() for x in m])
    want_rho = torch.stack([q[i] / (torch.cat([q[:i], q[i + 1:]]).mean() + 1e-6) for i in range(len(m))])
    want_sigma = torch.stack([torch.cat([c[:i], c[i + 1:]]).mean() / (c[i] + 1e-6) for i in range(len(m))])
    rho, sigma = GMP(GMPParams(denominator="author"), model).ratios(step)
    torch.testing.assert_close(rho, want_rho, rtol=1e-6, atol=0)
    torch.testing.assert_close(sigma, want_sigma, rtol=1e-6, atol=0)
    default_rho, default_sigma = GMP(GMPParams(), model).ratios(step)
    assert not torch.equal(default_sigma, sigma)
    torch.testing.assert_close(default_rho, rho, rtol=2e-5, atol=0)
    torch.testing.assert_close(default_sigma, sigma, rtol=2e-5, atol=0)
    with pytest.raises(UserError, match="GMP's denominator"):
        load_config("synth", ["strategy.gmp.denominator=mean"], strategy__name="gmp")


def test_gmps_theta_renames_only_the_runs_it_changes(tmp_path):
    """theta: auto is the encoder alone (as before the setting) except under the author's loss, so only
    runs under `loss.classification: author` get new folder names; the committed leaderboard's keep theirs."""
    from mmdg_bench.engine.run_folder import run_folder_of

    def folder(*overrides, strategy="gmp") -> str:
        config = load_config("synth", ["keep_weights=false", *overrides], strategy__name=strategy)
        return run_folder_of(config, "day", tmp_path).path.name

    assert folder() == "synth__gmp__day__seed0__5c97a2143e"  # results/synth/runs holds it
    assert folder(strategy="gmp-no-k") == "synth__gmp-no-k__day__seed0__655491f871"
    author = folder("loss.classification=author")
    assert author != folder("loss.classification=author", "strategy.gmp.theta=encoder")
    assert folder("strategy.gmp.theta=encoder+head") != folder()
    # GMP's denominator at its default ("clamp") renames nothing either.
    assert folder(strategy="gmp-fast") == "synth__gmp-fast__day__seed0__0d4860e2f8"
    assert folder("strategy.gmp.denominator=author") != folder()


# Per variant: (k is 1, p is 1, p equals k, which gradient yields given the one CAGP would project).
# GMP's Table 4: the modulation block runs without CAGP, the projection block without IGDM.
VARIANT_RULES = {
    "gmp-igdm-only": (False, False, False, lambda dominant: "none"),
    "gmp-unified": (False, False, True, lambda dominant: "none"),
    "gmp-no-k": (True, False, False, lambda dominant: "none"),
    "gmp-no-p": (False, True, False, lambda dominant: "none"),
    "gmp-cagp-only": (True, True, False, lambda dominant: dominant),
    "gmp-fixed-proj-cls": (True, True, False, lambda dominant: "cls"),
    "gmp-fixed-proj-dom": (True, True, False, lambda dominant: "dom"),
    "gmp-reverse-cagp": (True, True, False, lambda dominant: {"cls": "dom", "dom": "cls"}[dominant]),
}


@pytest.mark.parametrize("name", sorted(VARIANT_RULES))
def test_gmp_variant_modulates_and_projects_as_its_ablation_says(name, config, batch):
    k_is_one, p_is_one, unified, yields = VARIANT_RULES[name]
    model = synth_model(config)
    set_conflict(model, batch, config, conflict=True)
    pairs = {m: reference_pair(model, batch, config, m) for m in model.modalities}
    cls = STRATEGIES.get(name)
    params = cls.Params(alpha_k=2.0, alpha_p=2.0)  # strong: a leading modality's k or p is well below 1
    diagnostics, grads = strategy_backward(cls, params, model, batch, config)
    for m, (g_c, g_d) in pairs.items():
        d = {key: diagnostics[f"{m}/{key}"] for key in GMP_KEYS}
        expected_k = 1.0 if k_is_one else float(tanh_modulation(torch.tensor(d["rho"]), 2.0))
        expected_p = 1.0 if p_is_one else float(tanh_modulation(torch.tensor(d["sigma"]), 2.0))
        expected_p = expected_k if unified else expected_p
        assert d["k"] == pytest.approx(expected_k) and d["p"] == pytest.approx(expected_p)
        new_c, new_d = d["k"] * g_c, d["p"] * g_d
        choice = yields(cagp_choice(-1.0, d["rho"], d["sigma"]))
        assert (d["proj_cls"], d["proj_dom"]) == (float(choice == "cls"), float(choice == "dom"))
        if choice == "cls":
            new_c = project_out(new_c, new_d)
        elif choice == "dom":
            new_d = project_out(new_d, new_c)
        update = encoder_update(grads, model, m)
        assert_close(update, new_c + new_d)


def test_gmp_pcgrad_variant_equals_pcgrad_of_the_modulated_pair(config, batch):
    model = synth_model(config)
    set_conflict(model, batch, config, conflict=True)
    pairs = {m: reference_pair(model, batch, config, m) for m in model.modalities}
    cls = STRATEGIES.get("gmp-pcgrad")
    diagnostics, grads = strategy_backward(cls, cls.Params(), model, batch, config)
    for m, (g_c, g_d) in pairs.items():
        k_gc, p_gd = diagnostics[f"{m}/k"] * g_c, diagnostics[f"{m}/p"] * g_d
        # Two conflicting tasks: each loses its component along the other (original) one.
        expected = project_out(k_gc, p_gd) + project_out(p_gd, k_gc)
        update = encoder_update(grads, model, m)
        assert_close(update, expected)
        assert diagnostics[f"{m}/proj_cls"] == diagnostics[f"{m}/proj_dom"] == 1.0


def test_gmp_fast_modulates_the_feature_gradients_and_trains_the_heads(config, batch):
    model = synth_model(config)
    set_conflict(model, batch, config, conflict=False)
    Baseline(None, model).backward(step_losses(model, batch, config))
    baseline = gradients(model)
    fast = STRATEGIES.get("gmp-fast")
    diagnostics, grads = strategy_backward(fast, GMPParams(alpha_k=0.0, alpha_p=0.0), model, batch, config)
    for name, grad in grads.items():  # alpha 0: the feature-level update is baseline's
        assert_close(grad, baseline[name])
    diagnostics, grads = strategy_backward(fast, GMPParams(alpha_k=3.0, alpha_p=3.0), model, batch, config)
    for m in model.modalities:  # without a feature-level conflict, the encoder update is k g_c + p g_d
        assert f"{m}/cos_cd" not in diagnostics  # feature-level cosines are not gmp's parameter-level ones
        if diagnostics[f"{m}/feature_conflict"] == 0:
            g_c, g_d = reference_pair(model, batch, config, m)
            update = encoder_update(grads, model, m)
            expected = diagnostics[f"{m}/k"] * g_c + diagnostics[f"{m}/p"] * g_d
            assert_close(update, expected)
    head = "fused_head.head.0.weight"
    assert_close(grads[head], baseline[head])


# --------------------------------------------------------------------------- #
# three modalities, one modality
# --------------------------------------------------------------------------- #


def three_modality_step(seed: int = 0):
    torch.manual_seed(seed)
    names = ["video", "audio", "flow"]
    encoders = {m: nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 5)) for m in names}
    model = MultimodalModel(encoders, feature_dim=5, num_classes=3, num_domains=2, head_hidden=7, grl_coeff=0.3)
    batch = {m: torch.randn(12, 6) for m in names}
    batch.update(label=torch.arange(12) % 3, domain=torch.arange(12) % 2)
    losses = SimpleNamespace(loss=SimpleNamespace(classification="both", unimodal_weight=3.0, domain_weight=0.5))
    return model, batch, losses


@pytest.mark.parametrize("name", ["gmp", "pcgrad", "gmp-fast"])
def test_three_modalities(name):
    model, batch, losses = three_modality_step()
    strategy = STRATEGIES.get(name)(STRATEGIES.get(name).Params(), model)
    diagnostics = strategy.backward(step_losses(model, batch, losses))
    assert set(diagnostics) == expected_keys(name, model.modalities)
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    if name != "pcgrad":
        rho = torch.tensor([diagnostics[f"{m}/rho"] for m in model.modalities])
        # Ratios against the mean of the two others: they cannot all lead, nor all trail.
        assert (rho > 1).any() and (rho < 1).any()


def test_three_modalities_split_equals_autograd():
    model, batch, losses = three_modality_step()
    split = split_encoder_gradients(model, step_losses(model, batch, losses))
    for m in model.modalities:
        step = step_losses(model, batch, losses)
        params = model.encoder_parameters(m)
        for got, loss in zip((split[m].cls, split[m].dom), (step.classification, step.domain)):
            want = torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, params, retain_graph=True)])
            assert_close(got, want)


def test_ratio_strategies_reject_one_modality_but_pcgrad_trains():
    torch.manual_seed(0)
    model = MultimodalModel({"audio": nn.Linear(4, 3)}, feature_dim=3, num_classes=2, num_domains=2,
                            head_hidden=5, grl_coeff=0.3)
    for name in ("gmp", "gmp-fast", "gmp-no-k", "ogm-ge"):
        with pytest.raises(UserError, match="at least two modalities"):
            STRATEGIES.get(name)(STRATEGIES.get(name).Params(), model)
    batch = {"audio": torch.randn(6, 4), "label": torch.arange(6) % 2, "domain": torch.arange(6) % 2}
    losses = SimpleNamespace(loss=SimpleNamespace(classification="both", unimodal_weight=3.0, domain_weight=0.5))
    diagnostics = PCGrad(None, model).backward(step_losses(model, batch, losses))
    assert set(diagnostics) == {f"audio/{key}" for key in PAIR_KEYS}


@pytest.mark.parametrize("name", ["gmp", "gmp-fast", "gmp-pcgrad", "pcgrad", "ogm-ge"])
def test_a_nan_reaches_the_gradients_for_the_engine_to_stop(name, config, batch):
    model = synth_model(config)
    with torch.no_grad():
        model.encoders["video"].proj.weight[0, 0] = float("nan")
    cls = STRATEGIES.get(name)
    cls(cls.Params(), model).backward(step_losses(model, batch, config))
    with pytest.raises(NonFiniteGradient):
        check_finite(model, epoch=1)


# --------------------------------------------------------------------------- #
# OGM-GE
# --------------------------------------------------------------------------- #


def ogm_gradients(config, batch, params: OGMGEParams, epoch: int):
    model = synth_model(config)
    Baseline(None, model).backward(step_losses(model, batch, config))
    baseline = gradients(model)
    strategy = OGMGE(params, model)
    strategy.start_epoch(epoch)
    diagnostics = strategy.backward(step_losses(model, batch, config))
    return model, baseline, diagnostics, gradients(model)


def assert_slows_only_the_dominant_modality(diagnostics) -> dict[str, float]:
    assert diagnostics["ogm/active"] == 1
    ratios = {m: float(diagnostics[f"ogm/{m}/ratio"]) for m in ("video", "audio")}  # a tensor or a float
    assert ratios["video"] * ratios["audio"] == pytest.approx(1.0)  # two modalities: r and 1/r
    for m, ratio in ratios.items():
        coeff = diagnostics[f"ogm/{m}/coeff"]
        assert (coeff < 1) == (ratio > 1)
        if ratio > 1:
            assert coeff == pytest.approx(float(tanh_modulation(torch.tensor(ratio), 0.5)))
    return {m: diagnostics[f"ogm/{m}/coeff"] for m in ratios}


def assert_noise(residual: torch.Tensor, unscaled: torch.Tensor) -> None:
    """GE: what is left after the scaling is noise with the unscaled gradient's spread."""
    assert residual.std() == pytest.approx(float(unscaled.std()), rel=0.1)
    assert abs(float(residual.mean())) < 0.1 * float(unscaled.std())


def test_ogm_ge_modulates_the_classification_gradient_only_by_default(config, batch):
    model, baseline, diagnostics, grads = ogm_gradients(config, batch, OGMGEParams(alpha=0.5), epoch=1)
    coeffs = assert_slows_only_the_dominant_modality(diagnostics)
    step = step_losses(model, batch, config)
    for m, coeff in coeffs.items():
        name = f"encoders.{m}.body.2.0.weight"
        param = dict(model.named_parameters())[name]
        g_c, g_d = (torch.autograd.grad(loss, param, retain_graph=True)[0] for loss in (step.classification,
                                                                                        step.domain))
        # The domain-adversarial gradient passes untouched: only k g_c + noise(std g_c) is added to it.
        assert_noise(grads[name] - g_d - coeff * g_c, g_c)
    for name in baseline:
        if not name.startswith("encoders."):
            assert torch.equal(grads[name], baseline[name])


def test_ogm_ge_all_modulates_the_whole_encoder_gradient(config, batch):
    _, baseline, diagnostics, grads = ogm_gradients(config, batch, OGMGEParams(alpha=0.5, modulate="all"), epoch=1)
    coeffs = assert_slows_only_the_dominant_modality(diagnostics)
    for m, coeff in coeffs.items():
        name = f"encoders.{m}.body.2.0.weight"
        assert_noise(grads[name] - coeff * baseline[name], baseline[name])


def test_ogm_ge_noise_uses_the_unbiased_std_plus_epsilon():
    grad = torch.tensor([1.0, 3.0])
    assert float(ogm_ge.ge_noise_std(grad)) == pytest.approx(2 ** 0.5 + 1e-8)  # population std would be 1
    assert float(ogm_ge.ge_noise_std(torch.tensor([5.0]))) == pytest.approx(1e-8)


def test_ogm_ge_outside_its_window_is_baseline(config, batch):
    _, baseline, diagnostics, grads = ogm_gradients(config, batch, OGMGEParams(start_epoch=3, end_epoch=4), epoch=2)
    assert diagnostics["ogm/active"] == 0
    assert all(diagnostics[f"ogm/{m}/coeff"] == 1 for m in ("video", "audio"))
    assert grads.keys() == baseline.keys()
    assert all(torch.equal(grads[name], baseline[name]) for name in grads)


def test_ogm_ge_counts_its_window_from_0_as_the_official_loop(config):
    """Official: `for epoch in range(epochs)`, modulated while starts <= epoch <= ends; the engine's
    epochs count from 1, so its epoch e is the official e - 1 (a window [0, 2] is the first three)."""
    def active(params: OGMGEParams) -> list[int]:
        strategy = OGMGE(params, synth_model(config))
        return [e for e in range(1, 6) if (strategy.start_epoch(e), strategy.active())[1]]

    assert active(OGMGEParams(start_epoch=0, end_epoch=2)) == [1, 2, 3]
    assert active(OGMGEParams(start_epoch=1, end_epoch=50)) == [2, 3, 4, 5]


# --------------------------------------------------------------------------- #
# Gradient-Blending
# --------------------------------------------------------------------------- #


def clip_keys(clips: pd.DataFrame) -> set[tuple[str, str]]:
    return set(zip(clips.clip_id, clips.split))


def test_grad_blending_holds_out_source_training_clips_only(config):
    parts = load_index(config.data).protocol(TARGET)
    model = synth_model(config, strategy="grad-blending")
    strategy = GradBlending(GradBlendingParams(holdout_fraction=0.25), model, seed=0)
    rest, extra = strategy.holdout_split(parts["train"])
    holdout, sample = extra["holdout"], extra["train_eval"]
    train, held = clip_keys(parts["train"]), clip_keys(holdout)
    assert held and held <= train
    assert not held & (clip_keys(parts["val"]) | clip_keys(parts["target"]))
    assert not held & clip_keys(rest) and held | clip_keys(rest) == train
    assert TARGET not in set(holdout.domain)
    # Stratified: one of the 4 clips of every (source domain, class) group.
    assert holdout.groupby(["domain", "label"]).size().tolist() == [1] * 8
    # L_T's sample: as many of the remaining training clips as there are held out.
    assert len(sample) == len(holdout) and clip_keys(sample) <= clip_keys(rest)
    torch.manual_seed(123)  # its own stream: the global torch seed does not move it
    again, _ = strategy.holdout_split(parts["train"])
    other, _ = GradBlending(GradBlendingParams(holdout_fraction=0.25), model, seed=1).holdout_split(parts["train"])
    assert again.equals(rest) and not other.equals(rest)


def test_grad_blending_refuses_a_held_out_slice_without_every_class(config):
    train = load_index(config.data).protocol(TARGET)["train"]
    strategy = GradBlending(GradBlendingParams(holdout_fraction=0.05), synth_model(config, strategy="grad-blending"))
    with pytest.raises(UserError, match="too few source training clips"):
        strategy.holdout_split(train)


def test_grad_blending_weights_the_heads(config, batch):
    model = synth_model(config, strategy="grad-blending")
    strategy = GradBlending(GradBlendingParams(), model)
    strategy.weights = [0.0, 1.0, 0.0]  # only the video head
    diagnostics = strategy.backward(step_losses(model, batch, config))
    # Rescaled to baseline's total head weight, 1 + 3.0 x 2, unless normalise=one (the original's 1).
    assert [diagnostics[f"gb/w_{h}"] for h in ("fused", "video", "audio")] == [0.0, 7.0, 0.0]
    grads = gradients(model)
    assert grads["unimodal_heads.video.0.weight"].abs().sum() > 0
    assert grads["unimodal_heads.audio.0.weight"].abs().sum() == 0
    assert grads["fused_head.head.0.weight"].abs().sum() == 0
    assert grads["discriminators.audio.classify.0.weight"].abs().sum() > 0  # the domain loss is not blended


# --------------------------------------------------------------------------- #
# hyper-parameters and the bench
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("name, overrides", [
    ("gmp", ["strategy.gmp.alpha_k=-1"]),
    ("gmp", ["strategy.gmp.alpha_p=-0.5"]),
    ("gmp-no-p", ["strategy.gmp-no-p.alpha_k=-1"]),
    ("gmp-fast", ["strategy.gmp-fast.alpha_p=.nan"]),
    ("ogm-ge", ["strategy.ogm-ge.alpha=-0.1"]),
    ("ogm-ge", ["strategy.ogm-ge.start_epoch=5", "strategy.ogm-ge.end_epoch=2"]),
    ("grad-blending", ["strategy.grad-blending.holdout_fraction=0"]),
    ("grad-blending", ["strategy.grad-blending.holdout_fraction=1"]),
    ("grad-blending", ["strategy.grad-blending.holdout_fraction=1.5"]),
    ("grad-blending", ["strategy.grad-blending.super_epoch=0"]),
    ("grad-blending", ["strategy.grad-blending.normalise=two"]),
    ("ogm-ge", ["strategy.ogm-ge.modulate=domain"]),
    ("gmp", ["strategy.gmp.projection=cagpp"]),
    ("gmp", ["strategy.gmp.theta=head"]),
    ("gmp-fast", ["strategy.gmp-fast.theta=auto"]),  # gmp-fast acts on feature gradients: no theta
])
def test_out_of_range_params_are_rejected(name, overrides):
    with pytest.raises(UserError):
        load_config("synth", overrides, strategy__name=name)


def test_in_range_params_are_accepted():
    config = load_config("synth", ["strategy.gmp.alpha_k=0", "strategy.gmp.alpha_p=1.5"], strategy__name="gmp")
    assert config.strategy.params == {"alpha_k": 0.0, "alpha_p": 1.5, "modulate_cls": True, "modulate_dom": True,
                                      "unified": False, "projection": "cagp", "denominator": "clamp", "theta": "auto"}
    # A variant is GMP with other settings, and any combination stays reachable.
    variant = load_config("synth", ["strategy.gmp-no-k.projection=cagp"], strategy__name="gmp-no-k")
    assert variant.strategy.params["modulate_cls"] is False and variant.strategy.params["projection"] == "cagp"


@pytest.mark.slow
def test_bench_times_every_strategy_against_baseline():
    rows = {row["strategy"]: row for row in bench_strategies(Console(quiet=True), repeats=1, overrides=TINY)}
    assert next(iter(rows)) == "baseline" and rows["baseline"]["ratio"] == 1.0
    assert set(NAMES) <= set(rows)
    assert all(rows[name]["error"] is None and rows[name]["ms"] > 0 for name in NAMES)
    assert rows["gmp-fast"]["target"] == 1.05 and rows["gmp-no-k"]["target"] == 1.7
    assert rows["grad-blending"]["epoch_work_ms"] > 10 * rows["baseline"]["epoch_work_ms"]
