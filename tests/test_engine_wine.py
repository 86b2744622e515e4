"""The MinGW i686 build of the engine, run under Wine, prints the same bytes
as the native build (CRLF line ends aside): the closest we get to RUN.EXE
on Windows 98 without a Windows 98."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine_util import LILY, PROMPT, run
from toolchain import enginebuild

pytestmark = pytest.mark.wine

WINE_TIMEOUT_S = 120


@pytest.fixture(scope="module")
def wine_exe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("wine") is None:
        pytest.fail("wine is not installed (apt-get install wine wine32)")
    return enginebuild.build_mingw(tmp_path_factory.mktemp("mingw"))


def wine(exe: Path, *args: str | Path, cwd: Path | None = None):
    return run(exe, *args, wrapper=["wine"], timeout=WINE_TIMEOUT_S, cwd=cwd)


@pytest.mark.parametrize("flags", [["-t", "0", "-n", "120"], ["-t", "0.9", "-p", "0.9", "-s", "77", "-n", "200"]])
def test_wine_output_equals_native(wine_exe: Path, native_engine: Path, stories260k: tuple[Path, Path],
                                   flags: list[str]) -> None:
    ckpt, tok = stories260k
    win = wine(wine_exe, ckpt, "-z", tok, "-i", PROMPT, *flags)
    nat = run(native_engine, ckpt, "-z", tok, "-i", PROMPT, *flags)
    assert win.returncode == 0, win.stderr[-500:]
    assert win.stdout.replace(b"\r\n", b"\n") == nat.stdout
    assert win.stdout.startswith(LILY) if flags[1] == "0" else True
    assert b"achieved tok/s: " in win.stderr


def test_wine_bundle_layout_and_bad_input(wine_exe: Path, stories260k: tuple[Path, Path], tmp_path: Path) -> None:
    ckpt, tok = stories260k
    exe = tmp_path / "RUN.EXE"
    shutil.copy(wine_exe, exe)
    proc = wine(exe, "-n", "5", cwd=tmp_path)
    assert proc.returncode == 2 and b"MODEL.BIN: cannot open the checkpoint" in proc.stderr
    shutil.copy(ckpt, tmp_path / "MODEL.BIN")
    shutil.copy(tok, tmp_path / "TOKENIZ.BIN")
    elsewhere = tmp_path / "sub"
    elsewhere.mkdir()
    proc = wine(exe, "-t", "0", "-n", "40", "-i", PROMPT, cwd=elsewhere)
    assert proc.returncode == 0, proc.stderr[-500:]
    assert proc.stdout.startswith(LILY[:40])
