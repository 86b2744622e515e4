"""printf/scanf conversions C89 libraries do not know (patch ``printf-formats``).

* ``%lld %llu %llx`` -> ``"%" RC_PRId64`` etc.: the compat header spells the
  conversion the way the target's C library reads it (``I64d`` for msvcrt,
  Borland and Watcom; ``lld`` for glibc).
* ``%zu %zd %zx`` -> ``%lu %ld %lx`` with the argument cast to ``unsigned
  long`` / ``long`` (the same width as ``size_t`` on every 32-bit target).
* ``PRId64``-style macros from ``<inttypes.h>`` -> the compat ones.
"""

from __future__ import annotations

import re

from tree_sitter import Node

from toolchain.porting.registry import rule
from toolchain.porting.rules.common import arguments, calls, paren, rename
from toolchain.porting.source import Edit, Unit

# name -> index of the format argument
FORMAT_ARG = {"printf": 0, "fprintf": 1, "sprintf": 1, "snprintf": 2, "rc_snprintf": 2,
              "scanf": 0, "fscanf": 1, "sscanf": 1}

CONVERSION = re.compile(
    r"%(?P<flags>[-+ #0]*)(?P<width>\*|\d+)?(?:\.(?P<prec>\*|\d*))?"
    r"(?P<len>hh|h|ll|l|L|z|j|t|q)?(?P<conv>[diouxXeEfFgGaAcspn%])")

PRI = {f"PRI{c}64": f"RC_PRI{c}64" for c in "diuxX"}
PRI.update({f"SCN{c}64": f"RC_SCN{c}64" for c in "diux"})
PRI32 = {f"PRI{c}32": f'"{c}"' for c in "diuxX"}


def _literal_content(unit: Unit, node: Node) -> tuple[int, str] | None:
    """(byte offset, text) between the quotes of a plain "..." literal."""
    text = unit.text(node)
    if node.type != "string_literal" or not text.startswith('"'):
        return None
    return node.start_byte + 1, text[1:-1]


def _format_edits(unit: Unit, call: Node, name: str) -> list[Edit]:
    args = arguments(call)
    index = FORMAT_ARG[name]
    if len(args) <= index:
        return []
    fmt = args[index]
    pieces = [fmt] if fmt.type == "string_literal" else [c for c in fmt.named_children if c.type == "string_literal"]
    edits: list[Edit] = []
    consumed = 0  # arguments used by the conversions seen so far
    countable = fmt.type == "string_literal"
    for piece in pieces:
        found = _literal_content(unit, piece)
        if found is None:
            continue
        offset, content = found
        for match in CONVERSION.finditer(content):
            if match.group("conv") == "%":
                continue
            stars = (match.group("width") == "*") + (match.group("prec") == "*")
            arg_at = index + 1 + consumed + stars
            consumed += stars + 1
            length, conv = match.group("len"), match.group("conv")
            start, end = offset + match.start(), offset + match.end()
            if length == "ll" and conv in "diouxX":
                spec = match.group(0)[:-3]  # '%' + flags/width/precision
                family = "SCN" if name.endswith("scanf") else "PRI"
                macro = f'{spec}" RC_{family}{conv}64'
                why = f"%ll{conv} is not understood by msvcrt/Borland/Watcom printf"
                if match.end() == len(content):  # swallow the closing quote: no "" left
                    edits.append(Edit(start, end + 1, macro, why))
                else:
                    edits.append(Edit(start, end, macro + ' "', why))
            elif length == "z":
                if not countable:
                    raise unit.error(piece, "%z in a format built from several pieces: "
                                            "cannot tell which argument to cast; split the format")
                if arg_at >= len(args):
                    raise unit.error(piece, "%z conversion without a matching argument")
                cast = "unsigned long" if conv in "ouxX" else "long"
                edits.append(Edit(start, end, match.group(0)[:-2] + "l" + conv,
                                  f"%z{conv} is C99"))
                arg = args[arg_at]
                edits.append(Edit(arg.start_byte, arg.end_byte, f"({cast}){paren(unit, arg)}",
                                  f"%z{conv} is C99"))
    return edits


@rule("printf-formats")
def printf_formats(unit: Unit) -> list[Edit]:
    edits: list[Edit] = []
    for call, name in calls(unit, FORMAT_ARG):
        edits += _format_edits(unit, call, name)
    edits += rename(unit, PRI, "{name} comes from C99 <inttypes.h>")
    edits += rename(unit, PRI32, "{name} comes from C99 <inttypes.h>")
    return edits
