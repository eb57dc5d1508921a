"""Unpack archives so that nothing lands outside its target folder and nothing appears half-written.

Tars (EPIC frames) keep their inner paths, so every member is checked before anything is written:
no absolute path, no `..`, no link, no device. Python's `filter="data"` (3.11.4+, 3.12+) is applied on
top where it exists. Zips (Hugging Face archives) are never unpacked as a tree: the caller picks
members by file name and each is copied to a destination built from its base name alone.
"""

import shutil
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from mmdg_bench.data.download.progress import TransferProgress
from mmdg_bench.data.download.staging import partial_path
from mmdg_bench.errors import UserError

# A second line of defence only where the interpreter has it; the check below runs everywhere.
TAR_FILTER = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}


def unsafe_reason(member: tarfile.TarInfo) -> str | None:
    """Why extracting `member` could write outside the target folder, or None when it is safe."""
    path = PurePosixPath(member.name)
    if path.is_absolute():
        return "has an absolute path"
    if ".." in path.parts:
        return "climbs out of the folder with '..'"
    # Frame archives hold only files and folders; a link is the usual way out of a folder.
    if member.issym() or member.islnk():
        return f"is a link to {member.linkname!r}"
    if not (member.isfile() or member.isdir()):
        return "is a device or a pipe, not a file"
    return None


def checked_members(tar: tarfile.TarFile, archive: Path) -> list[tarfile.TarInfo]:
    members = tar.getmembers()
    for member in members:
        reason = unsafe_reason(member)
        if reason is not None:
            raise UserError(f"archive {archive} holds a member {member.name!r} that {reason}, so nothing was "
                            f"extracted from it; delete the archive and download it again, or report it")
    return members


def extract_tar(archive: Path, dest: Path, layout_problem: Callable[[Path], str | None] = lambda _: None) -> None:
    """Unpack `archive` into the folder `dest`, which appears only once all of it is out and its layout checked.

    `layout_problem(folder)` says what is wrong with the unpacked folder, or None when it is as expected.
    """
    staging = partial_path(dest)
    shutil.rmtree(staging, ignore_errors=True)
    try:
        with tarfile.open(archive) as tar:
            members = checked_members(tar, archive)
            staging.mkdir(parents=True)
            tar.extractall(staging, members=members, **TAR_FILTER)
        problem = layout_problem(staging)
    except (tarfile.TarError, EOFError, zlib.error) as err:
        problem = f"is damaged or unsafe ({err})"
    if problem is not None:
        shutil.rmtree(staging, ignore_errors=True)
        raise UserError(f"archive {archive} {problem}; delete it and run the command again, or report it")
    staging.rename(dest)


@contextmanager
def open_zip(archive: Path) -> Iterator[zipfile.ZipFile]:
    try:
        with zipfile.ZipFile(archive) as zf:
            yield zf
    except (zipfile.BadZipFile, zlib.error, EOFError) as err:
        raise UserError(f"archive {archive} is damaged ({err}); delete it and run the command again") from None


def base_name(info: zipfile.ZipInfo) -> str:
    # Zips written on Windows may separate folders with backslashes.
    return PurePosixPath(info.filename.replace("\\", "/")).name


def is_payload(info: zipfile.ZipInfo) -> bool:
    """A real file: not a folder, not the metadata macOS adds to zips (__MACOSX/, ._name)."""
    parts = PurePosixPath(info.filename.replace("\\", "/")).parts
    return not info.is_dir() and "__MACOSX" not in parts and not parts[-1].startswith("._")


def pick_members(zf: zipfile.ZipFile, archive: Path, key_of: Callable[[str], object]) -> dict:
    """Map key_of(base name) -> member for every file whose key is not None; two files on one key is an error."""
    picked: dict = {}
    for info in filter(is_payload, zf.infolist()):
        key = key_of(base_name(info))
        if key is None:
            continue
        if key in picked:
            raise UserError(f"archive {archive} holds two files for {key} ({picked[key].filename} and "
                            f"{info.filename}), so it is not clear which one to use; please report it")
        picked[key] = info
    return picked


def copy_members(zf: zipfile.ZipFile, targets: dict[Path, zipfile.ZipInfo], progress: TransferProgress,
                 label: str) -> None:
    """Copy each member to its target path (via `.part`); targets already present are kept."""
    todo = {dest: info for dest, info in targets.items() if not dest.exists()}
    transfer = progress.transfer(label, total=sum(info.file_size for info in todo.values()))
    for dest, info in todo.items():
        part = partial_path(dest)
        part.parent.mkdir(parents=True, exist_ok=True)
        with zf.open(info) as src, part.open("wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
        part.replace(dest)
        transfer.advance(info.file_size)
    transfer.finish()
