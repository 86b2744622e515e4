"""POSIX and OpenMP: ``#pragma omp``, the mmap checkpoint loader, and
``clock_gettime`` (patches ``pragma-omp``, ``posix-mmap``, ``clock-gettime``)."""

from __future__ import annotations

from tree_sitter import Node

from toolchain.porting.registry import rule
from toolchain.porting.rules.common import arguments, calls, include_name, remove_includes, rename
from toolchain.porting.source import Edit, Unit, line_span, nodes_of

POSIX_HEADERS = {"unistd.h", "sys/mman.h", "fcntl.h", "win.h", "sys/stat.h"}
CONDITIONALS = ("preproc_if", "preproc_ifdef")


@rule("pragma-omp")
def pragma_omp(unit: Unit) -> list[Edit]:
    edits = []
    for node in nodes_of(unit.root, "preproc_call"):
        directive = node.child_by_field_name("directive")
        arg = node.child_by_field_name("argument")
        if directive is not None and unit.text(directive) == "#pragma" and arg is not None \
                and unit.text(arg).split()[:1] == ["omp"]:
            start, end = line_span(unit, node)
            edits.append(Edit(start, end, "", "#pragma omp: no OpenMP on the targets"))
    return edits


def _only_posix_includes(unit: Unit, node: Node) -> bool:
    """True when a conditional holds nothing but includes of POSIX/win.h headers."""
    found = False
    for child in node.named_children:
        if child == node.child_by_field_name("condition") or child.type in ("comment", "identifier"):
            continue
        if child.type == "preproc_include":
            if include_name(unit, child) not in POSIX_HEADERS:
                return False
            found = True
        elif child.type in ("preproc_else", "preproc_elif"):
            if not _only_posix_includes(unit, child) and child.named_children:
                return False
        else:
            return False
    return found


@rule("posix-mmap")
def posix_mmap(unit: Unit) -> list[Edit]:
    why_inc = "POSIX headers (and the win.h shim) are not needed once mmap is gone"
    edits = []
    removed: list[Node] = []
    for node in nodes_of(unit.root, *CONDITIONALS):
        if any(r.start_byte <= node.start_byte < r.end_byte for r in removed):
            continue
        if _only_posix_includes(unit, node):
            start, end = line_span(unit, node)
            edits.append(Edit(start, end, "", why_inc))
            removed.append(node)
    for edit in remove_includes(unit, POSIX_HEADERS, why_inc):
        if not any(r.start_byte <= edit.start < r.end_byte for r in removed):
            edits.append(edit)
    uses_files = bool(calls(unit, {"open", "mmap", "munmap"}))
    for call, name in calls(unit, {"open", "mmap", "munmap", "close"}):
        args = arguments(call)
        if name == "open":
            if len(args) != 2 or unit.text(args[1]) != "O_RDONLY":
                raise unit.error(call, "open() other than open(path, O_RDONLY) is not handled")
            new = f"rc_open_ro({unit.text(args[0])})"
        elif name == "mmap":
            if len(args) != 6 or "PROT_WRITE" in unit.text(args[2]):
                raise unit.error(call, "only read-only mmap(NULL, len, PROT_READ, flags, fd, off) is handled")
            new = f"rc_mmap_load({unit.text(args[1])}, {unit.text(args[4])}, {unit.text(args[5])})"
        elif name == "munmap":
            if len(args) != 2:
                raise unit.error(call, "munmap() needs two arguments")
            new = f"rc_munmap({unit.text(args[0])})"
        else:
            if not uses_files or len(args) != 1:
                continue
            new = f"rc_close({unit.text(args[0])})"
        edits.append(Edit(call.start_byte, call.end_byte, new,
                          f"{name}() is POSIX: the file is read into memory with malloc + fread"))
    edits += rename(unit, {"MAP_FAILED": "RC_MAP_FAILED"}, "MAP_FAILED comes from <sys/mman.h>")
    return edits


@rule("clock-gettime")
def clock_gettime(unit: Unit) -> list[Edit]:
    edits = []
    for node in nodes_of(unit.root, "struct_specifier"):
        name = node.child_by_field_name("name")
        if name is not None and unit.text(name) == "timespec":
            edits.append(Edit(name.start_byte, name.end_byte, "rc_timespec",
                              "struct timespec is POSIX; the compat header has rc_timespec"))
    for call, _ in calls(unit, {"clock_gettime"}):
        args = arguments(call)
        if len(args) != 2:
            raise unit.error(call, "clock_gettime() needs two arguments")
        edits.append(Edit(call.start_byte, call.end_byte, f"rc_clock_gettime({unit.text(args[1])})",
                          "clock_gettime is POSIX; the compat header has a portable timer"))
    return edits
