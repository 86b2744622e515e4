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
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator

from toolchain import compilers, paths, yamlfile
from toolchain.errors import ConfigError

OsName = Literal["win95", "win95osr2", "win98", "win98se", "winme", "nt4", "dos"]
CpuName = Literal[
    "i386", "i486", "pentium", "pentium-mmx", "k6", "k6-2", "pentiumpro", "pentium2", "pentium3"
]


class Platform(yamlfile.Strict):
    """The machine the exe must run on."""

    os: OsName = Field(description="Operating system and API level the imports are checked against")
    os_name: str = Field(description="Human name of the OS, for README.TXT")
    cpu: CpuName = Field(description="CPU baseline: no instruction beyond it may appear in the exe")
    cpu_name: str = Field(description="Human name of the CPU baseline, for README.TXT")
    ram_mb: int = Field(gt=0, description="Typical RAM of such a machine; build warns when a model needs more")
    max_file_bytes: int = Field(gt=0, description="Largest file the target's file system holds")
    simd: Literal["none", "mmx"] = Field("none", description="SIMD the engine may use for int8 kernels")


class Compiler(yamlfile.Strict):
    """How to compile the engine with this target's compiler."""

    family: str = Field(pattern=r"^[a-z][a-z0-9_]*$",
                        description="Compiler family: a module in toolchain/compilers (mingw, watcom, borland)")
    name: str = Field(description="Human name, e.g. 'Borland C++ 5.02'")
    cc: str = Field(description="Compiler executable (a name on PATH or relative to the compiler root)")
    strip: str | None = Field(None, description="Strip tool, when the compiler has one")
    std: list[str] = Field(default_factory=list, description="Flags selecting strict C89")
    optimize: list[str] = Field(default_factory=list, description="Optimisation flags")
    cpu_flags: list[str] = Field(default_factory=list, description="Instruction-set flags for the baseline")
    fp_flags: list[str] = Field(default_factory=list, description="Floating-point flags (x87, no SSE)")
    defines: list[str] = Field(default_factory=list, description="Preprocessor defines, NAME or NAME=VALUE")
    extra: list[str] = Field(default_factory=list, description="Any other compile flags")
    runtime_dll: str | None = Field(
        None, description="C runtime DLL the exe imports (msvcrt.dll for MinGW), which an old OS may lack; "
        "null when the runtime is linked in statically (Borland, Open Watcom)",
    )
    simd_defines: dict[Literal["mmx"], list[str]] = Field(
        default_factory=dict,
        description="Defines that switch on the engine's SIMD kernels, per platform.simd, where this "
        "compiler's kernels are tested (e.g. mmx: [RL_MMX])",
    )


class Linker(yamlfile.Strict):
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


class Make(yamlfile.Strict):
    """Which make dialect and template render the makefile."""

    dialect: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="Make dialect, e.g. gnu, borland, wmake")
    template: str = Field(description="Template file under templates/")
    makefile: str = Field(description="8.3 name of the makefile in the bundle")
    program: str = Field(description="The make program BUILD.BAT runs on the old PC")


class Names(yamlfile.Strict):
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


class Target(yamlfile.Strict):
    """A complete, buildable target."""

    name: str
    description: str
    platform: Platform
    compiler: Compiler
    linker: Linker
    make: Make
    names: Names = Names()


class TargetFile(yamlfile.Strict):
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
# Loading with line numbers (the hostile-input limits live in toolchain.yamlfile)

_Doc = yamlfile.Document
_PLAIN_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]*$")
MAX_TARGET_BYTES = 64 * 1024  # a target file is about 1 KB


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(paths.REPO_ROOT))
    except ValueError:
        return str(path)


def _read(path: Path, what: str = "a target file") -> _Doc:
    """A target (or aliases) file as a mapping; an empty file is an empty mapping."""
    if not path.exists():
        raise ConfigError(f"{_rel(path)}: no such target file")
    doc = yamlfile.load(path, _rel(path), max_bytes=MAX_TARGET_BYTES)
    if doc.data is None:
        raise ConfigError(f"{doc.at(None)}: the file is empty; {what} must be a mapping of keys")
    if not isinstance(doc.data, dict):
        raise ConfigError(f"{doc.at(doc.node)}: {what} must be a mapping of keys, not {yamlfile.describe(doc.node)}")
    return doc


def _locate(chain: list[_Doc], loc: tuple[Any, ...], key_node: bool) -> tuple[_Doc, yaml.Node]:
    """The file (child first) and node a validation error refers to."""
    for doc in chain:
        hit = yamlfile.node_at(doc.node, loc, key_node)
        if hit is not None:
            return doc, hit
    # Missing field: point at the deepest existing parent in the leaf file.
    return chain[0], yamlfile.nearest_node(chain[0], loc)


def _format_errors(chain: list[_Doc], exc: ValidationError) -> list[str]:
    """One line per error, at the file and node the value came from (never its expansion)."""
    lines = []
    for err in exc.errors(include_input=False, include_url=False):
        loc = tuple(err["loc"])
        doc, node = _locate(chain, loc, key_node=err["type"] == "extra_forbidden")
        dotted = ".".join(str(p) for p in loc) or "(top)"
        msg = err["msg"]
        exact = yamlfile.node_at(doc.node, loc)
        if err["type"] != "missing" and isinstance(exact, yaml.ScalarNode):
            msg += f" (got {yamlfile.describe(exact)})"
        lines.append(f"{doc.at(node)}: {dotted}: {msg}")
    return lines


