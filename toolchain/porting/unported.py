"""C99 constructs no patch rewrites: found before the series runs and refused.

A port that succeeds must compile under ``-std=c89 -pedantic-errors``; code
the series would pass through unchanged and the compiler would then reject
is stopped here with ``file:line: <construct> is not C89 and is not ported``
so the user rewrites it by hand (the message says how) instead of meeting
a compiler error in a file they did not write.
"""

from __future__ import annotations

import re
from pathlib import Path

from tree_sitter import Node

from toolchain.errors import PortError
from toolchain.porting.source import Unit, enclosing, walk

# ``#define F(...)`` and GNU's ``#define F(args...)``: tree-sitter cannot
# parse the GNU form at all, so both are found on the raw lines first.
VARIADIC_MACRO = re.compile(rb"^[ \t]*#[ \t]*define[ \t]+\w+\([^)]*\.\.\.[ \t]*\)", re.M)
HEX_FLOAT = re.compile(r"^0[xX][0-9a-fA-F]*\.?[0-9a-fA-F]*[pP][-+]?[0-9]+[fFlL]?$")
# size expressions made only of these are constant (array, not VLA)
CONSTANT = {"number_literal", "char_literal", "binary_expression", "unary_expression",
            "parenthesized_expression", "sizeof_expression", "cast_expression",
            "type_descriptor", "primitive_type", "sized_type_specifier", "type_identifier",
            "conditional_expression", "abstract_pointer_declarator", "struct_specifier",
            "field_identifier", "parenthesized_declarator"}
MACRO_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")


def _line(unit: Unit, offset: int) -> int:
    return unit.source.count(b"\n", 0, offset) + 1


def _refuse(path: Path, line: int, construct: str, advice: str) -> PortError:
    return PortError(f"{path}:{line}: {construct} is not C89 and is not ported; {advice}")


def _known_constants(unit: Unit) -> set[str]:
    """Names that stand for constants: #define'd names and enumerators."""
    names = set()
    for node in walk(unit.root):
        if node.type in ("preproc_def", "preproc_function_def", "enumerator"):
            name = node.child_by_field_name("name")
            if name is not None:
                names.add(unit.text(name))
    return names


def _is_constant(unit: Unit, size: Node, constants: set[str]) -> bool:
    for node in walk(size):
        if node.type == "identifier":
            name = unit.text(node)
            if name not in constants and not MACRO_NAME.match(name):
                return False
        elif node.is_named and node.type not in CONSTANT and node.type != "identifier":
            return False
    return True


def check_text(path: Path, source: bytes) -> None:
    """Refuse what must be seen before parsing (tree-sitter errors on GNU ``args...``)."""
    match = VARIADIC_MACRO.search(source)
    if match:
        raise _refuse(path, source.count(b"\n", 0, match.start()) + 1, "a variadic macro",
                      "write a function with a va_list instead")


def check_unported(unit: Unit) -> None:
    """Raise PortError at the first construct the series cannot port."""
    check_text(unit.path, unit.source)
    constants = _known_constants(unit)
    for node in walk(unit.root):
        if node.type == "number_literal" and HEX_FLOAT.match(unit.text(node)):
            raise _refuse(unit.path, _line(unit, node.start_byte),
                          f"the hexadecimal float constant {unit.text(node)}",
                          f"write it in decimal ({float.fromhex(unit.text(node).rstrip('fFlL'))!r})")
        if node.type != "array_declarator":
            continue
        size = node.child_by_field_name("size")
        if size is None:
            if node.parent is not None and node.parent.type == "field_declaration":
                raise _refuse(unit.path, _line(unit, node.start_byte), "a flexible array member",
                              "give the array a size of 1 and allocate the extra elements")
            continue
        if enclosing(node, "function_definition", "parameter_list") is None:
            continue
        if not _is_constant(unit, size, constants):
            raise _refuse(unit.path, _line(unit, node.start_byte),
                          f"the variable-length array {unit.text(node)}",
                          "allocate it with malloc and free it")
