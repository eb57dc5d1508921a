"""UMT: Uni-Modal Teacher (Du et al., "On Uni-Modal Feature Learning in Supervised Multi-Modal Learning",
ICML 2023): the multimodal model's encoders are distilled from unimodal teachers, each encoder's feature
z_m pulled towards the feature t_m of a frozen encoder trained on modality m alone:

    L = L + alpha * sum_m MSE(z_m, t_m),   MSE = mean over the batch x feature elements

No code by the authors was found; this follows BalanceBenchmark's version (GeWu-Lab/BalanceBenchmark,
balancemm/trainer/UMT_trainer.py:139-146: `loss += scaling * MSE(out_unimodal, encoder_result[m])` with
`nn.MSELoss()`, i.e. torch's mean reduction, the teacher's forward under `torch.no_grad()`; defaults from
configs/trainer_config.yaml:62-66). The distillation term reads only z_m, so it reaches the encoders alone:
the heads, the domain-adversarial gradient and the loss's plain part are exactly baseline's.

The teachers are the benchmark's own single-modality runs, `data.modalities=[m]` under baseline (ERM, no
strategy), everything else as the student's (preset, data, model, loss, optim, seed, target), found in the
same results folder (`teacher_config`); their best source-validation weights (the benchmark's selection
rule; BalanceBenchmark also loads the best-validation checkpoint, base_trainer.py:395-397 and 535) load into
a copy of the student's encoder of m, frozen, in eval mode, outside the model (not optimised, not in the
checkpoint: a resumed run reloads them). A missing teacher stops the run before it trains, saying the
command that trains it; `mmdg-bench sweep` trains the teachers before the umt runs.

Active for the epochs in [start_epoch, end_epoch], counted from 0 as BalanceBenchmark counts them
(`modulation_starts <= current_epoch <= modulation_ends`, UMT_trainer.py:139); outside the window, and with
alpha 0 (which then needs no teachers), the gradients are exactly baseline's.

Departures: the teachers run in eval mode (BalanceBenchmark never calls .eval() on them, so their BatchNorm
uses batch statistics); the teacher forward runs under the run's precision (autocast), the MSE in float32.

    mmdg-bench run --strategy umt --set strategy.umt.alpha=10
"""

import copy
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch
from torch import Tensor, nn

from mmdg_bench.device import autocast
from mmdg_bench.errors import UserError, check_choice
from mmdg_bench.facts import STRATEGY_FACTS
from mmdg_bench.files import DONE, WEIGHTS
from mmdg_bench.losses import StepLosses
from mmdg_bench.models.weights import read_kept_weights
from mmdg_bench.search_space import LogUniform
from mmdg_bench.strategies.base import STRATEGIES, Strategy
from mmdg_bench.strategies.params import check_finite, check_window


def feature_mse(student: Tensor, teacher: Tensor) -> Tensor:
    """torch's `nn.MSELoss()` (mean over every element) between a student's and a teacher's features, in
    float32; the teacher is a constant (detached).

    >>> feature_mse(torch.tensor([[1.0, 2.0], [3.0, 4.0]]), torch.tensor([[1.0, 0.0], [3.0, 2.0]]))
    tensor(2.)
    """
    return torch.mean((student.float() - teacher.detach().float()) ** 2)


@dataclass
class UMTParams:
    alpha: float = 10.0  # the distillation weight: BalanceBenchmark's `scaling: 10` (configs/trainer_config.yaml:66)
    start_epoch: int = 0  # first epoch of the distillation window, from 0 (`modulation_starts: 0`, :64)
    end_epoch: int = 80  # last epoch of the window, inclusive (`modulation_ends: 80`, :65)
    weights: str = "best-val"  # the teacher's kept weights: best-val (the benchmark's selection rule) or last
    SEARCH: ClassVar[dict] = {"alpha": LogUniform(1.0, 100.0)}  # our choice: a decade either side of the 10

    def validate(self) -> None:
        check_finite("UMT", "alpha", self.alpha)
        check_window("UMT", self.start_epoch, self.end_epoch)
        check_choice(self.weights, TEACHER_WEIGHTS, "UMT's weights")


TEACHER_WEIGHTS = ("best-val", "last")


def teacher_changes(modality: str) -> dict:
    """How the teacher of `modality` differs from its student run (`Strategy.required_runs`): one modality,
    strategy baseline and method erm at their defaults, weights kept (an execution setting: it does not
    change the run's folder); everything else (preset, data, model, loss, optim, seed, target) is shared."""
    return {"strategy": "baseline", "method": "erm", "data.modalities": [modality], "keep_weights": True}


def teacher_config(config, modality: str):
    """The config of the teacher of `modality` for a student run of `config` (`teacher_changes` applied)."""
    from mmdg_bench.settings import MethodConfig, StrategyConfig

    teacher = copy.deepcopy(config)
    for path, value in teacher_changes(modality).items():
        if path == "strategy":
            teacher.strategy = StrategyConfig(name=value)
        elif path == "method":
            teacher.method = MethodConfig(name=value)
        else:
            *sections, key = path.split(".")
            node = teacher
            for section in sections:
                node = getattr(node, section)
            setattr(node, key, value)
    return teacher


def teacher_command(config, modality: str, target: str, out_root) -> str:
    """The command that trains one teacher run (the student's other --set options still to be added)."""
    return (f"mmdg-bench run --preset {shlex.quote(str(config.preset))} --strategy baseline --method erm "
            f"--target {shlex.quote(target)} --seed {config.seed} --set 'data.modalities=[{modality}]' "
            f"--set keep_weights=true --out {shlex.quote(str(out_root))}")


