"""A named model against a named PC: what ``models list`` and ``inspect`` work out.

The user names a model as a file or a registry name (planned from the
registry's shape when it is not downloaded) and a PC as ``--ram`` or a
target (its typical RAM and largest file).  The tasks only print what these
functions return.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from toolchain.errors import ConfigError
from toolchain.models import fit, registry

MB = 1024 * 1024


@dataclass(frozen=True)
class PC:
    """The old PC a model is judged for; ``ram_bytes`` None when none was named."""

    ram_bytes: int | None = None
    max_file_bytes: int | None = None
    why: str = ""  # where the RAM figure comes from, for the output


def pc(ram: str | None, target: str | None) -> PC:
    """``--ram`` and ``--target`` -> the PC (an alias such as win98 means its
    first target: its targets share one platform)."""
    platform = None
    if target:
        from toolchain import targets

        platform = targets.resolve(target)[0].platform
    max_file = platform.max_file_bytes if platform else None
    if ram:
        return PC(fit.parse_size(ram), max_file, f"--ram {ram}")
    if platform:
        return PC(platform.ram_mb * MB, max_file, f"a typical {platform.os_name} PC ({target})")
    return PC()


def estimate_named(model: str, tokenizer: Path | None, steps: int, quant: str,
                   max_file_bytes: int | None) -> tuple[str, fit.Estimate]:
    """(title, estimate) for a checkpoint file or a registry name.

    A registry name is estimated from the downloaded file when it is cached
    (with its cached tokenizer unless one is given), else from its shape.
    """
    path = Path(model)
    if path.is_file():
        return str(path), fit.estimate(path, steps=steps, tokenizer=tokenizer, quant=quant,
                                       max_file_bytes=max_file_bytes)
    if path.suffix or "/" in model:
        raise ConfigError(f"{model}: no such checkpoint file (or registry name; see `invoke models`)")
    entries = registry.load()
    entry = registry.get(model, entries)
    if entry.config is None:
        raise ConfigError(f"{model}: is a tokenizer, not a model")
    cached = registry.cached_path(entry)
    if tokenizer is None and entry.tokenizer:
        tok_path = registry.cached_path(entries[entry.tokenizer])
        tokenizer = tok_path if tok_path.is_file() else None
    if cached.is_file():
        est = fit.estimate(cached, steps=steps, tokenizer=tokenizer, quant=quant, max_file_bytes=max_file_bytes)
        return f"{entry.name} ({cached})", est
    est = fit.estimate_config(entry.config.to_config(), file_bytes=entry.size, steps=steps,
                              tokenizer=tokenizer, quant=quant, max_file_bytes=max_file_bytes)
    return f"{entry.name} (from the registry; not downloaded)", est


@dataclass(frozen=True)
class Row:
    """One registry entry as ``models list`` shows it."""

    entry: registry.Entry
    estimate: fit.Estimate | None  # None for a tokenizer
    fits: str  # "fp32", "int8 only", "no"; "" without a PC or for a tokenizer
    cache: str


def catalogue(steps: int, machine: PC) -> list[Row]:
    """Every registry entry with its estimate and whether it fits ``machine``."""
    rows = []
    for entry in registry.load().values():
        est, fits = None, ""
        if entry.config is not None:
            config = entry.config.to_config()
            est = fit.estimate_config(config, file_bytes=entry.size, steps=steps,
                                      max_file_bytes=machine.max_file_bytes)
            if machine.ram_bytes:
                int8 = dataclasses.replace(est, quant="int8")  # the same estimate, judged for int8 weights
                fits = ("fp32" if est.fits(machine.ram_bytes)
                        else "int8 only" if int8.fits(machine.ram_bytes) else "no")
        rows.append(Row(entry, est, fits, registry.cache_state(entry)))
    return rows
