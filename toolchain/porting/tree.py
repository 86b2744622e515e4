"""Porting a whole source tree: find the .c/.h files, port each, write the
result and the compat header into a fresh output folder.

The source tree is never written to.  The output folder must be new, empty,
or one a previous port wrote (it carries a marker file listing what it
wrote), so a typo in ``--out`` cannot clobber someone's work.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from toolchain.errors import PortError
from toolchain.porting.compat import check_family, names_used, render
from toolchain.porting.engine import Change, port_source
from toolchain.porting.rules.compat_include import COMPAT_HEADER
from toolchain.porting.series import load_series

MARKER = ".retrollama-port"
# llama2.c's mmap emulation for MSVC: the posix-mmap patch makes it unneeded.
WIN_SHIMS = {"win.c", "win.h"}


@dataclass
class PortResult:
    """What a port wrote (sources and compat header) and why it changed each site."""

    files: list[Path] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    compiler: str = "gcc"
    # The ported .c files (relative to the tree) that define ``main``: each is
    # a separate program, to be built on its own (``invoke build --program``).
    programs: list[Path] = field(default_factory=list)


def defines_main(text: bytes, path: Path) -> bool:
    """True when the file has a ``main`` function definition (also one inside
    ``#ifndef TESTING``-style conditionals, as llama2.c's run.c has)."""
    from toolchain.porting.rules.common import function_name
    from toolchain.porting.source import Unit, nodes_of

    unit = Unit.parse(path, text)
    return any(function_name(unit, node) == "main" for node in nodes_of(unit.root, "function_definition"))


def summary(changes: list[Change]) -> list[tuple[str, int, list[Path]]]:
    """(patch, sites changed, files) per patch, in the order patches first appear."""
    table: dict[str, tuple[int, list[Path]]] = {}
    for change in changes:
        count, files = table.get(change.patch_id, (0, []))
        if change.file not in files:
            files.append(change.file)
        table[change.patch_id] = (count + 1, files)
    return [(patch, count, files) for patch, (count, files) in table.items()]


def source_files(src: Path) -> list[Path]:
    """The .c and .h files under ``src`` (or ``src`` itself), sorted."""
    if src.is_file():
        return [src]
    if not src.is_dir():
        raise PortError(f"{src}: no such file or directory")
    files = sorted(p for p in src.rglob("*") if p.is_file() and p.suffix.lower() in (".c", ".h"))
    if not files:
        raise PortError(f"{src}: no .c or .h files to port")
    return files


def _port_all(src: Path) -> tuple[dict[Path, bytes], list[Change]]:
    """Port every file in memory: nothing is written until all of them succeed."""
    series = load_series()
    base = src if src.is_dir() else src.parent
    ported: dict[Path, bytes] = {}
    changes: list[Change] = []
    for path in source_files(src):
        rel = path.relative_to(base)
        if path.name.lower() in WIN_SHIMS:
            changes.append(Change(rel, 1, "posix-mmap", "win.c/win.h mmap shim not needed: file dropped"))
            continue
        if path.name == COMPAT_HEADER:
            continue
        text, found = port_source(path, path.read_bytes(), series, display=rel)
        ported[rel] = text
        changes.extend(found)
    return ported, changes


def report_tree(src: Path, *, compiler: str = "gcc") -> list[Change]:
    """What each patch would change in ``src`` (file:line, patch id, why); writes nothing."""
    check_family(compiler)
    return _port_all(Path(src))[1]


def survey_tree(src: Path, *, compiler: str = "gcc") -> PortResult:
    """What a port of ``src`` would do (changes, programs), writing nothing."""
    check_family(compiler)
    ported, changes = _port_all(Path(src))
    return PortResult(changes=changes, compiler=compiler, programs=programs_of(ported))


def programs_of(ported: dict[Path, bytes]) -> list[Path]:
    """The .c files among ``ported`` that define ``main``."""
    return [rel for rel, text in ported.items()
            if rel.suffix.lower() == ".c" and defines_main(text, rel)]


def _check_out(src: Path, out: Path) -> None:
    src_dir = (src if src.is_dir() else src.parent).resolve()
    target = out.resolve()
    if target == src_dir or src_dir in target.parents:
        raise PortError(f"{out}: the output folder must not be inside the source tree {src_dir}")
    if target.exists() and not target.is_dir():
        raise PortError(f"{out}: exists and is not a folder")
    if target.is_dir() and any(target.iterdir()) and not (target / MARKER).is_file():
        raise PortError(f"{out}: folder is not empty and was not written by `invoke port`; "
                        "choose a new folder")


def _clear_previous(out: Path) -> None:
    """Remove what an earlier port wrote (listed in the marker), nothing else."""
    marker = out / MARKER
    if not marker.is_file():
        return
    for line in marker.read_text(encoding="utf-8").splitlines():
        rel = Path(line.strip())
        if line.strip() and not rel.is_absolute() and ".." not in rel.parts:
            (out / rel).unlink(missing_ok=True)


def port_tree(src: Path, out: Path, *, compiler: str = "gcc") -> PortResult:
    """Port ``src`` into ``out`` for the ``compiler`` family; see the module doc."""
    check_family(compiler)
    src, out = Path(src), Path(out)
    if not src.exists():
        raise PortError(f"{src}: no such file or directory")
    _check_out(src, out)
    ported, changes = _port_all(src)
    header = render(compiler, names_used(list(ported.values()))).encode("latin-1")
    out.mkdir(parents=True, exist_ok=True)
    _clear_previous(out)
    written: list[Path] = []
    dirs = {rel.parent for rel in ported}
    for rel, text in ported.items():
        dest = out / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(text)
        written.append(dest)
    for folder in sorted(dirs):
        dest = out / folder / COMPAT_HEADER
        dest.write_bytes(header)
        written.append(dest)
    (out / MARKER).write_text("".join(f"{p.relative_to(out).as_posix()}\n" for p in written),
                              encoding="utf-8")
    return PortResult(files=written, changes=changes, compiler=compiler, programs=programs_of(ported))
