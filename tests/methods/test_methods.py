"""The MMDG methods (RNA-Net, SimMMDG, MOOSA, CMRF) as loss-term layers: each term against a hand
computation on a tiny batch (plain torch, independent of the methods' helpers), and the contract
every (method, strategy) pair keeps: a neutral strategy equals one backward of the total loss, each
term's gradient lands in the group it declares, a resumed run equals an uninterrupted one, and two
and three modalities of any widths work."""

import copy
import itertools
import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from mmdg_bench.config import load_config
from mmdg_bench.data import ClipDataset, load_index
from mmdg_bench.engine import train_run
from mmdg_bench.engine.train import NullProgress, step_losses
from mmdg_bench.errors import UserError
from mmdg_bench.losses import CLASSIFICATION, DOMAIN, detaches_unimodal_heads
from mmdg_bench.methods import METHODS, MethodContext, attach_method
from mmdg_bench.models import MultimodalModel, build_model
from mmdg_bench.seeding import derive_seed, stream
from mmdg_bench.strategies import STRATEGIES
from mmdg_bench.strategies.gmp import GMP, GMPParams
from mmdg_bench.strategies.gradients import split_encoder_gradients

METHOD_NAMES = ["rna-net", "simmmdg", "moosa", "cmrf"]
STRATEGY_NAMES = ["baseline", "pcgrad", "gmp", "ogm-ge", "grad-blending", "gmp-fast"]
TARGET = "toon"
TINY = ["threads=1", "data.synth.train_per_class=4", "data.synth.test_per_class=2", "data.synth.frames=4",
        "data.video.num_frames=4", "data.synth.seconds=0.5", "data.audio.seconds=0.5", "optim.batch_size=8",
        "optim.epochs=2",
        "method.cmrf.sma_start_step=0"]
# The group each method term must declare (the decision each method's docstring explains).
EXPECTED_GROUPS = {
    "rna/norm_alignment": DOMAIN,
    "simmmdg/contrast": CLASSIFICATION, "simmmdg/distance": DOMAIN, "simmmdg/translation": DOMAIN,
    "moosa/contrast": CLASSIFICATION, "moosa/distance": DOMAIN, "moosa/translation": DOMAIN,
    "moosa/entropy": CLASSIFICATION, "moosa/jigsaw": DOMAIN,
    "cmrf/contrast": CLASSIFICATION, "cmrf/distill/video": DOMAIN, "cmrf/distill/audio": DOMAIN,
    "cmrf/distill/flow": DOMAIN,
}
ERM_GROUPS = {"ce/fused": CLASSIFICATION, "ce/video": CLASSIFICATION, "ce/audio": CLASSIFICATION,
              "ce/flow": CLASSIFICATION, "domain/video": DOMAIN, "domain/audio": DOMAIN, "domain/flow": DOMAIN}


# --- a tiny hand-made model: modalities of different widths ------------------------------------

class Encoder(nn.Sequential):
    def __init__(self, out_dim: int):
        super().__init__(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, out_dim))
        self.out_dim = out_dim


DIMS = {"video": 8, "audio": 6, "flow": 10}
LOSS = SimpleNamespace(classification="both", unimodal_weight=3.0, domain_weight=0.5)


def tiny_model(method: str, modalities=("video", "audio"), seed: int = 0, **params) -> MultimodalModel:
    torch.manual_seed(seed)
    model = MultimodalModel({m: Encoder(DIMS[m]) for m in modalities}, feature_dim=4, num_classes=3,
                            num_domains=2, head_hidden=5, grl_coeff=0.3)
    cls = METHODS.get(method)
    context = MethodContext(list(modalities), dict(model.dims), 3, 2, LOSS, seed=seed, encoders=model.encoders)
    model.method = cls(cls.Params(**params), context)
    return model


def tiny_batch(modalities=("video", "audio"), n: int = 12) -> dict:
    generator = torch.Generator().manual_seed(1)
    batch = {m: torch.randn(n, 5, generator=generator) for m in modalities}
    batch.update(label=torch.arange(n) % 3, domain=torch.arange(n) % 2)
    return batch


def terms_of(model, batch) -> dict:
    return {t.name: t for t in model.method.terms(model(batch), batch)}


# --- hand computations, plain torch ------------------------------------------------------------

