"""A CD image of a bundle: ISO 9660 level 1 (8.3 names) plus Joliet (pycdlib).

Level 1 is what every CD driver of the era reads, including DOS's MSCDEX;
Joliet adds the same names for Windows 9x Explorer.  pycdlib stamps dates
from ``time.time()`` in local time and has no SOURCE_DATE_EPOCH support
(docs/libraries.md), so ``_fixed_clock`` pins both to
``source_date_epoch()`` in UTC while the image is built and written; the
same bundle then gives the same bytes.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from typing import Any
from unittest import mock

import pycdlib
from pycdlib.pycdlibexception import PyCdlibException

from toolchain.errors import BuildError
from toolchain.reproducible import source_date_epoch

VOLUME_ID = "RETROLLM"
_FILE = re.compile(r"^[A-Z0-9_]{1,8}(\.[A-Z0-9_]{1,3})?$")
_DIR = re.compile(r"^[A-Z0-9_]{1,8}$")
MAX_DEPTH = 8  # ISO 9660 directory levels, the root included


@contextlib.contextmanager
def _fixed_clock(epoch: int) -> Iterator[None]:
    """Make pycdlib see ``epoch`` as now and UTC as the local zone."""
    real_gmtime = time.gmtime

    def localtime(t: float | None = None) -> time.struct_time:
        return real_gmtime(epoch if t is None else t)

    with mock.patch("time.time", return_value=float(epoch)), mock.patch("time.localtime", localtime):
        yield


def _entries(bundle_dir: Path) -> tuple[list[PurePosixPath], list[tuple[PurePosixPath, Path]]]:
    if not bundle_dir.is_dir():
        raise BuildError(f"{bundle_dir}: no bundle folder to put on a CD")
    dirs, files = [], []
    for path in sorted(bundle_dir.rglob("*")):
        rel = PurePosixPath(path.relative_to(bundle_dir).as_posix())
        if len(rel.parts) >= MAX_DEPTH:
            raise BuildError(f"{path}: nested deeper than ISO 9660's {MAX_DEPTH} levels")
        pattern = _DIR if path.is_dir() else _FILE
        bad = [p for p in rel.parts[:-1] if not _DIR.match(p)] or ([] if pattern.match(rel.name) else [rel.name])
        if bad:
            raise BuildError(
                f"{path}: {bad[0]!r} is not an ISO 9660 level 1 name (8.3, upper-case A-Z 0-9 _)"
            )
        if path.is_dir():
            dirs.append(rel)
        else:
            files.append((rel, path))
    return dirs, files


def iso9660_name(rel: PurePosixPath) -> str:
    """A file's level 1 identifier: ISO 9660 (7.5.1) requires the separator
    dot even when there is no extension, then ``;1`` (``MAKEFILE.;1``), which
    is how MSCDEX and Windows find it as plain ``MAKEFILE``."""
    name = rel.name if "." in rel.name else rel.name + "."
    return str(rel.with_name(name + ";1"))


def _progress_cb(progress: Callable[[int, int], object] | None) -> Callable[[int, int, Any], None] | None:
    """pycdlib's callback takes (done, total, opaque); ours takes (done, total)."""
    if progress is None:
        return None

    def callback(done: int, total: int, opaque: Any) -> None:
        progress(done, total)

    return callback


def write_iso(bundle_dir: Path, out_path: Path, progress: Callable[[int, int], object] | None = None) -> Path:
    """Write ``out_path`` (ISO 9660 level 1 + Joliet) holding ``bundle_dir``; return it.

    ``progress(done, total)`` gets pycdlib's byte counts while it writes.
    """
    dirs, files = _entries(bundle_dir)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.name + ".tmp")
    try:
        with _fixed_clock(source_date_epoch()), contextlib.ExitStack() as stack:
            iso = pycdlib.PyCdlib()
            iso.new(interchange_level=1, joliet=3, vol_ident=VOLUME_ID)
            for d in dirs:
                iso.add_directory(f"/{d}", joliet_path=f"/{d}")
            for rel, path in files:
                fp = stack.enter_context(path.open("rb"))
                iso.add_fp(fp, path.stat().st_size, f"/{iso9660_name(rel)}", joliet_path=f"/{rel}")
            iso.write(str(tmp), progress_cb=_progress_cb(progress))
            iso.close()
        os.replace(tmp, out_path)
    except (PyCdlibException, OSError) as exc:
        tmp.unlink(missing_ok=True)
        raise BuildError(f"{out_path}: cannot write the CD image: {exc}") from None
    return out_path
