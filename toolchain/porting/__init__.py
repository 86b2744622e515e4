"""``invoke port``: the documented patch series that ports llama2.c-family
C99 sources to C89 for Borland-era compilers.

    from toolchain.porting import port_tree, report_tree, PortResult
    result = port_tree(src, out, compiler="borland")
    result.programs   # the ported .c files that define main (one program each)

The patches are data in ``patches/`` (series + one documented file per
patch); their rules are code in :mod:`toolchain.porting.rules`.
"""

from toolchain.porting.compat import FAMILIES
from toolchain.porting.engine import Change, port_source
from toolchain.porting.tree import (PortResult, port_tree, programs_of, report_tree, summary,
                                    survey_tree)

__all__ = ["FAMILIES", "Change", "PortResult", "port_source", "port_tree", "programs_of", "report_tree",
           "summary", "survey_tree"]
