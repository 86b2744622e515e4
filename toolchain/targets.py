"""Targets: one YAML file per (OS, CPU, compiler) combination, checked by a
typed schema.

A target file may ``extends:`` another (its base), whose values it overrides
key by key (mappings merge, lists and scalars replace).  The pydantic model
below is the one source of truth for what a target may say; every error in a
file is reported at once as ``targets/x.yaml:LINE:COL: message`` so a user
can fix them all in one pass.  Aliases such as ``win98`` (pick the first
target whose compiler is installed) are data in ``targets/aliases.yaml``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from toolchain import paths
from toolchain.errors import ConfigError

OsName = Literal["win95", "win95osr2", "win98", "win98se", "winme", "nt4", "dos"]
CpuName = Literal[
    "i386", "i486", "pentium", "pentium-mmx", "k6", "k6-2", "pentiumpro", "pentium2", "pentium3"
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Platform(_Strict):
    """The machine the exe must run on."""

    os: OsName = Field(description="Operating system and API level the imports are checked against")
    os_name: str = Field(description="Human name of the OS, for README.TXT")
    cpu: CpuName = Field(description="CPU baseline: no instruction beyond it may appear in the exe")
    cpu_name: str = Field(description="Human name of the CPU baseline, for README.TXT")
    ram_mb: int = Field(gt=0, description="Typical RAM of such a machine; build warns when a model needs more")
    max_file_bytes: int = Field(gt=0, description="Largest file the target's file system holds")
    simd: Literal["none", "mmx"] = Field("none", description="SIMD the engine may use for int8 kernels")


class Compiler(_Strict):
    """How to compile the engine with this target's compiler."""

    family: Literal["mingw", "watcom", "borland"] = Field(description="Compiler family (one module each)")
    name: str = Field(description="Human name, e.g. 'Borland C++ 5.02'")
    cc: str = Field(description="Compiler executable (a name on PATH or relative to the compiler root)")
    strip: str | None = Field(None, description="Strip tool, when the compiler has one")
    std: list[str] = Field(default_factory=list, description="Flags selecting strict C89")
    optimize: list[str] = Field(default_factory=list, description="Optimisation flags")
    cpu_flags: list[str] = Field(default_factory=list, description="Instruction-set flags for the baseline")
    fp_flags: list[str] = Field(default_factory=list, description="Floating-point flags (x87, no SSE)")
    defines: list[str] = Field(default_factory=list, description="Preprocessor defines, NAME or NAME=VALUE")
    extra: list[str] = Field(default_factory=list, description="Any other compile flags")
    simd_defines: dict[Literal["mmx"], list[str]] = Field(
        default_factory=dict,
        description="Defines that switch on the engine's SIMD kernels, per platform.simd, where this "
        "compiler's kernels are tested (e.g. mmx: [RL_MMX])",
    )


class Linker(_Strict):
    """How the exe is linked: PE header fields the old loader checks."""

    subsystem: Literal["console"] = "console"
    subsystem_version: str = Field(description="PE subsystem/OS version, '4.0' for 95/98/NT4")
    stack_reserve: int = Field(gt=0, description="Stack reserve in bytes")
    startup: Literal["default", "own"] = Field(
        "default", description="'own' replaces the C runtime startup (engine/startup) for pre-P6 CPUs"
    )
    flags: list[str] = Field(default_factory=list, description="Extra linker flags")
    libs: list[str] = Field(default_factory=list, description="Libraries to link")

    @field_validator("subsystem_version")
    @classmethod
    def _version(cls, v: str) -> str:
        parts = v.split(".")
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            raise ValueError("must look like '4.0' (quote it in YAML)")
        return v


class Make(_Strict):
    """Which make dialect and template render the makefile."""

    dialect: Literal["gnu", "borland", "wmake"]
    template: str = Field(description="Template file under templates/")
    makefile: str = Field(description="8.3 name of the makefile in the bundle")
    program: str = Field(description="The make program BUILD.BAT runs on the old PC")


