"""Download the source archive: streamed, retried, verified, and renamed into place only when whole.

In: a URL (normally the UCI zip). Out: the file under ``dest_dir``, and its sha256. A partial body is
never left where a later step could take it for the real file, and a file that fails verification does
not replace a previous good one.
"""

from __future__ import annotations

import email.utils
import hashlib
import os
import socket
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

# Besides every 5xx: timeout, too early, too many requests. Any other 4xx answers the same way again.
RETRY_STATUS = {408, 425, 429}
CHUNK = 1 << 20
HOW_TO_SUPPLY_A_FILE = (
    "Download the workbook by other means and pass it: make run SOURCE=/path/to/file.xlsx, or "
    "--source PATH on the luigi command line (or set PIPELINE_SOURCE, or [pipeline] source in luigi.cfg)."
)


class DownloadError(RuntimeError):
    """The source could not be downloaded; the message says how to supply a local file instead."""


class ChecksumMismatch(DownloadError):
    pass


def _is_permanent(reason: object) -> bool:
    """A cause that another try a few seconds later cannot fix: an unknown host name (or no DNS at all,
    as offline) and TLS failures such as a certificate that does not verify. A TLS stream that ends
    early is a dropped connection, not a TLS problem."""
    if isinstance(reason, socket.gaierror):
        return True
    dropped = isinstance(reason, ssl.SSLEOFError | ssl.SSLZeroReturnError)
    return isinstance(reason, ssl.SSLError) and not dropped


def _describe(reason: object, url: str) -> str:
    if isinstance(reason, socket.gaierror):
        host = urllib.parse.urlsplit(url).hostname
        return f"cannot resolve the host name {host!r} ({reason.strerror}): no network, or a wrong URL"
    return f"TLS error: {reason}"


class _Transient(Exception):
    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Downloaded:
    path: Path
    sha256: str
    size: int
    attempts: int


def _retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _progress_printer(label: str) -> Callable[[int, int | None], None]:
    last = [0.0]

    def show(done: int, total: int | None) -> None:
        now = time.monotonic()
        if now - last[0] < 0.5 and (total is None or done < total):
            return
        last[0] = now
        of = f" of {total / 1e6:.1f} MB ({100 * done / total:.0f}%)" if total else " MB"
        print(f"\r{label}: {done / 1e6:.1f}{of}", end="", file=sys.stderr, flush=True)

    return show


def _fetch_once(url: str, tmp: Path, timeout: float, progress) -> tuple[str, int]:
    request = urllib.request.Request(url, headers={"User-Agent": "online-retail-pipeline"})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code >= 500 or err.code in RETRY_STATUS:
            retry_after = _retry_after_seconds(err.headers.get("Retry-After"))
            raise _Transient(f"HTTP {err.code}", retry_after) from err
        problem = f"HTTP {err.code} {err.reason}"
        raise DownloadError(f"could not download {url}: {problem}. {HOW_TO_SUPPLY_A_FILE}") from err
    except (urllib.error.URLError, ConnectionError, TimeoutError) as err:
        reason = getattr(err, "reason", err)
        if _is_permanent(reason):
            problem = _describe(reason, url)
            raise DownloadError(f"could not download {url}: {problem}. {HOW_TO_SUPPLY_A_FILE}") from err
        raise _Transient(f"cannot connect: {reason}") from err

    digest = hashlib.sha256()
    size = 0
    with response, _written(tmp, url) as out:
        length = response.headers.get("Content-Length")
        expected = int(length) if length and length.isdigit() else None
        while True:
            try:
                chunk = response.read(CHUNK)
            except (ConnectionError, TimeoutError, OSError) as err:
                raise _Transient(f"connection lost after {size} bytes: {err}") from err
            if not chunk:
                break
            out.write(chunk)
            digest.update(chunk)
            size += len(chunk)
            progress(size, expected)
        if expected is not None and size != expected:
            raise _Transient(f"short body: {size} of {expected} bytes")
        out.flush()
        os.fsync(out.fileno())
    return digest.hexdigest(), size


@contextmanager
def _written(tmp: Path, url: str) -> Iterator[BinaryIO]:
    """``tmp`` open for writing; a failed write (a full disk, a read-only or missing folder) is not the
    network's, and another try would fail the same way: DownloadError at once, naming the folder."""
    try:
        with open(tmp, "wb") as out:
            yield out
    except OSError as err:
        if isinstance(err, ConnectionError | TimeoutError):
            raise
        raise DownloadError(
            f"could not write the download of {url} to {tmp.parent}: {err.strerror or err}. Free space "
            f"there, or give the run another data directory (PIPELINE_DATA_DIR). {HOW_TO_SUPPLY_A_FILE}"
        ) from err


def download(
    url: str,
    dest: Path,
    *,
    expected_sha256: str = "",
    attempts: int = 5,
    backoff: float = 1.0,
    max_backoff: float = 30.0,
    timeout: float = 60.0,
    show_progress: bool = True,
) -> Downloaded:
    """Download ``url`` to ``dest`` atomically and return its checksum.

    Transient failures (HTTP 408/425/429/5xx, refused or reset connections, timeouts, a body shorter
    than its Content-Length) are retried up to ``attempts`` times with exponential backoff capped at
    ``max_backoff``; a 429/503 ``Retry-After`` is honoured within the same cap. Failures that a retry
    cannot fix (a host name that does not resolve, any other 4xx, a TLS or certificate error) raise
    ``DownloadError`` at once.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.part-{os.getpid()}")
    progress = _progress_printer(f"Downloading {url}") if show_progress else lambda *_: None
    last_error = ""
    try:
        for attempt in range(1, attempts + 1):
            try:
                sha, size = _fetch_once(url, tmp, timeout, progress)
            except _Transient as err:
                last_error = str(err)
                if attempt == attempts:
                    break
                delay = min(max_backoff, err.retry_after or backoff * 2 ** (attempt - 1))
                print(
                    f"\ndownload attempt {attempt}/{attempts} failed ({err}); retrying in {delay:.1f}s",
                    file=sys.stderr,
                )
                time.sleep(delay)
                continue
            if show_progress:
                print(file=sys.stderr)
            if expected_sha256 and sha != expected_sha256:
                kept = f"; the previous file {dest} is kept" if dest.exists() else ""
                raise ChecksumMismatch(
                    f"sha256 mismatch for {url}: expected {expected_sha256}, found {sha}{kept}. "
                    f"Check [pipeline] source_sha256. {HOW_TO_SUPPLY_A_FILE}"
                )
            os.replace(tmp, dest)
            return Downloaded(dest, sha, size, attempt)
    finally:
        tmp.unlink(missing_ok=True)
    raise DownloadError(
        f"could not download {url} after {attempts} attempts (last error: {last_error}). "
        + HOW_TO_SUPPLY_A_FILE
    )


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
