"""gmp-fast: GMP applied to the gradients at the encoder outputs, one backward through the encoders.

GMP (arXiv 2603.14175, Eq. 9-15) modulates and projects g_c^m and g_d^m taken w.r.t. the encoder parameters theta_m,
which costs two backward passes through every encoder. Here both are taken w.r.t. the features
z_m = phi_m(x) instead (a backward through the small heads only), modulated and projected there with
the same code as GMP (dot products over the whole batch x feature matrix), and the combined feature
gradient is sent through the encoders once. This is the representation-level approximation of
MGDA-UB (Sener & Koltun, NeurIPS 2018) and of LibMTL's `rep_grad` mode: exact for the
modulation (a scalar per modality passes through the linear backward unchanged), approximate for
the projection, because conflicts are judged between feature gradients, not parameter gradients.
Its gradient diagnostics are therefore feature-level too, and logged under their own names
(`video/feature_cos_cd`, `feature_conflict`, `feature_norm_c`, `feature_norm_d`), never as gmp's.
The loss's plain part (the fused CE under `loss.classification: author`) passes through unchanged.

    mmdg-bench run --strategy gmp-fast
"""

import torch
from torch import Tensor

from mmdg_bench.facts import STRATEGY_FACTS
from mmdg_bench.losses import StepLosses
from mmdg_bench.strategies.base import STRATEGIES
from mmdg_bench.strategies.gmp import GMP, GMPCoreParams
from mmdg_bench.strategies.gradients import head_parameters


def _gradients(loss: Tensor, inputs: list[Tensor]) -> list[Tensor]:
    """d loss / d inputs, zeros for the inputs the loss does not reach (all of them for an empty
    loss group); the graph is kept."""
    if not loss.requires_grad:
        return [torch.zeros_like(x) for x in inputs]
    grads = torch.autograd.grad(loss, inputs, retain_graph=True, allow_unused=True)
    return [g if g is not None else torch.zeros_like(x) for g, x in zip(grads, inputs)]


@STRATEGIES.register("gmp-fast", **STRATEGY_FACTS["gmp-fast"].given())
class GMPFast(GMP):
    description = "GMP on the encoder-output (feature) gradients: one backward through the encoders (rep-grad)"
    Params = GMPCoreParams  # no theta: the gradients are the features'

    def __init__(self, params, model, seed: int = 0):
        super().__init__(params, model, seed)
        self.heads = head_parameters(model)

    def backward(self, step: StepLosses) -> dict[str, float]:
        features = [step.outputs.features[m] for m in self.model.modalities]
        cls = _gradients(step.classification, features + self.heads)
        dom = _gradients(step.domain, features + self.heads)
        plain = _gradients(step.plain, features + self.heads)
        n = len(features)
        # The heads get their ordinary gradient, as under `baseline`.
        for p, g_c, g_d, g_p in zip(self.heads, cls[n:], dom[n:], plain[n:]):
            p.grad = g_c + g_d + g_p
        grads = {m: (cls[i].reshape(-1), dom[i].reshape(-1)) for i, m in enumerate(self.model.modalities)}
        updates, diagnostics = self.balance(step, grads, level="feature_")
        torch.autograd.backward(features, grad_tensors=[updates[m].reshape(z.shape) + plain[i]
                                                        for i, (m, z) in enumerate(zip(self.model.modalities,
                                                                                       features))])
        return diagnostics