class Names(_Strict):
    """File names in the bundle: 8.3, upper case, for DOS-era tools."""

    exe: str = "RUN.EXE"
    model: str = "MODEL.BIN"
    tokenizer: str = "TOKENIZ.BIN"

    @field_validator("exe", "model", "tokenizer")
    @classmethod
    def _eight_three(cls, v: str) -> str:
        if not is_83(v):
            raise ValueError(f"{v!r} is not an upper-case 8.3 name")
        return v


class Target(_Strict):
    """A complete, buildable target."""

    name: str
    description: str
    platform: Platform
    compiler: Compiler
    linker: Linker
    make: Make
    names: Names = Names()


class TargetFile(_Strict):
    """What a YAML file may contain before ``extends:`` is resolved."""

    extends: str | list[str] | None = None
    abstract: bool = Field(False, description="A base that is not built on its own")
    description: str | None = None
    platform: dict[str, Any] | None = None
    compiler: dict[str, Any] | None = None
    linker: dict[str, Any] | None = None
    make: dict[str, Any] | None = None
    names: dict[str, Any] | None = None


def default_dir() -> Path:
    """The targets folder: ``$RETROLLAMA_TARGETS`` (your own targets) or the project's."""
    env = os.environ.get("RETROLLAMA_TARGETS", "").strip()
    return Path(env).expanduser() if env else paths.TARGETS_DIR


def is_83(name: str) -> bool:
    """True for an upper-case DOS 8.3 name made of safe characters."""
    stem, dot, ext = name.partition(".")
    ok = set("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
    return (
        0 < len(stem) <= 8
        and len(ext) <= 3
        and (bool(ext) or not dot)
        and set(stem) <= ok
        and set(ext) <= ok
    )


# --------------------------------------------------------------------------
# Loading with line numbers


@dataclass(frozen=True)
class _Doc:
    path: Path
    data: dict[str, Any]
    node: yaml.Node


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(paths.REPO_ROOT))
    except ValueError:
        return str(path)


def _read(path: Path) -> _Doc:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{_rel(path)}: no such target file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{_rel(path)}: cannot read: {exc}") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{mark.line + 1}:{mark.column + 1}" if mark else "1:1"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{_rel(path)}:{where}: YAML syntax error: {problem}") from None
    if data is None:
        data, node = {}, yaml.MappingNode("tag:yaml.org,2002:map", [])
    if not isinstance(data, dict):
        raise ConfigError(f"{_rel(path)}:1:1: a target file must be a mapping of keys")
    return _Doc(path, data, node)


