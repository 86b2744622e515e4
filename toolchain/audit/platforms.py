"""The OS and CPU names the audit understands, taken from its data files.

The names match ``platform.os`` / ``platform.cpu`` of a target file, but the
audit does not import the target schema: callers pass plain strings, and a
wrong one is reported here with the list of valid names.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml

from toolchain import paths
from toolchain.errors import ConfigError

WINAPI_DIR: Path = paths.DATA_DIR / "winapi"
CPU_BASELINES: Path = paths.DATA_DIR / "cpu_baselines.yaml"
# Non-Windows target OSes: their exes are checked by audit.mz, not as a PE
# with imports, so they have no entry in os_apis.yaml.
DOS_OSES: tuple[str, ...] = ("dos",)


@functools.cache
def load_yaml(path: Path) -> Any:
    """Read one of the audit's own data files (cached: they never change in a run)."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read audit data ({exc})") from None


def os_names() -> tuple[str, ...]:
    """Target OS names: the Windows ones in the order of ``os_apis.yaml``, then DOS."""
    return tuple(load_yaml(WINAPI_DIR / "os_apis.yaml")["os"]) + DOS_OSES


def cpu_names() -> tuple[str, ...]:
    """CPU baseline names, in the order of ``cpu_baselines.yaml``."""
    return tuple(load_yaml(CPU_BASELINES)["baselines"])


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
