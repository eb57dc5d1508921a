"""The interface of an MMDG method: the modules it adds to the model and the loss terms of a step.

A method is an `nn.Module` held by the model (`model.method`), so the optimizer, checkpoints, resume
and device moves see its modules (projectors, translators, a teacher) like any other part. Each
step it turns the model's outputs into named loss terms, each tagged with its task group
(classification, domain or plain; `mmdg_bench.strategies.base`) and, where it has one, its modality:
a gradient strategy sees only the groups, so GMP's g_c holds a method's classification-side terms
and g_d its invariance-side terms without knowing the method (GMP's Table 3: GMP as a plug-in).

    @METHODS.register("my-method", paper_row="My method")
    class MyMethod(Method):
        description = "ERM + my term"
        def terms(self, out, batch):
            return super().terms(out, batch) + [LossTerm("my/term", my_loss(out), 1.0, CLASSIFICATION)]
"""

from dataclasses import dataclass

from torch import nn

from mmdg_bench.losses import loss_terms
from mmdg_bench.models.multimodal import ModelOutputs
from mmdg_bench.registry import Registry
from mmdg_bench.strategies.base import LossTerm, NoParams


@dataclass
class MethodContext:
    """What a method may size its modules by."""

    modalities: list[str]
    dims: dict[str, int]  # feature width of each modality's encoder
    num_classes: int
    num_domains: int
    loss: object  # the run's LossConfig (loss.classification, unimodal_weight, domain_weight)
    seed: int = 0  # the trial seed: a method's random draws come from streams derived from it
    encoders: nn.ModuleDict | None = None  # the model's encoders (not owned: e.g. a teacher copies them)


class Method(nn.Module):
    """ERM's terms (the benchmark's loss, `mmdg_bench/losses.py`); subclasses add their own."""

    description = ""
    Params = NoParams

    def __init__(self, params, context: MethodContext):
        super().__init__()
        self.params = params
        self.context = context

    def terms(self, out: ModelOutputs, batch: dict) -> list[LossTerm]:
        return loss_terms(out, batch["label"], batch["domain"], self.context.loss)

    def after_step(self) -> None:
        """Called after each optimizer step (e.g. a moving-average teacher's update)."""


METHODS: Registry[type[Method]] = Registry("method")
