"""What is known about each built-in strategy, method and fusion, one typed record each (timm's
`PretrainedCfg` habit): where GMP's tables put it, its display order and colour, its step's cost.

Each entry registers with its record (`@STRATEGIES.register("gmp", **STRATEGY_FACTS["gmp"].given())`),
and a run copies the record into its summary.json; tables, plots and the bench read it from there, or,
for a summary written before summaries carried it, from here. This module imports nothing heavy, so
`compare` reads run folders without importing torch. A plugin registers its own record with the same
fields (`@STRATEGIES.register("mine", family="mine", order=50, ...)`); an unknown field is refused.
"""

import typing
from dataclasses import dataclass, fields

# The blocks of GMP's Tables 2 and 4 a strategy belongs to.
MAIN, MODULATION, PROJECTION, EXTRA = "main", "modulation", "projection", "extra"
UNORDERED = 1000  # the display order of an entry that states none: after every known one


@dataclass(frozen=True)
class Facts:
    """A record whose unset fields (None) are left out of its dict form; each fact is type-checked as
    the record is made (a plugin's `order="first"` fails at its registration, not in a table)."""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            kinds = tuple(k for k in typing.get_args(f.type) if k is not type(None)) or (f.type,)
            kinds = tuple(typing.get_origin(k) or k for k in kinds)
            if float in kinds:
                kinds += (int,)
            if value is not None and (not isinstance(value, kinds) or isinstance(value, bool) and bool not in kinds):
                raise TypeError(f"the fact '{f.name}' must be {' or '.join(k.__name__ for k in kinds)}, "
                                f"got {value!r}")

    def given(self) -> dict:
        """The fields that are set, as registered and as a summary.json records them."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}


@dataclass(frozen=True)
class StrategyInfo(Facts):
    family: str | None = None  # the strategy it is a setting of ("gmp" for every GMP variant)
    block: str | None = None  # MAIN, MODULATION, PROJECTION or EXTRA (not in the paper)
    paper_row: str | None = None  # its row in GMP's Table 2 or 4 (mmdg_bench/results/reference.py); None: none
    order: int | None = None  # display order in tables and legends
    colour: str | None = None  # its colour in every figure
    cost: float | None = None  # budget of a training step, × baseline's (`bench --part strategies` checks it)
    neutral: dict | None = None  # settings under which it equals baseline (tests/strategies/test_contracts.py)
    reweighs_heads: bool | None = None  # it weighs the heads' CE terms itself (Gradient-Blending)
    paper: str | None = None  # where it was published
    from_text: bool | None = None  # no official code exists: implemented from the paper's text (tables say so)


@dataclass(frozen=True)
class MethodInfo(Facts):
    paper_row: str | None = None  # its row in GMP's Table 3; None: none
    order: int | None = None  # display order in tables
    paper: str | None = None  # where it was published


@dataclass(frozen=True)
class FusionInfo(Facts):
    paper_row: str | None = None  # its row in GMP's Table 5; None: none
    order: int | None = None  # display order in the Table 5 layout
    assumed: bool | None = None  # the paper does not define its row: mapping it to ours is an assumption


# GMP's Table 2 rows that the benchmark runs, with PCGrad (Table 4's projection block): what `sweep`,
# the step bench and the leaderboard run by default.
PAPER_STRATEGIES = ("baseline", "ogm-ge", "grad-blending", "agm", "cggm", "drb", "balgrad", "pcgrad", "gmp")

# Settings under which GMP and every variant reduce to baseline (k = p = 1, no projection).
GMP_NEUTRAL = {"alpha_k": 0.0, "alpha_p": 0.0, "projection": "none"}
# OGM-GE with alpha 0 still adds GE noise under modulate: classification; a modulation window that
# excludes every epoch is exactly baseline.
OGM_NEUTRAL = {"start_epoch": 1_000_000, "end_epoch": 1_000_000}

# GMP's Table 2 (main block) and Table 4: the modulation block runs without CAGP, the projection
# block without IGDM; the paper's PCGrad row (Table 4, projection block) is `pcgrad`.
GMP = "Li et al., AAAI 2026"
STRATEGY_FACTS = {
    "baseline": StrategyInfo("baseline", MAIN, "Base", 0, "#4d4d4d", 1.0, neutral={}),
    "ogm-ge": StrategyInfo("ogm-ge", MAIN, "OGM-GE", 1, "#1f77b4", 1.7,  # a backward per task group (g_c alone)
                           neutral=OGM_NEUTRAL, paper="Peng et al., CVPR 2022"),
    "grad-blending": StrategyInfo("grad-blending", MAIN, "Grad-Blending", 2, "#ff7f0e", 1.10, reweighs_heads=True,
                                  paper="Wang et al., CVPR 2020"),
    "pcgrad": StrategyInfo("pcgrad", PROJECTION, "PCGrad", 3, "#9467bd", 1.7, paper="Yu et al., NeurIPS 2020"),
    "gmp": StrategyInfo("gmp", MAIN, "GMP", 4, "#d62728", 1.7, neutral=GMP_NEUTRAL, paper=GMP),
    "gmp-fast": StrategyInfo("gmp", MAIN, None, 5, "#e377c2", 1.05, neutral=GMP_NEUTRAL, paper=GMP),
    "gmp-unified": StrategyInfo("gmp", MODULATION, "Unified", 10, "#8c564b", 1.7, neutral=GMP_NEUTRAL, paper=GMP),
    "gmp-no-k": StrategyInfo("gmp", MODULATION, "w/o k", 11, "#bcbd22", 1.7, neutral=GMP_NEUTRAL, paper=GMP),
    "gmp-no-p": StrategyInfo("gmp", MODULATION, "w/o p", 12, "#aec7e8", 1.7, neutral=GMP_NEUTRAL, paper=GMP),
    "gmp-igdm-only": StrategyInfo("gmp", MODULATION, "IGDM only", 13, "#2ca02c", 1.7, neutral=GMP_NEUTRAL, paper=GMP),
    "gmp-fixed-proj-cls": StrategyInfo("gmp", PROJECTION, "Fixed Proj-Class", 14, "#ffbb78", 1.7, neutral=GMP_NEUTRAL,
                                       paper=GMP),
    "gmp-fixed-proj-dom": StrategyInfo("gmp", PROJECTION, "Fixed Proj-Domain", 15, "#98df8a", 1.7, neutral=GMP_NEUTRAL,
                                       paper=GMP),
    "gmp-reverse-cagp": StrategyInfo("gmp", PROJECTION, "Reverse CAGP", 16, "#c49c94", 1.7, neutral=GMP_NEUTRAL,
                                     paper=GMP),
    "gmp-cagp-only": StrategyInfo("gmp", PROJECTION, "CAGP only", 17, "#17becf", 1.7, neutral=GMP_NEUTRAL, paper=GMP),
    "gmp-pcgrad": StrategyInfo("gmp", EXTRA, None, 18, "#c5b0d5", 1.7, neutral=GMP_NEUTRAL, paper=GMP),
    # The rest of GMP's Table 2 (published rows in mmdg_bench/results/reference.py) and the field's
    # strongest balancing strategies beyond it (not in the paper: EXTRA).
    "agm": StrategyInfo("agm", MAIN, "AGM", 6, "#393b79", 1.15, neutral={"alpha": 0.0, "clip": 0.0},
                        paper="Li et al., ICCV 2023"),
    "cggm": StrategyInfo("cggm", MAIN, "CGGM", 7, "#637939", 1.1, reweighs_heads=True,  # L_gm on the fused head
                         neutral={"rho": 1.0, "lamda": 0.0, "clip": 0.0, "guard": 1e9},  # guard 1e9: B = 1
                         paper="Guo et al., NeurIPS 2024"),
    # Its epoch-end diagnosis (a feature pass and k-means) is amortised over the steps by the bench.
    "drb": StrategyInfo("drb", MAIN, "DRB", 8, "#8c6d31", 1.15, neutral={"reinit_num": 0},
                        paper="Wei et al., ECCV 2024"),
    "balgrad": StrategyInfo("balgrad", MAIN, "BalGrad", 9, "#843c39", 1.2,
                            neutral={"kl_weight": 0.0, "unimodal_ce": False},  # no KL, no added unimodal CE
                            paper="Kwon et al., NAACL 2025", from_text=True),
    # Three backward passes through every encoder (fused CE, unimodal CEs, the rest): the fewest for its
    # exact rule beside a domain loss; measured 2.29x baseline's.
    "mmpareto": StrategyInfo("mmpareto", EXTRA, None, 19, "#7b4173", 2.4, paper="Wei and Hu, ICML 2024"),
    "pmr": StrategyInfo("pmr", EXTRA, None, 20, "#3182bd", 1.1, neutral={"alpha": 0.0}, paper="Fan et al., CVPR 2023"),
    "umt": StrategyInfo("umt", EXTRA, None, 21, "#e6550d", 1.3, neutral={"alpha": 0.0}, paper="Du et al., ICML 2023"),
}

# GMP's Table 3: the MMDG methods GMP is plugged into; erm is the benchmark's own model alone.
METHOD_FACTS = {
    "erm": MethodInfo(None, 0),
    "rna-net": MethodInfo("RNA-Net", 1, "Planamente et al., WACV 2022"),
    "simmmdg": MethodInfo("SimMMDG", 2, "Dong et al., NeurIPS 2023"),
    "moosa": MethodInfo("MOOSA", 3, "Dong et al., ECCV 2024 (closed-set)"),
    "cmrf": MethodInfo("CMRF", 4, "Fan et al., NeurIPS 2024"),
}

# GMP's Table 5. The paper does not define "Activation"; `gated` (a sigmoid activation of the other
# modalities gating the first) is our closest variant: an assumption, shown as one.
FUSION_FACTS = {
    "concat": FusionInfo("Concat", 0),
    "sum": FusionInfo("Sum", 1),
    "film": FusionInfo("FiLM", 2),
    "gated": FusionInfo("Activation", 3, assumed=True),
    "late": FusionInfo(None, 4),
}
