"""GMP: Gradient Modulation and Projection (Li et al., AAAI 2026, arXiv 2603.14175), and the
variants of its Table 4 as settings of the same class.

Per modality m, on the flat gradient of the whole encoder theta_m:
1. confidences: rho^m from the unimodal heads' true-class probabilities, sigma^m from the
   discriminators' true-domain probabilities (lower domain confidence = more invariant; Eq. 6-8);
2. IGDM: g_c <- k g_c, g_d <- p g_d with k, p = 1 - tanh(alpha * ratio) for a leading modality
   (Eq. 9-10);
3. CAGP: on conflict (g_c . g_d < 0) the dominant task's gradient (Gamma = rho / sigma) is projected
   onto the normal plane of the other's; the update is g_c + g_d (Eq. 11-15).

Table 4 is three blocks: the modulation variants run WITHOUT CAGP (projection: none), the
projection variants WITHOUT IGDM (no k, no p), and only GMP itself combines both. Every switch is a
setting, so any combination stays reachable: `--set strategy.gmp.projection=pcgrad`.

theta_m (`theta`): the paper's is the encoder's parameters. The first author's code (train_GMP.py) also
puts the modality's own classifier head in it, so under `loss.classification: author` (`theta: auto`)
the unimodal head's classification gradient is scaled by k and takes part in the conflict test and
the projection with the encoder's, as there: the domain gradient never reaches the head, so the dot
product is the encoder's, |g_c|^2 counts the head, and g_d projected off g_c stays without a head part
(the author's missing gradients are skipped, not zeros). `theta: encoder` keeps the heads out.
`denominator: author` divides rho and sigma as the author does (batch means, + 1e-6 in each denominator).

Cost: one backward pass per task group through the encoders (`split_encoder_gradients`); `gmp-fast`
approximates GMP with one.

    mmdg-bench run --strategy gmp --set strategy.gmp.alpha_k=0.3
"""

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from mmdg_bench.errors import check_choice
from mmdg_bench.facts import EXTRA, STRATEGY_FACTS
from mmdg_bench.losses import StepLosses
from mmdg_bench.search_space import Uniform
from mmdg_bench.seeding import stream
from mmdg_bench.strategies.base import STRATEGIES, Strategy
from mmdg_bench.strategies.functional import (
    cagp_choice,
    dominance_ratios,
    pcgrad,
    project_out,
    shifted_ratios,
    tanh_modulation,
)
from mmdg_bench.strategies.gradients import (
    domain_confidences,
    pair_diagnostics,
    require_two_modalities,
    semantic_confidences,
    split_encoder_gradients,
    theta_parameters,
    write_gradient,
)
from mmdg_bench.strategies.params import check_finite


@dataclass
class GMPCoreParams:
    alpha_k: float = 0.5  # IGDM strength on the classification gradient (author code default)
    alpha_p: float = 0.5  # IGDM strength on the domain-invariance gradient (author code default)
    modulate_cls: bool = True  # IGDM's k on g_c (Table 4: "w/o k" turns it off)
    modulate_dom: bool = True  # IGDM's p on g_d (Table 4: "w/o p" turns it off)
    unified: bool = False  # Table 4 "Unified": one coefficient, k, on both gradients
    projection: str = "cagp"  # on a conflict: cagp | reverse | cls | dom | pcgrad | none
    # rho and sigma's denominators: "clamp" (batch sums, the others' mean clamped at 1e-8) or "author"
    # (train_GMP.py: batch means, + 1e-6 in each denominator); they differ by about 1e-6, relatively.
    denominator: str = "clamp"

    # Tuning (`sweep --tune`): GMP, "tuned in [0,1] using validation data" (every variant inherits it).
    SEARCH: ClassVar[dict] = {"alpha_k": Uniform(0.0, 1.0), "alpha_p": Uniform(0.0, 1.0)}

    def validate(self) -> None:
        for name in ("alpha_k", "alpha_p"):
            check_finite("GMP", name, getattr(self, name))
        check_choice(self.projection, PROJECTION_NAMES, "GMP's projection")
        check_choice(self.denominator, DENOMINATORS, "GMP's denominator")


DENOMINATORS = ("clamp", "author")
AUTHORS_EPS = 1e-6  # train_GMP.py's eps in both ratio denominators


THETAS = ("auto", "encoder", "encoder+head")


