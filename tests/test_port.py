"""The porting engine and each patch, in memory: goldens, idempotence,
line numbers, refusals, and the output-folder rules of port_tree."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from toolchain.errors import PortError
from toolchain.porting import port_source, port_tree, report_tree
from toolchain.porting.compat import FAMILIES, render
from toolchain.porting.series import load_series, parse_header
from toolchain.porting.source import Unit, nodes_of
from toolchain.porting.validate import FIXTURES, RUNNER, check_golden

SERIES = load_series()


def test_every_patch_is_documented_and_has_a_golden() -> None:
    assert len(SERIES) >= 20
    for patch in SERIES:
        assert len(patch.why) > 40 and len(patch.limits) > 20 and patch.confidence, patch.id
        assert (FIXTURES / patch.id / "before.c").is_file(), patch.id
        assert (FIXTURES / patch.id / "after.c").is_file(), patch.id


@pytest.mark.parametrize("patch_id", [p.id for p in SERIES])
def test_golden_and_idempotence(patch_id: str) -> None:
    failed = [str(o) for o in check_golden(FIXTURES / patch_id) if not o.ok]
    assert not failed


def test_series_output_reparses_and_has_no_c99_left() -> None:
    text, changes = port_source(RUNNER / "run.c", (RUNNER / "run.c").read_bytes())
    unit = Unit.parse(Path("ported.c"), text)  # raises on ERROR nodes
    comments = nodes_of(unit.root, "comment")
    assert comments and not [c for c in comments if unit.text(c).startswith("//")]
    for node in reversed(comments):
        text = text[:node.start_byte] + text[node.end_byte:]
    for c99 in (rb"long long", rb"\bexpf\(", rb"\bmmap\(", rb"\bclock_gettime\(", rb"#pragma omp",
                rb"__func__", rb"\binline\b", rb"\brestrict\b", rb"[0-9A-Fa-f]U?LL\b", rb"%zu", rb"\bbool\b",
                rb"\(Sampler\)\{"):
        assert not re.search(c99, text), c99
    assert {c.patch_id for c in changes} >= {"for-declarations", "mixed-declarations",
                                             "designated-initializers", "compound-literals"}


def test_report_gives_original_line_numbers() -> None:
    lines = (RUNNER / "run.c").read_text().splitlines()
    changes = report_tree(RUNNER)
    assert changes
    for change in changes:
        text = lines[change.line - 1]
        if change.patch_id == "float-math":
            assert "f(" in text
        if change.patch_id == "pragma-omp":
            assert "#pragma omp" in text
        if change.patch_id == "line-comments":
            assert "//" in text


def test_mixed_declarations_open_blocks_not_hoist() -> None:
    src = b"int f(void) { int a = 1; a++; const int b = a * 2; { int a = 5; a++; } return a + b; }\n"
    out, _ = port_source(Path("m.c"), src, only="mixed-declarations")
    assert out == b"int f(void) { int a = 1; a++; { const int b = a * 2; { int a = 5; a++; } return a + b; } }\n"


def test_unparsable_file_is_refused_with_line_and_column() -> None:
    with pytest.raises(PortError, match=r"bad\.c:2:\d+: "):
        port_source(Path("bad.c"), b"int main(void) {\n  int x = ;\n}\n")


def test_designated_initialiser_of_unknown_struct_is_refused() -> None:
    src = b"#include \"cfg.h\"\nvoid f(void) { Config c = { .dim = 3 }; (void)c; }\n"
    with pytest.raises(PortError, match=r"u\.c:2:\d+: the definition of 'Config' is not in this file"):
        port_source(Path("u.c"), src)


def test_writable_mmap_is_refused() -> None:
    src = b"void f(int fd) { char *p = mmap(0, 8, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0); }\n"
    with pytest.raises(PortError, match=r"w\.c:1:\d+: only read-only mmap"):
        port_source(Path("w.c"), src)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_compat_header_carries_only_what_is_used(family: str) -> None:
    small = render(family, {"rc_int64"})
    assert "rc_strtoll" not in small and "rc_mmap_load" not in small
    full = render(family, {"rc_strtoll", "rc_clock_gettime", "rc_mmap_load", "rc_snprintf"})
    assert "static rc_int64 rc_strtoll" in full and "rc_mmap_load" in full
    assert ("I64d" in full) == (family != "gcc")
    assert ("__int64" in full) == (family != "gcc")


def test_port_tree_refuses_out_inside_src_and_foreign_folders(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.c").write_text("int main(void) { // hi\n}\n")
    (src / "win.c").write_text("int shim;\n")
    with pytest.raises(PortError, match="inside the source tree"):
        port_tree(src, src / "out")
    with pytest.raises(PortError, match="inside the source tree"):
        port_tree(src, src)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    with pytest.raises(PortError, match="not empty"):
        port_tree(src, foreign)
    assert (foreign / "keep.txt").read_text() == "mine"
    out = tmp_path / "out"
    result = port_tree(src, out, compiler="mingw")
    assert sorted(p.name for p in result.files) == ["a.c", "rcompat.h"]
    assert not (out / "win.c").exists()
    assert (out / "a.c").read_text().startswith('#include "rcompat.h"\nint main(void) { /* hi */')
    again = port_tree(src, out, compiler="gcc")  # a previous port's folder may be reused
    assert again.files and (src / "a.c").read_text() == "int main(void) { // hi\n}\n"
    with pytest.raises(PortError, match="unknown compiler family"):
        port_tree(src, tmp_path / "x", compiler="msvc")


def test_patch_header_parser_rejects_bad_lines(tmp_path: Path) -> None:
    bad = tmp_path / "x.patch"
    bad.write_text("Patch x\n")
    with pytest.raises(PortError, match=r"x\.patch:1: expected 'Field: value'"):
        parse_header(bad)


def test_patch_header_names_its_rule_module_and_golden(tmp_path: Path) -> None:
    import shutil

    for patch in SERIES:
        assert patch.rule_module.startswith("toolchain/porting/rules/"), patch.id
        assert patch.golden.startswith(f"tests/fixtures/port/{patch.id}/"), patch.id
    bad = tmp_path / "patches"
    shutil.copytree(SERIES[0].path.parent, bad)
    path = bad / "line-comments.patch"
    path.write_text(path.read_text().replace("rules/comments.py", "rules/blocks.py"))
    with pytest.raises(PortError, match=r"line-comments\.patch: 'Rule: .*blocks\.py' but the rule"):
        load_series(bad)


NESTED = b"""#include <stdio.h>
#include <math.h>
int main(void) {
    char buf[64];
    snprintf(buf, sizeof(buf), "rope=%.5f", cosf(powf(10000.0f, -2.0f / 8.0f)) + sinf(0.5f));
    puts(buf);
    return 0;
}
"""


def test_nested_rewrites_compose_innermost_first() -> None:
    out, changes = port_source(Path("n.c"), NESTED)
    assert b"(float)cos((float)pow(10000.0f, -2.0f / 8.0f)) + (float)sin(0.5f)" in out
    assert b"rc_snprintf(buf" in out
    assert sorted(c.why.split()[0] for c in changes if c.patch_id == "float-math") == ["cosf", "powf", "sinf"]
    assert {c.line for c in changes} == {5} | {c.line for c in changes if c.patch_id != "float-math"}
    again, more = port_source(Path("n.c"), out)
    assert again == out and not more


@pytest.mark.parametrize(("src", "message"), [
    (b"#include <stdio.h>\n#define LOG(...) fprintf(stderr, __VA_ARGS__)\n", r"v\.c:2: a variadic macro"),
    (b"#include <stdio.h>\n\n#define LOG(f, args...) fprintf(stderr, f, args)\n", r"v\.c:3: a variadic macro"),
    (b"struct S { int n;\n    float data[]; };\n", r"v\.c:2: a flexible array member"),
    (b"void f(int n) {\n    float x[n * 2];\n    x[0] = 1;\n}\n", r"v\.c:2: the variable-length array x\[n \* 2\]"),
    (b"void f(int n, float a[n]) {\n    a[0] = 1;\n}\n", r"v\.c:1: the variable-length array a\[n\]"),
    (b"double f(void) {\n    return 0x1.8p1;\n}\n", r"v\.c:2: the hexadecimal float constant 0x1\.8p1"),
])
def test_c99_constructs_without_a_rule_are_refused(src: bytes, message: str) -> None:
    with pytest.raises(PortError, match=message + r".* is not C89 and is not ported; "):
        port_source(Path("v.c"), src)


def test_constant_array_sizes_are_not_taken_for_vlas() -> None:
    src = (b"#define N 4\nenum { M = 3 };\nint h[] = {1, 2};\n"
           b"void f(float a[], int n) { float y[N + M]; int z[sizeof(int) * 2]; char q[] = \"x\";"
           b" y[0] = a[n]; z[0] = q[0]; }\n")
    port_source(Path("ok.c"), src)


def test_scanf_hh_reads_into_a_temporary_and_stores_when_assigned() -> None:
    src = (b"#include <stdio.h>\nint f(const char *s) {\n    unsigned char b = 0;\n"
           b"    if (sscanf(s, \"<0x%02hhX>\", &b) == 1) return b;\n    return -1;\n}\n")
    out, changes = port_source(Path("s.c"), src, only="printf-formats")
    text = out.decode()
    assert "int f(const char *s) {\n    int rc_scan_n1;\n    unsigned int rc_scan_v0;\n" in text
    assert ('(rc_scan_n1 = sscanf(s, "<0x%02X>", &rc_scan_v0), (rc_scan_n1 >= 1 ? '
            '(void)(b = (unsigned char)rc_scan_v0) : (void)0), rc_scan_n1) == 1') in text
    assert changes and all(c.line == 4 for c in changes if "hh" in c.why)


def test_non_literal_format_is_reported() -> None:
    src = b"#include <stdio.h>\nvoid f(const char *fmt) {\n    printf(fmt, 1);\n}\n"
    out, changes = port_source(Path("f.c"), src, only="printf-formats")
    assert out == src
    assert [(c.line, "not a string literal" in c.why) for c in changes] == [(3, True)]


def test_block_scoping_keeps_indentation_and_gives_braces_their_own_lines() -> None:
    src = b"int f(void) {\n    int a = 1;\n    a++;\n    int b = a;\n    return b;\n}\n"
    out, _ = port_source(Path("b.c"), src, only="mixed-declarations")
    assert out == (b"int f(void) {\n    int a = 1;\n    a++;\n    {\n    int b = a;\n"
                   b"    return b;\n    }\n}\n")
    # a declaration sharing its line with a statement: the "}" still gets a line
    src = b"int g(void) {\n    int a = 1;\n    a++; int b = a;\n    return b;\n}\n"
    out, _ = port_source(Path("b.c"), src, only="mixed-declarations")
    assert out == b"int g(void) {\n    int a = 1;\n    a++; { int b = a;\n    return b;\n    }\n}\n"
    whole, _ = port_source(RUNNER / "run.c", (RUNNER / "run.c").read_bytes())
    assert b"}}" not in whole


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_compat_header_fits_80_columns(family: str) -> None:
    names = {"rc_snprintf", "rc_vsnprintf", "rc_strtoll", "rc_atoll", "rc_clock_gettime",
             "rc_mmap_load", "rc_open_ro", "RC_FP_INIT", "rc_roundf", "rc_round", "rc_truncf",
             "rc_trunc", "rc_fmaxf", "rc_fminf", "rc_fmax", "rc_fmin", "rc_log2f", "rc_exp2f"}
    wide = [line for line in render(family, names).splitlines() if len(line) > 80]
    assert not wide


def test_port_tree_lists_the_files_with_main_and_report_ends_with_a_summary(tmp_path: Path) -> None:
    from invoke import Context

    from toolchain.cli.port import port

    src = tmp_path / "src"
    src.mkdir()
    (src / "lib.c").write_text("int twice(int x) { // doubles\n    return 2 * x;\n}\n")
    (src / "a.c").write_text("#include <stdio.h>\nint main(void) {\n    printf(\"%zu\\n\", sizeof(int));\n"
                             "    return 0;\n}\n")
    (src / "b.c").write_text("#ifndef TESTING\nint main(void) { return 0; }\n#endif\n")
    result = port_tree(src, tmp_path / "out")
    assert [p.as_posix() for p in result.programs] == ["a.c", "b.c"]
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        port(Context(), str(src), report=True)
    lines = buf.getvalue().splitlines()
    assert "2 program(s), each file with a main(): a.c, b.c" in lines
    head = lines.index(next(line for line in lines if line.startswith("patch ")))
    table = {row.split()[0]: row.split(None, 2)[1:] for row in lines[head + 1:]}
    assert table["line-comments"] == ["1", "lib.c"]
    assert table["printf-formats"] == ["1", "a.c"]
    assert table["compat-include"] == ["3", "a.c, b.c, lib.c"]


def test_a_missing_compiler_is_not_checked_not_passed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from toolchain.porting.validate import check_program, oracles

    monkeypatch.delenv("WATCOM", raising=False)
    watcom = next(c for c in oracles() if c.name == "watcom")
    outcomes = check_program("x", FIXTURES / "stdbool" / "before.c", tmp_path, [], (watcom,))
    assert [(o.ok, o.checked) for o in outcomes] == [(False, False)]
    assert str(outcomes[0]).startswith("not checked x: watcom: $WATCOM is not set")


@pytest.mark.parametrize(("src", "message"), [
    (b"int f(int n) { int a[4] = { [n] = 1 }; return a[0]; }\n",
     r"d\.c:1:\d+: array designator \[n\] is neither an integer literal nor an enumerator"),
    (b"typedef struct { int lo, hi; } R;\ntypedef struct { R r; int k; } S;\n"
     b"int f(int n) {\n    S s = { .r = { n, 2 }, .k = n };\n    return s.k;\n}\n",
     r"d\.c:4:\d+: a braced list inside a non-constant initialiser: not handled"),
    (b"typedef struct { int x; } P;\nint g(P p);\nint f(void) {\n    int a = 1, b = g((P){ a });\n"
     b"    return b;\n}\n", r"d\.c:4:\d+: compound literal in a declaration: only in the first object"),
    (b"#include <stdint.h>\nlong long f(long long v) {\n    return v + INT64_C(v);\n}\n",
     r"d\.c:3:\d+: INT64_C\(\) of something other than an integer literal"),
])
def test_initialiser_and_constant_forms_without_a_rule_are_refused(src: bytes, message: str) -> None:
    with pytest.raises(PortError, match=message):
        port_source(Path("d.c"), src)


def test_edits_that_overlap_without_nesting_are_refused_with_the_line() -> None:
    from toolchain.porting.engine import apply_patch
    from toolchain.porting.series import Patch
    from toolchain.porting.source import Edit

    src = b"int f(void) {\n    return 1 + 2 + 3;\n}\n"
    start = src.index(b"1 + 2")

    def crossing(unit: Unit) -> list[Edit]:  # "1 + 2" and "2 + 3" share the "2"
        return [Edit(start, start + 5, "3", "a"), Edit(start + 4, start + 9, "5", "b")]

    patch = Patch("crossing", "d", "w", "high", "l", Path("crossing.patch"), crossing)
    with pytest.raises(PortError, match=r"^o\.c:2: two rewrites of patch crossing overlap here"):
        apply_patch(Unit.parse(Path("o.c"), src), patch, Path("o.c"))


def test_port_counts_the_sources_of_a_tree_with_subfolders(tmp_path: Path) -> None:
    import contextlib
    import io

    from invoke import Context

    from toolchain.cli.port import port

    src = tmp_path / "src"
    (src / "lib").mkdir(parents=True)
    (src / "main.c").write_text("int main(void) { return 0; }\n")
    (src / "lib" / "a.c").write_text("int a(void) { return 1; } // one\n")
    (src / "lib" / "a.h").write_text("int a(void);\n")
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        port(Context(), str(src), out=str(tmp_path / "out"))
    assert buf.getvalue().startswith(f"ported 3 file(s) for gcc into {tmp_path / 'out'}: ")
    assert (tmp_path / "out" / "rcompat.h").is_file() and (tmp_path / "out" / "lib" / "rcompat.h").is_file()
