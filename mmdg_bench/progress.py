"""What a user sees while the engine works, plugged into its progress hooks: a Rich progress bar
(`run`), or one line per epoch (`sweep`, whose runs may train in worker processes or Slurm jobs)."""

from collections.abc import Callable

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from mmdg_bench.engine.train import NullProgress


def resume_message(finished_epochs: int, epochs: int) -> str:
    return f"resuming from epoch {finished_epochs + 1} of {epochs} (the checkpoint holds {finished_epochs})"


def epoch_summary(line: dict) -> str:
    return f"val {line['val']['fused']:.1f}%  target {line['target']['fused']:.1f}%"


class RichProgress(NullProgress):
    def __init__(self, console: Console):
        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[status]}"), TimeElapsedColumn(),
                            console=console, transient=False)
        self.decoded = {}  # split -> its task, while clips are decoded before training

    def __enter__(self):
        self.bar.start()
        return self

    def __exit__(self, *exc):
        self.bar.stop()

    def decoding(self, split: str, done: int, total: int) -> None:
        if split not in self.decoded:
            self.decoded[split] = self.bar.add_task(f"decoding {split} clips", total=total, status="")
        self.bar.update(self.decoded[split], completed=done)

    def start_run(self, name: str, epochs: int, batches: int) -> None:
        for task in self.decoded.values():
            self.bar.remove_task(task)
        self.decoded = {}
        self.total_epochs = epochs
        self.epochs = self.bar.add_task(f"{name} epochs", total=epochs, status="")
        self.batches = self.bar.add_task("  batches", total=batches, status="")

    def resume(self, finished_epochs: int) -> None:
        if finished_epochs:
            self.bar.console.print(resume_message(finished_epochs, self.total_epochs), highlight=False)
            self.bar.update(self.epochs, completed=finished_epochs, status=f"resumed after epoch {finished_epochs}")

    def advance(self) -> None:
        self.bar.advance(self.batches)

    def end_epoch(self, line: dict) -> None:
        self.bar.update(self.epochs, advance=1, status=epoch_summary(line))
        self.bar.reset(self.batches)

    def end_run(self) -> None:
        self.bar.remove_task(self.batches)


class EpochLines(NullProgress):
    """One line per finished epoch, prefixed with the run's label: `say` prints it."""

    def __init__(self, label: str, say: Callable[[str], None]):
        self.label, self.say = label, say

    def start_run(self, name: str, epochs: int, batches: int) -> None:
        self.epochs = epochs

    def resume(self, finished_epochs: int) -> None:
        if finished_epochs:
            self.say(f"{self.label}: {resume_message(finished_epochs, self.epochs)}")

    def end_epoch(self, line: dict) -> None:
        self.say(f"{self.label} epoch {line['epoch']}/{self.epochs}: {epoch_summary(line)}")