@dataclass
class GMPParams(GMPCoreParams):
    # theta_m: "encoder" (the paper's), "encoder+head" (the author's: the unimodal head too), "auto":
    # the author's under loss.classification=author, else the paper's.
    theta: str = "auto"

    def validate(self) -> None:
        super().validate()
        check_choice(self.theta, THETAS, "GMP's theta")


# On a conflict (g_c . g_d < 0), which gradient yields: (dot, rho, sigma) -> "cls" | "dom" | "none".
PROJECTIONS = {
    "cagp": cagp_choice,  # GMP CAGP: the dominant task's gradient yields (Gamma = rho / sigma)
    "reverse": lambda dot, rho, sigma: {"cls": "dom", "dom": "cls"}[cagp_choice(dot, rho, sigma)],
    "cls": lambda dot, rho, sigma: "cls",
    "dom": lambda dot, rho, sigma: "dom",
    "none": lambda dot, rho, sigma: "none",
}
PROJECTION_NAMES = (*PROJECTIONS, "pcgrad")  # pcgrad: PCGrad's random-order surgery on both gradients


@STRATEGIES.register("gmp", **STRATEGY_FACTS["gmp"].given())
class GMP(Strategy):
    description = "GMP: IGDM modulation of g_c, g_d by semantic/domain confidence + conflict-adaptive projection"
    state_attributes = ("generator",)
    Params = GMPParams

    def __init__(self, params: GMPParams, model, seed: int = 0):
        super().__init__(params, model, seed)
        require_two_modalities(model, "GMP")
        self.generator = stream(seed, "gmp/pcgrad-order", device=next(model.parameters()).device)

    def with_heads(self, step: StepLosses) -> bool:
        theta = self.params.theta
        return theta == "encoder+head" or (theta == "auto" and step.authors)

    def backward(self, step: StepLosses) -> dict[str, float]:
        with_heads = self.with_heads(step)
        grads = split_encoder_gradients(self.model, step, with_heads)
        reach = {m: self.domain_reach(m, with_heads) for m in self.model.modalities}
        updates, diagnostics = self.balance(step, {m: (g.cls, g.dom) for m, g in grads.items()}, reach=reach)
        for m, update in updates.items():
            write_gradient(theta_parameters(self.model, m, with_heads), update + grads[m].plain)
        return diagnostics

    def domain_reach(self, modality: str, with_heads: bool) -> Tensor | None:
        """1 where theta_m's domain gradient can be non-zero, 0 on the unimodal head (None: everywhere)."""
        if not with_heads:
            return None
        encoder = sum(p.numel() for p in self.model.encoder_parameters(modality))
        total = sum(p.numel() for p in theta_parameters(self.model, modality, True))
        reach = torch.zeros(total, device=next(self.model.parameters()).device)
        reach[:encoder] = 1.0
        return reach

    def ratios(self, step: StepLosses) -> tuple[Tensor, Tensor]:
        """rho^m (> 1: m leads in classification) and sigma^m (> 1: m leads in domain invariance)."""
        modalities = self.model.modalities
        q, c = semantic_confidences(step, modalities), domain_confidences(step, modalities)
        if self.params.denominator == "author":
            batch = step.labels.shape[0]
            return shifted_ratios(q / batch, c / batch, AUTHORS_EPS)
        return dominance_ratios(q), 1.0 / dominance_ratios(c)

    def coefficients(self, rho: Tensor, sigma: Tensor) -> tuple[Tensor, Tensor]:
        """IGDM (GMP Eq. 9/10): k slows the classification gradient of a modality that leads in
        classification, p the domain gradient of one that leads in domain invariance."""
        ones = torch.ones_like(rho)
        k = tanh_modulation(rho, self.params.alpha_k) if self.params.modulate_cls else ones
        if self.params.unified:
            return k, k
        p = tanh_modulation(sigma, self.params.alpha_p) if self.params.modulate_dom else ones
        return k, p

    def project(self, g_c: Tensor, g_d: Tensor, rho: float, sigma: float,
                reach: Tensor | None = None) -> tuple[Tensor, str]:
        """CAGP (or the variant's rule) on one encoder's modulated pair: the update g_c + g_d and
        which gradient yielded ("none", "cls", "dom"; "both" for PCGrad on a conflict). `reach` masks
        where g_d can be non-zero (the author's theta: not on the head), also once projected."""
        dot = float(g_c @ g_d)
        if not dot < 0:  # no conflict; also a NaN gradient, kept for the engine's finite check to report
            return g_c + g_d, "none"
        if self.params.projection == "pcgrad":
            return pcgrad(torch.stack((g_c, g_d)), self.generator), "both"
        choice = PROJECTIONS[self.params.projection](dot, rho, sigma)
        if choice == "cls":
            g_c = project_out(g_c, g_d)
        elif choice == "dom":
            g_d = project_out(g_d, g_c) if reach is None else project_out(g_d, g_c) * reach
        return g_c + g_d, choice

    def balance(self, step: StepLosses, grads: dict[str, tuple[Tensor, Tensor]], level: str = "",
                reach: dict[str, Tensor | None] | None = None):
        """Modulate and project each modality's (g_c, g_d); returns the updates and the diagnostics."""
        rho, sigma = self.ratios(step)
        k, p = self.coefficients(rho, sigma)
        updates, diagnostics = {}, {}
        rows = zip(self.model.modalities, *torch.stack((rho, sigma, k, p)).tolist())  # one host sync, not four
        for m, rho_m, sigma_m, k_m, p_m in rows:
            g_c, g_d = grads[m]
            updates[m], choice = self.project(k_m * g_c, p_m * g_d, rho_m, sigma_m, (reach or {}).get(m))
            diagnostics.update(pair_diagnostics(m, g_c, g_d, level))
            diagnostics.update({
                f"{m}/rho": rho_m, f"{m}/sigma": sigma_m, f"{m}/k": k_m, f"{m}/p": p_m,
                f"{m}/proj_cls": float(choice in ("cls", "both")),
                f"{m}/proj_dom": float(choice in ("dom", "both")),
            })
        return updates, diagnostics


