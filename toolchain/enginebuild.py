"""Compile the engine (engine/*.c) on the build host.

The profiles (compiler, flags) live in ``toolchain/data/engine_builds.yaml``
so that the tests, ``invoke bench`` and later stages build exactly the same
programs; this module only turns a profile into a compiler run and a clear
error when the compiler is missing or rejects the code.  A profile that
names a ``target`` takes that target's own compile flags
(``compilers.compile_flags``), so a host build measures what ships.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, RootModel

from toolchain import paths, yamlfile
from toolchain.compilers import compile_flags
from toolchain.errors import BuildError, CompilerMissing, ConfigError
from toolchain.targets import load_target

PROFILES_FILE = paths.DATA_DIR / "engine_builds.yaml"
BUILD_TIMEOUT_S = 300


class ProfileEntry(BaseModel):
    """One profile as written in engine_builds.yaml."""

    model_config = ConfigDict(extra="forbid")

    why: str = Field("", description="Why the profile exists")
    cc: str = Field(min_length=1, description="Compiler program on PATH")
    target: str | None = Field(None, description="Take this target's compile flags (before `flags`)")
    simd: bool = Field(True, description="With `target`: keep the target's SIMD defines")
    flags: list[str] = Field(default_factory=list, description="Flags before the sources")
    libs: list[str] = Field(default_factory=list, description="Libraries after the sources")
    suffix: str = Field("", description="Suffix of the output file, e.g. .exe")


class ProfileFile(RootModel[dict[str, ProfileEntry]]):
    """engine_builds.yaml: profile name -> profile."""


@dataclass(frozen=True)
class BuildProfile:
    """One way of compiling the engine: ``cc flags engine/*.c -o out libs``."""

    name: str
    cc: str
    flags: tuple[str, ...]
    libs: tuple[str, ...] = ()
    suffix: str = ""
    why: str = ""

    def command(self, out: Path, extra_flags: Sequence[str] = ()) -> list[str]:
        """The full compiler command line for this profile."""
        sources = [str(p) for p in paths.engine_sources()]
        return [self.cc, *self.flags, *extra_flags, "-o", str(out), *sources, *self.libs]

    def available(self) -> bool:
        """Whether the compiler is installed here."""
        return shutil.which(self.cc) is not None


def _flags(path: Path, name: str, entry: ProfileEntry) -> tuple[str, ...]:
    if entry.target is None:
        return tuple(entry.flags)
    try:
        target = load_target(entry.target)
    except ConfigError as exc:
        raise ConfigError(f"{path}: profile {name!r}: {exc}") from None
    return (*compile_flags(target, simd=entry.simd), *entry.flags)


def load_profiles(path: Path = PROFILES_FILE) -> dict[str, BuildProfile]:
    """All profiles, by name, read from the YAML data file (errors name the line)."""
    doc = yamlfile.load_model(path, ProfileFile)
    return {
        name: BuildProfile(name, e.cc, _flags(path, name, e), tuple(e.libs), e.suffix, e.why)
        for name, e in doc.root.items()
    }


def profile(name: str) -> BuildProfile:
    """The profile called ``name``."""
    profiles = load_profiles()
    if name not in profiles:
        raise ConfigError(f"{PROFILES_FILE}: no engine build profile {name!r} (have: {', '.join(profiles)})")
    return profiles[name]


def build_engine(
    which: str | BuildProfile, out_dir: Path, name: str = "run", extra_flags: Sequence[str] = ()
) -> Path:
    """Compile the engine with a profile into ``out_dir/name<suffix>``; the exe's path.

    Raises CompilerMissing when the profile's compiler is not installed and
    BuildError (with the compiler's first lines of output) when it fails --
    with -Werror profiles, that includes any warning.
    """
    prof = profile(which) if isinstance(which, str) else which
    if not prof.available():
        raise CompilerMissing(f"{prof.cc}: not installed (needed for the {prof.name} engine build)")
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{name}{prof.suffix}"
    cmd = prof.command(out, extra_flags)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise BuildError(f"{prof.cc}: building the engine took over {BUILD_TIMEOUT_S} s") from None
    if proc.returncode != 0 or proc.stderr.strip():
        first = (proc.stderr.strip() or proc.stdout.strip() or "no output").splitlines()[:3]
        raise BuildError(f"{prof.name} build of the engine failed: {' | '.join(first)}")
    return out


def build_sanitized(out_dir: Path) -> Path:
    """The ASan + UBSan host build used for the bad-input tests."""
    return build_engine("sanitize", out_dir, name="run-asan")


def build_mingw(out_dir: Path) -> Path:
    """The MinGW i686 Win32 console exe (runs under Wine)."""
    return build_engine("mingw", out_dir, name="run")
