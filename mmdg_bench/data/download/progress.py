"""Byte progress of downloads and unpacking: a Rich bar (bytes, speed, ETA) with a console, silence without."""

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)


class Transfer:
    """One bar: the bytes of one file. Every method is a no-op when there is no console."""

    def __init__(self, bar: Progress | None, task: TaskID | None):
        self.bar, self.task = bar, task

    def advance(self, nbytes: int) -> None:
        if self.bar is not None:
            self.bar.advance(self.task, nbytes)

    def restart(self, total: int | None, done: int = 0) -> None:
        """A new attempt: `done` bytes already on disk (a resumed .part), `total` expected (None: unknown)."""
        if self.bar is not None:
            self.bar.update(self.task, total=total, completed=done)

    def finish(self) -> None:
        if self.bar is not None:
            self.bar.stop_task(self.task)


class TransferProgress:
    """A context manager that owns the Rich bars of one `download` call."""

    def __init__(self, console: Console | None = None):
        self.bar = None if console is None else Progress(
            TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
            TimeRemainingColumn(), console=console)

    def __enter__(self) -> "TransferProgress":
        if self.bar is not None:
            self.bar.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.stop()

    def transfer(self, name: str, total: int | None = None, done: int = 0) -> Transfer:
        if self.bar is None:
            return Transfer(None, None)
        return Transfer(self.bar, self.bar.add_task(name, total=total, completed=done))

    def note(self, text: str) -> None:
        if self.bar is not None:
            self.bar.console.print(text, highlight=False)

    def hub_bar_class(self, name: str) -> type:
        """A tqdm look-alike for `hf_hub_download(tqdm_class=...)` that draws on this Rich progress."""
        progress = self

        class HubBar:
            # huggingface_hub builds it with tqdm's keywords (total, initial, desc, unit, ...); its own
            # description is the URL, so the file name is used instead.
            def __init__(self, *args, total=None, initial=0, **kwargs):
                self.n = initial
                self._total = total
                self.transfer = progress.transfer(name, total=total, done=initial)

            @property
            def total(self):
                return self._total

            @total.setter
            def total(self, value):
                self._total = value
                self.transfer.restart(value, self.n)

            def update(self, n=1):
                self.n += n
                self.transfer.advance(n)

            # With this method the Xet path draws one bar (bytes written), not a second one for network bytes.
            def update_transfer(self, n=1):
                pass

            def set_postfix_str(self, *args, **kwargs):
                pass

            set_transfer_postfix_str = set_postfix_str
            refresh = set_postfix_str

            def close(self):
                self.transfer.finish()

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self.close()

        return HubBar
