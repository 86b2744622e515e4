"""``invoke build --all``: many (target, model) pairs in parallel, one summary.

One real run builds a MinGW exe, a Borland source kit and an MS-DOS exe for
the shared stories260K model and for a corrupt model file: the corrupt pairs
fail with their one-line reason in the summary while the good ones finish,
and the exit code says that something failed.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from cli_util import invoke
from toolchain import matrix
from toolchain.errors import ConfigError

NAMES = ["dos-386", "dos-p5", "win95-p5", "win98-bcc", "win98-mingw", "win98-owc"]


def test_targets_are_chosen_by_name_alias_and_pattern() -> None:
    aliases = {"win98": ["win98-bcc", "win98-owc", "win98-mingw"]}
    assert matrix.select_targets("win98*,dos*", NAMES, aliases) == [
        "win98-bcc", "win98-mingw", "win98-owc", "dos-386", "dos-p5"]
    assert matrix.select_targets("win98,win95-p5,win9*", NAMES, aliases) == [
        "win98", "win95-p5", "win98-bcc", "win98-mingw", "win98-owc"]
    assert matrix.select_targets(None, NAMES, aliases) == NAMES
    with pytest.raises(ConfigError, match="'os2\\*' matches no target"):
        matrix.select_targets("win98*,os2*", NAMES, aliases)


def test_models_are_listed_once_each() -> None:
    assert matrix.select_models("stories260K, x.bin,stories260K") == ["stories260K", "x.bin"]
    assert matrix.select_models(None) == [None]
    with pytest.raises(ConfigError):
        matrix.select_models(" , ")
    assert matrix.model_label("/a/b/stories15M_q80.bin") == "stories15M_q80"


@pytest.mark.parametrize("args, message", [
    (["--targets", "win98*"], "--targets, --models and --jobs go with --all"),
    (["--all", "--jobs", "0"], "--jobs 0: must be 1 or more"),
    (["--all", "--jobs", "two"], "--jobs"),
    (["--all", "--target", "win98"], "not --target/--model/--tokenizer"),
    (["--all", "--targets", "nosuch*"], "'nosuch*' matches no target"),
])
def test_bad_options_get_one_line(args: list[str], message: str, tmp_path: Path) -> None:
    proc = invoke("build", *args, "--out", str(tmp_path), env={"INVOKE_RETROLLAMA_WORK": str(tmp_path / "w")})
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert message in proc.stderr
    assert not list(tmp_path.glob("**/*.zip"))


def test_build_all_in_parallel_with_a_failing_model(with_watcom: Path, stories260k: tuple[Path, Path],
                                                    tmp_path: Path) -> None:
    checkpoint, tokenizer = stories260k
    bad = tmp_path / "models" / "broken.bin"
    bad.parent.mkdir()
    bad.write_bytes(b"\x40\x00\x00\x00" * 3)  # a header cut short
    (bad.parent / "tokenizer.bin").write_bytes(tokenizer.read_bytes())
    out = tmp_path / "dist"
    proc = invoke("build", "--all", "--targets", "win98-mingw,win98-bcc,dos-386",
                  "--models", f"{checkpoint},{bad}", "--jobs", "2", "--out", str(out),
                  env={"INVOKE_RETROLLAMA_WORK": str(tmp_path / "work"), "BCC_ROOT": "", "COLUMNS": "200"})
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
    assert "3 of 6 builds failed" in proc.stderr
    rows = {tuple(c.strip() for c in line.split("│")[1:4]) for line in proc.stdout.splitlines() if "│" in line}
    assert ("win98-mingw", "stories260K", "exe") in rows
    assert ("win98-bcc", "stories260K", "source kit") in rows
    assert ("dos-386", "stories260K", "exe") in rows
    for t in ("win98-mingw", "win98-bcc", "dos-386"):
        assert (t, "broken", "FAILED") in rows
        with zipfile.ZipFile(out / "stories260K" / f"retrollama-{t}.zip") as zf:
            assert "MODEL.BIN" in zf.namelist()
    assert not (out / "broken").exists() or not list((out / "broken").glob("*.zip"))
    summary = "\n".join(line for line in proc.stdout.splitlines() if "win98-mingw" in line and "stories260K" in line)
    assert "PASS" in summary
