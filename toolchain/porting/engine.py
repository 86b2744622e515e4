"""Running the series over one file: apply each patch, re-parse, record why.

Kept apart from the tree walk (:mod:`toolchain.porting.tree`) so the tests and
``invoke validate-patches`` can port a single snippet in memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from toolchain.errors import PortError
from toolchain.porting.series import Patch, load_series
from toolchain.porting.source import Edit, Unit
from toolchain.porting.unported import check_text, check_unported


@dataclass(frozen=True)
class Change:
    """One site a patch changed; ``line`` is the 1-based line in the input file.

    Patches see the text earlier patches produced; a line map carried
    through the series translates their positions back to the original.
    """

    file: Path
    line: int
    patch_id: str
    why: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: [{self.patch_id}] {self.why}"


def remap_lines(line_map: list[int], source: bytes, edits: list[Edit]) -> list[int]:
    """The original line of each line of the edited text.

    ``line_map[i]`` is the original line of line ``i`` (0-based) of
    ``source``; lines created inside an edit belong to the line the edit
    starts on.
    """
    new_map: list[int] = []
    old_line = 0
    pos = 0
    for edit in sorted(edits, key=lambda e: (e.start, e.end)):
        for _ in range(source.count(b"\n", pos, edit.start)):
            new_map.append(line_map[old_line])
            old_line += 1
        for _ in range(edit.text.count("\n")):
            new_map.append(line_map[old_line])
        old_line += source.count(b"\n", edit.start, edit.end)
        pos = max(pos, edit.end)
    for _ in range(source.count(b"\n", pos) + 1):
        new_map.append(line_map[min(old_line, len(line_map) - 1)])
        old_line += 1
    return new_map


MAX_PASSES = 32


def _overlap(a: Edit, b: Edit) -> bool:
    """True when the two edits cannot both be applied to the same text.

    Two insertions at one point compose (in listed order); an insertion
    strictly inside a replaced range, or two ranges that share bytes, do not.
    """
    if a.start == a.end and b.start == b.end:
        return False
    if a.start == a.end:
        return b.start < a.start < b.end
    if b.start == b.end:
        return a.start < b.start < a.end
    return a.start < b.end and b.start < a.end


def _contains(outer: Edit, inner: Edit) -> bool:
    return outer.start <= inner.start and inner.end <= outer.end and \
        (outer.end - outer.start) > (inner.end - inner.start)


def innermost(unit: Unit, patch: Patch, edits: list[Edit]) -> list[Edit]:
    """The edits of this pass: every edit no other edit nests inside.

    An outer edit copies its inner text unchanged; it is left for the next
    pass, which sees the inner site already rewritten.  Edits that overlap
    without nesting cannot be composed: one clear ``file:line`` refusal.
    """
    deferred: set[int] = set()
    for i, a in enumerate(edits):
        for j in range(i + 1, len(edits)):
            b = edits[j]
            if not _overlap(a, b):
                continue
            if _contains(a, b):
                deferred.add(i)
            elif _contains(b, a):
                deferred.add(j)
            else:
                line = unit.where(max(a.start, b.start))[0]
                raise PortError(f"{unit.path}:{line}: two rewrites of patch {patch.id} overlap "
                                f"here and cannot be combined; split the expression")
    return [e for i, e in enumerate(edits) if i not in deferred]


def _apply_pass(unit: Unit, patch: Patch, edits: list[Edit], display: Path,
                line_map: list[int]) -> tuple[Unit, list[Change], list[int]]:
    changes = []
    seen = set()
    for edit in sorted(edits, key=lambda e: e.start):
        line = line_map[unit.where(edit.start)[0] - 1]
        key = (line, edit.why)
        if edit.why and key not in seen:
            seen.add(key)
            changes.append(Change(display, line, patch.id, edit.why))
    result = unit.apply(edits)
    if result.root.has_error:
        try:
            result.check()
        except PortError as exc:
            raise PortError(f"patch {patch.id} produced code that does not parse ({exc}); "
                            f"please report this with the input file") from None
    return result, changes, remap_lines(line_map, unit.source, edits)


def apply_patch(unit: Unit, patch: Patch, display: Path,
                line_map: list[int] | None = None) -> tuple[Unit, list[Change], list[int]]:
    """Apply one patch to ``unit``; refuse a result that no longer parses.

    Nested sites (``cosf(powf(x, y))``) are rewritten innermost first, one
    pass at a time with a re-parse between passes, until the rule finds
    nothing more.  Returns the new unit, the changes (original line numbers)
    and the new line map.
    """
    if line_map is None:
        line_map = list(range(1, unit.source.count(b"\n") + 2))
    changes: list[Change] = []
    edits = patch.rule(unit)
    passes = 0
    while edits:
        passes += 1
        if passes > MAX_PASSES:
            line = line_map[unit.where(edits[0].start)[0] - 1]
            raise PortError(f"{display}:{line}: patch {patch.id} keeps rewriting its own output; "
                            f"please report this with the input file")
        chosen = innermost(unit, patch, edits)
        unit, found, line_map = _apply_pass(unit, patch, chosen, display, line_map)
        changes.extend(c for c in found if c not in changes)
        if len(chosen) == len(edits):
            break
        edits = patch.rule(unit)
    return unit, changes, line_map


def port_source(path: Path, source: bytes, series: list[Patch] | None = None,
                display: Path | None = None,
                only: str | None = None) -> tuple[bytes, list[Change]]:
    """Port one file's text through the series (or through the one patch ``only``)."""
    patches = series if series is not None else load_series()
    if only is not None:
        patches = [p for p in patches if p.id == only]
        if not patches:
            raise PortError(f"no patch named {only!r} in the series")
    display = display or path
    check_text(path, source)
    unit = Unit.parse(path, source)
    check_unported(unit)
    changes: list[Change] = []
    line_map = list(range(1, source.count(b"\n") + 2))
    for patch in patches:
        unit, found, line_map = apply_patch(unit, patch, display, line_map)
        changes.extend(found)
    return unit.source, changes
