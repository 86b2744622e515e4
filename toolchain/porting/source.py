"""Parsing C with tree-sitter and applying byte-range edits.

Every patch works on the *unpreprocessed* text of one file: it looks at the
syntax tree, returns a list of :class:`Edit` (start byte, end byte, new
text), and this module applies them from the back of the file to the front,
so that the byte offsets of earlier edits stay valid.  After each patch the
file is parsed again and must still be free of ``ERROR`` nodes: a patch that
would produce something tree-sitter cannot read is a bug that should stop the
port, not a file the compiler has to reject later.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import tree_sitter_c
from tree_sitter import Language, Node, Parser, Tree

from toolchain.errors import PortError

LANGUAGE = Language(tree_sitter_c.language())
_PARSER = Parser(LANGUAGE)


@dataclass(frozen=True)
class Edit:
    """Replace ``source[start:end]`` with ``text``; ``why`` explains the site."""

    start: int
    end: int
    text: str
    why: str = ""


@dataclass
class Unit:
    """One file being ported: its name (for messages), its bytes and tree."""

    path: Path
    source: bytes
    tree: Tree

    @classmethod
    def parse(cls, path: Path, source: bytes) -> "Unit":
        """Parse ``source``; refuse it with file:line:col when it has errors."""
        tree = _PARSER.parse(source)
        unit = cls(path, source, tree)
        unit.check()
        return unit

    @property
    def root(self) -> Node:
        return self.tree.root_node

    def text(self, node: Node) -> str:
        """The node's source text (C sources are read as latin-1: byte-exact)."""
        return self.source[node.start_byte:node.end_byte].decode("latin-1")

    def where(self, node_or_byte: Node | int) -> tuple[int, int]:
        """1-based (line, column) of a node or byte offset."""
        offset = node_or_byte if isinstance(node_or_byte, int) else node_or_byte.start_byte
        line = self.source.count(b"\n", 0, offset) + 1
        col = offset - (self.source.rfind(b"\n", 0, offset) + 1) + 1
        return line, col

    def error(self, node: Node | int, message: str) -> PortError:
        """A PortError in the compiler's ``file:line:col: message`` shape."""
        line, col = self.where(node)
        return PortError(f"{self.path}:{line}:{col}: {message}")

    def check(self) -> None:
        """Raise PortError at the first ERROR or missing node, if any."""
        if not self.root.has_error:
            return
        bad = first_error(self.root)
        assert bad is not None
        what = f"missing '{bad.type}'" if bad.is_missing else "syntax tree-sitter cannot parse"
        raise self.error(bad, f"{what}; fix the file or its preprocessor conditionals first")

    def apply(self, edits: list[Edit]) -> "Unit":
        """Apply non-overlapping edits back to front and re-parse the result."""
        data = self.source
        # Ascending and stable, then walked backwards: two insertions at the
        # same offset end up in the order the patch listed them.
        ordered = sorted(edits, key=lambda e: (e.start, e.end))
        limit = len(data)
        for edit in reversed(ordered):
            if edit.end > limit or edit.start > edit.end:
                raise PortError(f"{self.path}: internal error: overlapping edits at byte {edit.start}")
            data = data[:edit.start] + edit.text.encode("latin-1") + data[edit.end:]
            limit = edit.start
        return Unit(self.path, data, _PARSER.parse(data))


def first_error(node: Node) -> Node | None:
    """The first ERROR or MISSING node below ``node`` in source order."""
    if node.is_error or node.is_missing:
        return node
    for child in node.children:
        if child.has_error or child.is_missing or child.is_error:
            found = first_error(child)
            if found is not None:
                return found
    return None


def walk(node: Node) -> Iterator[Node]:
    """Every node below ``node`` (itself included) in source order."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(current.children))


def nodes_of(node: Node, *types: str) -> list[Node]:
    """All nodes of the given types below ``node``, in source order."""
    return [n for n in walk(node) if n.type in types]


def enclosing(node: Node, *types: str) -> Node | None:
    """The nearest ancestor of one of ``types``."""
    parent = node.parent
    while parent is not None and parent.type not in types:
        parent = parent.parent
    return parent


def line_span(unit: Unit, node: Node) -> tuple[int, int]:
    """Byte range of the whole lines ``node`` occupies, final newline included.

    Used to delete a directive line without leaving an empty line behind.
    """
    src = unit.source
    start = src.rfind(b"\n", 0, node.start_byte) + 1
    end = node.end_byte
    if end == 0 or src[end - 1:end] != b"\n":
        nl = src.find(b"\n", end)
        end = len(src) if nl < 0 else nl + 1
    return start, end