def _node_at(node: yaml.Node, loc: tuple[Any, ...], key_node: bool = False) -> yaml.Node | None:
    """Follow a pydantic ``loc`` through a composed YAML tree."""
    current: yaml.Node | None = node
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        if isinstance(current, yaml.MappingNode):
            for k, v in current.value:
                if k.value == str(part):
                    current = k if (last and key_node) else v
                    break
            else:
                return None
        elif isinstance(current, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(current.value):
                return None
            current = current.value[part]
        else:
            return None
    return current


def _locate(chain: list[_Doc], loc: tuple[Any, ...], key_node: bool) -> tuple[_Doc, yaml.Node]:
    """The file (child first) and node a validation error refers to."""
    for doc in chain:
        hit = _node_at(doc.node, loc, key_node)
        if hit is not None:
            return doc, hit
    # Missing field: point at the deepest existing parent in the leaf file.
    leaf = chain[0]
    for cut in range(len(loc) - 1, -1, -1):
        hit = _node_at(leaf.node, loc[:cut])
        if hit is not None:
            return leaf, hit
    return leaf, leaf.node


def _format_errors(chain: list[_Doc], exc: ValidationError, prefix: tuple[Any, ...] = ()) -> list[str]:
    lines = []
    for err in exc.errors():
        loc = prefix + tuple(err["loc"])
        doc, node = _locate(chain, loc, key_node=err["type"] == "extra_forbidden")
        dotted = ".".join(str(p) for p in loc) or "(top)"
        msg = err["msg"]
        if err["type"] not in ("missing",) and "input" in err and not isinstance(err["input"], dict):
            msg += f" (got {err['input']!r})"
        mark = node.start_mark
        lines.append(f"{_rel(doc.path)}:{mark.line + 1}:{mark.column + 1}: {dotted}: {msg}")
    return lines


def _merge(base: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in child.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _resolve(name: str, directory: Path, stack: tuple[str, ...] = ()) -> tuple[dict[str, Any], list[_Doc]]:
    """Merge ``name`` over its bases; also return its files, highest precedence first.

    ``extends:`` names one base or a list of them, merged left to right, so a
    target can combine a platform base (win98-base) with a compiler base
    (mingw) without repeating either.
    """
    if name in stack:
        raise ConfigError(f"{_rel(directory / (stack[0] + '.yaml'))}: 'extends:' loops through {name!r}")
    doc = _read(directory / f"{name}.yaml")
    parents = doc.data.get("extends")
    if isinstance(parents, str):
        parents = [parents]
    if parents is None:
        parents = []
    if not (isinstance(parents, list) and all(isinstance(p, str) for p in parents)):
        node = _node_at(doc.node, ("extends",))
        mark = node.start_mark if node else doc.node.start_mark
        raise ConfigError(
            f"{_rel(doc.path)}:{mark.line + 1}:{mark.column + 1}: extends: must be a target name or a list of them"
        )
    merged: dict[str, Any] = {}
    docs: list[_Doc] = []
    for parent in parents:
        if not (directory / f"{parent}.yaml").is_file():
            node = _node_at(doc.node, ("extends",))
            mark = node.start_mark if node else doc.node.start_mark
            raise ConfigError(f"{_rel(doc.path)}:{mark.line + 1}:{mark.column + 1}: extends: no target file {parent!r}")
        data, parent_docs = _resolve(parent, directory, stack + (name,))
        merged = _merge(merged, data)
        docs = parent_docs + docs
    own = {k: v for k, v in doc.data.items() if k not in ("extends", "abstract")}
    return _merge(merged, own), [doc] + docs


def load_target(name: str, directory: Path | None = None) -> Target:
    """Load, merge and validate one target; all problems in one ConfigError."""
    directory = directory or default_dir()
    if not (directory / f"{name}.yaml").is_file():
        known = ", ".join(target_names(directory)) or "none"
        raise ConfigError(f"unknown target {name!r} (known: {known}; aliases: {', '.join(aliases(directory))})")
    merged, chain = _resolve(name, directory)
    problems: list[str] = []
    for doc in chain:
        try:
            TargetFile.model_validate(doc.data)
        except ValidationError as exc:
            problems += _format_errors([doc], exc)
    if problems:
        raise ConfigError("\n".join(problems))
    if chain[0].data.get("abstract"):
        raise ConfigError(f"{_rel(chain[0].path)}: {name!r} is an abstract base, not a buildable target")
    merged["name"] = name
    try:
        return Target.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError("\n".join(_format_errors(chain, exc))) from None


def target_names(directory: Path | None = None) -> list[str]:
    """Every buildable (non-abstract) target, sorted."""
    directory = directory or default_dir()
    names = []
    for path in sorted(directory.glob("*.yaml")):
        if path.name == "aliases.yaml":
            continue
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError):
            names.append(path.stem)  # broken files still show up, and fail when loaded
            continue
        if not (isinstance(data, dict) and data.get("abstract")):
            names.append(path.stem)
    return names


def aliases(directory: Path | None = None) -> dict[str, list[str]]:
    """``targets/aliases.yaml``: alias -> candidate targets in preference order."""
    path = (directory or default_dir()) / "aliases.yaml"
    if not path.is_file():
        return {}
    doc = _read(path)
    out: dict[str, list[str]] = {}
    for key, value in doc.data.items():
        if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            node = _node_at(doc.node, (key,))
            mark = node.start_mark if node else doc.node.start_mark
            raise ConfigError(f"{_rel(path)}:{mark.line + 1}:{mark.column + 1}: {key}: must be a list of target names")
        out[str(key)] = value
    return out
