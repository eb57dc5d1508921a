"""UMT (mmdg_bench/strategies/umt.py): the distillation gradient against the rule written out from
BalanceBenchmark's UMT_trainer.py, the teachers' lookup (found, missing, without weights), and a run
trained end to end after its teachers, resumed equal to uninterrupted."""

import doctest
import json

import pytest
import torch

from mmdg_bench.config import load_config
from mmdg_bench.engine import train_run
from mmdg_bench.engine.checkpoint import WEIGHTS, save_weights
from mmdg_bench.engine.run_folder import run_folder_of
from mmdg_bench.engine.train import NullProgress, step_losses
from mmdg_bench.errors import UserError
from mmdg_bench.strategies import STRATEGIES, umt
from mmdg_bench.strategies.gradients import head_parameters
from mmdg_bench.strategies.umt import UMT, UMTParams, feature_mse, teacher_config
from tests.conftest import training_batch
from tests.strategies.test_strategies import TINY, assert_close, gradients, synth_model

TARGET = "toon"
pytestmark = pytest.mark.filterwarnings("ignore::mmdg_bench.errors.UserNotice")


@pytest.fixture(scope="module")
def config():
    return load_config("synth", TINY, strategy__name="umt")


@pytest.fixture(scope="module")
def batch(config):
    return training_batch(config, TARGET)


def test_doctests():
    assert doctest.testmod(umt, extraglobs={"torch": torch}).failed == 0


def test_feature_mse_is_torchs_mean_reduction():
    z, t = torch.tensor([[1.0, -1.0, 2.0]]), torch.tensor([[0.0, 1.0, 2.0]])
    assert feature_mse(z, t).item() == pytest.approx((1 + 4 + 0) / 3)
    assert feature_mse(z, t).item() == pytest.approx(torch.nn.MSELoss()(t, z).item())


@pytest.mark.parametrize("settings", [{"alpha": -1.0}, {"alpha": float("nan")}, {"start_epoch": -1},
                                      {"start_epoch": 5, "end_epoch": 4}, {"weights": "best-target"}])
def test_validate_refuses_out_of_range(settings):
    with pytest.raises(UserError):
        UMTParams(**settings).validate()
    UMTParams().validate()


def test_defaults_are_balancebenchmarks():
    """configs/trainer_config.yaml:62-66 (UMT: scaling 10, modulation_starts 0, modulation_ends 80)."""
    params = UMTParams()
    assert (params.alpha, params.start_epoch, params.end_epoch) == (10.0, 0, 80)


def teachers_of(config, seed: int = 1) -> dict:
    """Teacher encoders: another initialisation's, frozen, in eval mode."""
    other = synth_model(config, seed, "umt")
    return {m: other.encoders[m].eval().requires_grad_(False) for m in other.modalities}


def test_oracle_distillation_gradient(config, batch):
    """The rule of BalanceBenchmark's balancemm/trainer/UMT_trainer.py:132-146 written out: loss = CE +
    scaling * sum_m nn.MSELoss()(teacher_m(x) under no_grad, z_m); one backward. Here CE is the benchmark's
    whole loss, so the reference is baseline's gradient plus, through each encoder, d/dz_m of
    alpha * mean((z_m - t_m)^2) = 2 alpha (z_m - t_m) / numel(z_m), derived by hand."""
    alpha = 3.0
    teachers = teachers_of(config)
    model = synth_model(config, 0, "umt")
    strategy = UMT(UMTParams(alpha=alpha), model)
    strategy.use_teachers(teachers)
    strategy.start_epoch(1)
    diagnostics = strategy.backward(step_losses(model, batch, config))
    got = gradients(model)

    reference = synth_model(config, 0, "umt")
    step = step_losses(reference, batch, config)
    step.total.backward(retain_graph=True)
    for m, z in step.outputs.features.items():
        with torch.no_grad():
            t = teachers[m](batch[m])
        z.backward(2 * alpha * (z.detach() - t) / z.numel(), retain_graph=True)
        assert diagnostics[f"umt/{m}/mse"] == pytest.approx(((z.detach() - t) ** 2).mean().item(), rel=1e-5)
    want = gradients(reference)
    assert got.keys() == want.keys()
    for name in want:
        assert_close(got[name], want[name])
    assert diagnostics["umt/active"] == 1.0
    # The term moved the encoders (the comparison above can tell it from baseline) and no head.
    base = synth_model(config, 0, "umt")
    step_losses(base, batch, config).total.backward()
    plain = gradients(base)
    assert any(not torch.allclose(got[n], plain[n]) for n in got if n.startswith("encoders."))
    for name in (n for n in got if not n.startswith("encoders.")):
        assert_close(got[name], plain[name])


