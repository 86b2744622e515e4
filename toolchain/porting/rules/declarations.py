"""Declarations C89 does not allow where C99 does (patches
``for-declarations`` and ``mixed-declarations``).

Both open a new block instead of hoisting the declaration to the top of the
function: the declaration keeps its place, its initialiser, its ``const`` and
any shadowing of an outer name, and runs exactly when it ran before.
"""

from __future__ import annotations

from tree_sitter import Node

from toolchain.porting.registry import rule
from toolchain.porting.source import Edit, Unit, nodes_of

# children of a block that are neither statements nor declarations
NEUTRAL = {"comment", "preproc_call", "preproc_def", "preproc_function_def"}
DECLARATIONS = {"declaration", "type_definition", "struct_specifier", "union_specifier",
                "enum_specifier"}


def _split_declaration(unit: Unit, decl: Node) -> tuple[str, str] | None:
    """``int i = 0, j = 1`` -> (``int i, j;``, ``i = 0, j = 1``), or None when
    the declaration must stay whole (``const``, arrays, no initialiser)."""
    declarators = decl.children_by_field_name("declarator")
    if not declarators or any(q.type == "type_qualifier" for q in decl.children):
        return None
    names, assigns = [], []
    for d in declarators:
        if d.type != "init_declarator":
            return None
        inner = d.child_by_field_name("declarator")
        value = d.child_by_field_name("value")
        if inner is None or value is None or inner.type not in ("identifier", "pointer_declarator") \
                or value.type == "initializer_list":
            return None
        name: Node | None = inner
        while name is not None and name.type == "pointer_declarator":
            name = name.child_by_field_name("declarator")
        if name is None:
            return None
        names.append(unit.text(inner))
        assigns.append(f"{unit.text(name)} = {unit.text(value)}")
    head = unit.source[decl.start_byte:declarators[0].start_byte].decode("latin-1")
    return f"{head}{', '.join(names)};", ", ".join(assigns)


def line_indent(unit: Unit, offset: int) -> str | None:
    """The indentation of the line ``offset`` is on, when only blanks precede it."""
    start = unit.source.rfind(b"\n", 0, offset) + 1
    lead = unit.source[start:offset].decode("latin-1")
    return lead if not lead.strip() else None


def open_block(unit: Unit, at: int, first: str = "") -> str:
    """Text that opens a block before ``at``: ``{`` on its own line, at the
    statement's indentation, when the statement starts its line."""
    indent = line_indent(unit, at)
    if indent is None:
        return f"{{ {first}" if first else "{ "
    return f"{{\n{indent}{first}\n{indent}" if first else f"{{\n{indent}"


@rule("for-declarations")
def for_declarations(unit: Unit) -> list[Edit]:
    edits = []
    why = "declaration in a for-loop initialiser is C99"
    for loop in nodes_of(unit.root, "for_statement"):
        init = loop.child_by_field_name("initializer")
        if init is None or init.type != "declaration":
            continue
        split = _split_declaration(unit, init)
        # the declaration node ends with its ';', which is also the loop's first ';'
        if split is not None:
            decl, assign = split
            edits.append(Edit(loop.start_byte, loop.start_byte, open_block(unit, loop.start_byte, decl), why))
            edits.append(Edit(init.start_byte, init.end_byte, f"{assign};", why))
        else:
            edits.append(Edit(loop.start_byte, loop.start_byte,
                              open_block(unit, loop.start_byte, unit.text(init)), why))
            edits.append(Edit(init.start_byte, init.end_byte, ";", why))
        indent = line_indent(unit, loop.start_byte)
        edits.append(Edit(loop.end_byte, loop.end_byte, " }" if indent is None else f"\n{indent}}}", ""))
    return edits


def _lead(unit: Unit, offset: int) -> str:
    """The blanks that start the line ``offset`` is on."""
    start = unit.source.rfind(b"\n", 0, offset) + 1
    line = unit.source[start:offset].decode("latin-1")
    return line[:len(line) - len(line.lstrip(" \t"))]


def _block_edits(unit: Unit, block: Node) -> list[Edit]:
    """Open a block at each declaration that follows a statement in ``block``."""
    edits = []
    closers: list[str] = []
    seen_statement = False
    for child in block.named_children:
        if child.type in NEUTRAL:
            continue
        if child.type in DECLARATIONS:
            if seen_statement:
                edits.append(Edit(child.start_byte, child.start_byte, open_block(unit, child.start_byte),
                                  "declaration after a statement is C99"))
                closers.append(_lead(unit, child.start_byte))
                seen_statement = False
        else:
            seen_statement = True
    if closers:
        close = block.children[-1]
        close_indent = line_indent(unit, close.start_byte)
        if close_indent is None:  # a block on one line stays on one line: "... } }"
            edits.append(Edit(close.start_byte, close.start_byte, "} " * len(closers), ""))
        else:  # each new "}" on its own line, indented as the line its "{" is on
            at = close.start_byte - len(close_indent)
            edits.append(Edit(at, at, "".join(f"{c}}}\n" for c in reversed(closers)), ""))
    return edits
@rule("mixed-declarations")
def mixed_declarations(unit: Unit) -> list[Edit]:
    edits = []
    for block in nodes_of(unit.root, "compound_statement"):
        edits += _block_edits(unit, block)
    return edits
