"""The C89 link surface on a purpose-made object file."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from audit_util import BADEXE, need
from toolchain.audit import check_link_surface
from toolchain.audit.linksurface import c_name, c89_names
from toolchain.errors import AuditError, CompilerMissing


@pytest.fixture(scope="module")
def c99_object(tmp_path_factory: pytest.TempPathFactory) -> Path:
    need("i686-w64-mingw32-gcc")
    obj = tmp_path_factory.mktemp("link") / "c99calls.o"
    cmd = ["i686-w64-mingw32-gcc", "-O0", "-fno-builtin", "-c", "-o", str(obj), str(BADEXE / "c99calls.c")]
    subprocess.run(cmd, check=True, timeout=60)
    return obj


def test_c99_calls_and_missing_kernel32_are_flagged(c99_object: Path) -> None:
    got = {(f.severity, f.message.split()[0] if f.severity == "fail" else f.message.split()[1])
           for f in check_link_surface([c99_object], os="win98")}
    assert got == {("fail", "expf"), ("fail", "snprintf"), ("fail", "strtoll"), ("fail", "GetTickCount64"),
                   ("warn", "TryEnterCriticalSection")}


def test_allowed_extra_and_nt4(c99_object: Path) -> None:
    found = check_link_surface([c99_object], os="nt4", allowed_extra={"snprintf", "GetTickCount64"})
    assert sorted(f.message.split()[0] for f in found) == ["expf", "strtoll"]
    assert all(f.where == "c99calls.o" for f in found)


def test_symbols_defined_by_another_object_are_not_surface(c99_object: Path, tmp_path: Path) -> None:
    src = tmp_path / "provider.c"
    src.write_text("float expf(float x) { return x; }\n")
    provider = tmp_path / "provider.o"
    subprocess.run(["i686-w64-mingw32-gcc", "-c", "-o", str(provider), str(src)], check=True, timeout=60)
    names = [f.message.split()[0] for f in check_link_surface([c99_object, provider], os="nt4")]
    assert "expf" not in names and "strtoll" in names


def test_c_names() -> None:
    assert c_name("__imp__GetTickCount@0") == "GetTickCount"
    assert c_name("_expf") == "expf"
    assert c_name("___chkstk_ms") == "__chkstk_ms"
    lib = c89_names()
    assert {"fopen", "strtod", "sqrt", "clock"} <= lib["c89"]
    assert not {"expf", "snprintf", "strtoll", "sqrtf"} & lib["c89"]


def test_bad_input(tmp_path: Path) -> None:
    with pytest.raises(AuditError, match="nothere.o: no such object file"):
        check_link_surface([tmp_path / "nothere.o"], os="win98")
    junk = tmp_path / "junk.o"
    junk.write_text("not an object")
    with pytest.raises(AuditError, match="junk.o: cannot list symbols"):
        check_link_surface([junk], os="win98")
    with pytest.raises(CompilerMissing, match="no-such-nm not found"):
        check_link_surface([junk], os="win98", nm="no-such-nm")
