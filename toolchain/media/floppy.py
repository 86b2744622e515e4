"""1.44 MB FAT12 floppy images of a bundle (mtools), split where needed.

Files go onto disks smallest first, so RUN.EXE, RUN.BAT and the text files
land on disk 1.  A file too big for an empty disk is cut into parts
``NAME.001``, ``NAME.002``... that fill each disk to the last cluster; disk 1
then carries ``JOIN.BAT``, which rebuilds the file with ``COPY /B`` once
every disk has been copied into one folder (DOS cannot concatenate across a
disk change, so joining happens on the hard disk).  Every disk carries
``DISKn.TXT``: which disk of how many, and what is on it.

mtools, not a Python FAT writer (docs/libraries.md).  Reproducible:
every timestamp is ``source_date_epoch()`` (mtools reads
``SOURCE_DATE_EPOCH``; ``TZ=UTC`` fixes its local-time conversion), the
volume serial is fixed per disk, and the order of files is fixed, so the
same bundle gives the same bytes.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from toolchain.errors import BuildError
from toolchain.reproducible import source_date_epoch
from toolchain.targets import is_83

SECTOR = 512  # one sector per cluster on a 1.44 MB FAT12 disk
DATA_CLUSTERS = 2847  # 2880 sectors - boot 1 - two FATs of 9 - root dir 14
ROOT_ENTRIES = 224  # the volume label takes one of them
ENTRIES_PER_CLUSTER = SECTOR // 32
MIN_PART = 64 * 1024  # do not start a split file in a smaller gap
MAX_PARTS = 999
LINE_BUDGET = 80  # bytes reserved per DISKn.TXT line while planning
SERIAL_BASE = 0x524C4D00  # "RLM" + disk number: fixed, so images are reproducible


@dataclass(frozen=True)
class Piece:
    """A whole file or one part of a split file, as stored on a disk."""

    source: Path
    name: PurePosixPath  # the name on the disk (bundle-relative, upper-case 8.3)
    offset: int
    length: int
    of: PurePosixPath | None = None  # the split file this is a part of
    part: int = 0


@dataclass
class Disk:
    """One floppy's contents, in the order they are written."""

    number: int
    pieces: list[Piece] = field(default_factory=list)


def _clusters(n: int) -> int:
    return math.ceil(n / SECTOR)


def _usage(names_and_sizes: list[tuple[PurePosixPath, int]]) -> tuple[int, int]:
    """(data clusters, root entries) that these files take, subdirectories included."""
    dirs: dict[PurePosixPath, int] = {}
    root = 1  # volume label
    clusters = 0
    for name, size in names_and_sizes:
        clusters += _clusters(size)
        for parent in reversed(name.parents[:-1]):  # each folder on the way, outermost first
            if parent not in dirs:
                dirs[parent] = 2  # "." and ".."
                if parent.parent == PurePosixPath("."):
                    root += 1
                else:
                    dirs[parent.parent] = dirs.get(parent.parent, 2) + 1
        if name.parent == PurePosixPath("."):
            root += 1
        else:
            dirs[name.parent] += 1
    clusters += sum(math.ceil(n / ENTRIES_PER_CLUSTER) for n in dirs.values())
    return clusters, root


def _bundle_files(bundle_dir: Path) -> list[tuple[PurePosixPath, Path, int]]:
    if not bundle_dir.is_dir():
        raise BuildError(f"{bundle_dir}: no bundle folder to put on floppies")
    files = []
    for path in sorted(bundle_dir.rglob("*")):
        rel = PurePosixPath(path.relative_to(bundle_dir).as_posix())
        bad = [p for p in rel.parts if not is_83(p)]
        if bad:
            raise BuildError(f"{path}: {bad[0]!r} is not an upper-case 8.3 name, as FAT12 without long names needs")
        if path.is_file():
            files.append((rel, path, path.stat().st_size))
    if not files:
        raise BuildError(f"{bundle_dir}: the bundle is empty")
    return files


def _part_name(name: PurePosixPath, k: int) -> PurePosixPath:
    return name.with_name(f"{name.name.partition('.')[0]}.{k:03d}")


