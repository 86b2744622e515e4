"""Download a registry entry into the cache: resumable, verified, atomic.

The download goes to ``<cache>/<file>.part``; only a file whose size and
sha256 match the registry is renamed to ``<cache>/<file>``, so the name a
build reads never holds a partial or corrupt model.  An interrupted download
keeps its ``.part`` and resumes with an HTTP ``Range`` request (stories110M
is 438 MB); a server that ignores the range gets a fresh start.  Standard
library only (docs/libraries.md): one progress bar (rich),
no requests stack.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import BinaryIO

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

from toolchain.errors import ModelError
from toolchain.models.registry import Entry, cache_dir, cached_path

CHUNK = 1 << 20
TIMEOUT_S = 30
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MB chunks."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def check(path: Path, entry: Entry) -> str | None:
    """Why ``path`` is not ``entry`` (size first: it is free), or None if it is."""
    size = path.stat().st_size
    if entry.size is not None and size != entry.size:
        return f"is {size} bytes, expected {entry.size}"
    if entry.sha256 is not None:
        digest = sha256_file(path)
        if digest != entry.sha256:
            return f"has sha256 {digest}, expected {entry.sha256}"
    return None


def _by_hand(entry: Entry, dest: Path) -> str:
    digest = f" (sha256 {entry.sha256})" if entry.sha256 else ""
    return f"download {entry.url} by hand and put it at {dest}{digest}"


def fetch(entry: Entry, cache: Path | None = None, *, progress: bool = True, timeout: float = TIMEOUT_S) -> Path:
    """Make sure ``entry`` is in the cache and verified; return its path.

    A cached file is re-verified (size and sha256); a bad one is deleted and
    fetched again.  Every failure is one ModelError line saying what
    happened and where to put the file by hand.
    """
    cache = cache or cache_dir()
    dest = cached_path(entry, cache)
    console = Console(stderr=True)
    if dest.is_file():
        problem = check(dest, entry)
        if problem is None:
            return dest
        console.print(f"{dest} {problem}: deleting it and downloading again")
        dest.unlink()
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(f"cannot create the model cache {cache}: {exc.strerror or exc}") from None
    part = dest.with_name(dest.name + ".part")

    resumed = part.is_file() and part.stat().st_size > 0
    _download(entry, part, progress=progress, timeout=timeout, dest=dest)
    problem = check(part, entry)
    if problem is not None and resumed:
        # The kept .part may itself have been bad: one clean retry from zero.
        console.print(f"resumed download {problem}: starting again from zero")
        part.unlink()
        _download(entry, part, progress=progress, timeout=timeout, dest=dest)
        problem = check(part, entry)
    if problem is not None:
        part.unlink()
        raise ModelError(f"{entry.url} {problem}; the download was deleted; {_by_hand(entry, dest)}")
    if entry.sha256 is None:
        console.print(
            f"warning: {entry.name}: the registry has no sha256, so this download is unverified "
            f"(it has sha256 {sha256_file(part)})"
        )
    os.replace(part, dest)
    return dest


def _open(url: str, offset: int, timeout: float) -> http.client.HTTPResponse:
    request = urllib.request.Request(url, headers={"User-Agent": "retrollama"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    response: http.client.HTTPResponse = urllib.request.urlopen(request, timeout=timeout)
    return response


def _download(entry: Entry, part: Path, *, progress: bool, timeout: float, dest: Path) -> None:
    """Append the rest of ``entry.url`` to ``part`` (start over if the server ignores Range)."""
    offset = part.stat().st_size if part.is_file() else 0
    if entry.size is not None and offset >= entry.size:
        if offset == entry.size:
            return  # complete already; the caller verifies it
        part.unlink()
        offset = 0
    try:
        try:
            response = _open(entry.url, offset, timeout)
        except urllib.error.HTTPError as exc:
            if exc.code != 416 or not offset:
                raise
            # "Range not satisfiable": the part is longer than the file; start over.
            offset = 0
            response = _open(entry.url, 0, timeout)
        if offset and response.status != 206:
            offset = 0  # a plain 200: the server ignored Range and sends everything
        elif offset:
            m = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
            if not m or int(m.group(1)) != offset:
                response.close()  # not the range we asked for: fetch everything
                offset = 0
                response = _open(entry.url, 0, timeout)
        with response:
            total = entry.size
            if total is None:
                length = response.headers.get("Content-Length", "")
                total = offset + int(length) if length.isdigit() else None
            with part.open("ab" if offset else "wb") as out:
                _copy(response, out, entry.name, offset, total, progress)
    except urllib.error.HTTPError as exc:
        raise ModelError(f"{entry.url}: HTTP {exc.code} {exc.reason}; {_by_hand(entry, dest)}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or str(exc) or repr(exc)
        kept = part.stat().st_size if part.is_file() else 0
        keep = f"{kept} bytes kept in {part} for the next try; " if kept else ""
        raise ModelError(
            f"cannot download {entry.url} ({reason}; offline?); {keep}or {_by_hand(entry, dest)}"
        ) from None


def _copy(response: BinaryIO, out: BinaryIO, label: str, done: int, total: int | None, show: bool) -> None:
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    with Progress(*columns, console=Console(stderr=True), disable=not show, transient=False) as bar:
        task = bar.add_task(label, total=total, completed=done)
        while True:
            chunk = response.read(CHUNK)
            if not chunk:
                break
            out.write(chunk)
            done += len(chunk)
            bar.update(task, advance=len(chunk))
    if total is not None and done < total:
        # http.client reports a peer that hung up early as a short read, not
        # an error; keep the .part for a Range resume instead of hashing it.
        raise ConnectionError(f"connection closed after {done} of {total} bytes")
