"""Published numbers shown beside ours by `compare --reference paper`.

Source: the GMP paper (AAAI 2026, arXiv 2603.14175), as transcribed in SPEC.md §5: mean
fused target accuracy (%) over the held-out domains, video+audio, concatenation fusion; GMP
reports the mean of 5 runs. The paper gives only the average over targets, so a reference row
fills the Avg column alone. PCGrad, IGDM only and CAGP only are the paper's Table 4
ablations. Left out: the paper's rows for other base methods (SimMMDG, RNA-Net, MOOSA, CMRF, each
with and without GMP), which change the model rather than the gradient strategy; this benchmark
does not run them, so no row of ours could stand beside them.
"""

SOURCE = "GMP (AAAI 2026, arXiv 2603.14175)"
MODALITIES = ("video", "audio")
DATASET_COLUMNS = {"epic_kitchens": 0, "hac": 1}

# method (Base: concatenation fusion, no gradient strategy), (EPIC Avg, HAC Avg)
_PUBLISHED_AVG = [
    ("Base", (55.06, 61.86)),
    ("OGM-GE", (55.71, 62.83)),
    ("Grad-Blending", (55.49, 62.66)),
    ("PCGrad ablation", (54.33, 62.64)),
    ("IGDM only", (55.98, 63.05)),
    ("CAGP only", (55.34, 63.41)),
    ("GMP", (57.36, 64.91)),
]


def published_avg(dataset: str) -> dict[str, float]:
    """Row label -> published Avg for `dataset`; empty when the paper does not report it."""
    if dataset not in DATASET_COLUMNS:
        return {}
    column = DATASET_COLUMNS[dataset]
    return {f"{method} (paper)": values[column] for method, values in _PUBLISHED_AVG}
