"""Sources: lay the C files that become RUN.EXE into ``build/<target>/src``.

The engine (``engine/*.c``, ``*.h``, plus ``engine/startup/*.c`` for targets
with their own C startup) or a tree ported by ``toolchain.porting``.  Names
stay lower case here (GCC on Linux is case-sensitive, and the sources
``#include "compat.h"``); the bundle stores them upper case, which FAT's
case-insensitive lookup matches.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from toolchain import paths
from toolchain.errors import BuildError
from toolchain.render import SourceSet
from toolchain.targets import Target, is_83


def startup_files(target: Target) -> list[Path]:
    """The C startup a target links instead of its compiler's (``linker.startup:
    own``), else nothing: the one place that decides, for the engine and for a
    ported tree alike."""
    if target.linker.startup != "own":
        return []
    folder = paths.ENGINE_DIR / "startup"
    return sorted(folder.glob("*.c")) + sorted(folder.glob("*.h"))


def engine_files(target: Target) -> list[Path]:
    """The engine's files for this target, in a stable order."""
    if not paths.engine_sources():
        raise BuildError(f"{paths.ENGINE_DIR}: no C sources")
    return paths.engine_sources() + paths.engine_headers() + startup_files(target)


def add_startup(target: Target, files: list[Path], src_dir: Path) -> list[Path]:
    """``files`` already in ``src_dir`` (a ported tree) plus the target's startup, copied beside them."""
    added = []
    for f in startup_files(target):
        dest = src_dir / f.name.lower()
        if dest.exists():
            raise BuildError(f"{dest}: the tree has a file named like the target's startup {f}")
        shutil.copyfile(f, dest)
        added.append(dest)
    return files + added


def lay_sources(files: list[Path], src_dir: Path) -> SourceSet:
    """Copy ``files`` flat into a fresh ``src_dir``; names must fit 8.3."""
    if src_dir.exists():
        shutil.rmtree(src_dir)
    src_dir.mkdir(parents=True)
    seen: dict[str, Path] = {}
    for f in files:
        name = f.name.lower()
        if not is_83(name.upper()):
            raise BuildError(f"{f}: name does not fit DOS 8.3; rename it")
        if name in seen:
            raise BuildError(f"{f}: same name as {seen[name]} (sources are laid out flat)")
        seen[name] = f
        shutil.copyfile(f, src_dir / name)
    c_files = tuple(sorted(n for n in seen if n.endswith(".c")))
    headers = tuple(sorted(n for n in seen if n.endswith(".h")))
    return SourceSet(c_files, headers)
