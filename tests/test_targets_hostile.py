"""Hostile target files: each ends in one ``file:LINE:COL: what`` line, fast.

The cases come from an outside-in probe: an empty file, bytes that are not
UTF-8, an alias bomb, deep nesting, a huge file, ``extends:`` leaving the
targets folder, duplicate keys and ``extends:`` loops.  Each must fail with
one line naming the file and place, within a second or two, and
``invoke targets`` must list every broken file, not stop at the first.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from toolchain import paths
from toolchain.errors import ConfigError
from toolchain.targets import load_target

GOOD = "description: ok\nextends: [win98-base, mingw]\n"
BOMB = "lol: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"l{i}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(9)
)

CASES: dict[str, tuple[bytes, str]] = {
    "empty": (b"", r"empty\.yaml:1:1: the file is empty"),
    "comments": (b"# nothing here\n", r"comments\.yaml:\d+:1: the file is empty"),
    "latin1": (GOOD.encode() + b"# caf\xe9\n", r"latin1\.yaml:3:6: not UTF-8 text \(byte 0xE9\)"),
    "bomb": ((GOOD + BOMB).encode(), r"bomb\.yaml:\d+:\d+: aliases expand to more than"),
    "deep": ((GOOD + "x: " + "[" * 5000 + "]" * 5000 + "\n").encode(), r"deep\.yaml:3:\d+: nested deeper than"),
    "huge": ((GOOD + "# " + "x" * 100 + "\n") * 1, ""),  # replaced below by a 50 MB file
    "outside": (b"extends: ../../outside\n", r"outside\.yaml:1:10: extends: '../../outside' is not a target name"),
    "absolute": (b"extends: [mingw, /etc/passwd]\n", r"absolute\.yaml:1:18: extends: '/etc/passwd' is not"),
    "dupkey": ((GOOD + "description: twice\n").encode(), r"dupkey\.yaml:3:1: duplicate key 'description' \(first at line 1\)"),
    "dupnested": (b"extends: win98-mingw\ncompiler:\n  cc: a\n  cc: b\n", r"dupnested\.yaml:4:3: duplicate key 'cc'"),
    "scalar": (b"just text\n", r"scalar\.yaml:1:1: a target file must be a mapping of keys, not 'just text'"),
    "badchar": (GOOD.encode() + b"x: \x00\n", r"badchar\.yaml:3:4: character U\+0000 is not allowed"),
    "baddate": (GOOD.encode() + b"description: 2001-02-30\n", ""),  # replaced: a duplicate; see below
}
CASES["baddate"] = (b"extends: win98-mingw\nplatform:\n  os_name: 2001-02-30\n",
                    r"baddate\.yaml:3:12: bad value '2001-02-30'")


@pytest.fixture
def tdir(tmp_path: Path) -> Path:
    d = tmp_path / "targets"
    shutil.copytree(paths.TARGETS_DIR, d)
    return d


def _fails_fast(d: Path, name: str, pattern: str) -> str:
    start = time.monotonic()
    with pytest.raises(ConfigError) as exc:
        load_target(name, d)
    took = time.monotonic() - start
    text = str(exc.value)
    assert took < 2.0, f"{name}: took {took:.1f} s"
    assert len(text.splitlines()) == 1 and len(text) < 300, text
    if pattern:
        import re

        assert re.search(pattern, text), text
    return text


@pytest.mark.parametrize("case", sorted(k for k in CASES if k != "huge"))
def test_hostile_target_file_gives_one_line(tdir: Path, case: str) -> None:
    content, pattern = CASES[case]
    (tdir / f"{case}.yaml").write_bytes(content)
    _fails_fast(tdir, case, pattern)


def test_fifty_megabyte_file_is_refused_unread(tdir: Path) -> None:
    with (tdir / "huge.yaml").open("wb") as f:
        f.write(GOOD.encode())
        f.truncate(50 << 20)
    _fails_fast(tdir, "huge", r"huge\.yaml: 52428800 bytes, larger than the 65536")


def test_bomb_in_a_base_names_the_base(tdir: Path) -> None:
    (tdir / "bombbase.yaml").write_text("abstract: true\n" + BOMB, encoding="utf-8")
    (tdir / "child.yaml").write_text("extends: [win98-mingw, bombbase]\n", encoding="utf-8")
    _fails_fast(tdir, "child", r"bombbase\.yaml:\d+:\d+: aliases expand")


def test_loop_is_named_where_it_closes(tdir: Path) -> None:
    (tdir / "la.yaml").write_text("extends: lb\n", encoding="utf-8")
    (tdir / "lb.yaml").write_text("description: x\nextends: [mingw, lc]\n", encoding="utf-8")
    (tdir / "lc.yaml").write_text("extends:\n  - lb\n", encoding="utf-8")
    _fails_fast(tdir, "la", r"lc\.yaml:2:5: extends: 'lb' makes a loop \(lb -> lc -> lb\)")
    (tdir / "self.yaml").write_text("extends: self\n", encoding="utf-8")
    _fails_fast(tdir, "self", r"self\.yaml:1:10: extends: 'self' makes a loop \(self -> self\)")


def test_huge_value_is_described_not_printed(tdir: Path) -> None:
    (tdir / "long.yaml").write_text(GOOD + "platform:\n  ram_mb: " + "9" * 5000 + "x\n", encoding="utf-8")
    text = _fails_fast(tdir, "long", r"long\.yaml:4:11: platform.ram_mb: .*\(got '9999")
    assert "9" * 100 not in text


def _invoke(args: list[str], targets: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RETROLLAMA_TARGETS": str(targets)}
    invoke = Path(sys.executable).with_name("invoke")
    return subprocess.run([str(invoke), *args], check=False, cwd=paths.REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=60)


def test_invoke_targets_lists_every_broken_file(tdir: Path) -> None:
    for case in ("empty", "latin1", "bomb", "deep", "dupkey", "outside"):
        (tdir / f"{case}.yaml").write_bytes(CASES[case][0])
    start = time.monotonic()
    proc = _invoke(["targets"], tdir)
    took = time.monotonic() - start
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr + proc.stdout
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    for case in ("empty", "latin1", "bomb", "deep", "dupkey", "outside"):
        assert any(f"{case}.yaml:" in line for line in errors), (case, proc.stderr)
    assert errors[-1] == "error: 6 broken target file(s), listed above", errors
    assert "win98-mingw" in proc.stdout  # the good targets are still shown
    assert took < 20


def test_invoke_build_with_a_bomb_is_one_line(tdir: Path) -> None:
    (tdir / "bomb.yaml").write_bytes(CASES["bomb"][0])
    proc = _invoke(["build", "--target", "bomb"], tdir)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "bomb.yaml:" in lines[0] and "aliases expand" in lines[0], proc.stderr
