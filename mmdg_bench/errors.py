"""Errors a user can cause. The CLI turns each into one sentence and exit code 2."""

import difflib
from collections.abc import Iterable


class UserError(Exception):
    """A mistake in the user's input (path, name, key, media file): one clear sentence."""


class MediaError(UserError):
    """A media file that is missing or cannot be decoded; names the file."""

    def __init__(self, path, reason: str):
        self.path = str(path)
        super().__init__(f"cannot read media file {self.path}: {reason}")


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """A suffix like " (did you mean 'gmp'?)" naming the closest choice, or listing them all."""
    choices = sorted(choices)
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.5)
    if close:
        return f" (did you mean '{close[0]}'?)"
    return f" (choose from: {', '.join(choices)})"


def unknown(kind: str, name: str, choices: Iterable[str]) -> UserError:
    return UserError(f"unknown {kind} '{name}'{did_you_mean(name, choices)}")
