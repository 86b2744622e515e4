"""RUN.BAT as the old PC's command interpreter runs it, and the escaping of
every value a batch file gets.

RUN.EXE is replaced by a tiny MinGW program that prints each argument it
receives on its own line between brackets, so the test sees exactly what
RUN.BAT passed on, run by Wine's cmd.exe.  (COMMAND.COM itself is not
available here; the batch file uses only what both interpreters have.)
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from toolchain import dosbatch, render
from toolchain.errors import ConfigError
from toolchain.smoke import wine_env
from toolchain.targets import load_target

ECHO_C = r"""
#include <stdio.h>
int main(int argc, char **argv)
{
    int i;
    for (i = 1; i < argc; i++)
        printf("[%s]\n", argv[i]);
    return 0;
}
"""

HOSTILE = [
    'Hi" > RUN.EXE & echo "',
    "a | del *.*",
    "x < CON",
    "a & b",
    "caret ^ here",
    'He said "hi"',
    "tab\there",
    "line\nbreak",
    "caf\u00e9",
]


@pytest.fixture(scope="module")
def echo_exe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("echo")
    (d / "echo.c").write_text(ECHO_C, encoding="ascii")
    cc = shutil.which("i686-w64-mingw32-gcc")
    assert cc, "i686-w64-mingw32-gcc is needed (toolchain/data/apt-packages.txt)"
    subprocess.run([cc, "-O1", "-o", str(d / "RUN.EXE"), str(d / "echo.c")], check=True)
    return d / "RUN.EXE"


def _bundle(tmp_path: Path, echo_exe: Path, **opts: object) -> Path:
    t = load_target("win98-mingw")
    text = render.render_run_bat(t, prompt=str(opts.pop("prompt", "Once upon a time")), steps=256, **opts)  # type: ignore[arg-type]
    render.write_dos_text(tmp_path / "RUN.BAT", text)
    shutil.copyfile(echo_exe, tmp_path / "RUN.EXE")
    (tmp_path / "MODEL.BIN").write_bytes(b"m")
    (tmp_path / "TOKENIZ.BIN").write_bytes(b"t")
    return tmp_path


def _run(folder: Path, *args: str) -> list[str]:
    proc = subprocess.run(["wine", "cmd", "/c", "RUN.BAT", *args], check=False, cwd=folder, capture_output=True,
                          stdin=subprocess.DEVNULL, timeout=120, env=wine_env())
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.decode("latin-1").replace("\r\n", "\n").splitlines()


@pytest.mark.wine
def test_all_arguments_reach_run_exe(tmp_path: Path, echo_exe: Path) -> None:
    folder = _bundle(tmp_path, echo_exe)
    out = _run(folder, "-n", "40", "-t", "0.8", "-p", "0.9", "-s", "42", "-i", "The little dog")
    args = [line for line in out if line.startswith("[")]
    # Every one of the user's 10 arguments (after defaults, none here: they equal the engine's own).
    assert args == ["[MODEL.BIN]", "[-z]", "[TOKENIZ.BIN]", "[-n]", "[40]", "[-t]", "[0.8]", "[-p]", "[0.9]", "[-s]", "[42]", "[-i]", "[The little dog]"], out


@pytest.mark.wine
def test_no_arguments_uses_the_defaults_and_pauses(tmp_path: Path, echo_exe: Path) -> None:
    folder = _bundle(tmp_path, echo_exe, prompt="He said hi 100%", temperature=0.8, topp=0.95, seed=42)
    out = _run(folder)
    args = [line for line in out if line.startswith("[")]
    assert args == ["[MODEL.BIN]", "[-z]", "[TOKENIZ.BIN]", "[-t]", "[0.8]", "[-p]", "[0.95]",
                    "[-s]", "[42]", "[-i]", "[He said hi 100%]"], out
    assert any("Press any key" in line or "press any key" in line.lower() for line in out), out  # PAUSE ran


@pytest.mark.wine
def test_missing_model_says_run_join_bat_first(tmp_path: Path, echo_exe: Path) -> None:
    folder = _bundle(tmp_path, echo_exe)
    (folder / "MODEL.BIN").unlink()
    assert any("copy it into this folder" in line for line in _run(folder, "-n", "4"))
    (folder / "JOIN.BAT").write_bytes(b"@echo off\r\n")
    out = _run(folder, "-n", "4")
    assert any("run JOIN.BAT first" in line for line in out), out
    assert not any(line.startswith("[") for line in out)  # RUN.EXE was not started
    (folder / "RUN.EXE").unlink()
    assert any("source kit" in line for line in _run(folder))


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_prompts_are_refused(value: str) -> None:
    t = load_target("win98-mingw")
    with pytest.raises(ConfigError) as exc:
        render.render_run_bat(t, prompt=value, steps=256)
    text = str(exc.value)
    assert text.startswith("--prompt ") and len(text.splitlines()) == 1, text


def test_too_long_prompt_says_how_much_fits() -> None:
    t = load_target("win98-mingw")
    with pytest.raises(ConfigError, match=r"--prompt .*: 60 characters, but at most 42 fit RUN.BAT's default line"):
        render.render_run_bat(t, prompt="x" * 60, steps=256)
    assert 'x' * 42 in render.render_run_bat(t, prompt="x" * 42, steps=256)


def test_percent_is_doubled_and_safe_text_kept() -> None:
    assert dosbatch.bat_text("100% sure", "--prompt") == "100%% sure"
    assert dosbatch.bat_text("Once upon a time, the cat (Tom) said: yes!", "x") == \
        "Once upon a time, the cat (Tom) said: yes!"
    for value in HOSTILE:
        assert dosbatch.refusal(value) is not None, value


def test_build_bat_values_go_through_the_same_check(tmp_path: Path) -> None:
    from toolchain.targets import Target

    t = load_target("win98-mingw")
    bad = Target.model_validate({**t.model_dump(), "make": {**t.make.model_dump(), "program": "make > RUN.EXE"}})
    with pytest.raises(ConfigError, match=r"make.program 'make > RUN.EXE': contains '>'"):
        render.render_build_bat(bad)


def test_dos_run_bat_passes_twelve_arguments_in_dosbox(with_watcom: Path, stories260k: tuple[Path, Path],
                                                       tmp_path: Path) -> None:
    """A second interpreter: DOSBox's own shell runs the SHIFT loop of a real MS-DOS bundle.

    (DOSBox's COMMAND /C drops double quotes, so a quoted prompt cannot be
    checked here; Wine's cmd.exe above checks that.)
    """
    import zipfile

    from rich.console import Console

    from toolchain import build, dosbox

    opts = build.BuildOptions(target="dos-386", model=str(stories260k[0]), tokenizer=str(stories260k[1]),
                              out=tmp_path / "dist", work=tmp_path / "work")
    result = build.build(opts, Console(quiet=True))
    folder = tmp_path / "c"
    with zipfile.ZipFile(result.zip_path) as z:
        z.extractall(folder)
    r = dosbox.run(folder, "COMMAND /C RUN.BAT -n 12 -t 0 -p 0.9 -s 42 -m generate -i dog", cpu="i386",
                   ram_mb=8, drive="C")
    assert r.stdout.startswith(b"dog lived in a big forest."), r.stdout  # -i, the 12th argument, arrived
