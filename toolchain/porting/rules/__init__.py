"""The rule of every patch in ``patches/series``, one module per patch family.

Importing this package registers them all (see :mod:`..registry`).
"""

from toolchain.porting.rules import (  # noqa: F401  (imported to register)
    blocks,
    comments,
    compat_include,
    formats,
    initializers,
    int64,
    libc,
    mainfn,
    posix,
    stdtypes,
)
