"""Rendering: target + source list -> makefile, BUILD.BAT, RUN.BAT, README.TXT.

All DOS-side text is rendered with CRLF line ends by Jinja2 (GNU make reads
CRLF makefiles too, so the file that builds here is the file in the bundle)
and must be 7-bit ASCII with lines of at most 80 columns; ``check_dos_text``
enforces that for every file the bundle gets.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from toolchain import paths
from toolchain.compilers import toolchain_for
from toolchain.dosbatch import bat_text
from toolchain.errors import BuildError, ConfigError
from toolchain.targets import Target

MAX_COLUMNS = 80


def wrap(items: Iterable[str] | str, indent: int, cont: str = " \\", width: int = 78) -> str:
    """Join words into continuation lines that fit ``width`` columns.

    ``indent`` is the column where the value starts on the first line (after
    ``NAME = ``); continuation lines are indented to the same column.
    """
    words = items.split() if isinstance(items, str) else list(items)
    lines: list[str] = []
    current = ""
    for word in words:
        candidate = f"{current} {word}" if current else word
        if current and indent + len(candidate) + len(cont) > width:
            lines.append(current)
            current = word
        else:
            current = candidate
    lines.append(current)
    return (cont + "\n" + " " * indent).join(lines)


def environment() -> Environment:
    """The Jinja2 environment for every template: strict, CRLF, literal tabs."""
    env = Environment(
        loader=FileSystemLoader(str(paths.TEMPLATES_DIR)),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        newline_sequence="\r\n",
        autoescape=False,
    )
    env.filters["wrap"] = wrap
    env.filters["bat"] = bat_text
    return env


def _render(template: str, **ctx: Any) -> str:
    """Render a template; every line end becomes CRLF (filters emit LF)."""
    text = environment().get_template(template).render(**ctx)
    return text.replace("\r\n", "\n").replace("\n", "\r\n")


def compile_flags(target: Target) -> list[str]:
    """Every compile flag of a target, in a fixed order."""
    c = target.compiler
    prefix = toolchain_for(target).define_prefix
    defines = [*c.defines]
    if target.platform.simd != "none":
        defines += c.simd_defines.get(target.platform.simd, [])
    return [*c.std, *c.optimize, *c.cpu_flags, *c.fp_flags, *c.extra, *(prefix + d for d in defines)]


def link_flags(target: Target) -> list[str]:
    """GNU-style link flags (used by the gnu dialect only; the others put the
    same facts into their own linker syntax in the template)."""
    ln = target.linker
    return [
        f"-Wl,--subsystem,{ln.subsystem}:{ln.subsystem_version}",
        f"-Wl,--stack,{ln.stack_reserve:#x}",
        *ln.flags,
    ]


@dataclass(frozen=True)
class SourceSet:
    """The C files and headers of one build, as names inside the src folder."""

    c_files: tuple[str, ...]
    headers: tuple[str, ...]


def makefile_context(target: Target, sources: SourceSet) -> dict[str, Any]:
    """The values every makefile template sees."""
    suffix = toolchain_for(target).object_suffix
    units = [(src, src.rsplit(".", 1)[0] + suffix) for src in sources.c_files]
    return {
        "target": target,
        "makefile": target.make.makefile,
        "exe_lower": target.names.exe.lower(),
        "cflags": compile_flags(target),
        "ldflags": link_flags(target),
        "libs": target.linker.libs,
        "objects": [obj for _, obj in units],
        "headers": list(sources.headers),
        "compile_units": units,
    }


def render_makefile(target: Target, sources: SourceSet) -> str:
    """The makefile for the target's make dialect."""
    return _render(target.make.template, **makefile_context(target, sources))


def render_build_bat(target: Target) -> str:
    """BUILD.BAT: rebuild RUN.EXE on the old PC with the target's compiler."""
    ctx = {"target": target, "makefile": target.make.makefile, "exe_lower": target.names.exe.lower()}
    return _render("build.bat.j2", **ctx)


def run_defaults(steps: int, temperature: float = 1.0, topp: float = 0.9, seed: int | None = None) -> str:
    """The flags RUN.BAT passes first (the user's own come after and win).

    A value equal to the engine's own default (llama2.c's: 256 steps,
    temperature 1.0, top-p 0.9, seed from the clock) is left out, which
    leaves more of RUN.BAT's 80-column line for the prompt.
    """
    flags = [f"-n {steps}" if steps != 256 else "", f"-t {temperature:g}" if temperature != 1.0 else "",
             f"-p {topp:g}" if topp != 0.9 else "", f"-s {seed}" if seed is not None else ""]
    return " ".join(f for f in flags if f)


def render_run_bat(target: Target, *, prompt: str, steps: int, temperature: float = 1.0, topp: float = 0.9,
                   seed: int | None = None) -> str:
    """RUN.BAT: run the model with a default prompt, or pass every argument on.

    The default command is one batch line, which must fit 80 columns like
    every line of the bundle's text: a longer prompt is refused here with
    the number that fits (it can still be typed on the old PC).
    """
    defaults = run_defaults(steps, temperature, topp, seed)
    n = target.names
    room = MAX_COLUMNS - len(" ".join(filter(None, (n.exe, n.model, "-z", n.tokenizer, defaults, '-i ""'))))
    escaped = bat_text(prompt, "--prompt")
    if len(escaped) > room:
        raise ConfigError(
            f"--prompt {prompt[:40]!r}...: {len(escaped)} characters, but at most {room} fit RUN.BAT's "
            f"default line ({MAX_COLUMNS} columns); type a longer one on the old PC: RUN -i \"...\""
        )
    return _render("run.bat.j2", target=target, prompt=prompt, defaults=defaults)


def render_readme(target: Target, **facts: Any) -> str:
    """README.TXT: what it is, what to type, memory and speed, rebuilding."""
    from toolchain import __version__

    return _render("readme.txt.j2", target=target, version=__version__, **facts)


def check_dos_text(name: str, text: str) -> None:
    """Refuse text a DOS-era editor or COMMAND.COM would choke on."""
    for number, line in enumerate(text.split("\r\n"), start=1):
        if "\n" in line or "\r" in line:
            raise BuildError(f"{name}:{number}: line does not end in CRLF")
        if not line.isascii():
            raise BuildError(f"{name}:{number}: not 7-bit ASCII")
        if len(line) > MAX_COLUMNS:
            raise BuildError(f"{name}:{number}: {len(line)} columns (at most {MAX_COLUMNS})")
    if not text.endswith("\r\n"):
        raise BuildError(f"{name}: must end with CRLF")


def write_dos_text(path: Path, text: str) -> Path:
    """Check and write a DOS text file byte for byte (no newline translation)."""
    check_dos_text(path.name, text)
    path.write_bytes(text.encode("ascii"))
    return path