def plan(bundle_dir: Path, reserve_disk1: int = 0) -> list[Disk]:
    """Assign files (and parts of files) to disks; ``reserve_disk1`` bytes stay free for JOIN.BAT."""
    files = sorted(_bundle_files(bundle_dir), key=lambda f: (f[2], str(f[0])))
    taken = {str(rel).upper() for rel, _, _ in files}
    ours = sorted(n for n in taken if n == "JOIN.BAT" or re.fullmatch(r"DISK\d+\.TXT", n))
    if ours:
        raise BuildError(f"{bundle_dir}: {ours[0]} is a name the floppy set writes itself; rename it")
    disks = [Disk(1)]

    def free_bytes(disk: Disk, name: PurePosixPath) -> int:
        """Bytes a new file called ``name`` could have on ``disk``."""
        entries = [(p.name, p.length) for p in disk.pieces] + [(name, 0)]
        text = LINE_BUDGET * (len(disk.pieces) + 12)  # DISKn.TXT
        entries.append((PurePosixPath(f"DISK{disk.number}.TXT"), text))
        if disk.number == 1:
            entries.append((PurePosixPath("JOIN.BAT"), reserve_disk1))
        clusters, root = _usage(entries)
        if root > ROOT_ENTRIES:
            return -1
        return (DATA_CLUSTERS - clusters) * SECTOR

    empty_capacity = free_bytes(Disk(2), PurePosixPath("X"))
    for rel, path, size in files:
        if free_bytes(disks[-1], rel) >= size:
            disks[-1].pieces.append(Piece(path, rel, 0, size))
            continue
        if size <= empty_capacity:
            disks.append(Disk(len(disks) + 1))
            if free_bytes(disks[-1], rel) < size:
                raise BuildError(f"{path}: does not fit an empty floppy")
            disks[-1].pieces.append(Piece(path, rel, 0, size))
            continue
        # Too big for any one disk: cut into parts that fill each disk.
        offset, k = 0, 1
        while offset < size:
            part = _part_name(rel, k)
            if str(part).upper() in taken:
                raise BuildError(f"{path}: its part name {part} clashes with a file of the bundle")
            room = free_bytes(disks[-1], part)
            if room < min(MIN_PART, size - offset):
                disks.append(Disk(len(disks) + 1))
                room = free_bytes(disks[-1], part)
            length = min(room, size - offset)
            disks[-1].pieces.append(Piece(path, part, offset, length, of=rel, part=k))
            offset += length
            k += 1
            if k > MAX_PARTS:
                raise BuildError(f"{path}: would need more than {MAX_PARTS} floppies")
    return disks


def _dos(name: PurePosixPath) -> str:
    return str(name).replace("/", "\\")


def join_bat(disks: list[Disk]) -> str | None:
    """JOIN.BAT for the split files (None when nothing was split); CRLF, ASCII."""
    parts: dict[PurePosixPath, list[Piece]] = {}
    for disk in disks:
        for piece in disk.pieces:
            if piece.of is not None:
                parts.setdefault(piece.of, []).append(piece)
    if not parts:
        return None
    need = sum(p.length for pieces in parts.values() for p in pieces)
    lines = [
        "@ECHO OFF",
        "REM Rebuilds the files that were split across the floppies.",
        "REM First copy every disk into one folder (XCOPY A:\\*.* C:\\RETROLLM\\ /S),",
        "REM then run JOIN.BAT in that folder.  COPY's own messages stay visible",
        "REM (a full disk says so); ERRORLEVEL and a missing result stop it.",
        f"ECHO Joining needs about {need} bytes of free disk space.",
    ]
    for pieces in parts.values():
        lines += [f"IF NOT EXIST {_dos(p.name)} GOTO MISSING" for p in pieces]
    for whole, pieces in parts.items():
        first, rest = pieces[0], pieces[1:]
        lines.append(f"IF EXIST {_dos(whole)} DEL {_dos(whole)}")
        lines += [f"COPY /B {_dos(first.name)} {_dos(whole)}", "IF ERRORLEVEL 1 GOTO FAILED"]
        # Append one part per line: short lines whatever the number of parts.
        for p in rest:
            lines += [f"COPY /B {_dos(whole)}+{_dos(p.name)}", "IF ERRORLEVEL 1 GOTO FAILED"]
        lines.append(f"IF NOT EXIST {_dos(whole)} GOTO FAILED")
        size = first.offset + sum(p.length for p in pieces)
        lines.append(f"ECHO {_dos(whole)} rebuilt: DIR should show {size} bytes.")
    lines += [
        "ECHO The .0nn part files may now be deleted.",
        "GOTO END",
        ":MISSING",
        "ECHO A part is missing: copy every disk into this folder first.",
        "GOTO END",
        ":FAILED",
        "ECHO Joining failed (see COPY's message above; is the disk full?).",
        ":END",
    ]
    return "\r\n".join(lines) + "\r\n"


