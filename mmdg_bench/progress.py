"""What a user sees while the engine works, plugged into its progress hooks: a Rich progress bar
(`run` on a terminal), or one line per epoch (`sweep`, whose runs may train in worker processes or
Slurm jobs, and `run` into a pipe or a file, where a live bar would show only its last state)."""

from collections.abc import Callable
from contextlib import nullcontext

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
        # The folder's name on a line of its own: in the bar's description it crowded out the counts at 80 columns.
        self.bar.console.print(f"training {name}", highlight=False)
        self.epochs = self.bar.add_task("epochs", total=epochs, status="")
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
    """One line per finished epoch, prefixed with the run's label (none: the run folder's name is said
    when the run starts): `say` prints it."""

    def __init__(self, label: str, say: Callable[[str], None]):
        self.label, self.say = label, say

    def start_run(self, name: str, epochs: int, batches: int) -> None:
        self.epochs = epochs
        if not self.label:
            self.say(f"training {name}")

    def resume(self, finished_epochs: int) -> None:
        if finished_epochs:
            self.say(f"{self.label or 'resumed'}: {resume_message(finished_epochs, self.epochs)}")

    def end_epoch(self, line: dict) -> None:
        prefix = f"{self.label} " if self.label else ""
        self.say(f"{prefix}epoch {line['epoch']}/{self.epochs}: {epoch_summary(line)}")


def run_progress(console: Console):
    """`run`'s progress: the live bar on a terminal, else one line per epoch (a context manager either way)."""
    if console.is_terminal:
        return RichProgress(console)
    return nullcontext(EpochLines("", lambda text: console.print(text, highlight=False, soft_wrap=True)))
