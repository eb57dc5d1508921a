"""Feature maps (the paper's t-SNE figures of the fused and per-modality features) and two numbers that
do not depend on the picture, from the features `evaluate --features` saved (<run>/features.npz,
mmdg_bench/robustness/features.py).

    mmdg-bench evaluate results/runs/synth__gmp__toon__seed0__* --features
    mmdg-bench plot results/runs --features --out results/figures

Per run, one figure: a 2-D embedding (t-SNE, or UMAP where installed) of each modality's features and
the fused feature (columns), coloured by domain (top row) and by class (bottom row), source-validation
clips as circles, the held-out domain's as triangles. The scores, per modality and fused, on the
standardised features, over the source-validation and target clips together:

- domain separability: a linear probe's (logistic regression) stratified k-fold accuracy at telling the
  clips' domains apart; lower = more domain-invariant; chance = the largest domain's share.
- class separability: a kNN classifier's stratified k-fold accuracy at the clips' classes; chance = the
  largest class's share.

A figure is a picture of one random projection; the scores are what to compare. scikit-learn is
imported inside the functions that use it, so `plot` without --features, `compare` and `report`
start without it.
"""

import shlex
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from mmdg_bench.errors import UserError, check_choice
from mmdg_bench.files import DONE, FEATURES, write_text_atomically
from mmdg_bench.results.plots import save

EMBEDDINGS = ("tsne", "umap")
FORMATS = ("png", "svg")  # SVG: a scatter of a few hundred points stays sharp at any size, and inlines in HTML
FUSED = "fused"
SPLIT_MARKERS = {"val": "o", "target": "^"}
SPLIT_NAMES = {"val": "source validation", "target": "held-out target"}
FOLDS = 5
NEIGHBOURS = 5
PERPLEXITY = 30.0  # scikit-learn's default; capped for small sets (perplexity)
SEED = 0  # every fold split and embedding: the same file gives the same numbers and picture
PANEL_INCHES = 3.0
# Qualitative palettes, one for domains and another for classes, so a colour never means both.
DOMAIN_COLOURS = ("#1b9e77", "#7570b3", "#d95f02", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666")
CLASS_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                 "#bcbd22", "#17becf")
SCORE_COLUMNS = ["run", "view", "clips", "domains", "domain_probe", "domain_chance", "classes", "class_knn",
                 "class_chance"]


@dataclass(frozen=True)
class FeatureSet:
    """One run's saved features: `views` maps each modality and FUSED to a (clips, width) array; the
    other fields have one entry per clip (row)."""
    folder: Path
    run: str
    views: dict[str, np.ndarray]
    classes: np.ndarray  # class names, one per row
    domains: np.ndarray
    splits: np.ndarray
    weights: str
    epoch: int

    @property
    def target_domain(self) -> str | None:
        held_out = self.domains[self.splits == "target"]
        return str(held_out[0]) if len(held_out) else None


def evaluate_command(folder: Path) -> str:
    return f"mmdg-bench evaluate {shlex.quote(str(folder))} --features"


def read_features(folder: Path) -> FeatureSet:
    """The run folder's features.npz; a missing one, or one that cannot be read or does not hold what
    `evaluate --features` writes, is one sentence with the command that writes it."""
    folder = Path(folder)
    path = folder / FEATURES
    if not path.is_file():
        raise UserError(f"{folder} has no saved features ({path} is missing): write them with "
                        f"`{evaluate_command(folder)}`")
    try:
        with np.load(path, allow_pickle=False) as saved:
            modalities = [str(m) for m in saved["modalities"]]
            views = {v: np.asarray(saved[f"feature_{v}"], dtype=np.float64) for v in [*modalities, FUSED]}
            labels, names = saved["label"], saved["class_names"]
            found = FeatureSet(folder, str(saved["run"]), views, names[labels], saved["domain"], saved["split"],
                               str(saved["weights"]), int(saved["epoch"]))
    except (OSError, ValueError, KeyError, IndexError, EOFError, zipfile.BadZipFile) as err:
        raise UserError(f"{path} is damaged ({str(err).strip() or type(err).__name__}): write it again with "
                        f"`{evaluate_command(folder)}`") from None
    rows = len(found.classes)
    for view, x in views.items():
        if x.ndim != 2 or len(x) != rows or not np.isfinite(x).all():
            raise UserError(f"{path} is damaged (its {view} features are not one finite row per clip): write it "
                            f"again with `{evaluate_command(folder)}`")
    if len(found.domains) != rows or len(found.splits) != rows:
        raise UserError(f"{path} is damaged (its domains or splits are not one per clip): write it again with "
                        f"`{evaluate_command(folder)}`")
    return found


