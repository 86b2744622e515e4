"""The OS and CPU names the audit understands, taken from its data files.

The names match ``platform.os`` / ``platform.cpu`` of a target file, but the
audit does not import the target schema: callers pass plain strings, and a
wrong one is reported here with the list of valid names.
"""

from __future__ import annotations

import functools
from pathlib import Path

from pydantic import Field

from toolchain import paths, yamlfile
from toolchain.errors import ConfigError

WINAPI_DIR: Path = paths.DATA_DIR / "winapi"
CPU_BASELINES: Path = paths.DATA_DIR / "cpu_baselines.yaml"
# Non-Windows target OSes: their exes are checked by audit.mz, not as a PE
# with imports, so they have no entry in os_apis.yaml.
DOS_OSES: tuple[str, ...] = ("dos",)


def os_names() -> tuple[str, ...]:
    """Target OS names: the Windows ones in the order of ``os_apis.yaml``, then DOS."""
    return tuple(os_apis().os) + DOS_OSES


def cpu_names() -> tuple[str, ...]:
    """CPU baseline names, in the order of ``cpu_baselines.yaml``."""
    return tuple(baselines().baselines)


def check_os(os: str) -> str:
    """Return ``os`` or raise ConfigError naming the valid choices."""
    if os not in os_names():
        raise ConfigError(f"unknown target OS {os!r} (choose from {', '.join(os_names())})")
    return os


def check_cpu(cpu: str) -> str:
    """Return ``cpu`` or raise ConfigError naming the valid choices."""
    if cpu not in cpu_names():
        raise ConfigError(f"unknown CPU baseline {cpu!r} (choose from {', '.join(cpu_names())})")
    return cpu


def is_9x(os: str) -> bool:
    """Windows 95/98/ME share the 9x loader quirks; NT 4.0 does not."""
    return os != "nt4"


# --- the audit's data files, read through their schemas --------------------
# Every problem in a hand edit is one ``file:LINE:COL: field: what`` line.


class Rule(yamlfile.Strict):
    """Which instructions belong to a set: every condition given must hold."""

    mnemonics: list[str] | None = None
    prefixes: list[str] | None = None
    suffixes: list[str] | None = None
    operands: str | None = Field(None, description="regex over the operand text")
    opcode: str | None = Field(None, pattern=r"^([0-9a-f]{2})+$", description="leading opcode bytes, hex")


class InsnSet(yamlfile.Strict):
    title: str
    rules: list[Rule] = Field(min_length=1)


class Baseline(yamlfile.Strict):
    reject: list[str] = []
    warn: list[str] = []


class BaselinesFile(yamlfile.Strict):
    """``cpu_baselines.yaml``: instruction sets, and which each CPU and OS refuses."""

    sets: dict[str, InsnSet]
    groups: dict[str, str] = {}
    never_reject: list[str] = []
    order: list[str]
    baselines: dict[str, Baseline]
    os: dict[str, Baseline] = {}


class OsEntry(yamlfile.Strict):
    title: str
    dlls: dict[str, list[str]] = Field(description="DLL -> export list files in this folder")
    extra: dict[str, list[str]] = {}
    no_msvcrt: bool = False
    warn_list: bool = False


class OsApisFile(yamlfile.Strict):
    """``winapi/os_apis.yaml``: which export lists answer for each Windows."""

    earliest: list[str]
    os: dict[str, OsEntry]
    edge_case_only: list[str] = []
    implemented_on_9x: list[str] = []


@functools.cache
def baselines(path: Path = CPU_BASELINES) -> BaselinesFile:
    """The validated ``cpu_baselines.yaml``."""
    doc: BaselinesFile = yamlfile.load_model(path, BaselinesFile)
    for where, names in (("order", doc.order), *((f"baselines.{k}.reject", b.reject) for k, b in doc.baselines.items()),
                         *((f"os.{k}", [*b.reject, *b.warn]) for k, b in doc.os.items())):
        unknown = [n for n in names if n not in doc.sets]
        if unknown:
            raise ConfigError(f"{path}: {where}: {', '.join(unknown)} is not a set under sets:")
    return doc


@functools.cache
def os_apis(path: Path = WINAPI_DIR / "os_apis.yaml") -> OsApisFile:
    """The validated ``winapi/os_apis.yaml``."""
    doc: OsApisFile = yamlfile.load_model(path, OsApisFile)
    return doc
