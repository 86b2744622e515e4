"""A bounded fuzz of the YAML loader (hypothesis, about 15 s in all).

Whatever the bytes, ``yamlfile.load`` and ``load_target`` either succeed or
raise ConfigError with one line that starts with the file's name; never
another exception, a traceback or a hang.  The text strategy mixes YAML's
own punctuation, anchors, aliases, tags, indentation and odd characters so
that most examples reach the parser's deeper states, not just its first
error.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from toolchain import paths, yamlfile
from toolchain.errors import ConfigError
from toolchain.targets import load_target

TOKENS = [
    "\n", "\n  ", "\n    ", "- ", ": ", "? ", "[", "]", "{", "}", ", ", "&a ", "*a", "&b ", "*b", "<<: ",
    "!!str ", "!!int ", "!!binary ", "!!timestamp ", "!foo ", "%YAML 1.1\n", "---\n", "...\n", "|\n  ", ">-\n  ",
    "'", '"', "\\x", "\\u12", "#", "\t", "\x00", "\x85", "\ufeff", "\U0001F600", "é",
    "extends", "extends: ", "win98-mingw", "../x", "platform", "ram_mb", "compiler", "cc", "abstract: true",
    "description: d", "0x1F", "1e9", "-.inf", ".nan", "2001-02-30", "2001-12-14t21:59:43.10-05:00", "~", "null",
    "yes", "0o17", "12345678901234567890", "a", "b", "x",
]
TEXT = st.lists(st.sampled_from(TOKENS) | st.text(max_size=4), max_size=40).map("".join)
FUZZ = settings(max_examples=1500, deadline=2000, database=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _check(path: Path, func) -> None:  # type: ignore[no-untyped-def]
    start = time.monotonic()
    try:
        func()
    except ConfigError as exc:
        text = str(exc)
        assert text, "empty message"
        assert all(line.startswith((str(path.parent), "unknown target"))
                   for line in text.splitlines()), text
        assert len(text) < 4000, text[:200]
    assert time.monotonic() - start < 2.0


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder for every example (each overwrites the file): mktemp per example is slow."""
    d = tmp_path_factory.mktemp("fuzz") / "targets"
    d.mkdir()
    for base in ("win98-base", "mingw", "win32-console", "win98-mingw"):
        shutil.copyfile(paths.TARGETS_DIR / f"{base}.yaml", d / f"{base}.yaml")
    return d


@FUZZ
@given(TEXT)
def test_fuzz_yaml_text(fuzz_dir: Path, text: str) -> None:
    path = fuzz_dir / "f.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    _check(path, lambda: yamlfile.load(path))


@FUZZ
@given(st.binary(max_size=200))
def test_fuzz_yaml_bytes(fuzz_dir: Path, raw: bytes) -> None:
    path = fuzz_dir / "f.yaml"
    path.write_bytes(raw)
    _check(path, lambda: yamlfile.load(path))


@settings(max_examples=600, deadline=3000, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(TEXT)
def test_fuzz_target_file(fuzz_dir: Path, text: str) -> None:
    d = fuzz_dir
    (d / "t.yaml").write_text("extends: win98-mingw\n" + text, encoding="utf-8", errors="surrogatepass")
    _check(d / "t.yaml", lambda: load_target("t", d))