def test_outside_the_window_and_alpha_zero_are_baseline(config, batch):
    base = synth_model(config, 0, "umt")
    step_losses(base, batch, config).total.backward()
    want = gradients(base)
    for params, teachers in ((UMTParams(start_epoch=5, end_epoch=6), teachers_of(config)), (UMTParams(alpha=0.0), {})):
        model = synth_model(config, 0, "umt")
        strategy = UMT(params, model)
        strategy.use_teachers(teachers)
        strategy.start_epoch(1)
        assert strategy.backward(step_losses(model, batch, config)) == {"umt/active": 0.0}
        got = gradients(model)
        for name in want:
            torch.testing.assert_close(got[name], want[name], rtol=0, atol=0)


def test_a_strategy_without_teachers_says_so(config, batch):
    model = synth_model(config, 0, "umt")
    strategy = UMT(UMTParams(), model)
    strategy.start_epoch(1)
    with pytest.raises(UserError, match="no teacher for video, audio"):
        strategy.backward(step_losses(model, batch, config))


def fake_teacher(config, m: str, out, seed: int, done: bool = True, weights: bool = True):
    """A teacher run folder as the engine leaves it, without training: its model's kept weights."""
    teacher = teacher_config(config, m)
    folder = run_folder_of(teacher, TARGET, out)
    folder.start(teacher.to_dict())
    model = synth_model(teacher, seed, "baseline")
    if weights:
        save_weights(folder.path, "best-val", model)
        save_weights(folder.path, "last", synth_model(teacher, seed + 100, "baseline"))
    if done:
        folder.finish({"selection": {}, "target_domain": TARGET})
    return folder, model


def test_teacher_config_shares_everything_but_modality_strategy_and_method(config):
    teacher = teacher_config(config, "audio")
    assert teacher.data.modalities == ["audio"] and teacher.strategy.name == "baseline"
    assert teacher.method.name == "erm" and teacher.keep_weights
    same = load_config("synth", [*TINY, "data.modalities=[audio]"], strategy__name="baseline")
    assert teacher.hash(TARGET) == same.hash(TARGET)  # the folder `mmdg-bench run --set ...` trains


def test_finished_teachers_are_found_and_loaded_frozen(config, tmp_path):
    models = {m: fake_teacher(config, m, tmp_path, seed=i + 1)[1] for i, m in enumerate(config.data.modalities)}
    student = synth_model(config, 0, "umt")
    strategy = UMT(UMTParams(), student)
    strategy.prepare_run(config, TARGET, tmp_path)
    for m, model in models.items():
        teacher = strategy.teachers[m]
        assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())
        want = model.encoders[m].state_dict()
        for name, value in teacher.state_dict().items():
            torch.testing.assert_close(value, want[name])  # best-val's, not last's
        assert not any(p is q for p in teacher.parameters() for q in student.parameters())
    assert sum(p.numel() for p in student.parameters()) == sum(p.numel() for p in synth_model(config).parameters())


def test_a_missing_teacher_is_one_sentence_with_the_command(config, tmp_path):
    fake_teacher(config, "video", tmp_path, seed=1)
    strategy = UMT(UMTParams(), synth_model(config, 0, "umt"))
    with pytest.raises(UserError) as err:
        strategy.prepare_run(config, TARGET, tmp_path)
    message = str(err.value)
    assert "audio" in message and "has not been trained" in message and "\n" not in message
    assert (f"mmdg-bench run --preset synth --strategy baseline --method erm --target {TARGET} --seed 0 "
            f"--set 'data.modalities=[audio]' --set keep_weights=true --out {tmp_path}") in message
    assert "sweep --strategies umt" in message


