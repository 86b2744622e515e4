"""``main`` itself (patches ``main-return`` and ``fpu-exceptions``)."""

from __future__ import annotations

from collections.abc import Iterator

from tree_sitter import Node

from toolchain.porting.registry import rule
from toolchain.porting.rules.common import function_name, statements_of
from toolchain.porting.source import Edit, Unit, nodes_of


def _main_bodies(unit: Unit) -> Iterator[Node]:
    """The body of every main, also one inside #ifndef TESTING (llama2.c's run.c)."""
    for func in nodes_of(unit.root, "function_definition"):
        if function_name(unit, func) == "main":
            body = func.child_by_field_name("body")
            if body is not None:
                yield body


def _indent_of(unit: Unit, offset: int) -> str:
    """The leading whitespace of the line holding ``offset``."""
    start = unit.source.rfind(b"\n", 0, offset) + 1
    line = unit.source[start:offset].decode("latin-1")
    return line[: len(line) - len(line.lstrip())]


def _ends_in_return(block) -> bool:
    """True when the block's last statement (looking into trailing blocks) returns."""
    stmts = statements_of(block)
    if not stmts:
        return False
    if stmts[-1].type == "compound_statement":
        return _ends_in_return(stmts[-1])
    return stmts[-1].type == "return_statement"


@rule("main-return")
def main_return(unit: Unit) -> list[Edit]:
    edits = []
    for body in _main_bodies(unit):
        for ret in nodes_of(body, "return_statement"):
            if len(ret.named_children) == 0:
                edits.append(Edit(ret.start_byte, ret.end_byte, "return 0;",
                                  "main returns without a value: exit status undefined in C89"))
        if not _ends_in_return(body):
            close = body.children[-1]
            indent = _indent_of(unit, close.start_byte)
            at_line_start = unit.source[close.start_byte - len(indent) - 1:close.start_byte - len(indent)] in (b"\n", b"")
            text = f"{indent}    return 0;\n{indent}" if at_line_start else " return 0; "
            start = close.start_byte - len(indent) if at_line_start else close.start_byte
            edits.append(Edit(start, close.start_byte, text,
                              "main ends without a return: exit status undefined in C89"))
    return edits


@rule("fpu-exceptions")
def fpu_exceptions(unit: Unit) -> list[Edit]:
    edits = []
    for body in _main_bodies(unit):
        if b"RC_FP_INIT" in unit.source[body.start_byte:body.end_byte]:
            continue
        first = next((c for c in body.named_children
                      if c.type not in ("declaration", "comment", "type_definition")), None)
        if first is None:
            continue
        indent = _indent_of(unit, first.start_byte)
        edits.append(Edit(first.start_byte, first.start_byte, f"RC_FP_INIT();\n{indent}",
                          "Borland unmasks FP exceptions: expf overflow would kill the program"))
    return edits
