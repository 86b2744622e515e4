"""C99 types and keywords: ``<stdint.h>``, ``<stdbool.h>``, ``ssize_t``,
``inline`` and ``restrict`` (patches ``stdint-types``, ``stdbool``,
``ssize-t``, ``inline-restrict``)."""

from __future__ import annotations

from toolchain.porting.registry import rule
from toolchain.porting.rules.common import remove_includes, rename
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


@rule("stdint-types")
def stdint_types(unit: Unit) -> list[Edit]:
    edits = remove_includes(unit, {"stdint.h", "inttypes.h"}, "<stdint.h>/<inttypes.h> do not exist in C89")
    edits += rename(unit, STDINT, "{name} is a C99 <stdint.h> type", TYPE_NODES)
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
