"""Rendered makefiles, BUILD.BAT and RUN.BAT: golden files for every target,
DOS text rules, and a real build with the rendered GNU makefile.

Set RETRO_UPDATE_GOLDEN=1 to rewrite the golden files after an intended
change to a template or target, then review the diff.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from toolchain import render, sources
from toolchain.errors import BuildError
from toolchain.targets import load_target, target_names

GOLDEN = Path(__file__).parent / "golden"
FIXED_SOURCES = render.SourceSet(("platform.c", "run.c"), ("compat.h",))


def _rendered(name: str) -> dict[str, str]:
    t = load_target(name)
    return {
        t.make.makefile: render.render_makefile(t, FIXED_SOURCES),
        "BUILD.BAT": render.render_build_bat(t),
        "RUN.BAT": render.render_run_bat(t, prompt="Once upon a time", steps=256),
    }


@pytest.mark.parametrize("name", target_names())
def test_rendered_files_match_golden(name: str) -> None:
    for fname, text in _rendered(name).items():
        golden = GOLDEN / name / fname
        if os.environ.get("RETRO_UPDATE_GOLDEN"):
            golden.parent.mkdir(parents=True, exist_ok=True)
            golden.write_bytes(text.encode("ascii"))
        assert golden.is_file(), f"{golden} missing: run with RETRO_UPDATE_GOLDEN=1"
        assert text.encode("ascii") == golden.read_bytes(), f"{name}/{fname} differs from its golden file"
        render.check_dos_text(fname, text)


def test_dialect_features() -> None:
    bor = _rendered("win98-bcc")["MAKEFILE.BOR"]
    assert "\r\n.c.obj:\r\n" in bor and "!if !$d(BCROOT)" in bor and "@&&|" in bor
    wat = _rendered("win98-owc")["MAKEFILE.WAT"]
    assert ".EXTENSIONS:" in wat and ".SYMBOLIC" in wat and "$[@" in wat and " &\r\n" in wat
    assert "runtime console=4.0" in wat and "option stack=4194304" in wat
    gnu = _rendered("win98-mingw")["MAKEFILE"]
    assert "-Wl,--subsystem,console:4.0" in gnu and "-march=pentium2" in gnu


def test_wrap_keeps_lines_short() -> None:
    text = render.wrap([f"-DFLAG{i}=VALUE{i}" for i in range(30)], indent=9)
    lines = text.split("\n")
    assert len(lines) > 3 and all(len(line) <= 78 for line in lines)
    assert all(line.endswith(" \\") for line in lines[:-1])


def test_check_dos_text_refuses_bad_text() -> None:
    render.check_dos_text("OK.TXT", "fine\r\n")
    for bad, why in (("lf only\n", "CRLF"), ("caf\u00e9\r\n", "ASCII"), ("x" * 81 + "\r\n", "81 columns")):
        with pytest.raises(BuildError, match=why):
            render.check_dos_text("BAD.TXT", bad)


def test_gnu_make_builds_the_engine_with_the_rendered_makefile(tmp_path: Path) -> None:
    t = load_target("win98-mingw")
    srcset = sources.lay_sources(sources.engine_files(t), tmp_path / "src")
    assert "run.c" in srcset.c_files
    render.write_dos_text(tmp_path / "src" / "MAKEFILE", render.render_makefile(t, srcset))
    proc = subprocess.run(["make", "-f", "MAKEFILE"], cwd=tmp_path / "src", capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    exe = (tmp_path / "src" / "run.exe").read_bytes()
    assert exe[:2] == b"MZ" and b"PE\0\0" in exe[:1024]


def test_linker_flags_and_libs_reach_every_makefile() -> None:
    """No dialect drops what a target file says about linking."""
    for name, flag, lib, want in (("win98-owc", "option eliminate", "extra.lib",
                                   ("%append run.lnk option eliminate", "%append run.lnk library extra.lib")),
                                  ("win98-bcc", "-v-", "extra.lib", (" -v- -L$(BCROOT)", "cw32.lib extra.lib")),
                                  ("win98-mingw", "-Wl,--gc-sections", "-lextra", ("-Wl,--gc-sections", "-lextra"))):
        t = load_target(name)
        t = t.model_copy(update={"linker": t.linker.model_copy(update={"flags": [*t.linker.flags, flag],
                                                                        "libs": [*t.linker.libs, lib]})})
        text = render.render_makefile(t, FIXED_SOURCES)
        for piece in want:
            assert piece in text, (name, piece)