def teacher_weights(config, modality: str, target: str, out_root, weights: str = "best-val") -> Path:
    """The kept weights file of the teacher of `modality`, or one sentence saying which teacher is missing
    and how to train it."""
    folder = Path(out_root) / teacher_config(config, modality).folder_name(target)
    path = folder / WEIGHTS / f"{weights}.pt"
    done = (folder / DONE).is_file()
    if done and path.is_file():
        return path
    command = teacher_command(config, modality, target, out_root)
    if not done:
        state = "is not finished" if folder.exists() else "has not been trained"
        repair = f"train it first with `{command}`"
    else:
        state = f"kept no {weights} weights (it ran with keep_weights false)"
        repair = f"retrain it with `{command} --force` (training is deterministic: the same run, with weights)"
    raise UserError(f"umt distils from the {modality}-only baseline run of the same settings (target {target}, "
                    f"seed {config.seed}), but that teacher {state} ({folder}): {repair}, adding this run's "
                    f"other --set options except the strategy's, or let `mmdg-bench sweep --strategies umt` train "
                    f"the teachers first")


def load_teacher(encoder: nn.Module, state: dict, modality: str, path: Path) -> nn.Module:
    """A frozen copy of the student's `encoder` of `modality` with the teacher's tensors of that encoder
    (keys `encoders.<modality>.*` of a kept weights file; a compiled encoder's `_orig_mod.` is dropped);
    the frozen pretrained tensors the weights file leaves out come with the copy, as with the teacher's."""
    teacher = copy.deepcopy(getattr(encoder, "_orig_mod", encoder))
    prefix = f"encoders.{modality}."
    own = {k.removeprefix(prefix).replace("_orig_mod.", ""): v for k, v in state.items() if k.startswith(prefix)}
    missing, unexpected = teacher.load_state_dict(own, strict=False)
    frozen = {name for name, p in teacher.named_parameters() if not p.requires_grad}
    if unexpected or set(missing) - frozen:
        raise UserError(f"the teacher weights {path} do not fit this run's {modality} encoder (missing "
                        f"{sorted(set(missing) - frozen)[:3]}, unexpected {unexpected[:3]}): retrain the teacher "
                        f"with --force")
    return teacher.eval().requires_grad_(False)


@STRATEGIES.register("umt", **STRATEGY_FACTS["umt"].given())
class UMT(Strategy):
    description = "UMT: distil each encoder's features from its frozen unimodal teacher (alpha x MSE)"
    Params = UMTParams

    def __init__(self, params: UMTParams, model, seed: int = 0):
        super().__init__(params, model, seed)
        self.teachers: dict[str, nn.Module] = {}
        self.precision = "fp32"

    @classmethod
    def required_runs(cls, config, target: str) -> dict[str, dict]:
        if float(config.strategy.params.get("alpha", UMTParams.alpha)) == 0:
            return {}  # alpha 0 is baseline: nothing to distil from
        return {f"umt's {m} teacher": teacher_changes(m) for m in config.data.modalities}

    def prepare_run(self, config, target: str, out_root) -> None:
        """Load every teacher (none with alpha 0), or stop with the sentence that says which one is missing."""
        self.precision = config.precision
        device = next(self.model.parameters()).device
        paths = {m: teacher_weights(config, m, target, out_root, self.params.weights)
                 for m in self.model.modalities} if self.params.alpha != 0 else {}
        self.teachers = {m: load_teacher(self.model.encoders[m], read_kept_weights(path, str(device)), m, path)
                         for m, path in paths.items()}

    def use_teachers(self, teachers: dict[str, nn.Module]) -> None:
        """Set the teacher encoders directly (tests, notebooks): frozen, in eval mode."""
        self.teachers = {m: t.eval().requires_grad_(False) for m, t in teachers.items()}

    def use_stand_ins(self) -> None:
        """Untrained teachers (copies of the student's encoders) for the step benches: the same forward work."""
        self.use_teachers({m: copy.deepcopy(encoder) for m, encoder in self.model.encoders.items()})

    def active(self) -> bool:
        official_epoch = self.epoch - 1  # BalanceBenchmark's current_epoch starts at 0 (base_trainer.py:74)
        return self.params.alpha != 0 and self.params.start_epoch <= official_epoch <= self.params.end_epoch

    def teacher_features(self, step: StepLosses) -> dict[str, Tensor]:
        if step.inputs is None:
            raise UserError("umt runs its teachers on the step's inputs, but this StepLosses has none: build it "
                            "with mmdg_bench.engine.train.step_losses")
        device = step.outputs.fused_logits.device.type
        with torch.no_grad(), autocast(device, self.precision):  # UMT_trainer.py:141-142: no gradient to the teacher
            return {m: teacher(step.inputs[m]) for m, teacher in self.teachers.items()}

    def backward(self, step: StepLosses) -> dict[str, float]:
        if not self.active():
            step.total.backward()
            return {"umt/active": 0.0}
        missing = [m for m in self.model.modalities if m not in self.teachers]
        if missing:
            raise UserError(f"umt has no teacher for {', '.join(missing)}: the engine loads them in prepare_run "
                            f"(or call use_teachers)")
        teachers = self.teacher_features(step)
        features = step.outputs.features
        mse = {m: feature_mse(features[m], t) for m, t in teachers.items()}
        # UMT_trainer.py:144-146: one loss, one backward; the term reaches the encoders only, through z_m.
        (step.total + self.params.alpha * sum(mse.values())).backward()
        diagnostics = {"umt/active": 1.0}
        for m, value in mse.items():  # left on the device, read once per epoch by the engine
            diagnostics[f"umt/{m}/mse"] = value.detach().double()
        return diagnostics
