"""The user-facing defaults, in one typed model, layered the invoke way.

defaults (here) < ``invoke.yaml`` < ``INVOKE_RETROLLAMA_*`` environment
variables < the command line.  invoke merges the middle two into
``c.config.retrollama``; ``from_layers`` adds the command line and checks
the result, so a bad value from any layer is one line naming the setting.
Relative folders are anchored at the project root, never at the directory
invoke was started from; a path the user typed on the command line is taken
as typed.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from toolchain import paths
from toolchain.errors import ConfigError


class Settings(BaseModel):
    """Everything a task may default: one place, one type each."""

    model_config = ConfigDict(extra="forbid")

    target: str = Field("win98", description="Target or alias built, served and inspected by default")
    prompt: str = Field("Once upon a time", description="The prompt RUN.BAT starts the story with")
    steps: int = Field(256, ge=0, description="Tokens RUN.BAT generates (0 = the model's context)")
    out: str = Field("dist", description="Folder for zips and disk images")
    work: str = Field("build", description="Folder for sources, objects and staged bundles")
    models_dir: str | None = Field(None, description="A folder searched for a model pair")


def defaults() -> dict[str, Any]:
    """The defaults as invoke's ``retrollama`` configuration section."""
    return Settings().model_dump()


def anchored(value: str | Path) -> Path:
    """A configured folder: absolute as given, relative under the project root."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else paths.REPO_ROOT / path


def from_layers(config: Mapping[str, Any] | None, **command_line: Any) -> Settings:
    """Settings from invoke's merged configuration plus the options given on
    the command line (None = not given)."""
    merged = {**defaults(), **dict(config or {})}
    merged.update({k: v for k, v in command_line.items() if v is not None})
    try:
        return Settings.model_validate(merged)
    except ValidationError as exc:
        err = exc.errors(include_input=False, include_url=False)[0]
        name = ".".join(str(p) for p in err["loc"])
        given = name in command_line and command_line[name] is not None
        where = f"--{name.replace('_', '-')}" if given else f"setting retrollama.{name}"
        raise ConfigError(f"{where} {merged.get(name)!r}: {err['msg']}") from None
