"""The engine compiles warning-free as strict ISO C89 with every compiler we
have here, and its sources keep to the portable subset (docs/platform.md §5-6)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine_util import LILY, PROMPT, run
from toolchain import enginebuild, paths

STRICT_PROFILES = ["strict-gcc", "strict-clang", "tcc", "mingw", "i686-pentium2"]


@pytest.mark.parametrize("name", STRICT_PROFILES)
def test_compiles_without_warnings(name: str, tmp_path: Path) -> None:
    prof = enginebuild.profile(name)
    if not prof.available():
        pytest.fail(f"{prof.cc} is not installed (./retro installs it)")
    exe = enginebuild.build_engine(prof, tmp_path)  # raises BuildError on any diagnostic
    assert exe.is_file() and exe.stat().st_size > 0


def test_i686_x87_build_tells_the_story(tmp_path: Path, stories260k: tuple[Path, Path]) -> None:
    prof = enginebuild.profile("i686-pentium2")
    if not prof.available():
        pytest.fail(f"{prof.cc} is not installed (./retro installs it)")
    exe = enginebuild.build_engine(prof, tmp_path)
    ckpt, tok = stories260k
    proc = run(exe, ckpt, "-z", tok, "-t", "0", "-n", "40", "-i", PROMPT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(LILY[:60])


def _code(path: Path) -> str:
    """The file without its comments and string literals."""
    text = path.read_text(encoding="ascii")
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r'"(\\.|[^"\\])*"', '""', text)


def test_only_compat_header_knows_compilers() -> None:
    for src in [*paths.engine_sources(), *paths.engine_headers()]:
        code = _code(src)
        assert "long long" not in code, f"{src.name}: long long"
        assert "//" not in code, f"{src.name}: // comment"
        if src.name != "compat.h":
            assert "__int64" not in code and "__BORLANDC__" not in code and "__WATCOMC__" not in code, src.name


def test_no_c99_float_math_or_posix() -> None:
    banned = re.compile(r"\b(expf|sqrtf|powf|cosf|sinf|logf|fabsf|tanhf|mmap|clock_gettime|unistd)\b")
    for src in [*paths.engine_sources(), *paths.engine_headers()]:
        hit = banned.search(_code(src))
        assert hit is None, f"{src.name}: uses {hit.group(0) if hit else ''}"


@pytest.mark.parametrize(("macro", "codec"), [("#else", "cp437"), ("#ifdef RL_CP850", "cp850")])
def test_dos_code_page_tables_are_the_real_ones(macro: str, codec: str) -> None:
    """platform.c's OEM tables (MS-DOS prompts and console) map 0x80-0xFF as Python's codecs do."""
    text = (paths.ENGINE_DIR / "platform.c").read_text(encoding="ascii")
    start = text.index(macro + "\nstatic const unsigned short oem_upper[128]")
    body = text[text.index("{", start) + 1:text.index("};", start)]
    values = [int(v, 16) for v in re.findall(r"0x([0-9A-F]{4})", body)]
    assert values == [ord(bytes([b]).decode(codec)) for b in range(0x80, 0x100)]