def feature_runs(results_dir: Path) -> list[Path]:
    """The run folder `results_dir` itself, or the run folders under it that hold saved features."""
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise UserError(f"{results_dir} does not exist or is not a folder: name a run folder, or a folder of them")
    if (results_dir / FEATURES).exists() or (results_dir / DONE).exists():
        return [results_dir]  # a run folder (read_features names a missing file)
    runs = runs_with_features(results_dir)
    if not runs:
        raise UserError(f"no run under {results_dir} has saved features ({FEATURES}): write them with "
                        f"`mmdg-bench evaluate RUN_DIR... --features` (runs trained with keep_weights true)")
    return runs


def runs_with_features(results_dir: Path) -> list[Path]:
    """The run folders at any depth under `results_dir` that hold saved features, in name order."""
    return sorted((path.parent for path in Path(results_dir).rglob(FEATURES)), key=lambda f: (f.name, str(f)))


def chance(labels: np.ndarray) -> float:
    """The accuracy (%) of always answering the most frequent label: the floor a probe must beat."""
    _, counts = np.unique(labels, return_counts=True)
    return 100.0 * counts.max() / counts.sum()


@contextmanager
def one_thread():
    """scikit-learn's OpenMP work on one thread. A few hundred clips need no more, and on this project's 2
    shared cores OpenMP's threads spun against other processes: t-SNE of 320 clips took 17-23 s per view
    with them, 2.3-2.7 s on one thread (measured). The limit reaches only the OpenMP runtime already loaded,
    so scikit-learn's compiled modules are imported first."""
    import sklearn.manifold  # noqa: F401  (loads scikit-learn's OpenMP runtime)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


def fold_count(labels: np.ndarray, folds: int = FOLDS) -> int:
    """The folds of a stratified split: `folds`, lowered to the smallest label's count; 0 with fewer than
    two labels (nothing to tell apart)."""
    _, counts = np.unique(labels, return_counts=True)
    return min(folds, int(counts.min())) if len(counts) >= 2 else 0


def cross_validated(x: np.ndarray, labels: np.ndarray, classifier, folds: int = FOLDS, seed: int = SEED) -> float:
    """Mean accuracy (%) of `classifier` (features standardised on each training fold, never on its test
    fold) over stratified k folds; k is lowered to the smallest label's count, and with fewer than two
    labels, or one with a single clip, there is nothing to tell apart: NaN."""
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    k = fold_count(labels, folds)
    if k < 2:
        return float("nan")
    splits = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    with one_thread():
        scores = cross_val_score(make_pipeline(StandardScaler(), classifier), x, labels, cv=splits)
    return 100.0 * float(np.mean(scores))


def domain_separability(x: np.ndarray, domains: np.ndarray, folds: int = FOLDS, seed: int = SEED) -> float:
    """A linear probe's cross-validated domain accuracy (%): how linearly the features tell domains apart.
    Lower = more domain-invariant; compare with chance(domains)."""
    from sklearn.linear_model import LogisticRegression

    return cross_validated(x, domains, LogisticRegression(max_iter=2000), folds, seed)


