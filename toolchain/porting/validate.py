"""Checking the series: goldens, idempotence, strict compilers, same output.

Shared by the test suite and ``invoke validate-patches`` (CI), so both
check the same things.  For every fixture folder under
``tests/fixtures/port/<patch-id>/``:

* ``before.c`` through that one patch equals ``after.c`` (the golden);
* the whole series applied twice equals the series applied once;
* the fully ported file compiles with each strict C89 compiler here and
  prints what the original C99 program printed (MinGW builds run under Wine).
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from toolchain import paths
from toolchain.porting.engine import port_source
from toolchain.porting.series import load_series
from toolchain.porting.tree import port_tree
from toolchain.smoke import wine_env

FIXTURES = paths.REPO_ROOT / "tests" / "fixtures" / "port"
RUNNER = FIXTURES / "runner"
TIMEOUT = 120


@dataclass(frozen=True)
class Compiler:
    """A strict C89 compiler used as an oracle, and the family it builds for."""

    name: str
    family: str
    command: tuple[str, ...]  # ... followed by -o EXE SOURCES and link flags
    link: tuple[str, ...] = ()
    wine: bool = False

    def available(self) -> bool:
        return shutil.which(self.command[0]) is not None and (not self.wine or shutil.which("wine") is not None)


STRICT = ("-std=c89", "-pedantic-errors", "-Werror", "-O1")
COMPILERS = (
    Compiler("gcc", "gcc", ("gcc", *STRICT), ("-lm",)),
    Compiler("clang", "gcc", ("clang", *STRICT), ("-lm",)),
    Compiler("tcc", "gcc", ("tcc",), ("-lm",)),
    Compiler("mingw", "mingw", ("i686-w64-mingw32-gcc", *STRICT), (), wine=True),
)
ORIGINAL = ("gcc", "-std=gnu99", "-O1", "-w")


@dataclass
class Outcome:
    """One check: what, on which fixture, passed or not, and why not."""

    fixture: str
    check: str
    ok: bool
    detail: str = ""

    def __str__(self) -> str:
        mark = "ok  " if self.ok else "FAIL"
        return f"{mark} {self.fixture}: {self.check}" + (f" -- {self.detail}" if self.detail else "")


def golden_fixtures() -> list[Path]:
    """Every ``<patch-id>/before.c`` folder, in series order."""
    return [FIXTURES / p.id for p in load_series() if (FIXTURES / p.id / "before.c").is_file()]


def build(compiler: Compiler | tuple[str, ...], sources: list[Path], exe: Path) -> tuple[bool, str]:
    """Compile; (ok, compiler messages)."""
    if isinstance(compiler, Compiler):
        cmd = [*compiler.command, "-o", str(exe), *map(str, sources), *compiler.link]
    else:
        cmd = [*compiler, "-o", str(exe), *map(str, sources), "-lm"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT)
    return proc.returncode == 0, (proc.stdout + proc.stderr).strip()


def run(exe: Path, args: list[str], cwd: Path, wine: bool = False) -> tuple[int, str]:
    """Run a built program; (exit status, stdout with CRLF folded)."""
    cmd = (["wine", str(exe)] if wine else [str(exe)]) + args
    proc = subprocess.run(cmd, capture_output=True, cwd=cwd, env=wine_env() if wine else None, timeout=TIMEOUT)
    return proc.returncode, proc.stdout.decode("latin-1").replace("\r\n", "\n")


def check_golden(folder: Path) -> list[Outcome]:
    """The single-patch golden and the idempotence of the whole series."""
    name = folder.name
    before = (folder / "before.c").read_bytes()
    out: list[Outcome] = []
    expected = (folder / "after.c").read_bytes() if (folder / "after.c").is_file() else None
    got, changes = port_source(folder / "before.c", before, only=name)
    out.append(Outcome(name, "golden after.c", expected == got,
                       "" if expected == got else "output differs from after.c"))
    out.append(Outcome(name, "patch changes something", bool(changes), "no site found"))
    once, _ = port_source(folder / "before.c", before)
    twice, again = port_source(folder / "before.c", once)
    out.append(Outcome(name, "series is idempotent", once == twice and not again,
                       "" if once == twice else f"second run changed: {again[:3]}"))
    single, _ = port_source(folder / "before.c", got, only=name)
    out.append(Outcome(name, "patch is idempotent", single == got))
    return out


def check_program(name: str, src: Path, work: Path, args: list[str],
                  compilers: tuple[Compiler, ...] = COMPILERS,
                  expected: str | None = None) -> list[Outcome]:
    """Port ``src`` (a file or tree) for each family, build with each compiler,
    and compare the output with the original C99 build's (or ``expected``)."""
    out: list[Outcome] = []
    work.mkdir(parents=True, exist_ok=True)
    sources = [src] if src.is_file() else sorted(src.glob("*.c"))
    if expected is None:
        ok, msg = build(ORIGINAL, sources, work / "original")
        if not ok:
            return [Outcome(name, "original C99 build", False, msg.splitlines()[0] if msg else "")]
        status, expected = run(work / "original", args, work)
        if status != 0:
            return [Outcome(name, "original C99 run", False, f"exit status {status}")]
    for compiler in compilers:
        if not compiler.available():
            out.append(Outcome(name, f"{compiler.name}: not installed, not checked", True))
            continue
        dest = work / compiler.family
        if not (dest / ".retrollama-port").is_file():
            port_tree(src, dest, compiler=compiler.family)
        exe = work / f"{compiler.name}.exe"
        ok, msg = build(compiler, sorted(dest.glob("*.c")), exe)
        if not ok:
            out.append(Outcome(name, f"{compiler.name} -std=c89 build", False, msg[:2000]))
            continue
        status, got = run(exe, args, work, wine=compiler.wine)
        same = status == 0 and got == expected
        detail = "" if same else f"status {status}; expected {expected[:120]!r}, got {got[:120]!r}"
        out.append(Outcome(name, f"{compiler.name} output matches", same, detail))
    return out


def runner_args(models: Path) -> list[str]:
    """The greedy 64-step run on stories260K that the engine is compared with."""
    return [str(models / "stories260K.bin"), "-z", str(models / "tok512.bin"),
            "-t", "0", "-n", "64", "-i", "Once upon a time"]


def validate_all(work: Path, compilers: tuple[Compiler, ...] = COMPILERS) -> list[Outcome]:
    """Everything ``invoke validate-patches`` checks."""
    outcomes: list[Outcome] = []
    for folder in golden_fixtures():
        outcomes += check_golden(folder)
        outcomes += check_program(folder.name, folder / "before.c", work / folder.name, [], compilers)
    missing = [p.id for p in load_series() if not (FIXTURES / p.id / "before.c").is_file()]
    outcomes.append(Outcome("series", "every patch has a golden fixture", not missing,
                            f"missing: {', '.join(missing)}" if missing else ""))
    models = paths.SHARED_MODELS
    if (models / "stories260K.bin").is_file():
        outcomes += check_program("runner", RUNNER, work / "runner", runner_args(models), compilers)
    else:
        outcomes.append(Outcome("runner", "stories260K.bin not found: runner not checked", True))
    return outcomes
