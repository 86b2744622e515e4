"""End to end: `invoke build` as a user runs it -> zip -> unpack -> RUN.EXE
under Wine prints the story; source kits; reproducibility; user errors."""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from cli_util import invoke

from toolchain.render import check_dos_text
from toolchain.smoke import run_under_wine, wine_env
from toolchain.targets import is_83

LILY = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park."


@pytest.fixture(scope="module")
def win98_zip(tmp_path_factory: pytest.TempPathFactory, stories260k: tuple[Path, Path]) -> Path:
    out = tmp_path_factory.mktemp("dist")
    work = tmp_path_factory.mktemp("work")
    proc = invoke("build", "--target", "win98", "--out", str(out), env={"INVOKE_RETROLLAMA_WORK": str(work)})
    assert proc.returncode == 0, proc.stderr
    assert "win98 -> win98-mingw" in proc.stderr  # no Borland or Watcom here: says why
    assert "$BCC_ROOT" in proc.stderr and "$WATCOM" in proc.stderr
    assert "the engine calls only C89 and Windows 98 APIs" in proc.stderr  # link-surface check ran
    return out / "retrollama-win98-mingw.zip"


def _dos_text_files(names: list[str]) -> list[str]:
    return [n for n in names if n.endswith((".TXT", ".BAT")) or n.split("/")[-1].startswith("MAKEFILE")
            or n.endswith((".C", ".H"))]


