"""``//`` comments become ``/* */`` comments (patch ``line-comments``)."""

from __future__ import annotations

from toolchain.porting.registry import rule
from toolchain.porting.source import Edit, Unit, nodes_of


def block_comment(body: str) -> str:
    """``/* body */`` with anything that would end or nest the comment defused."""
    body = body.replace("*/", "* /").replace("/*", "/ *").rstrip()
    if body.endswith("\\"):
        body += " "  # a trailing backslash would otherwise splice the closing line
    return f"/*{body} */" if body else "/* */"


@rule("line-comments")
def line_comments(unit: Unit) -> list[Edit]:
    edits = []
    for node in nodes_of(unit.root, "comment"):
        text = unit.text(node)
        if text.startswith("//"):
            edits.append(Edit(node.start_byte, node.end_byte, block_comment(text[2:]),
                              "C++-style // comment"))
    return edits
