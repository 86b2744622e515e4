"""C99 library names: float math, ``snprintf``, ``strtoll``, ``__func__``
(patches ``float-math``, ``snprintf``, ``strtoll``, ``func-name``)."""

from __future__ import annotations

from toolchain.porting.registry import rule
from toolchain.porting.rules.common import calls, function_name, identifiers, rename
from toolchain.porting.source import Edit, Unit, enclosing

# C99 float functions with a C89 double twin: f(x) -> (float)twin(x).
DOUBLE_TWIN = {
    "sqrtf": "sqrt", "expf": "exp", "powf": "pow", "logf": "log", "log10f": "log10",
    "sinf": "sin", "cosf": "cos", "tanf": "tan", "asinf": "asin", "acosf": "acos",
    "atanf": "atan", "atan2f": "atan2", "sinhf": "sinh", "coshf": "cosh", "tanhf": "tanh",
    "fabsf": "fabs", "floorf": "floor", "ceilf": "ceil", "fmodf": "fmod", "ldexpf": "ldexp",
}
# C99 functions without a C89 twin: implemented in the compat header.
COMPAT = {"roundf": "rc_roundf", "truncf": "rc_truncf", "fmaxf": "rc_fmaxf", "fminf": "rc_fminf",
          "round": "rc_round", "trunc": "rc_trunc", "fmax": "rc_fmax", "fmin": "rc_fmin",
          "log2f": "rc_log2f", "exp2f": "rc_exp2f"}

# a cast binds looser than these parents, so the result needs parentheses there
TIGHT_PARENTS = {"field_expression", "subscript_expression", "call_expression",
                 "update_expression", "sizeof_expression"}


@rule("float-math")
def float_math(unit: Unit) -> list[Edit]:
    edits = []
    for call, name in calls(unit, DOUBLE_TWIN):
        arguments = call.child_by_field_name("arguments")
        if arguments is None:
            continue
        args = unit.text(arguments)
        new = f"(float){DOUBLE_TWIN[name]}{args}"
        if call.parent is not None and call.parent.type in TIGHT_PARENTS:
            new = f"({new})"
        edits.append(Edit(call.start_byte, call.end_byte, new,
                          f"{name} is C99 and missing from msvcrt and Borland's math.h"))
    for node in identifiers(unit, DOUBLE_TWIN):
        if node.parent is None or node.parent.type != "call_expression":
            raise unit.error(node, f"{unit.text(node)} used other than in a call: not handled, "
                                   f"write a wrapper function")
    edits += rename(unit, COMPAT, "{name} is C99; the compat header supplies it")
    return edits


@rule("snprintf")
def snprintf(unit: Unit) -> list[Edit]:
    return rename(unit, {"snprintf": "rc_snprintf", "vsnprintf": "rc_vsnprintf"},
                  "{name} is C99 and missing from every msvcrt.dll")


@rule("strtoll")
def strtoll(unit: Unit) -> list[Edit]:
    return rename(unit, {"strtoll": "rc_strtoll", "strtoull": "rc_strtoull",
                         "atoll": "rc_atoll"},
                  "{name} is C99 and missing from every msvcrt.dll")


@rule("func-name")
def func_name(unit: Unit) -> list[Edit]:
    edits = []
    for node in identifiers(unit, {"__func__"}):
        func = enclosing(node, "function_definition")
        if func is None:
            raise unit.error(node, "__func__ outside a function")
        edits.append(Edit(node.start_byte, node.end_byte, f'"{function_name(unit, func)}"',
                          "__func__ is C99"))
    return edits
