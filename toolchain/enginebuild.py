"""Compile the engine (engine/*.c) on the build host.

The profiles (compiler, flags) live in ``toolchain/data/engine_builds.yaml``
so that the tests, ``invoke bench`` and later stages build exactly the same
programs; this module only turns a profile into a compiler run and a clear
error when the compiler is missing or rejects the code.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from toolchain import paths
from toolchain.errors import BuildError, CompilerMissing, ConfigError

PROFILES_FILE = paths.DATA_DIR / "engine_builds.yaml"
BUILD_TIMEOUT_S = 300


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


def load_profiles(path: Path = PROFILES_FILE) -> dict[str, BuildProfile]:
    """All profiles, by name, read from the YAML data file."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read engine build profiles: {exc}") from None
    profiles: dict[str, BuildProfile] = {}
    for name, item in data.items():
        try:
            profiles[name] = BuildProfile(
                name=name,
                cc=str(item["cc"]),
                flags=tuple(str(f) for f in item.get("flags", [])),
                libs=tuple(str(f) for f in item.get("libs", [])),
                suffix=str(item.get("suffix", "")),
                why=str(item.get("why", "")),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(f"{path}: profile {name!r} is malformed ({exc})") from None
    return profiles


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


def build_native(out_dir: Path) -> Path:
    """The plain host build (gcc -std=c89 -O2)."""
    return build_engine("native", out_dir)


def build_sanitized(out_dir: Path) -> Path:
    """The ASan + UBSan host build used for the bad-input tests."""
    return build_engine("sanitize", out_dir, name="run-asan")


def build_i686(out_dir: Path) -> Path:
    """The 32-bit x87 (Pentium II, no SSE) Linux ELF used by the benchmark."""
    return build_engine("i686-pentium2", out_dir, name="run-i686")


def build_mingw(out_dir: Path) -> Path:
    """The MinGW i686 Win32 console exe (runs under Wine)."""
    return build_engine("mingw", out_dir, name="run")
