"""Random nestings of what the rules rewrite port, compile strictly and
compute what the C99 original computes (hypothesis, a few seconds).

Each example is a small program whose statements print expressions built
from float math calls (as arguments of each other), casts, compound
literals, C99 printf formats, ``snprintf`` and ``long long`` arithmetic,
some of them in declarations after statements, loop-scoped ``for`` bodies
and ``if``/``else`` branches.
The original is built with ``gcc -std=gnu99``; the port with ``gcc -std=c89
-pedantic-errors -Wall -Wformat -Werror``.  Integers must print the same;
floats may differ by what a C99 ``cosf`` and C89's ``(float)cos`` round
differently, so they are compared to 1e-3 (the values stay below ~100).
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from toolchain.porting import port_tree
from toolchain.porting.validate import strict_flags

HEADER = """#include <stdio.h>
#include <math.h>
#include <stdbool.h>
typedef struct { float a; float b; } Pair;
static float first(Pair p) { return p.a; }
static float total(Pair p) { return p.a + p.b; }
int main(void) {
    float x = 0.75f;
    float y = -1.5f;
    int k = 3;
    long long n = 123456789LL;
    bool flag = true;
    char buf[64];
"""
FOOTER = """    buf[0] = 0;
    puts(buf);
    printf("%.3f %.3f %d %lld %d\\n", x, y, k, n, (int)flag);
    return 0;
}
"""
FLOAT_LEAVES = ["x", "y", "0.5f", "1.25f", "3.0f", "(float)k", "(-2.0f / 8.0f)"]
# f(inner): each keeps its result within a few units, whatever the inner value
FLOAT_WRAPS = [
    "sinf({0})", "cosf({0})", "atanf({0})", "tanhf({0})", "fabsf({0})", "sqrtf(fabsf({0}))",
    "logf(1.0f + fabsf({0}))", "expf(sinf({0}))", "powf(1.0f + fabsf(sinf({0})), cosf({0}))",
    "(float)(double){0}", "(float)sqrt((double)fabsf({0}))", "fmaxf({0}, 0.25f)", "fminf(1.0f, {0})",
    "({0} * 0.5f)", "(flag ? {0} : -({0}))",
]
FLOAT_PAIRS = ["({0} + {1})", "({0} - {1})", "(sinf({0}) * cosf({1}))", "powf(10000.0f, sinf({0}) / {1})"]
# compound literals: the porter does not nest one inside another (a documented limit)
LITERALS = ["first((Pair){{ {0}, {1} }})", "total((Pair){{ {0}, {1} }})", "((Pair){{ {0}, {1} }}).b"]
INT_LEAVES = ["n", "9000000000LL", "-77LL", "(long long)k", "12345ULL"]
INT_WRAPS = ["({0} * 3LL)", "({0} / 7LL)", "({0} % 1000LL)", "({0} >> 3)", "-({0})", "(long long)(unsigned long long){0}"]
INT_PAIRS = ["({0} + {1})", "({0} - {1})"]


@st.composite
def float_expr(draw: st.DrawFn, depth: int = 3, literal_ok: bool = True) -> str:
    if depth == 0 or draw(st.integers(0, 4)) == 0:
        return draw(st.sampled_from(FLOAT_LEAVES))
    kind = draw(st.sampled_from(["wrap", "wrap", "pair", "literal"] if literal_ok else ["wrap", "wrap", "pair"]))
    if kind == "wrap":
        return draw(st.sampled_from(FLOAT_WRAPS)).format(draw(float_expr(depth - 1, literal_ok)))
    form = draw(st.sampled_from(FLOAT_PAIRS if kind == "pair" else LITERALS))
    inner_ok = literal_ok and kind != "literal"
    a, b = draw(float_expr(depth - 1, inner_ok)), draw(float_expr(depth - 1, inner_ok))
    if form.startswith("powf(10000"):  # keep the exponent's divisor away from zero
        b = f"(2.0f + fabsf({b}))"
    return form.format(a, b)


@st.composite
def int_expr(draw: st.DrawFn, depth: int = 3) -> str:
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        return draw(st.sampled_from(INT_LEAVES))
    if draw(st.booleans()):
        return draw(st.sampled_from(INT_WRAPS)).format(draw(int_expr(depth - 1)))
    return draw(st.sampled_from(INT_PAIRS)).format(draw(int_expr(depth - 1)), draw(int_expr(depth - 1)))


@st.composite
def statement(draw: st.DrawFn, nested: bool = True) -> str:
    kinds = ["float", "snprintf", "ll", "llu", "zu", "decl", "lldecl"]
    kind = draw(st.sampled_from(kinds + ["loop", "if"] if nested else kinds[:5]))
    name = "v@"  # numbered per statement when the program is assembled
    if kind == "decl":  # a declaration after statements, whose initialiser nests the rest
        return f'float {name} = {draw(float_expr())}; printf("%.5e\\n", (double){name});'
    if kind == "lldecl":
        return f'long long {name} = {draw(int_expr())}; printf("%lld\\n", {name});'
    if kind == "loop":
        return f"for (int {name} = 0; {name} < 2; {name}++) {draw(statement(False))}"
    if kind == "if":
        return (f"if ({draw(float_expr(2))} > 0.5f) {draw(statement(False))} "
                f"else {draw(statement(False))}")
    if kind == "float":
        return f'printf("%.5e\\n", (double){draw(float_expr())});'
    if kind == "snprintf":
        return f'{{ snprintf(buf, sizeof(buf), "v=%.5e", {draw(float_expr())}); puts(buf); }}'
    if kind == "ll":
        return f'printf("%lld\\n", {draw(int_expr())});'
    if kind == "llu":
        return f'printf("%llu\\n", (unsigned long long){draw(int_expr())});'
    return f'printf("%zu %zu\\n", sizeof(Pair), sizeof({draw(int_expr(1))}));'


PROGRAM = st.lists(statement(), min_size=1, max_size=5).map(
    lambda body: HEADER + "".join(f"    {s.replace('@', str(i))}\n" for i, s in enumerate(body)) + FOOTER)
NUMBER = re.compile(r"[-+]?(?:\d+\.\d*(?:e[-+]?\d+)?|\d+)")


def _build_and_run(cmd: list[str], exe: Path) -> str:
    proc = subprocess.run([*cmd, "-o", str(exe)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=10)
    assert run.returncode == 0
    return run.stdout


def _same(expected: str, got: str) -> bool:
    """Equal text and integers; floats within 1e-3 (absolute plus relative)."""
    if NUMBER.sub("#", expected) != NUMBER.sub("#", got):
        return False
    for a, b in zip(NUMBER.findall(expected), NUMBER.findall(got)):
        if "." not in a:
            if a != b:
                return False
        elif abs(float(a) - float(b)) > 1e-3 * (1 + abs(float(a))):
            return False
    return True


@settings(max_examples=30, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(source=PROGRAM)
def test_random_nestings_port_compile_strictly_and_compute_the_same(source: str, tmp_path: Path) -> None:
    case = Path(tempfile.mkdtemp(dir=tmp_path))
    (case / "src").mkdir()
    original = case / "src" / "prog.c"
    original.write_text(source)
    expected = _build_and_run(["gcc", "-std=gnu99", "-O1", "-w", str(original), "-lm"], case / "c99")
    port_tree(case / "src", case / "out", compiler="gcc")
    ported = case / "out" / "prog.c"
    got = _build_and_run(["gcc", *strict_flags(), str(ported), "-lm"], case / "c89")
    assert _same(expected, got), f"{source}\n--- ported ---\n{ported.read_text()}\n{expected}\n!=\n{got}"
