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

from mmdg_bench.facts import STRATEGY_FACTS
from mmdg_bench.losses import StepLosses
from mmdg_bench.strategies.base import STRATEGIES
from mmdg_bench.strategies.gmp import GMP, GMPCoreParams
from mmdg_bench.strategies.gradients import backward_through_encoders, split_feature_gradients


@STRATEGIES.register("gmp-fast", **STRATEGY_FACTS["gmp-fast"].given())
class GMPFast(GMP):
    description = "GMP on the encoder-output (feature) gradients: one backward through the encoders (rep-grad)"
    Params = GMPCoreParams  # no theta: the gradients are the features'

    def backward(self, step: StepLosses) -> dict[str, float]:
        split = split_feature_gradients(self.model, step)  # the heads get their ordinary gradient
        grads = {m: (g.cls.reshape(-1), g.dom.reshape(-1)) for m, g in split.items()}
        updates, diagnostics = self.balance(step, grads, level="feature_")
        backward_through_encoders(self.model, step, {m: updates[m] + split[m].plain.reshape(-1) for m in split})
        return diagnostics
