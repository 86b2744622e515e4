"""The rule of every patch in ``patches/series``; each module is named after
what it rewrites, and each patch file names its module in its ``Rule:`` field.

Importing this package registers them all (see :mod:`..registry`);
``load_rules`` is how the patch series asks for the table, so that the
registry itself never imports the rules that import it.
"""

from __future__ import annotations

from toolchain.porting.rules import (  # noqa: F401  (imported to register)
    c99_library,
    c99_types,
    comments,
    compat_include,
    declarations,
    formats,
    initializers,
    long_long,
    main_function,
    posix_calls,
)
from toolchain.porting.registry import RULES, Rule


def load_rules() -> dict[str, Rule]:
    """Every patch id's rule (all registered by the imports above)."""
    return RULES