def test_an_unfinished_teacher_is_refused(config, tmp_path):
    for m in config.data.modalities:
        fake_teacher(config, m, tmp_path, seed=1, done=(m == "video"))
    with pytest.raises(UserError, match="audio-only .* is not finished"):
        UMT(UMTParams(), synth_model(config, 0, "umt")).prepare_run(config, TARGET, tmp_path)


def test_a_teacher_without_weights_is_refused_with_the_repair(config, tmp_path):
    for m in config.data.modalities:
        fake_teacher(config, m, tmp_path, seed=1, weights=(m == "audio"))
    with pytest.raises(UserError, match=r"kept no best-val weights .* --force"):
        UMT(UMTParams(), synth_model(config, 0, "umt")).prepare_run(config, TARGET, tmp_path)


def test_alpha_zero_needs_no_teacher(config, tmp_path):
    strategy = UMT(UMTParams(alpha=0.0), synth_model(config, 0, "umt"))
    strategy.prepare_run(config, TARGET, tmp_path)  # nothing there, nothing needed
    assert strategy.teachers == {}
    assert UMT.required_runs(load_config("synth", [*TINY, "strategy.umt.alpha=0"], strategy__name="umt"),
                             TARGET) == {}


def test_the_state_survives_state_dict(config):
    """UMT keeps no state across steps (its teachers reload from their folders): the round trip is empty."""
    strategy = UMT(UMTParams(), synth_model(config, 0, "umt"))
    other = UMT(UMTParams(), synth_model(config, 0, "umt"))
    other.load_state_dict(strategy.state_dict())
    assert strategy.state_dict() == {} == other.state_dict()


# --- Trained end to end ------------------------------------------------------------------------------

def train_teachers(config, out) -> None:
    for m in config.data.modalities:
        train_run(teacher_config(config, m), TARGET, out)


def lines(path) -> list[dict]:
    return [json.loads(line) for line in (path / "metrics.jsonl").read_text().splitlines()]


class StopAfterFirstEpoch(NullProgress):
    def end_epoch(self, line):
        raise KeyboardInterrupt


@pytest.mark.slow
def test_a_run_after_its_teachers_trains_and_resumes_as_uninterrupted(config, tmp_path):
    """The contract tests' same-seed and resume checks (tests/strategies/test_contracts.py skips umt, which
    reads teacher runs), with the teachers trained first; plus finite distillation diagnostics."""
    train_teachers(config, tmp_path)
    for m in config.data.modalities:
        assert (run_folder_of(teacher_config(config, m), TARGET, tmp_path).path / WEIGHTS / "best-val.pt").is_file()
    whole = train_run(config, TARGET, tmp_path)
    assert not whole.reused and whole.summary["diagnostics"]["umt/active"] == 1.0
    assert all(whole.summary["diagnostics"][f"umt/{m}/mse"] > 0 for m in config.data.modalities)
    again = tmp_path / "again"
    train_teachers(config, again)
    assert lines(train_run(config, TARGET, again).path) == lines(whole.path)
    cut = tmp_path / "cut"
    train_teachers(config, cut)
    with pytest.raises(KeyboardInterrupt):
        train_run(config, TARGET, cut, progress=StopAfterFirstEpoch())
    assert lines(train_run(config, TARGET, cut).path) == lines(whole.path)


def test_heads_get_baselines_gradients_and_all_are_finite(config, batch):
    """The contract tests' head and finiteness checks, with teachers (test_contracts.py skips umt)."""
    model = synth_model(config, 0, "umt")
    strategy = UMT(UMTParams(), model)
    strategy.use_teachers(teachers_of(config))
    strategy.start_epoch(1)
    diagnostics = strategy.backward(step_losses(model, batch, config))
    assert all(torch.isfinite(torch.as_tensor(v)) for v in diagnostics.values())
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    reference = synth_model(config, 0, "umt")
    step_losses(reference, batch, config).total.backward()
    for p, q in zip(head_parameters(model), head_parameters(reference), strict=True):
        assert_close(p.grad, q.grad)


def test_registered_with_its_facts():
    info = STRATEGIES.info("umt")
    assert info["family"] == "umt" and info["neutral"] == {"alpha": 0.0}
