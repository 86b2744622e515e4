"""The Jinja2 environment every template is rendered with.

Shared by ``render`` (makefiles, batch files, README.TXT) and anything else
that fills a template, so that there is one set of rules: strict variables,
CRLF line ends, literal tabs for make, and the ``wrap`` filter that keeps
long flag lists within 80 columns.
"""

from __future__ import annotations

from typing import Any, Iterable

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from toolchain import paths
from toolchain.dosbatch import bat_text


def wrap(items: Iterable[str] | str, indent: int, cont: str = " \\", width: int = 78) -> str:
    """Join words into continuation lines that fit ``width`` columns.

    ``indent`` is the column where the value starts on the first line (after
    ``NAME = ``); continuation lines are indented to the same column.
    """
    words = items.split() if isinstance(items, str) else list(items)
    lines: list[str] = []
    current = ""
    for word in words:
        candidate = f"{current} {word}" if current else word
        if current and indent + len(candidate) + len(cont) > width:
            lines.append(current)
            current = word
        else:
            current = candidate
    lines.append(current)
    return (cont + "\n" + " " * indent).join(lines)


def environment() -> Environment:
    """The Jinja2 environment for every template: strict, CRLF, literal tabs."""
    env = Environment(
        loader=FileSystemLoader(str(paths.TEMPLATES_DIR)),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        newline_sequence="\r\n",
        autoescape=False,
    )
    env.filters["wrap"] = wrap
    env.filters["bat"] = bat_text  # every value a batch file gets: one escaping rule
    return env


def render(template: str, **ctx: Any) -> str:
    """Render a template; every line end becomes CRLF (filters emit LF)."""
    text = environment().get_template(template).render(**ctx)
    return text.replace("\r\n", "\n").replace("\n", "\r\n")
