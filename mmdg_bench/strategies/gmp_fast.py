"""gmp-fast: GMP applied to the gradients at the encoder outputs, one backward through the encoders.

GMP (SPEC §4) modulates and projects g_c^m and g_d^m taken w.r.t. the encoder parameters theta_m,
which costs two backward passes through every encoder. Here both are taken w.r.t. the features
z_m = phi_m(x) instead (a backward through the small heads only), modulated and projected there with
the same code as GMP (dot products over the whole batch x feature matrix), and the combined feature
gradient is sent through the encoders once. This is the representation-level approximation of
MGDA-UB (Sener & Koltun, NeurIPS 2018) and of LibMTL's `rep_grad` mode: exact for the
modulation (a scalar per modality passes through the linear backward unchanged), approximate for
the projection, because conflicts are judged between feature gradients, not parameter gradients.
The `cos_cd`, `conflict` and `norm_*` diagnostics are therefore feature-level too.

    mmdg-bench run --strategy gmp-fast
"""

import torch
from torch import Tensor

from mmdg_bench.strategies.base import STRATEGIES, StepLosses
from mmdg_bench.strategies.gmp import GMP
from mmdg_bench.strategies.gradients import head_parameters


def _gradients(loss: Tensor, inputs: list[Tensor]) -> list[Tensor]:
    """d loss / d inputs, zeros for the inputs the loss does not reach; the graph is kept."""
    grads = torch.autograd.grad(loss, inputs, retain_graph=True, allow_unused=True)
    return [g if g is not None else torch.zeros_like(x) for g, x in zip(grads, inputs)]


@STRATEGIES.register("gmp-fast")
class GMPFast(GMP):
    description = "GMP on the encoder-output (feature) gradients: one backward through the encoders (rep-grad)"

    def __init__(self, params, model):
        super().__init__(params, model)
        self.heads = head_parameters(model)

    def backward(self, step: StepLosses) -> dict[str, float]:
        features = [step.outputs.features[m] for m in self.model.modalities]
        cls = _gradients(step.classification, features + self.heads)
        dom = _gradients(step.domain, features + self.heads)
        n = len(features)
        # The heads get their ordinary gradient, as under `baseline`.
        for p, g_c, g_d in zip(self.heads, cls[n:], dom[n:]):
            p.grad = g_c + g_d
        grads = {m: (cls[i].reshape(-1), dom[i].reshape(-1)) for i, m in enumerate(self.model.modalities)}
        updates, diagnostics = self.balance(step, grads)
        torch.autograd.backward(features, grad_tensors=[updates[m].reshape(z.shape)
                                                        for m, z in zip(self.model.modalities, features)])
        return diagnostics
