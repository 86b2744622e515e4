"""The real Open Watcom for the tests: unpacked once from ../shared/toolchains.

A user installs Open Watcom from its own releases and sets ``WATCOM``; the
tests and CI use the Linux-hosted build kept beside the project in
``../shared/toolchains`` (never committed).  It is unpacked once into a cache
folder outside the repository, keyed by the archive's size and mtime so a
new archive gets a fresh copy.  Where neither ``WATCOM`` nor the archive is
there, the caller fails the test: a compiler that can be had here is always
used for real, never skipped.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
from pathlib import Path

from toolchain import paths

ARCHIVE = paths.SHARED_DIR / "toolchains" / "openwatcom-v2-linux-x64.tar.xz"


def cache_root() -> Path:
    """Where the unpacked compiler lives: the project's cache (models/registry.cache_dir)."""
    from toolchain.models.registry import cache_dir

    return cache_dir() / "toolchains"


def _extract(archive: Path, dest: Path) -> None:
    """Python's own tar and xz readers: a minimal Debian has no xz program.
    The "tar" filter keeps the executable bits and refuses members that
    would land outside ``dest`` (where this Python has extraction filters)."""
    with tarfile.open(archive, "r:xz") as tar:
        if hasattr(tarfile, "tar_filter"):
            tar.extractall(dest, filter="tar")
        else:
            tar.extractall(dest)


def unpack(archive: Path = ARCHIVE) -> Path:
    """Unpack the archive once (atomically: a half-unpacked folder is never used)."""
    st = archive.stat()
    dest = cache_root() / f"openwatcom-{st.st_size}-{int(st.st_mtime)}"
    if (dest / "binl64" / "wcc386").is_file():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".owc-", dir=dest.parent))
    try:
        _extract(archive, tmp)
        try:
            tmp.rename(dest)
        except OSError:  # another process won the race: use its copy
            if not (dest / "binl64" / "wcc386").is_file():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return dest


def find_watcom() -> tuple[Path | None, str]:
    """(root, how it was found) or (None, what is missing)."""
    env = os.environ.get("WATCOM", "").strip()
    if env:
        return Path(env), f"$WATCOM={env}"
    if ARCHIVE.is_file():
        return unpack(), f"unpacked from {ARCHIVE}"
    return None, f"Open Watcom not found: $WATCOM is not set and {ARCHIVE} does not exist"


def watcom_environ(root: Path) -> dict[str, str]:
    """The variables Open Watcom's tools need (as its installer would set them)."""
    return {
        "WATCOM": str(root),
        "PATH": f"{root / 'binl64'}:{os.environ.get('PATH', '')}",
        "INCLUDE": f"{root / 'h'}:{root / 'h' / 'nt'}",
    }