def class_separability(x: np.ndarray, classes: np.ndarray, folds: int = FOLDS, neighbours: int = NEIGHBOURS,
                       seed: int = SEED) -> float:
    """A kNN classifier's cross-validated class accuracy (%): how well clips of a class sit together."""
    from sklearn.neighbors import KNeighborsClassifier

    # Never more neighbours than the smallest training fold holds (all clips but the largest test fold).
    k = max(fold_count(classes, folds), 2)
    usable = max(1, min(neighbours, len(classes) - -(-len(classes) // k)))
    return cross_validated(x, classes, KNeighborsClassifier(n_neighbors=usable), folds, seed)


def separability_scores(features: FeatureSet) -> pd.DataFrame:
    """One row per view (each modality, then fused): the two scores and their chance levels (%)."""
    rows = []
    for view, x in features.views.items():
        rows.append({"run": features.run, "view": view, "clips": len(x), "domains": len(np.unique(features.domains)),
                     "domain_probe": domain_separability(x, features.domains),
                     "domain_chance": chance(features.domains), "classes": len(np.unique(features.classes)),
                     "class_knn": class_separability(x, features.classes), "class_chance": chance(features.classes)})
    return pd.DataFrame(rows, columns=SCORE_COLUMNS)


def perplexity(clips: int) -> float:
    """t-SNE's perplexity: scikit-learn's 30, capped at a third of the other clips (it must stay below the
    number of clips, and a perplexity near it makes every clip everyone's neighbour)."""
    return float(min(PERPLEXITY, max(1.0, (clips - 1) / 3)))


def check_embedding(method: str) -> None:
    check_choice(method, EMBEDDINGS, "--embedding")
    if method == "umap":
        try:
            import umap  # noqa: F401
        except ImportError:
            raise UserError("--embedding umap needs the umap-learn package, which is not installed: "
                            "pip install umap-learn, or use --embedding tsne") from None


def embed(x: np.ndarray, method: str = "tsne", seed: int = SEED) -> np.ndarray:
    """(clips, 2) coordinates of the standardised features."""
    from sklearn.preprocessing import StandardScaler

    check_embedding(method)
    if len(x) < 4:
        raise UserError(f"{len(x)} clips are too few to map; a feature map needs at least 4")
    scaled = StandardScaler().fit_transform(x)
    if method == "umap":
        import umap

        return umap.UMAP(n_components=2, n_neighbors=min(15, len(x) - 1), random_state=seed).fit_transform(scaled)
    from sklearn.manifold import TSNE

    with one_thread():
        return TSNE(n_components=2, perplexity=perplexity(len(x)), init="pca",
                    random_state=seed).fit_transform(scaled)


def ordered(values: np.ndarray, last: str | None = None) -> list[str]:
    """The distinct values in order of first appearance, `last` (the held-out domain) moved to the end."""
    seen = [str(v) for v in dict.fromkeys(values.tolist())]
    return [v for v in seen if v != last] + ([last] if last in seen else [])


def percent(value: float) -> str:
    return "–" if np.isnan(value) else f"{value:.0f}%"


def draw_feature_maps(features: FeatureSet, coordinates: dict[str, np.ndarray], scores: pd.DataFrame,
                      method: str = "tsne") -> Figure:
    """The grid: rows coloured by domain and by class, one column per view, its scores in each title."""
    views = list(features.views)
    held_out = features.target_domain
    domains = ordered(features.domains, held_out)
    classes = ordered(features.classes)
    colourings = [("domain", features.domains, domains, DOMAIN_COLOURS), ("class", features.classes, classes,
                                                                          CLASS_COLOURS)]
    fig = Figure(figsize=(PANEL_INCHES * len(views) + 2.0, PANEL_INCHES * 2 + 0.9), layout="constrained")
    FigureCanvasAgg(fig)  # Agg explicitly, with no pyplot: no display, no global figure registry to leak
    axes = fig.subplots(2, len(views), squeeze=False)
    by_view = scores.set_index("view")
    for r, (what, values, order, palette) in enumerate(colourings):
        colour = {v: palette[i % len(palette)] for i, v in enumerate(order)}
        for c, view in enumerate(views):
            ax, xy = axes[r][c], coordinates[view]
            for split, marker in SPLIT_MARKERS.items():
                for value in order:
                    chosen = (features.splits == split) & (values.astype(str) == value)
                    if chosen.any():
                        ax.scatter(xy[chosen, 0], xy[chosen, 1], s=9, marker=marker, color=colour[value],
                                   alpha=0.75, linewidths=0)
            row = by_view.loc[view]
            score = (f"domain probe {percent(row.domain_probe)} (chance {percent(row.domain_chance)})"
                     if what == "domain" else
                     f"class kNN {percent(row.class_knn)} (chance {percent(row.class_chance)})")
            ax.set_title(f"{view}\n{score}" if r == 0 else score, fontsize="medium")
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r][0].set_ylabel(f"coloured by {what}")
        handles = [Line2D([], [], linestyle="", marker="o", color=colour[v],
                          label=f"{v} (held out)" if what == "domain" and v == held_out else v) for v in order]
        fig.legend(handles=handles, title=what, fontsize="small", loc="outside right upper" if r == 0
                   else "outside right lower")
    shapes = ", ".join(f"{SPLIT_NAMES[s]} {'○' if m == 'o' else '△'}" for s, m in SPLIT_MARKERS.items())
    fig.suptitle(f"Feature maps ({'t-SNE' if method == 'tsne' else 'UMAP'}) of {features.run}\n{features.weights} "
                 f"weights (epoch {features.epoch}); {shapes}; scores: stratified {FOLDS}-fold, standardised "
                 f"features", fontsize="medium")
    return fig


def feature_figure(features: FeatureSet, method: str = "tsne") -> tuple[Figure, pd.DataFrame]:
    """One run's figure and its scores."""
    scores = separability_scores(features)
    coordinates = {view: embed(x, method) for view, x in features.views.items()}
    return draw_feature_maps(features, coordinates, scores, method), scores


def plot_features(results_dir: Path, out: Path, method: str = "tsne") -> tuple[list[Path], pd.DataFrame]:
    """For the run folder `results_dir` (or each run under it with saved features): its figure
    (<out>/<run>_feature_maps.png and .svg) and scores (<out>/<run>_feature_scores.csv); the files
    written, and every run's scores."""
    check_embedding(method)
    runs = [read_features(folder) for folder in feature_runs(results_dir)]  # every file read before any is drawn
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written, tables = [], []
    for features in runs:
        fig, scores = feature_figure(features, method)
        name = features.folder.resolve().name
        written += save(fig, out / f"{name}_feature_maps", FORMATS)
        csv = out / f"{name}_feature_scores.csv"
        write_text_atomically(csv, scores.to_csv(index=False, float_format="%.2f"))
        written.append(csv)
        tables.append(scores)
    return written, pd.concat(tables, ignore_index=True)
