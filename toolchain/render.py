"""Rendering: target + source list -> makefile, BUILD.BAT, RUN.BAT, README.TXT.

All DOS-side text is rendered with CRLF line ends (``toolchain.templating``;
GNU make reads CRLF makefiles too, so the file that builds here is the file
in the bundle) and checked by the DOS-text policy (``toolchain.dostext``).
The compile flags come from ``compilers.compile_flags``, the one place a
target's recipe is assembled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from toolchain import __version__
from toolchain.compilers import compile_flags, toolchain_for
from toolchain.dosbatch import bat_text
from toolchain.dostext import MAX_COLUMNS, check_dos_text, write_dos_text
from toolchain.errors import ConfigError
from toolchain.targets import Target
from toolchain.templating import environment, render, wrap

__all__ = [
    "MAX_COLUMNS",
    "SourceSet",
    "check_dos_text",
    "compile_flags",
    "environment",
    "link_flags",
    "makefile_context",
    "render_build_bat",
    "render_makefile",
    "render_readme",
    "render_run_bat",
    "run_defaults",
    "wrap",
    "write_dos_text",
]


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
    return render(target.make.template, **makefile_context(target, sources))


def _setup_lines(target: Target) -> list[str]:
    """BUILD.BAT's note on the compiler's variables; a family may have
    other lines per OS (``dos_setup_by_os``: Watcom on MS-DOS)."""
    family = toolchain_for(target)
    lines: list[str] = getattr(family, "dos_setup_by_os", {}).get(target.platform.os, family.dos_setup)
    return lines


def render_build_bat(target: Target) -> str:
    """BUILD.BAT: rebuild RUN.EXE on the old PC with the target's compiler."""
    ctx = {"target": target, "makefile": target.make.makefile, "exe_lower": target.names.exe.lower(),
           "make_args": toolchain_for(target).dos_make_args(target.make.makefile),
           "setup": _setup_lines(target)}
    return render("build.bat.j2", **ctx)


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
    return render("run.bat.j2", target=target, prompt=prompt, defaults=defaults)


def render_readme(target: Target, **facts: Any) -> str:
    """README.TXT: what it is, what to type, memory and speed, rebuilding."""
    return render("readme.txt.j2", target=target, version=__version__, **facts)
