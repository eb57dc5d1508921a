"""A Rich progress bar over epochs and batches, plugged into the engine's progress hooks."""

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from mmdg_bench.engine.train import NullProgress


class RichProgress(NullProgress):
    def __init__(self, console: Console):
        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[status]}"), TimeElapsedColumn(),
                            console=console, transient=False)

    def __enter__(self):
        self.bar.start()
        return self

    def __exit__(self, *exc):
        self.bar.stop()

    def start_run(self, name: str, epochs: int, batches: int) -> None:
        self.epochs = self.bar.add_task(f"{name} epochs", total=epochs, status="")
        self.batches = self.bar.add_task("  batches", total=batches, status="")

    def resume(self, finished_epochs: int) -> None:
        if finished_epochs:
            self.bar.update(self.epochs, completed=finished_epochs, status=f"resumed after epoch {finished_epochs}")

    def advance(self) -> None:
        self.bar.advance(self.batches)

    def end_epoch(self, line: dict) -> None:
        status = f"val {line['val']['fused']:.1f}%  target {line['target']['fused']:.1f}%"
        self.bar.update(self.epochs, advance=1, status=status)
        self.bar.reset(self.batches)

    def end_run(self) -> None:
        self.bar.remove_task(self.batches)
