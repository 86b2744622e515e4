"""Include the compatibility header (patch ``compat-include``, last in the series)."""

from __future__ import annotations

import re

from toolchain.porting.registry import rule
from toolchain.porting.rules.common import include_name
from toolchain.porting.source import Edit, Unit

COMPAT_HEADER = "rcompat.h"
USES_COMPAT = re.compile(rb"\b(rc|RC)_[A-Za-z0-9_]+")


@rule("compat-include")
def compat_include(unit: Unit) -> list[Edit]:
    is_header = unit.path.suffix.lower() == ".h"
    if is_header and not USES_COMPAT.search(unit.source):
        return []
    if unit.path.name == COMPAT_HEADER:
        return []
    top = [c for c in unit.root.named_children]
    for node in top:
        if node.type == "preproc_include" and include_name(unit, node) == COMPAT_HEADER:
            return []
    scope = unit.root.named_children
    # a header's include guard: look inside it
    guards = [c for c in scope if c.type not in ("comment",)]
    if is_header and len(guards) == 1 and guards[0].type == "preproc_ifdef":
        scope = guards[0].named_children
        if any(c.type == "preproc_include" and include_name(unit, c) == COMPAT_HEADER for c in scope):
            return []
    line = f'#include "{COMPAT_HEADER}"\n'
    why = "the compat header supplies what the target's C library lacks"
    first = next((c for c in scope if c.type == "preproc_include"), None)
    if first is None:
        first = next((c for c in scope if c.type not in ("comment", "identifier")
                      and not (is_header and c.type == "preproc_def")), None)
    at = first.start_byte if first is not None else len(unit.source)
    at = unit.source.rfind(b"\n", 0, at) + 1
    return [Edit(at, at, line, why)]
