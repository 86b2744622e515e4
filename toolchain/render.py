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
from toolchain.dostext import MAX_COLUMNS, check_dos_text, write_dos_text
from toolchain.targets import Target
from toolchain.templating import environment, render, wrap

__all__ = [
    "MAX_COLUMNS", "SourceSet", "check_dos_text", "compile_flags", "environment", "link_flags",
    "makefile_context", "render_build_bat", "render_makefile", "render_readme", "render_run_bat",
    "write_dos_text", "wrap",
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


def render_run_bat(target: Target, *, prompt: str, steps: int) -> str:
    """RUN.BAT: run the model with a default prompt, or pass arguments on."""
    return render("run.bat.j2", target=target, prompt=prompt, steps=steps)


def render_readme(target: Target, **facts: Any) -> str:
    """README.TXT: what it is, what to type, memory and speed, rebuilding."""
    return render("readme.txt.j2", target=target, version=__version__, **facts)
