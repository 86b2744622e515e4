"""Compiler families behind one protocol: find the compiler, build with it.

Everything the project knows about a compiler lives in two places: the
family's YAML base in ``targets/`` (its flags, the make dialect and template)
and its module here (how to find it, how to run the build, its flag syntax,
optional checks).  Adding a compiler is one module, one YAML base and one
makefile template; ``register`` adds a family that is not built in (the tests
prove the claim with a fake one).  Nothing outside this package asks which
family a target has.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping, Protocol, cast

from toolchain.errors import ConfigError

if TYPE_CHECKING:  # targets.resolve calls discover: at run time only targets imports us
    from toolchain.targets import Target


@dataclass(frozen=True)
class Discovery:
    """Whether a target's compiler is usable here, and how to call it."""

    path: Path | None = None  # the compiler driver, when it is found
    problem: str | None = None  # otherwise what is missing and how to fix it
    root: Path | None = None
    wrapper: tuple[str, ...] = ()  # e.g. ("wine",) for Windows-hosted tools
    env: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if (self.path is None) == (self.problem is None):
            raise ValueError("a Discovery has either a path or a problem")

    @property
    def found(self) -> bool:
        return self.path is not None

    @property
    def status(self) -> str:
        """The path, or what is missing: one line for tables and messages."""
        return str(self.path) if self.path is not None else str(self.problem)


@dataclass(frozen=True)
class Built:
    """What a family's build leaves: the unstripped exe and, where the linker
    writes no COFF symbols, its map file (the audit names functions from it)."""

    exe: Path
    map_file: Path | None = None


class Toolchain(Protocol):
    """What every compiler family module provides.

    Optional hooks a module may define as well:

    * ``check_link_surface(target, src_dir) -> str``: prove the engine's
      objects call only C89 and the OS API; returns the line to print.
    * ``finish(target, exe) -> None``: last touches on the linked exe
      (e.g. a reproducible PE timestamp).
    """

    object_suffix: str
    define_prefix: str
    dos_setup: list[str]  # REM lines of BUILD.BAT: what the old PC must have set

    def discover(self, target: Target, environ: Mapping[str, str]) -> Discovery: ...

    def build(self, target: Target, src_dir: Path, makefile: str, found: Discovery) -> Built:
        """Build in ``src_dir`` with the rendered makefile."""
        ...

    def dos_make_args(self, makefile: str) -> str:
        """The arguments BUILD.BAT gives ``make.program`` on the old PC."""
        ...


_REGISTERED: dict[str, Toolchain] = {}


def register(family: str, module: object) -> None:
    """Add a compiler family (a module or object with the Toolchain members)."""
    _REGISTERED[family] = cast(Toolchain, module)


def registry() -> dict[str, Toolchain]:
    """family name -> module implementing the Toolchain protocol.

    Every module of this package is a family named after it, so a new
    built-in compiler is registered by adding its module; nothing lists them.
    """
    found = {info.name: cast(Toolchain, importlib.import_module(f"{__name__}.{info.name}"))
             for info in pkgutil.iter_modules(__path__)}
    return {**found, **_REGISTERED}


def toolchain_for(target: Target) -> Toolchain:
    """The family module for a target."""
    families = registry()
    family = target.compiler.family
    if family not in families:
        raise ConfigError(f"target {target.name}: compiler.family {family!r} has no module "
                          f"(known: {', '.join(sorted(families))})")
    return families[family]


def hook(target: Target, name: str) -> Callable[..., object] | None:
    """An optional hook of the target's family, or None."""
    fn = getattr(toolchain_for(target), name, None)
    return fn if callable(fn) else None


def discover(target: Target, environ: Mapping[str, str] | None = None) -> Discovery:
    """Find the target's compiler (environment variables, PATH, Wine)."""
    return toolchain_for(target).discover(target, os.environ if environ is None else environ)


def which(name: str, environ: Mapping[str, str]) -> str | None:
    """``shutil.which`` against a given environment's PATH."""
    return shutil.which(name, path=environ.get("PATH", os.defpath))


def defines(target: Target, simd: bool = True) -> list[str]:
    """The target's defines, NAME or NAME=VALUE, SIMD switches included
    unless ``simd`` is False (a build of the portable kernels)."""
    c = target.compiler
    out = [*c.defines]
    if simd and target.platform.simd != "none":
        out += c.simd_defines.get(target.platform.simd, [])
    return out


def compile_flags(target: Target, simd: bool = True) -> list[str]:
    """Every compile flag of a target, in a fixed order, in its compiler's syntax.

    The one place a target's compile recipe is assembled: the makefiles, the
    direct drivers, the link-surface check and host-side builds (bench, tests)
    all take their flags from here.
    """
    c = target.compiler
    prefix = toolchain_for(target).define_prefix
    return [*c.std, *c.optimize, *c.cpu_flags, *c.fp_flags, *c.extra, *(prefix + d for d in defines(target, simd))]


def compile_command(target: Target, source: str, obj: str, cc: str | None = None) -> list[str]:
    """The full command compiling one file for a target (GNU driver syntax for
    gcc-like families; the family's own where it defines ``compile_command``)."""
    own = hook(target, "compile_command")
    if own is not None:
        return cast(list[str], own(target, source, obj, cc))
    return [cc or target.compiler.cc, *compile_flags(target), "-c", "-o", obj, source]