def _merge(base: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in child.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _parents(doc: _Doc, directory: Path) -> list[str]:
    """The names ``extends:`` gives, each a plain file name inside ``directory``."""
    parents = doc.data.get("extends")
    node = yamlfile.node_at(doc.node, ("extends",))
    if isinstance(parents, str):
        parents = [parents]
    if parents is None:
        return []
    if not (isinstance(parents, list) and all(isinstance(p, str) for p in parents)):
        raise ConfigError(f"{doc.at(node)}: extends: must be a target name or a list of them")
    for i, parent in enumerate(parents):
        item = node.value[i] if isinstance(node, yaml.SequenceNode) else node
        if not _PLAIN_NAME.match(parent) or (directory / f"{parent}.yaml").resolve().parent != directory.resolve():
            raise ConfigError(
                f"{doc.at(item)}: extends: {yamlfile.describe(item)} is not a target name "
                f"(bases are files in {_rel(directory)}, named without folder or .yaml)"
            )
        if not (directory / f"{parent}.yaml").is_file():
            raise ConfigError(f"{doc.at(item)}: extends: no target file {parent!r}")
    return parents


def _resolve(name: str, directory: Path, stack: tuple[str, ...] = ()) -> tuple[dict[str, Any], list[_Doc]]:
    """Merge ``name`` over its bases; also return its files, highest precedence first.

    ``extends:`` names one base or a list of them, merged left to right, so a
    target can combine a platform base (win98-base) with a compiler base
    (mingw) without repeating either.  A loop is reported at the
    ``extends:`` that closes it, in the file that says it.
    """
    doc = _read(directory / f"{name}.yaml")
    stack = stack + (name,)
    merged: dict[str, Any] = {}
    docs: list[_Doc] = []
    parents = _parents(doc, directory)
    for i, parent in enumerate(parents):
        if parent in stack:
            node = yamlfile.node_at(doc.node, ("extends",))
            item = node.value[i] if isinstance(node, yaml.SequenceNode) else node
            loop = " -> ".join(stack[stack.index(parent):] + (parent,))
            raise ConfigError(f"{doc.at(item)}: extends: {parent!r} makes a loop ({loop})")
        data, parent_docs = _resolve(parent, directory, stack)
        merged = _merge(merged, data)
        docs = parent_docs + docs
    own = {k: v for k, v in doc.data.items() if k not in ("extends", "abstract")}
    return _merge(merged, own), [doc] + docs


def load_target(name: str, directory: Path | None = None) -> Target:
    """Load, merge and validate one target; all problems in one ConfigError."""
    directory = directory or default_dir()
    if not _PLAIN_NAME.match(name) or not (directory / f"{name}.yaml").is_file():
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


def _files(directory: Path) -> list[Path]:
    return [p for p in sorted(directory.glob("*.yaml")) if p.name != "aliases.yaml"]


def target_names(directory: Path | None = None) -> list[str]:
    """Every buildable (non-abstract) target, sorted; a broken file still shows up (and fails when loaded)."""
    directory = directory or default_dir()
    names = []
    for path in _files(directory):
        try:
            data = _read(path).data
        except ConfigError:
            names.append(path.stem)
            continue
        if not data.get("abstract"):
            names.append(path.stem)
    return names


def load_all(directory: Path | None = None) -> tuple[list[Target], list[str]]:
    """Every buildable target, and one problem line per broken file (bases included).

    ``invoke targets`` shows the good ones and lists every broken file, so
    one bad file does not hide the state of the others.
    """
    directory = directory or default_dir()
    good: list[Target] = []
    problems: list[str] = []
    broken: set[str] = set()
    for path in _files(directory):
        try:
            data = _read(path).data
            TargetFile.model_validate(data)
        except ConfigError as exc:
            problems.append(str(exc))
            broken.add(path.stem)
        except ValidationError as exc:
            problems += _format_errors([_read(path)], exc)
            broken.add(path.stem)
    for name in target_names(directory):
        if name in broken:
            continue
        try:
            good.append(load_target(name, directory))
        except ConfigError as exc:
            text = str(exc)
            if text not in problems:
                problems.append(text)
    return good, problems


def aliases(directory: Path | None = None) -> dict[str, list[str]]:
    """``targets/aliases.yaml``: alias -> candidate targets in preference order."""
    path = (directory or default_dir()) / "aliases.yaml"
    if not path.is_file():
        return {}
    doc = _read(path, "the aliases file")
    out: dict[str, list[str]] = {}
    for key, value in doc.data.items():
        if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            node = yamlfile.node_at(doc.node, (key,))
            raise ConfigError(f"{doc.at(node)}: {key}: must be a list of target names")
        out[str(key)] = value
    return out


def resolve(name: str) -> tuple[Target, compilers.Discovery, str]:
    """A target name or alias -> (target, its compiler discovery, why chosen).

    The one resolver every task uses: an alias stands for the first of its
    targets whose compiler is installed here, else for its first target.
    """
    table = aliases()
    if name not in table:
        target = load_target(name)
        return target, compilers.discover(target), f"{name}"
    skipped: list[str] = []
    tried = []
    for target in (load_target(n) for n in table[name]):
        found = compilers.discover(target)
        if found.found:
            why = f"{name} -> {target.name}: {target.compiler.name} found at {found.path}"
            if skipped:
                why += " (" + "; ".join(skipped) + ")"
            return target, found, why
        skipped.append(f"{target.compiler.name}: {found.problem}")
        tried.append((target, found))
    first, found = tried[0]
    return first, found, f"{name} -> {first.name}: no compiler found (" + "; ".join(skipped) + ")"