def hand_supcon(views: list[torch.Tensor], labels: torch.Tensor, temperature=0.1, base=0.07) -> torch.Tensor:
    """Khosla et al. Eq. 2, one anchor at a time."""
    features = torch.cat(views)
    tiled = labels.repeat(len(views))
    losses = []
    for a in range(len(features)):
        others = [c for c in range(len(features)) if c != a]
        denominator = torch.log(sum(torch.exp(features[a] @ features[c] / temperature) for c in others))
        positives = [p for p in others if tiled[p] == tiled[a]]
        losses.append(-sum(features[a] @ features[p] / temperature - denominator for p in positives) / len(positives))
    return temperature / base * torch.stack(losses).mean()


def hand_entropy(logits: torch.Tensor) -> torch.Tensor:
    p = torch.softmax(logits, dim=1)
    return -(p * torch.log(p)).sum(1)


@pytest.mark.parametrize("modalities", [("video", "audio"), ("video", "audio", "flow")])
def test_rna_net_term_is_the_squared_relative_norm_gap(modalities):
    model, batch = tiny_model("rna-net", modalities), tiny_batch(modalities)
    out = model(batch)
    terms = {t.name: t for t in model.method.terms(out, batch)}
    norm = {m: torch.sqrt((out.features[m] ** 2).sum(1)).mean() for m in modalities}
    pairs = [("video", "audio")] if len(modalities) == 2 else [("video", "audio"), ("video", "flow"), ("flow", "audio")]
    want = sum((norm[a] / norm[b] - 1) ** 2 for a, b in pairs) / len(pairs)
    torch.testing.assert_close(terms["rna/norm_alignment"].loss, want)
    assert terms["rna/norm_alignment"].weight == 1.0
    assert set(terms) == {"rna/norm_alignment", *(n for n in ERM_GROUPS if n.split("/")[1] in ("fused", *modalities))}