@pytest.mark.wine
def test_win98_bundle_runs_under_wine(win98_zip: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(win98_zip) as zf:
        names = zf.namelist()
        zf.extractall(tmp_path)
    expected = {"RUN.EXE", "MODEL.BIN", "TOKENIZ.BIN", "RUN.BAT", "README.TXT", "MANIFEST.TXT",
                "SRC/RUN.C", "SRC/MAKEFILE", "SRC/BUILD.BAT"}
    assert expected <= set(names), names
    assert all(all(is_83(part) for part in n.split("/")) for n in names)
    text_files = _dos_text_files(names)
    assert {"SRC/RUN.C", "SRC/COMPAT.H", "README.TXT", "RUN.BAT", "SRC/MAKEFILE"} <= set(text_files)
    for n in text_files:
        check_dos_text(n, (tmp_path / n).read_bytes().decode("ascii"))
    proc = run_under_wine(tmp_path / "RUN.EXE", ["-t", "0", "-n", "60", "-i", "Once upon a time"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode("ascii").replace("\r\n", "\n").startswith(LILY)
    assert b"achieved tok/s" in proc.stderr
    manifest = (tmp_path / "MANIFEST.TXT").read_text(encoding="ascii")
    assert f"{(tmp_path / 'RUN.EXE').stat().st_size}" in manifest


@pytest.mark.wine
def test_run_bat_passes_arguments_through(win98_zip: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(win98_zip) as zf:
        zf.extractall(tmp_path)
    proc = subprocess.run(["wine", "cmd", "/c", "RUN.BAT", "-t", "0", "-n", "12"], cwd=tmp_path,
                          capture_output=True, timeout=300, env=wine_env())
    out = proc.stdout.decode("latin-1").replace("\r\n", "\n")
    assert proc.returncode == 0, proc.stderr
    assert out.strip() and len(out.split()) < 20  # 12 tokens, not the default 256


def test_build_is_reproducible(win98_zip: Path, tmp_path: Path) -> None:
    proc = invoke("build", "--target", "win98-mingw", "--out", str(tmp_path),
                  env={"INVOKE_RETROLLAMA_WORK": str(tmp_path / "work")})
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "retrollama-win98-mingw.zip").read_bytes() == win98_zip.read_bytes()


@pytest.mark.parametrize("target, makefile", [("win98-bcc", "MAKEFILE.BOR"), ("win98-owc", "MAKEFILE.WAT")])
def test_source_kit_when_compiler_missing(target: str, makefile: str, tmp_path: Path) -> None:
    proc = invoke("build", "--target", target, "--out", str(tmp_path),
                  env={"INVOKE_RETROLLAMA_WORK": str(tmp_path / "work"), "BCC_ROOT": "", "WATCOM": ""})
    assert proc.returncode == 0, proc.stderr
    assert "source kit" in proc.stderr and "not installed here" in proc.stderr
    with zipfile.ZipFile(tmp_path / f"retrollama-{target}.zip") as zf:
        names = set(zf.namelist())
        readme = zf.read("README.TXT").decode("ascii")
        build_bat = zf.read("SRC/BUILD.BAT").decode("ascii")
    assert "RUN.EXE" not in names
    assert {f"SRC/{makefile}", "SRC/BUILD.BAT", "SRC/RUN.C", "MODEL.BIN", "TOKENIZ.BIN", "RUN.BAT"} <= names
    assert "SOURCE KIT" in readme
    assert makefile in build_bat
    assert f"target {target}\n" in proc.stderr and "target target" not in proc.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (("--target", "amiga"), "error: unknown target 'amiga'"),
        (("--target", "win98-mingw", "--model", "/nonexistent/m.bin"), "error: /nonexistent/m.bin: no such model file"),
        (("--target", "win98-mingw", "--tokenizer", "x.bin"), "error: --tokenizer given without --model"),
        (("--target", "win98-mingw", "--media", "tape"), "error: --media 'tape'"),
        (("--target", "win98-mingw", "--steps", "abc"), "error: --steps 'abc': must be a whole number"),
    ],
)
def test_user_errors_are_one_line(args: tuple[str, ...], message: str, tmp_path: Path) -> None:
    proc = invoke("build", *args, "--out", str(tmp_path), env={"INVOKE_RETROLLAMA_WORK": str(tmp_path / "w")})
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert message in proc.stderr, proc.stderr
    assert "built" not in proc.stderr and not list(tmp_path.glob("*.zip"))  # refused before building


def test_out_that_is_a_file_is_refused_before_building(tmp_path: Path) -> None:
    out = tmp_path / "dist.zip"
    out.write_bytes(b"mine")
    proc = invoke("build", "--target", "win98-mingw", "--out", str(out), env={"INVOKE_RETROLLAMA_WORK": str(tmp_path)})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"error: --out {out}: is a file, not a folder" in proc.stderr
    assert "target" not in proc.stderr.split("error:")[0]  # nothing ran first
    assert out.read_bytes() == b"mine"


def test_serve_port_must_be_a_number() -> None:
    proc = invoke("serve", "--port", "abc")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "error: --port 'abc': must be a whole number" in proc.stderr


def test_second_build_of_a_target_in_one_work_folder_is_told_to_wait(tmp_path: Path) -> None:
    import fcntl

    work = tmp_path / "w"
    work.mkdir()
    with open(work / ".win98-bcc.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        proc = invoke("build", "--target", "win98-bcc", "--out", str(tmp_path), env={"INVOKE_RETROLLAMA_WORK": str(work)})
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert f"error: another build of win98-bcc is running in {work}" in proc.stderr


def test_invoke_from_a_subfolder_writes_nothing_there(tmp_path: Path) -> None:
    from toolchain import paths

    sub = paths.REPO_ROOT / "templates"
    proc = invoke("build", "--target", "win98-bcc", cwd=sub, env={"INVOKE_RETROLLAMA_OUT": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "retrollama-win98-bcc.zip").is_file()
    assert not (sub / "build").exists() and not (sub / "dist").exists()


def test_bad_model_file_is_refused(tmp_path: Path, stories260k: tuple[Path, Path]) -> None:
    bad = tmp_path / "bad.bin"
    bad.write_bytes(stories260k[0].read_bytes()[:1000])
    proc = invoke("build", "--target", "win98-mingw", "--model", str(bad), "--tokenizer", str(stories260k[1]),
                  "--out", str(tmp_path), env={"INVOKE_RETROLLAMA_WORK": str(tmp_path / "w")})
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert str(bad) in proc.stderr
    assert not (tmp_path / "retrollama-win98-mingw.zip").exists()


def test_no_model_anywhere_says_what_to_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stories260k: tuple[Path, Path]
) -> None:
    from toolchain import modelpick
    from toolchain.errors import ModelError

    monkeypatch.setattr(modelpick.paths, "SHARED_MODELS", tmp_path / "none")
    monkeypatch.setattr(modelpick, "DEMO_DIR", tmp_path / "none2")
    monkeypatch.delenv("RETROLLAMA_MODELS", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(ModelError, match="no model found.*pass --model FILE --tokenizer FILE"):
        modelpick.pick_model(None, None)
    fetched = tmp_path / "cache" / "retrollama"  # where `invoke models.fetch` puts files
    fetched.mkdir(parents=True)
    shutil.copyfile(stories260k[0], fetched / "stories260K.bin")
    shutil.copyfile(stories260k[1], fetched / "tok512.bin")
    assert modelpick.pick_model(None, None).checkpoint == fetched / "stories260K.bin"
    d = tmp_path / "mine"
    d.mkdir()
    shutil.copyfile(stories260k[0], d / "MODEL.BIN")
    shutil.copyfile(stories260k[1], d / "TOKENIZ.BIN")
    monkeypatch.setenv("RETROLLAMA_MODELS", str(d))
    assert modelpick.pick_model(None, None).checkpoint == d / "MODEL.BIN"


def test_targets_table_says_what_is_found_and_missing() -> None:
    proc = invoke("targets", env={"BCC_ROOT": "", "WATCOM": "", "COLUMNS": "200"})
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for name in ("win98-bcc", "win98-owc", "win98-mingw"):
        assert name in out
    assert "$BCC_ROOT is not set" in out and "$WATCOM is not set" in out
    assert "i686-w64-mingw32-gcc" in out
    assert "alias win98" in out


def test_every_task_is_documented() -> None:
    proc = invoke("--list")
    assert proc.returncode == 0
    # Task lines are indented by two spaces; wrapped help continues further in.
    task_lines = [line for line in proc.stdout.splitlines() if line.startswith("  ") and line[2] != " "]
    names = [line.split()[0] for line in task_lines]
    for name in ("build", "targets", "test", "docs"):
        assert name in names
    undocumented = [line.split()[0] for line in task_lines if len(line.split()) < 2]
    assert not undocumented, f"tasks without a docstring: {undocumented}"


@pytest.mark.wine
@pytest.mark.parametrize("target, cpu", [("win95-p5", "pentium"), ("win95-486", "i486")])
def test_pre_p6_targets_pass_the_audit_and_run(target: str, cpu: str, tmp_path: Path) -> None:
    proc = invoke("build", "--target", target, "--out", str(tmp_path),
                  env={"INVOKE_RETROLLAMA_WORK": str(tmp_path / "work")})
    assert proc.returncode == 0, proc.stderr
    assert f"PASS: RUN.EXE will load and run on win95/{cpu}" in proc.stderr
    assert "ran under Wine: 'Once upon a time, there was a" in proc.stderr
    from toolchain.audit import audit_exe

    report = audit_exe(tmp_path / "work" / target / "RUN.EXE", os="win95", cpu=cpu)
    assert report.ok and not [f for f in report.findings if f.check == "cpu" and f.severity == "fail"]
    with zipfile.ZipFile(tmp_path / f"retrollama-{target}.zip") as zf:
        names = set(zf.namelist())
    assert {"SRC/WINSTART.C", "SRC/MSVCRTFN.C"} <= names  # the own startup travels with the sources


@pytest.mark.wine
def test_build_from_a_ported_c99_tree(tmp_path: Path) -> None:
    src = Path(__file__).parent / "fixtures" / "port" / "runner"
    before = {p: p.read_bytes() for p in src.rglob("*") if p.is_file()}
    proc = invoke("build", "--target", "win98-mingw", "--source", str(src), "--out", str(tmp_path),
                  env={"INVOKE_RETROLLAMA_WORK": str(tmp_path / "work")})
    assert proc.returncode == 0, proc.stderr
    assert "port" in proc.stderr and "changes" in proc.stderr
    unpacked = tmp_path / "u"
    with zipfile.ZipFile(tmp_path / "retrollama-win98-mingw.zip") as zf:
        zf.extractall(unpacked)
        names = set(zf.namelist())
    assert {"RUN.EXE", "SRC/RUN.C", "SRC/MAKEFILE", "RUN.BAT"} <= names
    proc2 = run_under_wine(unpacked / "RUN.EXE", ["MODEL.BIN", "-z", "TOKENIZ.BIN", "-t", "0", "-n", "60",
                                                  "-i", "Once upon a time"], cwd=unpacked)
    assert proc2.stdout.decode("ascii").replace("\r\n", "\n").startswith(LILY)
    assert {p: p.read_bytes() for p in src.rglob("*") if p.is_file()} == before  # the user's tree is untouched


@pytest.mark.wine
def test_a_ported_tree_for_a_pre_p6_target_links_with_the_own_startup(tmp_path: Path) -> None:
    src = Path(__file__).parent / "fixtures" / "port" / "runner"
    proc = invoke("build", "--target", "win95-p5", "--source", str(src), "--out", str(tmp_path),
                  env={"INVOKE_RETROLLAMA_WORK": str(tmp_path / "work")})
    assert proc.returncode == 0, proc.stderr
    assert "PASS: RUN.EXE will load and run on win95/pentium" in proc.stderr
    assert "ran under Wine: 'Once upon a time, there was a" in proc.stderr
    with zipfile.ZipFile(tmp_path / "retrollama-win95-p5.zip") as zf:
        names = set(zf.namelist())
    assert {"RUN.EXE", "SRC/RUN.C", "SRC/WINSTART.C", "SRC/MSVCRTFN.C"} <= names


def test_build_from_a_tree_with_several_programs_builds_run_c(tmp_path: Path) -> None:
    src = tmp_path / "tree"
    src.mkdir()
    runner = (Path(__file__).parent / "fixtures" / "port" / "runner" / "run.c").read_bytes()
    for name in ("run.c", "runq.c"):
        (src / name).write_bytes(runner)
    (src / "test.c").write_bytes(b"#include <stdio.h>\nint main(void) { puts(\"test\"); return 0; }\n")
    proc = invoke("build", "--target", "win98-mingw", "--source", str(src), "--out", str(tmp_path),
                  env={"INVOKE_RETROLLAMA_WORK": str(tmp_path / "work")})
    assert proc.returncode == 0, proc.stderr
    assert "program run.c (left out: runq.c, test.c)" in proc.stderr
    with zipfile.ZipFile(tmp_path / "retrollama-win98-mingw.zip") as zf:
        names = set(zf.namelist())
    assert "SRC/RUN.C" in names and "SRC/RUNQ.C" not in names and "RUN.EXE" in names
    proc = invoke("build", "--target", "win98-mingw", "--source", str(src), "--program", "nope.c",
                  "--out", str(tmp_path), env={"INVOKE_RETROLLAMA_WORK": str(tmp_path / "work")})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "error: --program nope.c: not a C file with a main in the tree (programs: run.c, runq.c, test.c)" in proc.stderr


def test_engine_sources_are_dos_text_when_bundled() -> None:
    """SRC\\ goes to DOS editors: 7-bit ASCII, at most 80 columns (the
    bundle adds the CRLF).  engine/.clang-format wraps long lines."""
    from toolchain import paths as p
    from toolchain.render import MAX_COLUMNS

    files = [*p.engine_sources(), *p.engine_headers(), *sorted((p.ENGINE_DIR / "startup").glob("*.[ch]"))]
    for f in files:
        for number, line in enumerate(f.read_bytes().split(b"\n"), start=1):
            assert line.isascii(), f"{f}:{number}: not 7-bit ASCII"
            assert len(line) <= MAX_COLUMNS, f"{f}:{number}: {len(line)} columns"
