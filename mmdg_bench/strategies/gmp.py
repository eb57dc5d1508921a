"""GMP: Gradient Modulation and Projection (Li et al., AAAI 2026, arXiv 2603.14175; SPEC §4), and the
ablations of its Table 4 as variants of the same class.

Per modality m, on the flat gradient of the whole encoder theta_m:
1. confidences: rho^m from the unimodal heads' true-class probabilities, sigma^m from the
   discriminators' true-domain probabilities (lower domain confidence = more invariant);
2. IGDM: g_c <- k g_c, g_d <- p g_d with k, p = 1 - tanh(alpha * ratio) for a leading modality;
3. CAGP: on conflict (g_c . g_d < 0) the dominant task's gradient (Gamma = rho / sigma) is projected
   onto the normal plane of the other's; the update is g_c + g_d.

Cost: two backward passes through the encoders per step (`split_encoder_gradients`); `gmp-fast`
approximates GMP with one.

    mmdg-bench run --strategy gmp --set strategy.gmp.alpha_k=0.3
"""

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from mmdg_bench.errors import UserError
from mmdg_bench.strategies.base import STRATEGIES, StepLosses, Strategy
from mmdg_bench.strategies.functional import cagp_choice, dominance_ratios, pcgrad, project_out, tanh_modulation
from mmdg_bench.strategies.gradients import (
    domain_confidences,
    pair_diagnostics,
    require_two_modalities,
    seeded_generator,
    semantic_confidences,
    split_encoder_gradients,
    write_gradient,
)


@dataclass
class GMPParams:
    alpha_k: float = 0.5  # IGDM strength on the classification gradient (author code default)
    alpha_p: float = 0.5  # IGDM strength on the domain-invariance gradient (author code default)

    def validate(self) -> None:
        for name in ("alpha_k", "alpha_p"):
            value = getattr(self, name)
            if not (value >= 0 and math.isfinite(value)):
                raise UserError(f"GMP's {name} must be a finite number >= 0, got {value}")


# On a conflict (g_c . g_d < 0), which gradient yields: (dot, rho, sigma) -> "cls" | "dom" | "none".
PROJECTIONS = {
    "cagp": cagp_choice,  # GMP CAGP: the dominant task's gradient yields (Gamma = rho / sigma)
    "reverse": lambda dot, rho, sigma: {"cls": "dom", "dom": "cls"}[cagp_choice(dot, rho, sigma)],
    "cls": lambda dot, rho, sigma: "cls",
    "dom": lambda dot, rho, sigma: "dom",
    "none": lambda dot, rho, sigma: "none",
}


