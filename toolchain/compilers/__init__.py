"""Compiler families behind one protocol: find the compiler, build with it.

One module per family (mingw, watcom, borland) and a registry keyed by the
target's ``compiler.family``.  Adding a compiler means one module here and
one YAML base in ``targets/``.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Protocol

from toolchain.targets import Target


@dataclass(frozen=True)
class Discovery:
    """Whether a target's compiler is usable here, and how to call it."""

    found: bool
    where: str  # a path when found, otherwise what is missing and how to fix it
    root: Path | None = None
    wrapper: tuple[str, ...] = ()  # e.g. ("wine",) for Windows-hosted tools
    env: Mapping[str, str] = field(default_factory=dict)


class Toolchain(Protocol):
    """What every compiler family module provides."""

    object_suffix: str
    define_prefix: str

    def discover(self, target: Target, environ: Mapping[str, str]) -> Discovery: ...

    def build(self, target: Target, src_dir: Path, makefile: str, found: Discovery) -> Path:
        """Build in ``src_dir`` with the rendered makefile; return the unstripped exe."""
        ...


def registry() -> dict[str, Toolchain]:
    """family name -> module implementing the Toolchain protocol."""
    from toolchain.compilers import borland, mingw, watcom

    return {"mingw": mingw, "watcom": watcom, "borland": borland}  # type: ignore[dict-item]


def toolchain_for(target: Target) -> Toolchain:
    """The family module for a target."""
    return registry()[target.compiler.family]


def discover(target: Target, environ: Mapping[str, str] | None = None) -> Discovery:
    """Find the target's compiler (environment variables, PATH, Wine)."""
    return toolchain_for(target).discover(target, os.environ if environ is None else environ)


def which(name: str, environ: Mapping[str, str]) -> str | None:
    """``shutil.which`` against a given environment's PATH."""
    return shutil.which(name, path=environ.get("PATH", os.defpath))
