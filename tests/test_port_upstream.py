"""llama2.c's own run.c and runq.c (read from ../shared, never copied into the
repo), ported for gcc and MinGW, build with C89 format checking and print
upstream's bytes natively and under Wine (fp32 greedy and sampled; int8)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from toolchain import paths
from toolchain.porting import port_tree
from toolchain.porting.validate import run

UPSTREAM = paths.SHARED_DIR / "upstream" / "llama2.c"
FORMAT_STRICT = ("-std=c89", "-pedantic-errors", "-Wformat", "-Werror=format", "-O2")
PROGRAMS = ("run", "runq")


def _compile(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.fixture(scope="session")
def upstream_builds(tmp_path_factory: pytest.TempPathFactory, stories260k: tuple[Path, Path]) -> dict[str, Path]:
    """upstream's own builds and the ported gcc and MinGW builds of run and runq."""
    if not (UPSTREAM / "run.c").is_file():
        pytest.fail(f"{UPSTREAM}: llama2.c's sources are missing (../shared/upstream)")
    work = tmp_path_factory.mktemp("upstream")
    exes: dict[str, Path] = {}
    for prog in PROGRAMS:
        exes[f"upstream-{prog}"] = work / f"upstream-{prog}"
        _compile(["gcc", "-O2", "-o", str(exes[f"upstream-{prog}"]), str(UPSTREAM / f"{prog}.c"), "-lm"])
    for family, cc in (("gcc", "gcc"), ("mingw", "i686-w64-mingw32-gcc")):
        result = port_tree(UPSTREAM, work / family, compiler=family)
        assert [p.as_posix() for p in result.programs] == ["run.c", "runq.c", "test.c"]
        for prog in PROGRAMS:
            exe = work / f"{family}-{prog}" if family == "gcc" else work / f"{prog}.exe"
            _compile([cc, *FORMAT_STRICT, "-o", str(exe), str(work / family / f"{prog}.c"),
                      *(["-lm"] if family == "gcc" else [])])
            exes[f"{family}-{prog}"] = exe
    return exes


@pytest.fixture(scope="session")
def q8_model(tmp_path_factory: pytest.TempPathFactory, stories260k: tuple[Path, Path]) -> Path:
    from toolchain.llama2.quant import quantize_checkpoint

    out = tmp_path_factory.mktemp("q8") / "stories260K_q80.bin"
    quantize_checkpoint(str(stories260k[0]), str(out), None)
    return out


CASES = {
    "run-greedy": ("run", ["-t", "0", "-n", "64", "-i", "Once upon a time"]),
    "run-sampled": ("run", ["-t", "0.9", "-p", "0.9", "-s", "7", "-n", "48"]),
    "runq-greedy": ("runq", ["-t", "0", "-n", "48", "-i", "Lily"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_ported_upstream_prints_upstreams_bytes(case: str, upstream_builds: dict[str, Path],
                                                stories260k: tuple[Path, Path], q8_model: Path) -> None:
    prog, flags = CASES[case]
    model = q8_model if prog == "runq" else stories260k[0]
    args = [str(model), "-z", str(stories260k[1]), *flags]
    cwd = upstream_builds[f"upstream-{prog}"].parent
    status, expected = run(upstream_builds[f"upstream-{prog}"], args, cwd)
    assert status == 0 and len(expected) > 40
    for family in ("gcc", "mingw"):
        status, got = run(upstream_builds[f"{family}-{prog}"], args, cwd, wine=family == "mingw")
        assert status == 0, family
        assert got == expected, family
