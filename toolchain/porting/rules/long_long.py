"""``long long`` types and ``LL``/``ULL`` literals -> the compat 64-bit type
(patch ``long-long``).

Literals become casts of ``long`` constants, split in two 32-bit halves when
they need more than 32 bits: ``RC_U64(0x2545F491UL, 0x4F6CDD1DUL)``.  That is
a constant expression every compiler accepts, where Borland and Watcom may
not know the ``ULL`` suffix and C90 forbids it.
"""

from __future__ import annotations

import re

from toolchain.porting.registry import rule
from toolchain.porting.source import Edit, Unit, nodes_of

LITERAL = re.compile(r"^([-+]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)([uUlL]*)$")


def literal(text: str) -> str | None:
    """The C89 spelling of a ``...LL`` literal, or None when it has no LL."""
    match = LITERAL.match(text)
    if not match or "ll" not in match.group(3).lower():
        return None
    sign, digits, suffix = match.groups()
    value = int(digits, 16) if digits[:2] in ("0x", "0X") else int(digits, 8) if digits.startswith("0") and len(digits) > 1 else int(digits)
    unsigned = "u" in suffix.lower()
    if value <= 0x7FFFFFFF or (unsigned and value <= 0xFFFFFFFF):
        return sign + (f"((rc_uint64){value}UL)" if unsigned else f"((rc_int64){value}L)")
    hi, lo = value >> 32, value & 0xFFFFFFFF
    macro = "RC_U64" if unsigned else "RC_I64"
    return f"{sign}{macro}(0x{hi:X}UL, 0x{lo:08X}UL)"


@rule("long-long")
def long_long(unit: Unit) -> list[Edit]:
    edits = []
    for node in nodes_of(unit.root, "sized_type_specifier"):
        words = unit.text(node).split()
        if words.count("long") == 2:
            name = "rc_uint64" if "unsigned" in words else "rc_int64"
            edits.append(Edit(node.start_byte, node.end_byte, name, f"'{' '.join(words)}' is C99"))
    for node in nodes_of(unit.root, "number_literal"):
        text = unit.text(node)
        new = literal(text)
        if new is not None:
            edits.append(Edit(node.start_byte, node.end_byte, new, f"{text}: LL/ULL literals are C99"))
    return edits
