"""``toolchain/data/cost_model.yaml``: the figures every speed and fit estimate starts from.

Two readers share the file: ``models.fit`` (the calibration machine, the
planning constants) and ``cycles`` (the engine's recorded cycles per token).
Both read it through this schema, so a hand edit that breaks a value is one
``cost_model.yaml:LINE:COL: field: what is wrong`` line for either.
"""

from __future__ import annotations

import functools
from pathlib import Path

from pydantic import Field

from toolchain import paths, yamlfile
from toolchain.models.registry import Shape

COST_FILE = paths.DATA_DIR / "cost_model.yaml"


class CyclePoint(yamlfile.Strict):
    """One `invoke bench` measurement: compute cycles per token on each CPU."""

    model: str
    config: Shape
    steps: int = Field(gt=0)
    compute: dict[str, float] = Field(description="CPU key in cpu_cycles.yaml -> cycles per token")
    compute_no_mmx: dict[str, float] = Field({}, description="the same with the portable int8 kernel, on MMX CPUs")


class EngineCycles(yamlfile.Strict):
    source: str = Field(description="Which bench run the figures come from")
    fp32: list[CyclePoint] = Field(min_length=2)
    int8: list[CyclePoint] = Field(min_length=1)


class Measured(yamlfile.Strict):
    model: str = Field(description="A registry name")
    tok_per_s: float = Field(gt=0)


class Calibration(yamlfile.Strict):
    machine: str
    steps: int = Field(gt=0)
    points: list[Measured] = Field(min_length=2, max_length=2)


class DiskSpeed(yamlfile.Strict):
    low: float = Field(gt=0)
    high: float = Field(gt=0)


class CostFile(yamlfile.Strict):
    engine_cycles: EngineCycles
    calibration: Calibration
    os_reserve_mb: int = Field(gt=0, description="RAM Windows keeps for itself")
    dos_reserve_mb: int = Field(gt=0, description="RAM DOS and its extender keep for themselves")
    file_limits: dict[str, int] = Field(description="file system -> its largest file in bytes")
    address_space_bytes: int = Field(gt=0)
    disk_mb_per_s: DiskSpeed


@functools.cache
def load(path: Path = COST_FILE) -> CostFile:
    """The validated file; ConfigError with one line per problem."""
    result: CostFile = yamlfile.load_model(path, CostFile)
    return result