@STRATEGIES.register("gmp")
class GMP(Strategy):
    description = "GMP: IGDM modulation of g_c, g_d by semantic/domain confidence + conflict-adaptive projection"
    state_attributes = ("generator",)
    Params = GMPParams
    # The Table 4 variants change only these flags.
    modulate_cls = True  # k on g_c
    modulate_dom = True  # p on g_d
    unified = False  # one coefficient, k, on both gradients
    projection = "cagp"  # a key of PROJECTIONS, or "pcgrad"

    def __init__(self, params: GMPParams, model):
        super().__init__(params, model)
        require_two_modalities(model, "GMP")
        self.generator = seeded_generator(model)  # used by the PCGrad variant

    def backward(self, step: StepLosses) -> dict[str, float]:
        grads = split_encoder_gradients(self.model, step)
        updates, diagnostics = self.balance(step, grads)
        for m, update in updates.items():
            write_gradient(self.model.encoder_parameters(m), update)
        return diagnostics

    def ratios(self, step: StepLosses) -> tuple[Tensor, Tensor]:
        """rho^m (> 1: m leads in classification) and sigma^m (> 1: m leads in domain invariance)."""
        modalities = self.model.modalities
        rho = dominance_ratios(semantic_confidences(step, modalities))
        sigma = 1.0 / dominance_ratios(domain_confidences(step, modalities))
        return rho, sigma

    def coefficients(self, rho: Tensor, sigma: Tensor) -> tuple[Tensor, Tensor]:
        """IGDM (GMP Eq. 9/10): k slows the classification gradient of a modality that leads in
        classification, p the domain gradient of one that leads in domain invariance."""
        ones = torch.ones_like(rho)
        k = tanh_modulation(rho, self.params.alpha_k) if self.modulate_cls else ones
        if self.unified:
            return k, k
        p = tanh_modulation(sigma, self.params.alpha_p) if self.modulate_dom else ones
        return k, p

    def project(self, g_c: Tensor, g_d: Tensor, rho: float, sigma: float) -> tuple[Tensor, str]:
        """CAGP (or the variant's rule) on one encoder's modulated pair: the update g_c + g_d and
        which gradient yielded ("none", "cls", "dom"; "both" for PCGrad on a conflict)."""
        dot = float(g_c @ g_d)
        if not dot < 0:  # no conflict; also a NaN gradient, kept for the engine's finite check to report
            return g_c + g_d, "none"
        if self.projection == "pcgrad":
            return pcgrad(torch.stack((g_c, g_d)), self.generator), "both"
        choice = PROJECTIONS[self.projection](dot, rho, sigma)
        if choice == "cls":
            g_c = project_out(g_c, g_d)
        elif choice == "dom":
            g_d = project_out(g_d, g_c)
        return g_c + g_d, choice

    def balance(self, step: StepLosses, grads: dict[str, tuple[Tensor, Tensor]]):
        """Modulate and project each modality's (g_c, g_d); returns the updates and the diagnostics."""
        rho, sigma = self.ratios(step)
        k, p = self.coefficients(rho, sigma)
        updates, diagnostics = {}, {}
        rows = zip(self.model.modalities, rho.tolist(), sigma.tolist(), k.tolist(), p.tolist())
        for m, rho_m, sigma_m, k_m, p_m in rows:
            g_c, g_d = grads[m]
            updates[m], choice = self.project(k_m * g_c, p_m * g_d, rho_m, sigma_m)
            diagnostics.update(pair_diagnostics(m, g_c, g_d))
            diagnostics.update({
                f"{m}/rho": rho_m, f"{m}/sigma": sigma_m, f"{m}/k": k_m, f"{m}/p": p_m,
                f"{m}/proj_cls": float(choice in ("cls", "both")),
                f"{m}/proj_dom": float(choice in ("dom", "both")),
            })
        return updates, diagnostics


# GMP Table 4 ablations: registered name -> (what differs, flags). One implementation, flags only.
VARIANTS = {
    "gmp-igdm-only": ("IGDM modulation only, no projection", {"projection": "none"}),
    "gmp-cagp-only": ("CAGP projection only, no modulation", {"modulate_cls": False, "modulate_dom": False}),
    "gmp-unified": ("one coefficient (k, from semantic confidence) on both g_c and g_d", {"unified": True}),
    "gmp-no-k": ("without k: g_c is not modulated", {"modulate_cls": False}),
    "gmp-no-p": ("without p: g_d is not modulated", {"modulate_dom": False}),
    "gmp-fixed-proj-cls": ("on a conflict always project g_c", {"projection": "cls"}),
    "gmp-fixed-proj-dom": ("on a conflict always project g_d", {"projection": "dom"}),
    "gmp-pcgrad": ("PCGrad in place of CAGP", {"projection": "pcgrad"}),
    "gmp-reverse-cagp": ("reversed CAGP: the weaker task's gradient yields", {"projection": "reverse"}),
}

for _name, (_what, _flags) in VARIANTS.items():
    _variant = type(_name.title().replace("-", ""), (GMP,), {"description": f"GMP ablation: {_what}", **_flags})
    STRATEGIES.register(_name)(_variant)
