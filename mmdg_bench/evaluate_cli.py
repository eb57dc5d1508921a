"""`mmdg-bench evaluate`: finished runs' kept weights on their held-out domain under test-time
conditions (mmdg_bench/robustness/), recorded in each run's robustness.json.

    mmdg-bench evaluate results/runs/*/ --missing audio --corrupt gaussian_noise:3 --corrupt audio_noise:2
    mmdg-bench compare results/runs --robustness
"""

from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from mmdg_bench.cli import app, console, quoted, user_errors
from mmdg_bench.errors import UserError


@app.command()
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
):
    """Accuracy of finished runs with a modality missing or corrupted; writes <run>/robustness.json."""
    from mmdg_bench.robustness import evaluate_run, parse_conditions

    conditions = parse_conditions(missing or [], corrupt or [])
    if len(conditions) == 1:
        raise UserError("name a condition to evaluate: --missing MODALITY or --corrupt NAME:SEVERITY")
    table = Table(title=Text(f"Fused target accuracy (%) with the {weights} weights"))
    for column in ["run", *(c.name for c in conditions)]:
        table.add_column(column, justify="left" if column == "run" else "right", overflow="fold")
    for folder in run_dirs:
        results = evaluate_run(folder, conditions, weights, missing_as, device)
        table.add_row(Text(folder.name), *(f"{results[c.name]['fused']:.2f}" for c in conditions))
    console.print(table)
    console.print(f"recorded in each run's robustness.json; tabulate them with "
                  f"`mmdg-bench compare {quoted(run_dirs[0].parent)} --robustness`", highlight=False)
