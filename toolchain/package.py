"""Packaging: a staged bundle folder -> MANIFEST.TXT and a reproducible zip.

The zip is for period tools (PKUNZIP 2.04g, WinZip 6): upper-case 8.3 names
with '/' between folders, stored or deflated only, DOS attributes, no zip64
unless a file needs it, members sorted, every timestamp the same
(``SOURCE_DATE_EPOCH``), so two builds of the same inputs are byte-identical.
"""

from __future__ import annotations

import os
import zipfile
import zlib
from pathlib import Path

from toolchain.errors import BuildError
from toolchain.render import write_dos_text
from toolchain.reproducible import dos_date_time
from toolchain.targets import is_83

DOS_ARCHIVE_ATTR = 0x20
MANIFEST = "MANIFEST.TXT"


def zip_path(out: Path, target_name: str) -> Path:
    """Where ``build`` writes a target's bundle zip, and where ``serve`` looks for it."""
    return out / f"retrollama-{target_name}.zip"


def bundle_files(bundle: Path) -> list[Path]:
    """Every file of a bundle, sorted by its name inside the zip."""
    files = [p for p in bundle.rglob("*") if p.is_file()]
    return sorted(files, key=lambda p: p.relative_to(bundle).as_posix())


def crc32_of(path: Path) -> int:
    """CRC-32 of a file, read in chunks (models can be large)."""
    crc = 0
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            crc = zlib.crc32(chunk, crc)
    return crc & 0xFFFFFFFF


def check_names(bundle: Path) -> None:
    """Every path component must be an upper-case 8.3 name."""
    for p in bundle_files(bundle):
        for part in p.relative_to(bundle).parts:
            if not is_83(part):
                raise BuildError(f"{p}: {part!r} is not an upper-case 8.3 name")


def write_manifest(bundle: Path) -> Path:
    """MANIFEST.TXT: size and CRC-32 of every other file, DOS text."""
    lines = [
        "MANIFEST.TXT - check a copy by hand: DIR shows each size; a zip tool",
        "such as PKZIP -v shows each CRC-32.",
        "",
        f"{'FILE':<24}{'BYTES':>12}  CRC-32",
    ]
    for p in bundle_files(bundle):
        rel = p.relative_to(bundle)
        if rel.as_posix() == MANIFEST:
            continue
        name = "\\".join(rel.parts)
        lines.append(f"{name:<24}{p.stat().st_size:>12}  {crc32_of(p):08X}")
    return write_dos_text(bundle / MANIFEST, "\r\n".join(lines) + "\r\n")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_parts(folder: Path) -> list[Path]:
    """Remove ``*.zip.PID.part`` files of builds that were killed while zipping.

    Each build writes its own ``NAME.zip.PID.part`` and renames it into
    place, so a kill (SIGTERM, SIGKILL, power) never touches the previous
    zip; the part it leaves is removed here, but never one whose build is
    still running.  A plain ``NAME.zip.part`` is from an older version.
    """
    removed = []
    for part in folder.glob("*.zip*.part"):
        pid = part.name.removesuffix(".part").rsplit(".", 1)[-1]
        if part.name.endswith(".zip.part") or (pid.isdigit() and not _pid_alive(int(pid))):
            part.unlink(missing_ok=True)
            removed.append(part)
    return removed


def write_zip(bundle: Path, out: Path) -> Path:
    """Zip a bundle reproducibly; written beside ``out`` first, then moved."""
    check_names(bundle)
    stamp = dos_date_time()
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.exists() and not out.is_file():
        raise BuildError(f"{out}: exists and is not a file")
    remove_stale_parts(out.parent)
    tmp = out.with_name(f"{out.name}.{os.getpid()}.part")
    try:
        with zipfile.ZipFile(tmp, "w", allowZip64=True) as zf:
            for p in bundle_files(bundle):
                info = zipfile.ZipInfo(p.relative_to(bundle).as_posix(), date_time=stamp)
                info.create_system = 0  # MS-DOS
                info.external_attr = DOS_ARCHIVE_ATTR
                info.compress_type = zipfile.ZIP_DEFLATED
                with p.open("rb") as src, zf.open(info, "w", force_zip64=p.stat().st_size >= 0xFFFFFFFF) as dst:
                    for chunk in iter(lambda: src.read(1 << 20), b""):
                        dst.write(chunk)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
    return out
