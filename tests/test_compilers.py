"""How the Borland driver calls bcc32/tlink32 under Wine, checked with
stand-in tools (tests/fixtures/fakebcc): Borland C++ itself is not
installed here, and nothing here pretends it is."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest

from toolchain import compilers, paths, render, sources
from toolchain.compilers import borland
from toolchain.targets import Target, load_target, resolve

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
    target, found, why = resolve("win98")
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
    assert not found.found and "no BIN/TLINK32.EXE" in str(found.problem)
    (tmp_path / "BIN" / "tlink32.exe").write_bytes(b"MZ")  # any case, as on FAT
    found = compilers.discover(target, {"BCC_ROOT": str(tmp_path), "PATH": os.environ["PATH"]})
    assert found.found == (shutil.which("wine") is not None)


# --- Adding a compiler: one module, one YAML base, one template -------------

ONEFILE_YAML = """\
# A made-up family: GCC driven by a one-rule makefile of its own.
abstract: true
compiler:
  family: onefile
  name: One-file GCC
  cc: i686-w64-mingw32-gcc
  strip: i686-w64-mingw32-strip
  std: [-std=c89, -pedantic]
  optimize: [-O2]
  cpu_flags: [-march=pentium2]
  fp_flags: [-mfpmath=387, -mno-sse]
  defines: [__USE_MINGW_ANSI_STDIO=0]
linker:
  flags: ["-Wl,--major-os-version,4", "-Wl,--minor-os-version,0", "-Wl,--no-insert-timestamp"]
make:
  dialect: onefile
  template: onefile.mk.j2
  makefile: MAKEFILE.ONE
  program: make
"""

ONEFILE_TEMPLATE = """\
# {{ makefile }}: {{ target.description }}
CC = {{ target.compiler.cc }}
CFLAGS = {{ cflags | wrap(9) }}
LDFLAGS = {{ ldflags | wrap(10) }}
{{ exe_lower }}: {{ compile_units | map(attribute=0) | join(' ') }}
\t$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS)
"""


class OneFile:
    """The family's module: everything the project needs to know about it."""

    object_suffix = ".o"
    define_prefix = "-D"
    dos_setup = ["Needs GCC and make on PATH."]

    @staticmethod
    def dos_make_args(makefile: str) -> str:
        return f"-f {makefile} CC=gcc"

    @staticmethod
    def discover(target: Target, environ: Mapping[str, str]) -> compilers.Discovery:
        cc = compilers.which(target.compiler.cc, environ)
        if cc is None:
            return compilers.Discovery(problem=f"{target.compiler.cc} not on PATH")
        return compilers.Discovery(Path(cc))

    @staticmethod
    def build(target: Target, src_dir: Path, makefile: str, found: compilers.Discovery) -> compilers.Built:
        subprocess.run(["make", "-s", "-f", makefile], cwd=src_dir, check=True, capture_output=True)
        return compilers.Built(src_dir / target.names.exe.lower())


@pytest.mark.wine
def test_a_new_compiler_family_is_one_module_one_yaml_one_template(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stories260k: tuple[Path, Path]
) -> None:
    from rich.console import Console

    from toolchain import build as pipeline

    targets = tmp_path / "targets"
    shutil.copytree(paths.TARGETS_DIR, targets)
    (targets / "onefile.yaml").write_text(ONEFILE_YAML, encoding="utf-8")
    (targets / "win98-one.yaml").write_text("description: Windows 98, Pentium II, one-file GCC\n"
                                            "extends: [win98-base, onefile]\n", encoding="utf-8")
    templates = tmp_path / "templates"
    shutil.copytree(paths.TEMPLATES_DIR, templates)
    (templates / "onefile.mk.j2").write_text(ONEFILE_TEMPLATE, encoding="utf-8")
    monkeypatch.setenv("RETROLLAMA_TARGETS", str(targets))
    monkeypatch.setattr(paths, "TEMPLATES_DIR", templates)
    monkeypatch.setattr(compilers, "_REGISTERED", {})
    compilers.register("onefile", OneFile)

    ckpt, tok = stories260k
    opts = pipeline.BuildOptions(target="win98-one", model=str(ckpt), tokenizer=str(tok),
                                 out=tmp_path / "dist", work=tmp_path / "work")
    result = pipeline.build(opts, Console(file=open(os.devnull, "w")))
    assert result.exe_built and result.zip_path.name == "retrollama-win98-one.zip"
    src = tmp_path / "work" / "win98-one" / "src"
    makefile = (src / "MAKEFILE.ONE").read_text(encoding="ascii")
    assert "-march=pentium2" in makefile and "-D__USE_MINGW_ANSI_STDIO=0" in makefile
    assert "make -f MAKEFILE.ONE CC=gcc" in (src / "BUILD.BAT").read_text(encoding="ascii")
    import zipfile

    with zipfile.ZipFile(result.zip_path) as zf:
        assert {"RUN.EXE", "SRC/MAKEFILE.ONE", "SRC/BUILD.BAT"} <= set(zf.namelist())


def test_a_family_without_a_module_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from toolchain.errors import ConfigError

    targets = tmp_path / "targets"
    shutil.copytree(paths.TARGETS_DIR, targets)
    (targets / "onefile.yaml").write_text(ONEFILE_YAML, encoding="utf-8")
    (targets / "win98-one.yaml").write_text("description: x\nextends: [win98-base, onefile]\n", encoding="utf-8")
    monkeypatch.setenv("RETROLLAMA_TARGETS", str(targets))
    with pytest.raises(ConfigError, match="compiler.family 'onefile' has no module"):
        compilers.discover(load_target("win98-one"))