def test_simmmdg_terms_match_a_hand_computation():
    model = tiny_model("simmmdg", trans_dropout=0.0)
    batch = tiny_batch()
    out = model(batch)
    terms = {t.name: t for t in model.method.terms(out, batch)}
    z, method = out.features, model.method
    shared = {m: z[m][:, :DIMS[m] // 2] for m in z}
    specific = {m: z[m][:, DIMS[m] // 2:] for m in z}
    views = [method.projectors[m](shared[m]) for m in ("video", "audio")]
    assert all(torch.allclose(v.norm(dim=1), torch.ones(12)) for v in views)
    torch.testing.assert_close(terms["simmmdg/contrast"].loss, hand_supcon(views, batch["label"]))
    mse = [((shared[m] - specific[m]) ** 2).mean() for m in z]
    torch.testing.assert_close(terms["simmmdg/distance"].loss, -(mse[0] + mse[1]) / 2)

    def unit(x):
        return x / torch.sqrt((x ** 2).sum(1, keepdim=True))

    v2a = torch.sqrt(((unit(method.translators["video_to_audio"](z["video"], None)) - unit(z["audio"])) ** 2).sum(1))
    a2v = torch.sqrt(((unit(method.translators["audio_to_video"](z["audio"], None)) - unit(z["video"])) ** 2).sum(1))
    torch.testing.assert_close(terms["simmmdg/translation"].loss, (v2a.mean() + a2v.mean()) / 2)
    assert [terms[f"simmmdg/{n}"].weight for n in ("contrast", "distance", "translation")] == [3.0, 0.7, 0.1]
    # The projector widths follow the features: hidden = the modality's width, output = max(8, 10 // 16).
    assert method.projectors["video"].head[0].weight.shape == (8, 4)
    assert method.projectors["audio"].head[-1].weight.shape == (8, 6)


def test_moosa_heads_entropy_and_jigsaw_match_a_hand_computation():
    model = tiny_model("moosa", trans_dropout=0.0, mask_ratio=0.0)
    batch = tiny_batch()
    out = model(batch)
    terms = {t.name: t for t in model.method.terms(out, batch)}
    heads = {"fused": out.fused_logits, **out.unimodal_logits}
    labels = batch["label"]
    # Per clip: softmax over the heads of -H(p_k), times each head's CE.
    weights = torch.stack([torch.exp(-hand_entropy(h)) for h in heads.values()], 1)
    weights = weights / weights.sum(1, keepdim=True)
    for k, (head, logits) in enumerate(heads.items()):
        ce = -torch.log(torch.softmax(logits, 1)[torch.arange(12), labels])
        torch.testing.assert_close(terms[f"ce/{head}"].loss, (weights[:, k] * ce).mean())
        assert terms[f"ce/{head}"].weight == 1.0 and terms[f"ce/{head}"].head == head
    # The official entropy minimisation: -sum p log(p + 1e-5), averaged over clips and heads.
    floored = [-(torch.softmax(h, 1) * torch.log(torch.softmax(h, 1) + 1e-5)).sum(1).mean() for h in heads.values()]
    torch.testing.assert_close(terms["moosa/entropy"].loss, sum(floored) / 3)
    assert terms["moosa/entropy"].weight == 1e-3
    # Jigsaw: 2 modalities x 4 parts (video 8 -> parts of 2, audio 6 -> parts of 1), 128 classes.
    columns = model.method.jigsaw_columns
    assert columns.shape == (128, 4 * 2 + 4 * 1)
    assert len({tuple(row) for row in columns.tolist()}) == 128
    parts = [list(range(0, 2)), list(range(2, 4)), list(range(4, 6)), list(range(6, 8)),
             [8], [9], [10], [11]]  # audio's 6 units: parts of 1 (its last 2 units left out)
    for row in columns.tolist()[:5]:
        cuts, rest = [], row
        while rest:
            part = next(p for p in parts if rest[:len(p)] == p)
            cuts.append(part)
            rest = rest[len(part):]
        assert sorted(map(tuple, cuts)) == sorted(map(tuple, parts))
    # The official jigsaw: every clip under every one of the 128 permutations, the CE's mean over them all.
    joined = torch.cat([out.features["video"], out.features["audio"]], 1)
    losses = [-torch.log_softmax(model.method.jigsaw(joined[:, columns[c]]), 1)[:, c] for c in range(128)]
    torch.testing.assert_close(terms["moosa/jigsaw"].loss, torch.cat(losses).mean())


def test_moosas_entropy_weights_carry_gradient_as_the_official_ones():
    """The official weights come from Categorical(...).entropy() of the live logits: a head's CE moves
    the other heads' logits through the weights (detached, ours used not to)."""
    model = tiny_model("moosa", trans_dropout=0.0, mask_ratio=0.0)
    batch = tiny_batch()
    out = model(batch)
    fused = {t.name: t for t in model.method.terms(out, batch)}["ce/fused"].loss
    (grad,) = torch.autograd.grad(fused, out.unimodal_logits["video"])
    assert grad.abs().sum() > 0


def test_moosas_jigsaw_can_draw_one_permutation_per_clip():
    model = tiny_model("moosa", trans_dropout=0.0, mask_ratio=0.0, jigsaw_samples="one")
    batch = tiny_batch()
    out = model(batch)
    terms = {t.name: t for t in model.method.terms(out, batch)}
    columns = model.method.jigsaw_columns
    targets = torch.randint(128, (12,), generator=stream(0, "moosa/jigsaw", 0))
    joined = torch.cat([out.features["video"], out.features["audio"]], 1)
    shuffled = torch.stack([joined[i, columns[targets[i]]] for i in range(12)])
    want = -torch.log(torch.softmax(model.method.jigsaw(shuffled), 1)[torch.arange(12), targets]).mean()
    torch.testing.assert_close(terms["moosa/jigsaw"].loss, want)


def test_moosa_masks_a_share_of_the_translator_input_drawn_per_step():
    model = tiny_model("moosa", mask_ratio=0.5)
    embedding = torch.ones(200, 8)
    masked = model.method.translator_input(embedding, "video_to_audio")
    assert 0.4 < float((masked == 0).float().mean()) < 0.6
    assert torch.equal(masked, model.method.translator_input(embedding, "video_to_audio"))
    model.method.after_step()
    assert not torch.equal(masked, model.method.translator_input(embedding, "video_to_audio"))


def test_cmrf_terms_match_a_hand_computation():
    model = tiny_model("cmrf", sma_start_step=0)
    batch = tiny_batch()
    out = model(batch)
    terms = {t.name: t for t in model.method.terms(out, batch)}
    method = model.method
    students = {m: method.projectors[m](out.features[m]) for m in ("video", "audio")}
    torch.testing.assert_close(terms["cmrf/contrast"].loss, hand_supcon(list(students.values()), batch["label"]))
    with torch.no_grad():  # the teacher starts as a copy of the student, and runs in eval mode
        method.teacher.eval()
        teacher = {m: method.teacher["projectors"][m](model.encoders[m](batch[m])) for m in ("video", "audio")}
    rng = np.random.default_rng(derive_seed(0, "cmrf/mixup", 0))
    for m, other in (("video", "audio"), ("audio", "video")):
        lam = rng.beta(0.1, 0.1, 12)
        while (lam <= 0.5).any():
            lam[lam <= 0.5] = rng.beta(0.1, 0.1, int((lam <= 0.5).sum()))
        lam = torch.tensor(lam, dtype=torch.float32)[:, None]
        target = lam * teacher[m] + (1 - lam) * teacher[other]
        target = target / target.norm(dim=1, keepdim=True)
        # the official script: the plain (not squared) L2 distance, averaged over clips
        torch.testing.assert_close(terms[f"cmrf/distill/{m}"].loss, (target - students[m]).norm(dim=1).mean())
    assert terms["cmrf/distill/video"].weight == 3.0 and terms["cmrf/distill/audio"].weight == 1.5
    assert terms["ce/video"].weight == 2.0 and terms["ce/audio"].weight == 1.0  # mix_coef, audio halved
    assert terms["ce/fused"].weight == 1.0 and terms["domain/video"].weight == 0.5  # ERM's, kept


def test_cmrf_distillation_sums_over_partners_with_three_modalities():
    """The official EPIC script (video, flow, audio): each modality distils to one mixed target per partner,
    the distances summed (not averaged), audio's halved; the teacher's targets carry no gradient."""
    from mmdg_bench.methods.cmrf import beta_above_half

    modalities = ("video", "audio", "flow")
    model = tiny_model("cmrf", modalities=modalities, sma_start_step=0)
    batch = tiny_batch(modalities)
    out = model(batch)
    terms = {t.name: t for t in model.method.terms(out, batch)}
    students = {m: model.method.projectors[m](out.features[m]) for m in modalities}
    teacher = model.method.teacher_projections(batch)
    rng = np.random.default_rng(derive_seed(0, "cmrf/mixup", 0))
    for m in modalities:
        expected = 0
        for other in (o for o in modalities if o != m):
            lam = torch.tensor(beta_above_half(rng, 0.1, 12), dtype=torch.float32)[:, None]
            target = lam * teacher[m] + (1 - lam) * teacher[other]
            expected = expected + (target / target.norm(dim=1, keepdim=True) - students[m]).norm(dim=1).mean()
        torch.testing.assert_close(terms[f"cmrf/distill/{m}"].loss, expected)
    assert [terms[f"cmrf/distill/{m}"].weight for m in modalities] == [3.0, 1.5, 3.0]
    terms["cmrf/distill/video"].loss.backward()
    assert model.encoders["video"][0].weight.grad is not None and model.encoders["audio"][0].weight.grad is None


def test_cmrf_distils_only_from_the_start_step_on():
    model = tiny_model("cmrf", sma_start_step=2)
    batch = tiny_batch()
    assert terms_of(model, batch)["cmrf/distill/video"].weight == 0.0
    model.method.after_step()
    model.method.after_step()
    assert terms_of(model, batch)["cmrf/distill/video"].weight == 3.0


def test_cmrf_teacher_copies_the_student_then_averages_it():
    model = tiny_model("cmrf", sma_start_step=2)
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    batch = tiny_batch()
    snapshots = []
    for _ in range(4):
        optimizer.zero_grad()
        sum(t.value for t in terms_of(model, batch).values()).backward()
        optimizer.step()
        snapshots.append(model.encoders["video"][0].weight.detach().clone())
        model.method.after_step()
    teacher = model.method.teacher["encoders"]["video"][0].weight
    # the official count: the copy made at step 2 is the first snapshot, then steps 3 and 4 join it
    torch.testing.assert_close(teacher, (snapshots[1] + snapshots[2] + snapshots[3]) / 3)
    assert not teacher.requires_grad
    assert int(model.method.sma_count) == 2 and int(model.method.steps) == 4
    # The averaged weights are state (checkpointed with the model), not parameters an optimizer sees.
    assert "method.teacher.encoders.video.0.weight" in model.state_dict()
    assert not any(name.startswith("method.teacher.") for name, _ in model.named_parameters())


def test_cmrf_teacher_shares_the_students_frozen_layers():
    torch.manual_seed(0)
    model = MultimodalModel({m: Encoder(DIMS[m]) for m in ("video", "audio")}, feature_dim=4, num_classes=3,
                            num_domains=2, head_hidden=5, grl_coeff=0.3)
    model.encoders["video"][0].requires_grad_(False)  # a frozen pretrained layer
    context = MethodContext(["video", "audio"], dict(model.dims), 3, 2, LOSS, encoders=model.encoders)
    model.method = METHODS.get("cmrf")(METHODS.get("cmrf").Params(), context)
    frozen = model.encoders["video"][0].weight
    assert model.method.teacher["encoders"]["video"][0].weight is frozen
    assert not any(k.startswith("method.teacher.encoders.video.0.") for k in model.state_dict())
    assert "method.teacher.encoders.video.2.weight" in model.state_dict()


def test_cmrf_mixup_coefficients_favour_the_own_modality():
    from mmdg_bench.methods.cmrf import beta_above_half

    lam = beta_above_half(np.random.default_rng(0), 0.1, 10_000)
    assert (lam > 0.5).all() and lam.max() <= 1.0
    assert np.mean(lam > 0.99) > 0.5  # Beta(0.1, 0.1) puts most of its mass near the ends


# --- the contract over every (method, strategy) pair -------------------------------------------

@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MMDG_BENCH_CACHE", str(tmp_path_factory.mktemp("cache")))
        config = load_config("synth", TINY)
        index = load_index(config.data)
        dataset = ClipDataset(index.protocol(TARGET)["train"], config.data.modalities, config.data,
                              index.sources(TARGET))
        batch = next(iter(torch.utils.data.DataLoader(dataset, batch_size=8, shuffle=True,
                                                      generator=torch.Generator().manual_seed(0))))
        yield config, batch


def synth_model(method: str, strategy: str = "baseline"):
    """The synth model as the engine builds it for `method` under `strategy`, and its config."""
    config = load_config("synth", [*TINY, f"method.name={method}"])
    torch.manual_seed(0)
    detach = detaches_unimodal_heads(config.loss.classification, STRATEGIES.get(strategy))
    model = build_model(config.model, config.data.modalities, config.data.synth.classes,
                        len(config.data.synth.domains) - 1, detach)
    attach_method(model, config.method, config.loss, config.data.synth.classes, len(config.data.synth.domains) - 1)
    return model, config


def in_float64(model, batch) -> tuple:
    """The model and batch in float64: the strategies add the same terms in another order, and in
    float32 SupCon's 1/T = 10 amplifies that rounding past any tolerance that could still fail."""
    return model.double(), {k: v.double() if v.is_floating_point() else v for k, v in batch.items()}


def assert_close(got: torch.Tensor, want: torch.Tensor) -> None:
    torch.testing.assert_close(got, want, rtol=1e-7, atol=1e-9 * float(want.abs().max()) + 1e-12)


def grads(model) -> dict[str, torch.Tensor]:
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("method", METHOD_NAMES)
def test_a_neutral_strategy_equals_one_backward_of_the_total_loss(synth, method):
    _, batch = synth
    model, config = synth_model(method, "gmp")
    model, batch = in_float64(model, batch)
    twin = copy.deepcopy(model)
    step_losses(model, batch, config).total.backward()
    neutral = GMP(GMPParams(alpha_k=0.0, alpha_p=0.0, projection="none"), twin)
    neutral.backward(step_losses(twin, batch, config))
    want, got = grads(model), grads(twin)
    assert set(got) == set(want)
    for name in want:
        assert_close(got[name], want[name])


@pytest.mark.parametrize("method", METHOD_NAMES)
def test_each_term_lands_in_the_group_it_declares(synth, method):
    _, batch = synth
    model, config = synth_model(method, "gmp")
    model, batch = in_float64(model, batch)
    step = step_losses(model, batch, config)
    declared = {t.name: t.group for t in step.terms}
    own = {n: g for n, g in declared.items() if n not in ERM_GROUPS}
    assert own and own == {n: EXPECTED_GROUPS[n] for n in own}
    expected = {**ERM_GROUPS, **EXPECTED_GROUPS}
    per_group = {}
    for m in model.modalities:
        params = model.encoder_parameters(m)
        for t in step.terms:
            g = torch.autograd.grad(t.value, params, retain_graph=True, allow_unused=True)
            flat = torch.cat([(x if x is not None else torch.zeros_like(p)).reshape(-1) for x, p in zip(g, params)])
            key = (m, expected[t.name])
            per_group[key] = per_group.get(key, 0) + flat
            if t.name in own and t.modality in (None, m) and t.weight:
                assert flat.abs().sum() > 0, f"{t.name} does not reach the {m} encoder"
    split = split_encoder_gradients(model, step)
    for m, g in split.items():
        assert_close(g.cls, per_group[m, CLASSIFICATION])
        assert_close(g.dom, per_group[m, DOMAIN])


@pytest.mark.parametrize("method,strategy", list(itertools.product(METHOD_NAMES, STRATEGY_NAMES)))
def test_every_strategy_runs_a_step_of_every_method(synth, method, strategy):
    _, batch = synth
    model, config = synth_model(method, strategy)
    strategy_cls = STRATEGIES.get(strategy)
    instance = strategy_cls(strategy_cls.Params(), model, 0)
    instance.epoch = 1  # inside OGM-GE's window; Gradient-Blending blends uniformly before its first estimate
    instance.backward(step_losses(model, batch, config))
    trained = {n for n, p in model.named_parameters() if p.requires_grad}
    got = grads(model)
    assert all(torch.isfinite(g).all() for g in got.values())
    # The encoders and the method's own modules learn; CMRF's teacher never does.
    assert {n for n in trained if n.startswith(("encoders.", "method."))} <= set(got)
    assert not any(n.startswith("method.teacher.") for n in got)


@pytest.mark.parametrize("method", METHOD_NAMES)
@pytest.mark.parametrize("strategy", ["baseline", "gmp", "pcgrad"])
def test_three_modalities_of_other_widths_work(method, strategy):
    modalities = ("video", "audio", "flow")
    model, batch = tiny_model(method, modalities), tiny_batch(modalities)
    config = SimpleNamespace(loss=LOSS)
    strategy_cls = STRATEGIES.get(strategy)
    strategy_cls(strategy_cls.Params(), model, 0).backward(step_losses(model, batch, config))
    for m in modalities:
        assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.encoder_parameters(m))
    names = {t.name for t in model.method.terms(model(batch), batch)}
    assert {"ce/flow", "domain/flow"} <= names
    model.method.after_step()


class InterruptAfterFirstEpoch(NullProgress):
    def end_epoch(self, line):
        raise KeyboardInterrupt


@pytest.mark.slow
@pytest.mark.parametrize("method,strategy", [("rna-net", "gmp"), ("simmmdg", "ogm-ge"), ("moosa", "gmp"),
                                             ("cmrf", "gmp")])
def test_a_resumed_run_equals_an_uninterrupted_one(synth, tmp_path, method, strategy):
    overrides = [*TINY, f"method.name={method}", f"strategy.name={strategy}", "method.cmrf.sma_start_step=3"]
    whole = train_run(load_config("synth", overrides), "day", tmp_path / "whole")
    with pytest.raises(KeyboardInterrupt):
        train_run(load_config("synth", overrides), "day", tmp_path / "cut", progress=InterruptAfterFirstEpoch())
    resumed = train_run(load_config("synth", overrides), "day", tmp_path / "cut")
    lines = [[json.loads(x) for x in (r.path / "metrics.jsonl").read_text().splitlines()] for r in (whole, resumed)]
    assert lines[0] == lines[1]
    assert resumed.path.name.startswith(f"synth__{method}+{strategy}__day__")
    assert resumed.summary["method"] == method and resumed.summary["method_info"]["paper_row"]


def test_the_methods_draws_differ_between_seeds():
    first, other = tiny_model("moosa", seed=0), tiny_model("moosa", seed=1)
    assert not torch.equal(first.method.jigsaw_columns, other.method.jigsaw_columns)


@pytest.mark.parametrize("setting", ["method.simmmdg.temperature=0", "method.moosa.mask_ratio=1.0",
                                     "method.cmrf.mix_alpha=-1", "method.rna-net.weight=-1",
                                     "method.cmrf.sma_start_step=-5"])
def test_out_of_range_settings_are_user_errors(setting):
    name = setting.split(".")[1]
    with pytest.raises(UserError, match=name):
        load_config("synth", [f"method.name={name}", setting])


@pytest.mark.parametrize("method", METHOD_NAMES)
def test_one_modality_is_a_user_error(method):
    with pytest.raises(UserError, match="at least 2 modalities"):
        tiny_model(method, ("video",))


def test_the_methods_are_registered_with_their_facts():
    assert set(METHOD_NAMES) <= set(METHODS.names())
    assert [METHODS.info(m)["paper_row"] for m in METHOD_NAMES] == ["RNA-Net", "SimMMDG", "MOOSA", "CMRF"]
    assert [METHODS.info(m)["order"] for m in ["erm", *METHOD_NAMES]] == [0, 1, 2, 3, 4]
