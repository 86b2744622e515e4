"""Checking the series: goldens, idempotence, strict compilers, same output.

Shared by the test suite and ``invoke validate-patches`` (CI), so both
check the same things.  For every fixture folder under
``tests/fixtures/port/<patch-id>/``:

* ``before.c`` through that one patch equals ``after.c`` (the golden);
* the whole series applied twice equals the series applied once;
* the fully ported file compiles with each strict C89 compiler here and
  prints what the original C99 program printed (MinGW and Open Watcom
  builds run under Wine).

The corpus (``tests/fixtures/port/programs/*.c``, small realistic C99
programs) gets the same build-and-compare check.  A compiler that is not
installed is reported "not checked", never counted as a pass.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from pydantic import Field, field_validator

from toolchain import paths, yamlfile
from toolchain.porting.compat import FAMILIES
from toolchain.porting.engine import port_source
from toolchain.porting.series import load_series
from toolchain.porting.tree import port_tree
from toolchain.smoke import wine_env

FIXTURES = paths.REPO_ROOT / "tests" / "fixtures" / "port"
RUNNER = FIXTURES / "runner"
PROGRAMS = FIXTURES / "programs"
ORACLES_FILE = paths.DATA_DIR / "port_oracles.yaml"
TIMEOUT = 120
Progress = Callable[[str], None]


@dataclass(frozen=True)
class Compiler:
    """A strict C89 compiler used as an oracle, and the family it builds for."""

    name: str
    family: str
    command: tuple[str, ...]  # ... followed by the output option, SOURCES and link flags
    link: tuple[str, ...] = ()
    wine: bool = False
    output: str = "-o {exe}"  # how the compiler is told the exe's name
    ansi: tuple[str, ...] = ()  # strict-ANSI flags, for sources not including windows.h
    needs_env: str = ""  # an environment variable the compiler cannot work without

    def available(self) -> bool:
        if self.needs_env and not os.environ.get(self.needs_env):
            return False
        return shutil.which(self.command[0]) is not None and (not self.wine or shutil.which("wine") is not None)

    def missing(self) -> str:
        """Why :meth:`available` is False, in a few words."""
        if self.needs_env and not os.environ.get(self.needs_env):
            return f"${self.needs_env} is not set"
        if shutil.which(self.command[0]) is None:
            return f"{self.command[0]} is not installed"
        return "wine is not installed"

    def argv(self, sources: list[Path], exe: Path) -> list[str]:
        uses_windows_h = any(b"<windows.h>" in src.read_bytes() for src in _with_headers(sources))
        flags = () if uses_windows_h else self.ansi
        return [*self.command, *flags, *self.output.format(exe=exe).split(), *map(str, sources), *self.link]


def _with_headers(sources: list[Path]) -> list[Path]:
    folders = {s.parent for s in sources}
    return [*sources, *(h for f in sorted(folders) for h in sorted(f.glob("*.h")))]


class OracleEntry(yamlfile.Strict):
    """One compiler as written in port_oracles.yaml."""

    family: str = Field(description="the porter's compiler family (porting.compat.FAMILIES)")
    command: list[str] = Field(min_length=1, description="program, then flags")
    strict: bool = Field(False, description="append the file's strict_flags to the command")
    link: list[str] = Field(default_factory=list)
    wine: bool = False
    output: str = Field("-o {exe}", pattern=r"\{exe\}")
    ansi: list[str] = Field(default_factory=list)
    needs_env: str = ""

    @field_validator("family")
    @classmethod
    def _known_family(cls, value: str) -> str:
        if value not in FAMILIES:
            raise ValueError(f"unknown family {value!r}; expected one of {', '.join(FAMILIES)}")
        return value


class OracleFile(yamlfile.Strict):
    """port_oracles.yaml."""

    strict_flags: list[str] = Field(min_length=1)
    original: list[str] = Field(min_length=1, description="how the C99 original is built")
    compilers: dict[str, OracleEntry] = Field(min_length=1)


@functools.cache
def _oracle_file(path: Path = ORACLES_FILE) -> OracleFile:
    result: OracleFile = yamlfile.load_model(path, OracleFile)
    return result


def strict_flags() -> tuple[str, ...]:
    """The strict C89 flags the gcc-like oracles compile with."""
    return tuple(_oracle_file().strict_flags)


def original_command() -> tuple[str, ...]:
    """How the C99 original is built for the expected output."""
    return tuple(_oracle_file().original)


def oracles(path: Path = ORACLES_FILE) -> tuple[Compiler, ...]:
    """The strict C89 compilers of port_oracles.yaml, in its order (a bad value is one file:LINE:COL line)."""
    doc = _oracle_file(path)
    return tuple(
        Compiler(name, e.family, (*e.command, *(doc.strict_flags if e.strict else ())), tuple(e.link), e.wine,
                 e.output, tuple(e.ansi), e.needs_env)
        for name, e in doc.compilers.items()
    )


@dataclass
class Outcome:
    """One check: what, on which fixture, passed or not, and why not."""

    fixture: str
    check: str
    ok: bool
    detail: str = ""
    checked: bool = True  # False: the tool was missing, nothing was checked

    def __str__(self) -> str:
        mark = "ok  " if self.ok else "FAIL"
        if not self.checked:
            mark = "not checked"
        return f"{mark} {self.fixture}: {self.check}" + (f" -- {self.detail}" if self.detail else "")


def golden_fixtures() -> list[Path]:
    """Every ``<patch-id>/before.c`` folder, in series order."""
    return [FIXTURES / p.id for p in load_series() if (FIXTURES / p.id / "before.c").is_file()]


def build(compiler: Compiler | tuple[str, ...], sources: list[Path], exe: Path) -> tuple[bool, str]:
    """Compile in the exe's folder (Watcom writes its objects to the current one);
    (ok, compiler messages)."""
    if isinstance(compiler, Compiler):
        cmd = compiler.argv(sources, exe)
    else:
        cmd = [*compiler, "-o", str(exe), *map(str, sources), "-lm"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, cwd=exe.parent)
    return proc.returncode == 0, (proc.stdout + proc.stderr).strip()


def run(exe: Path, args: list[str], cwd: Path, wine: bool = False) -> tuple[int, str]:
    """Run a built program; (exit status, stdout with CRLF folded)."""
    cmd = (["wine", str(exe)] if wine else [str(exe)]) + args
    # stderr is not piped: a Wine helper process that outlives the program
    # holds a piped stderr open for seconds after it exits.
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=cwd,
                          env=wine_env() if wine else None, timeout=TIMEOUT)
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
                  compilers: tuple[Compiler, ...] | None = None,
                  expected: str | None = None) -> list[Outcome]:
    """Port ``src`` (a file or tree) for each family, build with each compiler,
    and compare the output with the original C99 build's (or ``expected``)."""
    out: list[Outcome] = []
    work.mkdir(parents=True, exist_ok=True)
    sources = [src] if src.is_file() else sorted(src.glob("*.c"))
    if expected is None:
        ok, msg = build(original_command(), [p.resolve() for p in sources], (work / "original").resolve())
        if not ok:
            return [Outcome(name, "original C99 build", False, msg.splitlines()[0] if msg else "")]
        status, expected = run((work / "original").resolve(), args, work)
        if status != 0:
            return [Outcome(name, "original C99 run", False, f"exit status {status}")]
    for compiler in oracles() if compilers is None else compilers:
        if not compiler.available():
            out.append(Outcome(name, f"{compiler.name}: {compiler.missing()}", False, checked=False))
            continue
        dest = work / compiler.family
        if not (dest / ".retrollama-port").is_file():
            port_tree(src, dest, compiler=compiler.family)
        exe = (work / f"{compiler.name}.exe").resolve()
        ok, msg = build(compiler, [p.resolve() for p in sorted(dest.glob("*.c"))], exe)
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


