"""`mmdg-bench evaluate`: finished runs' kept weights on their held-out domain under test-time
conditions (mmdg_bench/robustness/), recorded in each run's robustness.json (mmdg_bench/api/evaluate.py
does the work).

    mmdg-bench evaluate results/runs/*/ --missing audio --corrupt gaussian_noise:3 --corrupt audio_noise:2
    mmdg-bench compare results/runs --robustness
    mmdg-bench evaluate results/runs/synth__gmp__toon__seed0__*/ --features    # then: plot RUN_DIR --features
"""

from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from mmdg_bench.cli.common import console, quoted, user_errors


@user_errors
def evaluate(
    run_dirs: list[Path] = typer.Argument(..., metavar="RUN_DIR...", help="Finished run folders."),
    missing: list[str] = typer.Option(None, "--missing", metavar="MODALITY",
                                      help="A modality absent at test time (repeatable)."),
    corrupt: list[str] = typer.Option(None, "--corrupt", metavar="NAME:SEVERITY",
                                      help="gaussian_noise, blur, frame_drop (video, flow) or audio_noise (audio) at "
                                           "severity 1-5 (repeatable)."),
    weights: str = typer.Option("best-val", "--weights", metavar="best-val|last", help="Which kept weights."),
    missing_as: str = typer.Option("features", "--missing-as", metavar="features|input",
                                   help="A missing modality as zeroed encoder features, or zeroed input."),
    device: str = typer.Option("cpu", help="cpu, cuda, cuda:N or auto."),
    features: bool = typer.Option(False, "--features",
                                  help="Save the pooled per-modality and fused features of the source-validation "
                                       "and target clips into <run>/features.npz (for plot --features)."),
):
    """Accuracy of finished runs with a modality missing or corrupted; writes <run>/robustness.json. With
    --features, saves their features for feature maps."""
    from mmdg_bench.api.evaluation import evaluate as evaluate_runs

    results = evaluate_runs(run_dirs, missing or [], corrupt or [], weights, missing_as, device, features=features)
    if features:
        for path in results.pop("features"):
            console.print(f"saved the features of the {weights} weights to {path}", highlight=False)
        where = run_dirs[0] if len(run_dirs) == 1 else Path(run_dirs[0]).parent  # plot takes a run or a folder of runs
        console.print(f"draw them with `mmdg-bench plot {quoted(where)} --features`", highlight=False)
        if len(results.columns) == 1:  # no condition asked for: no accuracy table
            return
    table = Table(title=Text(f"Fused target accuracy (%) with the {weights} weights"))
    for column in results.columns:
        table.add_column(column, justify="left" if column == "run" else "right", overflow="fold")
    for run, *accuracies in results.itertuples(index=False):
        table.add_row(Text(run), *(f"{accuracy:.2f}" for accuracy in accuracies))
    console.print(table)
    console.print(f"recorded in each run's robustness.json; tabulate them with "
                  f"`mmdg-bench compare {quoted(run_dirs[0].parent)} --robustness`", highlight=False)
