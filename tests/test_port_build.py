"""The ported fixtures and the C99 runner built with strict C89 compilers
(gcc, clang, tcc natively; MinGW under Wine) print what the originals print.

Builds are cached per session: each fixture is ported and compiled once."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from toolchain.porting.validate import (FIXTURES, RUNNER, Outcome, check_program, oracles,
                                        golden_fixtures, runner_args)

NATIVE = tuple(c for c in oracles() if not c.wine)
WINE = tuple(c for c in oracles() if c.wine)


def _require(compilers) -> None:  # type: ignore[no-untyped-def]
    missing = [c.name for c in compilers if not c.available()]
    if missing:
        pytest.fail(f"not installed: {', '.join(missing)} (./retro installs them)")


@pytest.fixture(scope="session")
def port_work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("port")


def _failures(outcomes: list[Outcome]) -> list[str]:
    assert outcomes
    return [str(o) for o in outcomes if not o.ok]


@pytest.mark.parametrize("fixture", [f.name for f in golden_fixtures()])
def test_fixture_native_compilers(fixture: str, port_work: Path) -> None:
    _require(NATIVE)
    outcomes = check_program(fixture, FIXTURES / fixture / "before.c", port_work / fixture, [], NATIVE)
    assert len(outcomes) == len(NATIVE)
    assert not _failures(outcomes)


@pytest.mark.wine
def test_fixtures_mingw_under_wine(port_work: Path, with_watcom: Path) -> None:
    _require(WINE)
    failures = []
    for folder in golden_fixtures():
        failures += _failures(check_program(folder.name, folder / "before.c",
                                            port_work / f"wine-{folder.name}", [], WINE))
    assert not failures


@pytest.fixture(scope="session")
def runner_text(stories260k: tuple[Path, Path], port_work: Path) -> str:
    """What the unported C99 runner prints (greedy, 64 steps)."""
    exe = port_work / "runner-c99"
    subprocess.run(["gcc", "-std=gnu99", "-O2", "-w", "-o", str(exe), str(RUNNER / "run.c"), "-lm"], check=True)
    proc = subprocess.run([str(exe), *runner_args(stories260k[0].parent)], capture_output=True, timeout=120)
    assert proc.returncode == 0
    return proc.stdout.decode("latin-1")


def test_runner_c99_tells_the_lily_story(runner_text: str) -> None:
    assert runner_text.startswith("Once upon a time, there was a little girl named Lily.")


def test_ported_runner_native(runner_text: str, stories260k: tuple[Path, Path], port_work: Path) -> None:
    _require(NATIVE)
    outcomes = check_program("runner", RUNNER, port_work / "runner", runner_args(stories260k[0].parent),
                             NATIVE, expected=runner_text)
    assert not _failures(outcomes)


@pytest.mark.wine
def test_ported_runner_mingw_wine(runner_text: str, stories260k: tuple[Path, Path], port_work: Path,
                                  with_watcom: Path) -> None:
    _require(WINE)
    outcomes = check_program("runner", RUNNER, port_work / "runner-wine", runner_args(stories260k[0].parent),
                             WINE, expected=runner_text)
    assert not _failures(outcomes)


def test_runner_matches_engine(runner_text: str, native_engine: Path, stories260k: tuple[Path, Path]) -> None:
    proc = subprocess.run([str(native_engine), *runner_args(stories260k[0].parent)], capture_output=True,
                          timeout=120)
    assert proc.returncode == 0
    assert proc.stdout.decode("latin-1") == runner_text
