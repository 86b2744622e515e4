"""The rule of every patch in ``patches/series``; each module is named after
what it rewrites, and each patch file names its module in its ``Rule:`` field.

Importing this package registers them all (see :mod:`..registry`).
"""

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
