"""C99 types and keywords: ``<stdint.h>``, ``<stdbool.h>``, ``ssize_t``,
``inline`` and ``restrict`` (patches ``stdint-types``, ``stdbool``,
``ssize-t``, ``inline-restrict``)."""

from __future__ import annotations

from toolchain.porting.registry import rule
from toolchain.porting.rules.common import arguments, calls, remove_includes, rename
from toolchain.porting.source import Edit, Unit, nodes_of

TYPE_NODES = ("primitive_type", "type_identifier")

# Exact-width types on the 32-bit targets (int is 32 bits on Win32 and on
# every host compiler we test with); 64-bit ones go through the compat header.
STDINT = {
    "int8_t": "signed char", "uint8_t": "unsigned char",
    "int16_t": "short", "uint16_t": "unsigned short",
    "int32_t": "int", "uint32_t": "unsigned int",
    "int64_t": "rc_int64", "uint64_t": "rc_uint64",
    "intptr_t": "long", "uintptr_t": "unsigned long",
    "intmax_t": "rc_int64", "uintmax_t": "rc_uint64",
}


# <stdint.h>'s constant macros: the suffix each pastes onto its literal (the
# long-long patch, later in the series, turns LL/ULL into C89 constants).
CONSTANT_MACROS = {
    "INT8_C": "", "INT16_C": "", "INT32_C": "", "UINT8_C": "U", "UINT16_C": "U",
    "UINT32_C": "U", "INT64_C": "LL", "UINT64_C": "ULL", "INTMAX_C": "LL", "UINTMAX_C": "ULL",
}


@rule("stdint-types")
def stdint_types(unit: Unit) -> list[Edit]:
    edits = remove_includes(unit, {"stdint.h", "inttypes.h"}, "<stdint.h>/<inttypes.h> do not exist in C89")
    edits += rename(unit, STDINT, "{name} is a C99 <stdint.h> type", TYPE_NODES)
    for call, name in calls(unit, CONSTANT_MACROS):
        args = arguments(call)
        literal = args[0] if len(args) == 1 else None
        sign = ""
        if literal is not None and literal.type == "unary_expression" and \
                unit.text(literal)[:1] in "-+" and literal.named_children:
            sign, literal = unit.text(literal)[0], literal.named_children[-1]
        if literal is None or literal.type != "number_literal" or \
                not unit.text(literal).rstrip("uUlL")[-1:].isalnum():
            raise unit.error(call, f"{name}() of something other than an integer literal: not handled")
        number = unit.text(literal).rstrip("uUlL")
        edits.append(Edit(call.start_byte, call.end_byte, f"({sign}{number}{CONSTANT_MACROS[name]})",
                          f"{name}() comes from <stdint.h>"))
    return edits


@rule("stdbool")
def stdbool(unit: Unit) -> list[Edit]:
    edits = remove_includes(unit, {"stdbool.h"}, "<stdbool.h> does not exist in C89")
    edits += rename(unit, {"bool": "int", "_Bool": "int"}, "{name} is a C99 type", TYPE_NODES)
    for node in nodes_of(unit.root, "true", "false"):
        edits.append(Edit(node.start_byte, node.end_byte, "1" if node.type == "true" else "0",
                          f"{node.type} comes from <stdbool.h>"))
    return edits


@rule("ssize-t")
def ssize_t(unit: Unit) -> list[Edit]:
    return rename(unit, {"ssize_t": "long"}, "ssize_t is POSIX, not C89", TYPE_NODES)


@rule("inline-restrict")
def inline_restrict(unit: Unit) -> list[Edit]:
    edits = []
    for node in nodes_of(unit.root, "storage_class_specifier", "type_qualifier"):
        word = unit.text(node)
        if word in ("inline", "restrict"):
            end = node.end_byte
            while unit.source[end:end + 1] in (b" ", b"\t"):
                end += 1
            edits.append(Edit(node.start_byte, end, "", f"'{word}' is a C99 keyword"))
    return edits
