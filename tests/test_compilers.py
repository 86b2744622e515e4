"""How the Borland driver calls bcc32/tlink32 under Wine, checked with
stand-in tools (tests/fixtures/fakebcc): Borland C++ itself is not
installed here, and nothing here pretends it is."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from toolchain import compilers, render, sources
from toolchain.compilers import borland
from toolchain.targets import load_target

FAKE = Path(__file__).parent / "fixtures" / "fakebcc" / "fake.c"


@pytest.fixture(scope="module")
def fake_bcc_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bc5")
    (root / "BIN").mkdir()
    for name, flags in (("BCC32.EXE", []), ("TLINK32.EXE", ["-DFAKE_LINKER"])):
        subprocess.run(["i686-w64-mingw32-gcc", "-O1", *flags, "-o", str(root / "BIN" / name), str(FAKE)],
                       check=True)
    return root


@pytest.mark.wine
def test_borland_driver_compiles_each_file_and_links_with_response_files(
    fake_bcc_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BCC_ROOT", str(fake_bcc_root))
    target, found, why = compilers.resolve("win98")
    assert target.name == "win98-bcc" and found.found, why  # the alias prefers Borland when present
    assert found.wrapper == ("wine",)
    srcset = sources.lay_sources(sources.engine_files(target), tmp_path / "src")
    render.write_dos_text(tmp_path / "src" / target.make.makefile, render.render_makefile(target, srcset))
    exe = borland.build(target, tmp_path / "src", target.make.makefile, found).exe
    assert exe == tmp_path / "src" / "run.exe" and exe.read_bytes()[:2] == b"MZ"
    log = (tmp_path / "src" / "fake.log").read_bytes().decode("latin-1")
    winroot = "Z:" + str(fake_bcc_root).replace("/", "\\")
    for c_file in srcset.c_files:
        assert f"-c -I{winroot}\\include -O2 -5 -tWC" in log and f" {c_file}\r\n" in log
    objs = " ".join(c.replace(".c", ".obj") for c in srcset.c_files)
    assert f"-Tpe -ap -x -S:400000 -L{winroot}\\lib +\r\nc0x32.obj {objs}, +\r\nrun.exe, , +\r\nimport32.lib cw32.lib" in log


def test_borland_discovery_needs_both_tools(tmp_path: Path) -> None:
    (tmp_path / "BIN").mkdir()
    (tmp_path / "BIN" / "BCC32.EXE").write_bytes(b"MZ")
    target = load_target("win98-bcc")
    found = compilers.discover(target, {"BCC_ROOT": str(tmp_path), "PATH": os.environ["PATH"]})
    assert not found.found and "no BIN/TLINK32.EXE" in found.where
    (tmp_path / "BIN" / "tlink32.exe").write_bytes(b"MZ")  # any case, as on FAT
    found = compilers.discover(target, {"BCC_ROOT": str(tmp_path), "PATH": os.environ["PATH"]})
    assert found.found == (shutil.which("wine") is not None)
