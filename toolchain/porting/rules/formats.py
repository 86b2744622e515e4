"""printf/scanf conversions C89 libraries do not know (patch ``printf-formats``).

printf family (the argument is cast so its width matches the new conversion):

* ``%lld %llu %llx`` -> ``"%" RC_PRId64`` etc.: the compat header spells the
  conversion the way the target's C library reads it (``I64d`` for msvcrt,
  Borland and Watcom; ``lld`` for glibc); ``%jd`` the same with a cast to
  the compat 64-bit type.
* ``%zu %zd`` -> ``%lu %ld`` with a cast to ``unsigned long`` / ``long`` (the
  width of ``size_t`` on every 32-bit target); ``%td`` -> ``%ld`` likewise.
* ``%hhd %hhX`` -> ``%d %X`` with the argument narrowed first, as C99 does.
* ``%lf`` -> ``%f`` (C89 printf leaves ``l`` with ``f`` undefined).

scanf family: ``%lld`` -> ``RC_SCNd64``; ``%hhX``, ``%zu``, ``%td`` read into an
``unsigned int`` / ``unsigned long`` / ``long`` temporary, stored into the
caller's object with a cast only when that conversion was assigned (msvcrt
ignores ``hh`` and would write four bytes into a one-byte object).
A format that is not a string literal is reported: it cannot be checked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tree_sitter import Node

from toolchain.porting.registry import rule
from toolchain.porting.rules.common import arguments, calls, paren, rename
from toolchain.porting.source import Edit, Unit, enclosing

# name -> index of the format argument
FORMAT_ARG = {"printf": 0, "fprintf": 1, "sprintf": 1, "snprintf": 2, "rc_snprintf": 2,
              "scanf": 0, "fscanf": 1, "sscanf": 1}

CONVERSION = re.compile(
    r"%(?P<flags>[-+ #0]*)(?P<width>\*|\d+)?(?:\.(?P<prec>\*|\d*))?"
    r"(?P<len>hh|h|ll|l|L|z|j|t|q)?(?P<conv>[diouxXeEfFgGaAcspn%\[])")
SCAN_CONVERSION = re.compile(
    r"%(?P<suppress>\*)?(?P<width>\d+)?(?P<len>hh|h|ll|l|L|z|j|t|q)?"
    r"(?P<conv>[diouxXeEfFgGaAcspn%]|\[\^?\]?[^\]]*\])")

PRI = {f"PRI{c}64": f"RC_PRI{c}64" for c in "diuxX"}
PRI.update({f"SCN{c}64": f"RC_SCN{c}64" for c in "diux"})
PRI32 = {f"PRI{c}32": f'"{c}"' for c in "diuxX"}
FORMAT_MACROS = {**PRI, **PRI32, **{v: k for k, v in PRI.items()}}

# scanf length modifier -> (temporary's type, new length modifier)
SCAN_TEMPS = {"hh": ("unsigned int", ""), "z": ("unsigned long", "l"), "t": ("long", "l")}
SIGNED = "di"


@dataclass
class Piece:
    """The text of a format with, for each character, its byte in the file
    (None where the character comes from a macro such as ``PRId64``)."""

    text: str
    where: list[int | None]


def _format_text(unit: Unit, fmt: Node) -> Piece | None:
    """The format as the C library will see it, or None when it is not literal."""
    nodes = [fmt] if fmt.type == "string_literal" else \
        [c for c in fmt.named_children] if fmt.type == "concatenated_string" else None
    if nodes is None:
        return None
    piece = Piece("", [])
    for node in nodes:
        text = unit.text(node)
        if node.type == "string_literal" and text.startswith('"'):
            piece.text += text[1:-1]
            piece.where += list(range(node.start_byte + 1, node.end_byte - 1))
        elif node.type == "identifier" and text in FORMAT_MACROS:
            stand_in = "ll" + text[3] if text.endswith("64") else ""
            piece.text += stand_in
            piece.where += [None] * len(stand_in)
        else:
            return None
    return piece


def _span(piece: Piece, match: re.Match[str]) -> tuple[int, int] | None:
    """The file bytes of a conversion, when it lies inside one literal."""
    where = piece.where[match.start():match.end()]
    if not where or any(w is None for w in where):
        return None
    first, last = where[0], where[-1]
    assert first is not None and last is not None
    if last - first != len(where) - 1:
        return None
    return first, last + 1


class FormatCall:
    """One printf/scanf-family call: its format, arguments, and the edits."""

    def __init__(self, unit: Unit, call: Node, name: str, piece: Piece) -> None:
        self.unit, self.call, self.name, self.piece = unit, call, name, piece
        self.args = arguments(call)
        self.index = FORMAT_ARG[name]
        self.edits: list[Edit] = []

    def arg(self, number: int, conversion: str) -> Node:
        at = self.index + 1 + number
        if at >= len(self.args):
            raise self.unit.error(self.call, f"{conversion} conversion without a matching argument")
        return self.args[at]

    def replace(self, match: re.Match[str], text: str, why: str) -> None:
        span = _span(self.piece, match)
        if span is None:
            raise self.unit.error(self.call, f"{match.group(0)} is split over a macro; "
                                             f"write the conversion in one string literal")
        self.edits.append(Edit(span[0], span[1], text, why))

    def macro(self, match: re.Match[str], family: str, conv: str, why: str) -> None:
        """``%-8lld`` -> ``%-8" RC_PRId64 "`` (the closing quote swallowed when last)."""
        span = _span(self.piece, match)
        if span is None:
            raise self.unit.error(self.call, f"{match.group(0)} is split over a macro")
        start, end = span
        spec = match.group(0)[:-len(match.group("len")) - 1]
        macro = f'{spec}" RC_{family}{conv}64'
        if self.unit.source[end:end + 1] == b'"':
            self.edits.append(Edit(start, end + 1, macro, why))
        else:
            self.edits.append(Edit(start, end, macro + ' "', why))

    def cast(self, arg: Node, cast: str, why: str) -> None:
        self.edits.append(Edit(arg.start_byte, arg.end_byte, f"({cast}){paren(self.unit, arg)}", why))
def _printf(fc: FormatCall) -> None:
    consumed = 0  # arguments used by the conversions seen so far
    for match in CONVERSION.finditer(fc.piece.text):
        length, conv = match.group("len"), match.group("conv")
        if conv == "%":
            continue
        stars = (match.group("width") == "*") + (match.group("prec") == "*")
        number = consumed + stars
        consumed += stars + 1
        whole = match.group(0)
        bare = whole[:-len(length) - 1] if length else whole[:-1]
        why = f"%{length}{conv} is C99 (msvcrt, Borland and Watcom do not read it)"
        if conv == "n" and length in ("hh", "ll", "z", "j", "t"):
            raise fc.unit.error(fc.call, f"{whole}: C99 %n length; not ported")
        if conv in "aA":
            raise fc.unit.error(fc.call, f"{whole}: hexadecimal float output is C99; not ported")
        if length == "ll" and conv in "diouxX":
            if conv == "o":
                raise fc.unit.error(fc.call, f"{whole}: 64-bit octal output is not ported")
            if all(w is not None for w in fc.piece.where[match.start():match.end()]):
                fc.macro(match, "PRI", conv, why)
        elif length == "j" and conv in "diuxX":
            fc.macro(match, "PRI", conv, why)
            fc.cast(fc.arg(number, whole), "rc_int64" if conv in SIGNED else "rc_uint64", why)
        elif length in ("z", "t") and conv in "diouxX":
            fc.replace(match, bare + "l" + conv, why)
            fc.cast(fc.arg(number, whole), "long" if conv in SIGNED else "unsigned long", why)
        elif length == "hh" and conv in "diouxX":
            fc.replace(match, bare + conv, why)
            narrow = "signed char" if conv in SIGNED else "unsigned char"
            arg = fc.arg(number, whole)
            fc.edits.append(Edit(arg.start_byte, arg.end_byte,
                                 f"({'int' if conv in SIGNED else 'unsigned int'})({narrow})"
                                 f"{paren(fc.unit, arg)}", why))
        elif length == "l" and conv in "fFeEgG":
            fc.replace(match, bare + conv, "%l" + conv + " in printf is C99 (C89 leaves it undefined)")


def _temp_names(unit: Unit) -> int:
    """The first free number for ``rc_scan_*N`` temporaries in this file."""
    used = [int(m) for m in re.findall(rb"\brc_scan_[nv](\d+)", unit.source)]
    return max(used) + 1 if used else 0


def _scanf(fc: FormatCall, counter: list[int]) -> None:
    assigned = 0  # conversions that store into an argument, so far
    stores: list[str] = []
    temps: list[str] = []
    for match in SCAN_CONVERSION.finditer(fc.piece.text):
        length, conv = match.group("len") or "", match.group("conv")
        if conv == "%" or match.group("suppress"):
            continue
        number = assigned
        assigned += 1
        whole = match.group(0)
        why = f"%{length}{conv} in scanf is C99 (msvcrt would store the wrong width)"
        if length == "ll" and conv in "diux":
            if all(w is not None for w in fc.piece.where[match.start():match.end()]):
                fc.macro(match, "SCN", conv, why)
        elif length in SCAN_TEMPS and conv in "diouxXn":
            if conv == "n":
                raise fc.unit.error(fc.call, f"{whole}: C99 %n length; not ported")
            temp_type, new_len = SCAN_TEMPS[length]
            if conv in SIGNED and length == "hh":
                temp_type = "int"
            if conv in SIGNED and length == "z":
                temp_type = "long"
            arg = fc.arg(number, whole)
            arg_text = fc.unit.text(arg)
            target = arg_text[1:].strip() if arg.type == "pointer_expression" and arg_text.startswith("&") \
                else f"*{paren(fc.unit, arg)}"
            narrow = {"hh": "signed char" if conv in SIGNED else "unsigned char",
                      "z": "size_t", "t": "long"}[length]
            value = f"rc_scan_v{counter[0]}"
            counter[0] += 1
            temps.append(f"{temp_type} {value};")
            stores.append(f"(rc_scan_n{{n}} >= {number + 1} ? (void)({target} = ({narrow}){value}) "
                          f": (void)0)")
            fc.replace(match, whole[:-len(length) - 1] + new_len + conv, why)
            fc.edits.append(Edit(arg.start_byte, arg.end_byte, f"&{value}", why))
        elif length in ("j",) and conv in "diouxX":
            raise fc.unit.error(fc.call, f"{whole}: C99 intmax_t conversion in scanf; not ported")
    if not stores:
        return
    count = f"rc_scan_n{counter[0]}"
    n = counter[0]
    counter[0] += 1
    why = "the C99 conversion is read into a temporary, then stored narrowed"
    fc.edits.append(Edit(fc.call.start_byte, fc.call.start_byte, f"({count} = ", why))
    tail = ", ".join(s.format(n=n) for s in stores)
    fc.edits.append(Edit(fc.call.end_byte, fc.call.end_byte, f", {tail}, {count})", ""))
    block = enclosing(fc.call, "compound_statement")
    if block is None:
        raise fc.unit.error(fc.call, f"{fc.name} outside a block: nowhere to declare its temporaries")
    _declare(fc, block, [f"int {count};", *temps])


def _declare(fc: FormatCall, block: Node, decls: list[str]) -> None:
    """Declarations at the top of ``block``, one a line, indented as its first statement."""
    unit = fc.unit
    first = next((c for c in block.named_children), None)
    indent = "    "
    if first is not None:
        line_start = unit.source.rfind(b"\n", 0, first.start_byte) + 1
        lead = unit.source[line_start:first.start_byte].decode("latin-1")
        if not lead.strip():
            indent = lead
    opening = block.children[0].end_byte
    text = "".join(f"\n{indent}{d}" for d in decls)
    fc.edits.append(Edit(opening, opening, text, ""))


@rule("printf-formats")
def printf_formats(unit: Unit) -> list[Edit]:
    edits: list[Edit] = []
    counter = [_temp_names(unit)]
    for call, name in calls(unit, FORMAT_ARG):
        args = arguments(call)
        index = FORMAT_ARG[name]
        if len(args) <= index:
            continue
        piece = _format_text(unit, args[index])
        if piece is None:
            fmt = args[index]
            edits.append(Edit(fmt.start_byte, fmt.start_byte, "",
                              f"the format of {name} is not a string literal: its conversions "
                              f"are not checked"))
            continue
        fc = FormatCall(unit, call, name, piece)
        if name.endswith("scanf"):
            _scanf(fc, counter)
        else:
            _printf(fc)
        edits += fc.edits
    edits += rename(unit, PRI, "{name} comes from C99 <inttypes.h>")
    edits += rename(unit, PRI32, "{name} comes from C99 <inttypes.h>")
    return edits
