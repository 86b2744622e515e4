"""Small finders shared by several rules: includes, calls, identifiers."""

from __future__ import annotations

from tree_sitter import Node

from toolchain.porting.source import Edit, Unit, line_span, nodes_of

PRIMARY = {"identifier", "number_literal", "string_literal", "char_literal", "call_expression",
           "field_expression", "subscript_expression", "parenthesized_expression",
           "sizeof_expression", "concatenated_string", "true", "false", "null"}


def include_name(unit: Unit, node: Node) -> str:
    """``stdio.h`` for ``#include <stdio.h>`` and ``"stdio.h"`` alike."""
    path = node.child_by_field_name("path")
    if path is None:
        return ""
    return unit.text(path).strip("<>\"")


def remove_includes(unit: Unit, names: set[str], why: str) -> list[Edit]:
    """Delete the lines of ``#include`` directives naming one of ``names``."""
    edits = []
    for node in nodes_of(unit.root, "preproc_include"):
        if include_name(unit, node) in names:
            start, end = line_span(unit, node)
            edits.append(Edit(start, end, "", why))
    return edits


def called_name(unit: Unit, call: Node) -> str:
    """The callee of ``f(...)`` when it is a plain identifier, else ``""``."""
    func = call.child_by_field_name("function")
    return unit.text(func) if func is not None and func.type == "identifier" else ""


def calls(unit: Unit, names: set[str] | dict) -> list[tuple[Node, str]]:
    """``(call node, name)`` for each call of one of ``names``."""
    found = []
    for call in nodes_of(unit.root, "call_expression"):
        name = called_name(unit, call)
        if name in names:
            found.append((call, name))
    return found


def arguments(call: Node) -> list[Node]:
    """The argument expressions of a call (comments skipped)."""
    args = call.child_by_field_name("arguments")
    if args is None:
        return []
    return [a for a in args.named_children if a.type != "comment"]


def identifiers(unit: Unit, names: set[str] | dict, types: tuple[str, ...] = ("identifier",)) -> list[Node]:
    """Every identifier-like node whose text is one of ``names``."""
    return [n for n in nodes_of(unit.root, *types) if unit.text(n) in names]


def rename(unit: Unit, mapping: dict[str, str], why: str,
           types: tuple[str, ...] = ("identifier",)) -> list[Edit]:
    """Replace identifiers by the mapping (exact byte ranges, nothing else touched)."""
    return [Edit(n.start_byte, n.end_byte, mapping[unit.text(n)], why.format(name=unit.text(n)))
            for n in identifiers(unit, mapping, types)]


def paren(unit: Unit, node: Node) -> str:
    """The node's text, parenthesised unless it is already a primary expression."""
    text = unit.text(node)
    return text if node.type in PRIMARY else f"({text})"


def function_name(unit: Unit, func: Node) -> str:
    """The name a function_definition defines."""
    decl = func.child_by_field_name("declarator")
    while decl is not None and decl.type != "identifier":
        decl = decl.child_by_field_name("declarator")
    return unit.text(decl) if decl is not None else ""


def statements_of(block: Node) -> list[Node]:
    """The named children of a compound_statement, comments excluded."""
    return [c for c in block.named_children if c.type != "comment"]