def disk_txt(disk: Disk, total: int, joined: bool) -> str:
    """DISKn.TXT: this disk's number and contents; CRLF, ASCII."""
    lines = [f"retrollama floppy set: disk {disk.number} of {total}", ""]
    if total > 1:
        lines += ["Copy every disk into one folder on the hard disk:", "  XCOPY A:\\*.* C:\\RETROLLM\\ /S"]
        if joined:
            lines.append("then run JOIN.BAT there (it is on disk 1) to rebuild split files.")
        lines.append("")
    lines.append("Files on this disk:")
    for p in disk.pieces:
        line = f"  {_dos(p.name):<14} {p.length:>9} bytes"
        if p.of is not None:
            line += f"  part {p.part} of {_dos(p.of)}"
        lines.append(line)
    return "\r\n".join(lines) + "\r\n"


def _mtools(args: list[str], env: dict[str, str]) -> None:
    tool = args[0]
    try:
        done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise BuildError(f"{tool} not found: floppy images need mtools (apt-get install mtools)") from None
    if done.returncode != 0:
        why = (done.stderr or done.stdout).strip().splitlines()
        raise BuildError(f"{tool} failed: {why[-1] if why else f'exit code {done.returncode}'}")


def write_floppies(bundle_dir: Path, out_dir: Path,
                   progress: Callable[[int, int], object] | None = None) -> list[Path]:
    """Write ``DISK1.IMG``... for ``bundle_dir`` into ``out_dir``; return their paths.

    ``progress(done, total)`` is called after each disk image.
    """
    for tool in ("mformat", "mcopy", "mmd"):
        if shutil.which(tool) is None:
            raise BuildError(f"{tool} not found: floppy images need mtools (apt-get install mtools)")
    reserve = 0
    for _ in range(10):  # JOIN.BAT's size depends on the plan, which depends on its size
        disks = plan(bundle_dir, reserve)
        join = join_bat(disks)
        need = _clusters(len(join or "")) * SECTOR
        if need <= reserve:
            break
        reserve = need
    else:
        raise BuildError(f"{bundle_dir}: could not settle a floppy layout")

    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("DISK*.IMG"):
        old.unlink()
    env = {
        **os.environ,
        "SOURCE_DATE_EPOCH": str(source_date_epoch()),
        "TZ": "UTC",
        "MTOOLS_SKIP_CHECK": "1",
        "MTOOLS_NO_VFAT": "1",
    }
    images = []
    with tempfile.TemporaryDirectory(prefix="retrollama-floppy-") as tmp:
        staging = Path(tmp)
        for disk in disks:
            image = out_dir / f"DISK{disk.number}.IMG"
            label = f"RETROLLM_{disk.number:02d}"[:11]
            _mtools(["mformat", "-C", "-f", "1440", "-v", label, "-N", f"{SERIAL_BASE + disk.number:08X}",
                     "-i", str(image), "::"], env)
            extra: list[tuple[PurePosixPath, str]] = [(PurePosixPath(f"DISK{disk.number}.TXT"),
                                                       disk_txt(disk, len(disks), join is not None))]
            if disk.number == 1 and join is not None:
                extra.append((PurePosixPath("JOIN.BAT"), join))
            made: set[PurePosixPath] = set()
            for piece in disk.pieces:
                for parent in reversed(piece.name.parents[:-1]):
                    if parent not in made:
                        _mtools(["mmd", "-i", str(image), f"::/{parent}"], env)
                        made.add(parent)
                source = piece.source
                if piece.of is not None:
                    source = staging / f"part{disk.number}_{piece.part}"
                    with piece.source.open("rb") as f:
                        f.seek(piece.offset)
                        source.write_bytes(f.read(piece.length))
                _mtools(["mcopy", "-i", str(image), str(source), f"::/{piece.name}"], env)
                if piece.of is not None:
                    source.unlink()
            for name, text in extra:
                src = staging / name.name
                src.write_bytes(text.encode("ascii"))
                _mtools(["mcopy", "-i", str(image), str(src), f"::/{name}"], env)
            images.append(image)
            if progress is not None:
                progress(disk.number, len(disks))
    return images
