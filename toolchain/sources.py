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


def engine_files(target: Target) -> list[Path]:
    """The engine's files for this target, in a stable order."""
    files = paths.engine_sources() + paths.engine_headers()
    if target.linker.startup == "own":
        files += sorted((paths.ENGINE_DIR / "startup").glob("*.c"))
        files += sorted((paths.ENGINE_DIR / "startup").glob("*.h"))
    if not paths.engine_sources():
        raise BuildError(f"{paths.ENGINE_DIR}: no C sources")
    return files


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
