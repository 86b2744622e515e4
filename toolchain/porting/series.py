"""Reading ``patches/series`` and the metadata header of each patch file.

The patch files are data: what a patch does, why (which compiler rejects the
original and with what message), how confident we are, and what it does not
handle.  Their order is the ``series`` file's order, as in quilt.  The code
that performs each patch is registered under the same id (see
:mod:`toolchain.porting.registry`); each header names that rule's module
(``Rule:``) and its golden before/after pair (``Golden:``).  The files are
headers only, no diff: a rule rewrites syntax, not fixed lines.
:func:`load_series` checks that all sides agree so a patch cannot silently
lose its rule, its golden or its documentation.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from toolchain import paths
from toolchain.errors import PortError
from toolchain.porting.registry import Rule
from toolchain.porting.rules import load_rules

REQUIRED = ("Patch", "Description", "Why", "Confidence", "Limits", "Rule", "Golden")
CONFIDENCE = ("high", "medium", "low")


@dataclass(frozen=True)
class Patch:
    """One entry of the series: its documentation and its rule."""

    id: str
    description: str
    why: str
    confidence: str
    limits: str
    path: Path
    rule: Rule
    rule_module: str = ""  # the Rule: field, a path from the repository root
    golden: str = ""  # the Golden: field: where its before/after pair is


def parse_header(path: Path) -> dict[str, str]:
    """``Key: value`` lines up to the first blank line; indented lines continue.

    The DEP-3 shape: easy to read in a terminal, easy to parse without a
    library, and a blank line leaves room for free-form notes below.
    """
    fields: dict[str, str] = {}
    key = None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            break
        if line[0] in " \t":
            if key is None:
                raise PortError(f"{path}:{number}: continuation line before any field")
            fields[key] += "\n" + line.strip()
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip() or " " in name.strip():
            raise PortError(f"{path}:{number}: expected 'Field: value', got {line!r}")
        key = name.strip()
        fields[key] = value.strip()
    return fields


def read_series(patches_dir: Path) -> list[str]:
    """Patch ids from ``series``: one per line, ``#`` starts a comment."""
    series = patches_dir / "series"
    if not series.is_file():
        raise PortError(f"{series}: the patch series file is missing")
    ids = []
    for number, line in enumerate(series.read_text(encoding="utf-8").splitlines(), 1):
        entry = line.split("#", 1)[0].strip()
        if not entry:
            continue
        if entry in ids:
            raise PortError(f"{series}:{number}: patch {entry!r} listed twice")
        ids.append(entry)
    return ids


def load_series(patches_dir: Path | None = None) -> list[Patch]:
    """The ordered, validated patch series."""
    patches_dir = patches_dir or paths.PATCHES_DIR
    rules = load_rules()
    result = []
    for patch_id in read_series(patches_dir):
        path = patches_dir / f"{patch_id}.patch"
        if not path.is_file():
            raise PortError(f"{patches_dir / 'series'}: {path.name} does not exist")
        fields = parse_header(path)
        missing = [name for name in REQUIRED if not fields.get(name)]
        if missing:
            raise PortError(f"{path}: header lacks {', '.join(missing)}")
        if fields["Patch"] != patch_id:
            raise PortError(f"{path}: 'Patch: {fields['Patch']}' does not match the file name")
        confidence = fields["Confidence"].split()[0].strip(";,.").lower()
        if confidence not in CONFIDENCE:
            raise PortError(f"{path}: Confidence must start with one of {', '.join(CONFIDENCE)}")
        if patch_id not in rules:
            raise PortError(f"{path}: no rule is registered for {patch_id!r} in toolchain.porting.rules")
        module = rules[patch_id].__module__.replace(".", "/") + ".py"
        if fields["Rule"] != module:
            raise PortError(f"{path}: 'Rule: {fields['Rule']}' but the rule of {patch_id!r} "
                            f"is in {module}")
        golden = fields["Golden"].split()[0]
        if not (paths.REPO_ROOT / golden).is_file():
            raise PortError(f"{path}: 'Golden: {fields['Golden']}': {golden} does not exist")
        result.append(Patch(patch_id, fields["Description"], fields["Why"], confidence,
                            fields["Limits"], path, rules[patch_id], module, fields["Golden"]))
    orphans = sorted(set(rules) - {p.id for p in result})
    if orphans:
        raise PortError(f"{patches_dir / 'series'}: rules without a patch file in the series: {', '.join(orphans)}")
    return result
