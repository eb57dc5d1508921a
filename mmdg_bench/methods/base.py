"""The interface of an MMDG method: the modules it adds to the model and the loss terms of a step.

A method is an `nn.Module` held by the model (`model.method`), so the optimizer, checkpoints, resume
and device moves see its modules (projectors, translators, a teacher) like any other part. Each
step it turns the model's outputs into named loss terms, each tagged with its task group
(classification, domain or plain; `mmdg_bench.losses`) and, where it has one, its modality:
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

from mmdg_bench.facts import MethodInfo
from mmdg_bench.losses import LossTerm, loss_terms
from mmdg_bench.models.multimodal import ModelOutputs, MultimodalModel
from mmdg_bench.registry import Registry
from mmdg_bench.settings import NoParams


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


METHODS: Registry[type[Method]] = Registry("method", facts=MethodInfo)


def attach_method(model: MultimodalModel, method, loss_config, num_classes: int, num_domains: int,
                  seed: int = 0) -> MultimodalModel:
    """Build the run's method (a MethodConfig-like: name, params) beside `model`'s encoders and hold it
    as `model.method`, with the run's `loss_config` and trial `seed`; returns the model. Its modules
    are drawn after the model's, so a run's initialisation is the model's, then the method's."""
    method_cls = METHODS.get(method.name)
    context = MethodContext(list(model.modalities), dict(model.dims), num_classes, num_domains, loss_config, seed,
                            model.encoders)
    model.method = method_cls(method_cls.Params(**method.params), context)
    return model
