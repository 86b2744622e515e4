"""The engine built for a Pentium and a 486 with MinGW and the own startup
(engine/startup) passes the audit with zero P6 instructions and still tells
the stories260K story under Wine.  Its object files stay on the C89 surface.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from audit_util import STARTUP_DIR, mingw, need
from toolchain import paths
from toolchain.audit import audit_exe, check_link_surface
from toolchain.compilers import compile_flags
from toolchain.render import link_flags
from toolchain.smoke import wine_env
from toolchain.targets import load_target

# What the win95-p5 / win95-486 targets compile and link with, taken from
# the targets themselves (compilers.compile_flags, render.link_flags): the
# mingw.yaml base plus the own-startup recipe of docs/platform.md §3.
def recipe(name: str) -> tuple[list[str], list[str], list[str]]:
    """(compile flags, link flags, libraries) of a MinGW target."""
    t = load_target(name)
    return compile_flags(t), link_flags(t), list(t.linker.libs)


STORY = b"Once upon a time, there was a little girl named Lily"


def sources() -> list[Path]:
    found = paths.engine_sources()
    if not found:
        pytest.fail(f"{paths.ENGINE_DIR}: no engine sources")
    return [*found, *sorted(STARTUP_DIR.glob("*.c"))]


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("engine-p5")


@pytest.mark.wine
@pytest.mark.parametrize(("target", "os_"), [("win95-p5", "win98"), ("win95-486", "win95osr2")])
def test_engine_for_old_cpus_has_no_p6_code_and_runs(
    out: Path, stories260k: tuple[Path, Path], target: str, os_: str
) -> None:
    compile_, link, libs = recipe(target)
    cpu = load_target(target).platform.cpu
    exe = mingw(out / f"run-{cpu}.exe", sources(), [*compile_, *link], libs)
    report = audit_exe(exe, os=os_, cpu=cpu, symbols_exe=exe.with_suffix(".sym.exe"))
    assert report.ok, report.verdict + "\n" + "\n".join(f"{f.where}: {f.message}" for f in report.findings)
    assert report.cpu_hits == [], [f"{h.function} {h.mnemonic}" for h in report.cpu_hits]
    assert {d.lower() for d, _, _ in report.imports} <= {"msvcrt.dll", "kernel32.dll"}
    assert report.code_bytes > 4096  # the sweep really covered the engine
    need("wine")
    model, tokenizer = stories260k
    cmd = ["wine", str(exe), str(model), "-z", str(tokenizer), "-t", "0", "-n", "40", "-i", "Once upon a time"]
    run = subprocess.run(cmd, capture_output=True, timeout=180, env=wine_env())
    assert run.returncode == 0, run.stderr.decode(errors="replace")[-2000:]
    assert run.stdout.startswith(STORY), run.stdout[:200]


def test_engine_objects_stay_on_the_c89_surface(out: Path) -> None:
    need("i686-w64-mingw32-gcc")
    objects = []
    for src in paths.engine_sources():
        obj = out / f"{src.stem}.o"
        proc = subprocess.run(["i686-w64-mingw32-gcc", *recipe("win95-p5")[0], "-c", "-o", str(obj), str(src)],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        objects.append(obj)
    for os_ in ("win95", "nt4"):
        found = check_link_surface(objects, os=os_)
        assert [f for f in found if f.severity == "fail"] == [], found
