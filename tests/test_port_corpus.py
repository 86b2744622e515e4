"""The porter on small, realistic C99 programs of our own
(``tests/fixtures/port/programs/``): each is ported for gcc, MinGW and
Open Watcom, built strictly, run (the Windows builds under Wine) and its
output compared with the C99 original's.  The programs in ``refused/``
hold a construct no patch ports; each must stop ``invoke port`` with one
``file:line`` line and a nonzero exit."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from invoke import Context, Exit

from toolchain.porting import port_source
from toolchain.porting.validate import FIXTURES, check_program, corpus_programs, oracles

# The three compiler families the corpus is promised for.
CORPUS_COMPILERS = tuple(c for c in oracles() if c.name in ("gcc", "mingw", "watcom"))
REFUSED = sorted((FIXTURES / "refused").glob("*.c"))
# What the corpus must exercise, as the patch that rewrites each construct.
CONSTRUCTS = {
    "mixed-declarations", "for-declarations", "line-comments", "designated-initializers",
    "compound-literals", "inline-restrict", "stdbool", "snprintf", "long-long", "float-math",
    "printf-formats", "stdint-types", "func-name", "strtoll", "main-return",
}


def test_corpus_is_a_dozen_programs_covering_the_c99_constructs() -> None:
    programs = corpus_programs()
    assert len(programs) >= 12
    used: set[str] = set()
    for program in programs:
        text, changes = port_source(program, program.read_bytes())
        assert b"main(" in text and changes, program.name
        used |= {c.patch_id for c in changes}
    assert CONSTRUCTS <= used, sorted(CONSTRUCTS - used)


@pytest.fixture(scope="session")
def corpus_work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("corpus")


@pytest.mark.wine
@pytest.mark.parametrize("program", [p.stem for p in corpus_programs()])
def test_corpus_program_ports_builds_and_prints_the_same(program: str, corpus_work: Path,
                                                         with_watcom: Path) -> None:
    missing = [c.name for c in CORPUS_COMPILERS if not c.available()]
    assert not missing, f"not installed: {', '.join(missing)} (./retro installs them)"
    source = next(p for p in corpus_programs() if p.stem == program)
    outcomes = check_program(program, source, corpus_work / program, [], CORPUS_COMPILERS)
    assert [o.check for o in outcomes] == [f"{c.name} output matches" for c in CORPUS_COMPILERS], \
        [str(o) for o in outcomes]
    assert all(o.ok for o in outcomes), [str(o) for o in outcomes if not o.ok]


def _expected(path: Path) -> tuple[int, str]:
    match = re.match(r"/\* expect: (\d+): (.*?) \*/", path.read_text())
    assert match, f"{path.name}: first line must be /* expect: LINE: message */"
    return int(match.group(1)), match.group(2)


@pytest.mark.parametrize("program", [p.name for p in REFUSED])
def test_refused_program_stops_port_with_one_line(program: str, tmp_path: Path) -> None:
    from toolchain.cli.port import port

    path = FIXTURES / "refused" / program
    line, message = _expected(path)
    started = time.monotonic()
    with pytest.raises(Exit) as info:
        port(Context(), str(path), out=str(tmp_path / "out"))
    assert time.monotonic() - started < 2
    assert info.value.code != 0
    text = str(info.value.message)
    assert "\n" not in text and "Traceback" not in text
    assert text.startswith(f"error: {path}:{line}: {message}; "), text
    assert not (tmp_path / "out").exists()


def test_refused_set_covers_the_constructs_without_a_rule() -> None:
    messages = " ".join(_expected(p)[1] for p in REFUSED)
    for construct in ("variable-length array", "variadic macro", "hexadecimal float",
                      "flexible array member"):
        assert construct in messages, construct
