"""Fetch one URL into one file: resume with Range, retry with back-off, verify the md5, rename when whole.

    fetch("https://data.bris.ac.uk/.../P08_01.tar", Path("P08_01.tar"), md5="92e6...")

The bytes go to `<file>.part`; the final name appears only after the md5 matched, so a file at its
final name is always complete. A dropped connection, a timeout, a 5xx, 408 or 429 is retried
(bounded, exponential back-off), each try resuming where the previous one stopped; any other HTTP
error (404, 403, ...) is reported at once. Standard library only (urllib).
"""

import hashlib
import http.client
import re
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from mmdg_bench.data.download.progress import Transfer, TransferProgress
from mmdg_bench.data.download.staging import partial_path
from mmdg_bench.errors import UserError

CHUNK_BYTES = 1 << 20
USER_AGENT = "mmdg-bench (dataset download)"
RETRY_STATUS = {408, 429}  # and every 5xx: the server may answer next time
NETWORK_ERRORS = (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError)
CONTENT_RANGE = re.compile(r"bytes (\d+)-\d+/(\d+|\*)")


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6  # tries per file; after the last one the .part stays, and a rerun resumes it
    backoff_s: float = 2.0  # wait before the second try, doubled before each next one
    max_wait_s: float = 60.0
    timeout_s: float = 60.0  # a server silent this long counts as a dropped connection

    def wait_s(self, failures: int) -> float:
        return min(self.backoff_s * 2 ** (failures - 1), self.max_wait_s)


class TransientError(Exception):
    """A failure that may not happen again on the next try: no connection, a dropped one, a timeout, a 5xx."""


def fetch(url: str, dest: Path, *, md5: str | None = None, retry: RetryPolicy = RetryPolicy(),
          progress: TransferProgress | None = None) -> None:
    """Download `url` to `dest` unless `dest` exists (it only ever exists complete and verified)."""
    if dest.exists():
        return
    part = partial_path(dest)
    part.parent.mkdir(parents=True, exist_ok=True)
    transfer = (progress or TransferProgress()).transfer(dest.name)
    # A wrong md5 may come from a .part resumed against a file that changed on the server: one fresh
    # download settles it; a second mismatch means the server's file is not the published one.
    for _ in range(2):
        download_with_retries(url, part, retry, transfer)
        actual = file_md5(part)
        if md5 is None or actual == md5:
            part.replace(dest)
            transfer.finish()
            return
        part.unlink()
    raise UserError(f"{url} has md5 {actual}, not the published {md5}, on two downloads: the partial file "
                    f"was deleted; try again later, or report the file to the dataset's maintainers")


def download_with_retries(url: str, part: Path, retry: RetryPolicy, transfer: Transfer) -> None:
    for attempt in range(1, retry.attempts + 1):
        try:
            download_once(url, part, retry.timeout_s, transfer)
            return
        except TransientError as err:
            if attempt == retry.attempts:
                raise UserError(f"could not download {url} in {attempt} tries (last: {err}); "
                                f"{kept_note(part)}run the same command again later") from None
            time.sleep(retry.wait_s(attempt))


def kept_note(part: Path) -> str:
    size = part.stat().st_size if part.exists() else 0
    return f"the {size} bytes fetched so far are kept in {part} and the next run resumes them; " if size else ""


def download_once(url: str, part: Path, timeout_s: float, transfer: Transfer) -> None:
    """One try: ask for the bytes after those already in `part` and append them."""
    offset = part.stat().st_size if part.exists() else 0
    response = open_url(url, offset, timeout_s)
    if response is None:  # 416: the .part already holds the whole file
        return
    with response:
        start, total = body_range(response)
        if start != offset:  # the server ignored the Range (or moved it): the body starts at `start`
            if start != 0:
                part.unlink()
                raise TransientError(f"the server resumed at byte {start}, not {offset}")
            offset = 0
        transfer.restart(total, offset)
        with part.open("ab" if offset else "wb") as out:
            received = copy_body(response, out, transfer)
    # Some Python versions end a short body quietly instead of raising IncompleteRead.
    if total is not None and offset + received < total:
        raise TransientError(f"connection closed after {offset + received} of {total} bytes")


def open_url(url: str, offset: int, timeout_s: float) -> http.client.HTTPResponse | None:
    # identity: byte offsets of a compressed body would not be offsets into the file
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout_s)
    except urllib.error.HTTPError as err:
        err.close()
        if err.code == 416 and offset:
            return None
        if err.code in RETRY_STATUS or err.code >= 500:
            raise TransientError(f"HTTP {err.code} {err.reason}") from None
        raise UserError(f"{url} answered HTTP {err.code} {err.reason}: {status_advice(err.code)}") from None
    except urllib.error.URLError as err:
        if isinstance(err.reason, socket.gaierror):  # no retry helps: retrying took 67 s to say the same
            host = urllib.parse.urlsplit(url).hostname
            raise UserError(f"the host name {host} could not be resolved ({err.reason.strerror}): this machine has "
                            f"no network or name server, needs a proxy (HTTPS_PROXY), or the URL is wrong") from None
        raise TransientError(describe(err)) from None
    except NETWORK_ERRORS as err:
        raise TransientError(describe(err)) from None


def status_advice(code: int) -> str:
    if code in (404, 410):
        return "the file is not on the server (data.bris.ac.uk sometimes loses files for a while); try again later"
    if code in (401, 403):
        return "the server refuses access; check the URL (MMDG_BENCH_EPIC_URL) and try again later"
    return "check the URL (MMDG_BENCH_EPIC_URL) and try again later"


def body_range(response: http.client.HTTPResponse) -> tuple[int, int | None]:
    """(first byte of the body within the file, size of the whole file or None when unknown)."""
    length = response.headers.get("Content-Length")
    if response.status != 206:
        return 0, int(length) if length else None
    match = CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", "").strip())
    if match is None:
        raise TransientError("the server answered 206 without a usable Content-Range")
    start, size = int(match[1]), match[2]
    if size != "*":
        return start, int(size)
    return start, start + int(length) if length else None


def copy_body(response: http.client.HTTPResponse, out, transfer: Transfer) -> int:
    received = 0
    try:
        while chunk := response.read(CHUNK_BYTES):
            out.write(chunk)
            received += len(chunk)
            transfer.advance(len(chunk))
    except NETWORK_ERRORS as err:
        raise TransientError(describe(err)) from None
    return received


def describe(err: Exception) -> str:
    """A short reason: urllib wraps the socket error in `.reason` (sometimes a plain string)."""
    reason = getattr(err, "reason", None) or err
    if isinstance(reason, str):
        return reason
    return f"{type(reason).__name__}: {reason}" if str(reason) else type(reason).__name__


def file_md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()
