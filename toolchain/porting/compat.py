"""Rendering ``rcompat.h`` for one compiler family from ``patches/compat/``.

The header only carries the pieces the ported sources name (``rc_snprintf``,
``rc_clock_gettime``...), found by scanning the ported text: that keeps the
header free of unused static functions and independent of which patch
introduced a name.
"""

from __future__ import annotations

import re
from pathlib import Path

import jinja2

from toolchain import paths
from toolchain.errors import PortError

FAMILIES = {
    "gcc": "gcc, clang or tcc on a POSIX host",
    "mingw": "MinGW-w64 with msvcrt.dll",
    "borland": "Borland C++ 5.02",
    "watcom": "Open Watcom",
}
COMPAT_NAME = re.compile(rb"\b(?:rc|RC)_[A-Za-z0-9_]+")


def check_family(family: str) -> str:
    """Return ``family`` or raise a one-line PortError listing the valid ones."""
    if family not in FAMILIES:
        raise PortError(f"unknown compiler family {family!r}; expected one of {', '.join(FAMILIES)}")
    return family


def names_used(texts: list[bytes]) -> set[str]:
    """Every rc_/RC_ identifier in the ported files."""
    found: set[str] = set()
    for text in texts:
        found.update(m.decode() for m in COMPAT_NAME.findall(text))
    return found


def render(family: str, used: set[str], compat_dir: Path | None = None) -> str:
    """The text of rcompat.h for ``family`` carrying what ``used`` needs."""
    check_family(family)
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(compat_dir or paths.PATCHES_DIR / "compat")),
        undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
        trim_blocks=True, lstrip_blocks=True)

    def uses(*names: str) -> bool:
        return any(name in used for name in names)

    text = env.get_template("rcompat.h.j2").render(family=family, title=FAMILIES[family], uses=uses)
    return re.sub(r"\n{3,}", "\n\n", text)
