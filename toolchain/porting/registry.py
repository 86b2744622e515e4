"""The registry that ties a patch id (data, in ``patches/``) to its rule (code).

A rule is a function ``(unit) -> list[Edit]``: it only *finds* sites and says
what to put there.  Applying, re-parsing, reporting and idempotence checks are
the same for every rule and live in :mod:`toolchain.porting.engine`.
"""

from __future__ import annotations

from typing import Callable

from toolchain.porting.source import Edit, Unit

Rule = Callable[[Unit], list[Edit]]

RULES: dict[str, Rule] = {}


def rule(patch_id: str) -> Callable[[Rule], Rule]:
    """Register ``func`` as the implementation of the patch ``patch_id``."""

    def register(func: Rule) -> Rule:
        if patch_id in RULES:
            raise RuntimeError(f"patch rule {patch_id!r} registered twice")
        RULES[patch_id] = func
        return func

    return register