# GMP's Table 4 as settings of GMP: the modulation block runs without CAGP, the projection block
# without IGDM (the paper's PCGrad row is `pcgrad`); each variant's paper row and block are its facts.
NO_CAGP = {"projection": "none"}
NO_IGDM = {"modulate_cls": False, "modulate_dom": False}


def gmp_variant(name: str, what: str, **settings) -> type[GMP]:
    """Register GMP under `name` with other defaults (`settings`, still overridable with --set)."""
    facts = STRATEGY_FACTS[name]
    where = "extra, " if facts.block == EXTRA else f"Table 4 {facts.block} block: "
    class_name = name.title().replace("-", "")
    fields = [(f.name, f.type, dataclasses.field(default=settings.get(f.name, f.default)))
              for f in dataclasses.fields(GMPParams)]
    params = dataclasses.make_dataclass(f"{class_name}Params", fields, bases=(GMPParams,))
    variant = type(class_name, (GMP,), {"description": f"GMP {where}{what}", "Params": params})
    return STRATEGIES.register(name, **facts.given())(variant)


GMPUnified = gmp_variant("gmp-unified", "one coefficient (k, from semantic confidence) on both g_c and g_d, "
                         "no projection", unified=True, **NO_CAGP)
GMPNoK = gmp_variant("gmp-no-k", "IGDM without k (g_c not modulated), no projection", modulate_cls=False, **NO_CAGP)
GMPNoP = gmp_variant("gmp-no-p", "IGDM without p (g_d not modulated), no projection", modulate_dom=False, **NO_CAGP)
GMPIGDMOnly = gmp_variant("gmp-igdm-only", "full IGDM, no projection", **NO_CAGP)
GMPFixedProjCls = gmp_variant("gmp-fixed-proj-cls", "no modulation; on a conflict always project g_c",
                              projection="cls", **NO_IGDM)
GMPFixedProjDom = gmp_variant("gmp-fixed-proj-dom", "no modulation; on a conflict always project g_d",
                              projection="dom", **NO_IGDM)
GMPReverseCAGP = gmp_variant("gmp-reverse-cagp", "no modulation; reversed CAGP: the weaker task's gradient yields",
                             projection="reverse", **NO_IGDM)
GMPCAGPOnly = gmp_variant("gmp-cagp-only", "full CAGP, no modulation", **NO_IGDM)
GMPPCGrad = gmp_variant("gmp-pcgrad", "not in the paper: IGDM, then PCGrad in place of CAGP", projection="pcgrad")