def corpus_programs() -> list[Path]:
    """The corpus: one self-contained C99 program per file."""
    return sorted(PROGRAMS.glob("*.c"))


def validate_all(work: Path, compilers: tuple[Compiler, ...] | None = None,
                 progress: Progress | None = None) -> list[Outcome]:
    """Everything ``invoke validate-patches`` checks; ``progress`` is told the
    name of each step as it starts (see :func:`step_count`)."""
    tell = progress or (lambda _name: None)
    outcomes: list[Outcome] = []
    for folder in golden_fixtures():
        tell(folder.name)
        outcomes += check_golden(folder)
        outcomes += check_program(folder.name, folder / "before.c", work / folder.name, [], compilers)
    missing = [p.id for p in load_series() if not (FIXTURES / p.id / "before.c").is_file()]
    outcomes.append(Outcome("series", "every patch has a golden fixture", not missing,
                            f"missing: {', '.join(missing)}" if missing else ""))
    for program in corpus_programs():
        tell(f"corpus {program.stem}")
        outcomes += check_program(f"corpus/{program.stem}", program, work / "corpus" / program.stem,
                                  [], compilers)
    tell("runner")
    models = paths.SHARED_MODELS
    if (models / "stories260K.bin").is_file():
        outcomes += check_program("runner", RUNNER, work / "runner", runner_args(models), compilers)
    else:
        outcomes.append(Outcome("runner", "stories260K.bin not found", False, checked=False))
    return outcomes


def step_count() -> int:
    """How many steps :func:`validate_all` reports to its progress callback."""
    return len(golden_fixtures()) + len(corpus_programs()) + 1
