"""Errors a user can cause. The CLI turns each into one sentence and exit code 2."""

import difflib
import errno
from collections.abc import Iterable


class UserError(Exception):
    """A mistake in the user's input (path, name, key, media file): one clear sentence."""


class MediaError(UserError):
    """A media file that is missing or cannot be decoded; names the file."""

    def __init__(self, path, reason: str):
        self.path = str(path)
        super().__init__(f"cannot read media file {self.path}: {reason}")


class UserNotice(UserWarning):
    """Something the user should know that does not stop the command (an override that has no
    effect, a damaged checkpoint that forces a restart); the CLI prints it as one line."""


# What to do about an OSError on a path the user gave, by errno.
PATH_ADVICE = {
    errno.EACCES: "choose a location you can write to",
    errno.EPERM: "choose a location you can write to",
    errno.EROFS: "the file system is read-only; choose another location",
    errno.ENAMETOOLONG: "a path component is longer than the file system allows (255 characters)",
    errno.ENOTDIR: "a file is in the way where a folder is needed",
    errno.EEXIST: "a file is in the way where a folder is needed",
    errno.EISDIR: "a folder is in the way where a file is needed",
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exhausted",
    errno.ENOENT: "check the path",
}


def path_error(err: OSError) -> UserError:
    """An OSError on a user-given path as one sentence naming the path and what to do."""
    reason = (err.strerror or str(err)).lower()
    advice = f" ({PATH_ADVICE[err.errno]})" if err.errno in PATH_ADVICE else ""
    if err.filename is None:
        return UserError(f"{reason}{advice}")
    return UserError(f"cannot use {err.filename}: {reason}{advice}")


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """A suffix like " (did you mean 'gmp'?)" naming the closest choice, or listing them all."""
    choices = sorted(choices)
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.5)
    if close:
        return f" (did you mean '{close[0]}'?)"
    return f" (choose from: {', '.join(choices)})"


def unknown(kind: str, name: str, choices: Iterable[str]) -> UserError:
    return UserError(f"unknown {kind} '{name}'{did_you_mean(name, choices)}")


def check_choice(value, choices: Iterable[str], setting: str) -> None:
    """Refuse a value outside `choices` in one sentence; `setting` names it as the sentence should
    ("'data.layout'" for a preset setting, "GMP's projection" for a hyper-parameter, "--weights")."""
    choices = tuple(choices)
    if value not in choices:
        raise UserError(f"{setting} must be one of {', '.join(choices)}, got '{value}'"
                        f"{did_you_mean(str(value), choices)}")
