"""Import rules on synthetic import lists, against the per-OS export data."""

from __future__ import annotations

from pathlib import Path

import pytest

from toolchain.audit import imports as imp
from toolchain.errors import ConfigError


def findings(pairs: list[tuple[str, str | None]], os: str) -> list[tuple[str, str, str]]:
    got = imp.check_imports([(d, n, None if n else 7) for d, n in pairs], os=os)
    return [(f.severity, f.where, f.message) for f in got]


def test_time64_fails_on_98_with_the_first_os_that_has_it() -> None:
    [(sev, where, msg)] = findings([("msvcrt.dll", "_time64")], "win98")
    assert (sev, where) == ("fail", "msvcrt.dll!_time64")
    assert "exists from Windows ME" in msg
    assert findings([("msvcrt.dll", "_time64")], "winme") == []


def test_is_debugger_present_fails_on_95_only() -> None:
    [(sev, where, _)] = findings([("KERNEL32.dll", "IsDebuggerPresent")], "win95")
    assert (sev, where) == ("fail", "KERNEL32.dll!IsDebuggerPresent")
    assert findings([("KERNEL32.dll", "IsDebuggerPresent")], "win98") == []
    assert findings([("KERNEL32.dll", "IsDebuggerPresent")], "nt4") == []


def test_vectored_handler_is_on_no_target() -> None:
    for os in ("win95", "win98", "winme", "nt4"):
        [(sev, _, msg)] = findings([("kernel32.dll", "AddVectoredExceptionHandler")], os)
        assert sev == "fail" and "on no 9x/NT4 release" in msg


def test_osr2_adds_get_disk_free_space_ex() -> None:
    assert findings([("KERNEL32.DLL", "GetDiskFreeSpaceExA")], "win95")[0][0] == "fail"
    # exported on OSR2; it is a KernelEx "_fix" entry, so only an info note
    assert [f[0] for f in findings([("KERNEL32.DLL", "GetDiskFreeSpaceExA")], "win95osr2")] == ["info"]


def test_msvcrt_on_win95_is_a_warning_once_and_names_are_checked_at_vc42_level() -> None:
    got = findings([("msvcrt.dll", "printf"), ("msvcrt.dll", "exit"), ("msvcrt.dll", "__p__mbcasemap")], "win95")
    assert [g[0] for g in got] == ["warn", "fail"]
    assert "ships no msvcrt.dll" in got[0][2]
    assert got[1][1] == "msvcrt.dll!__p__mbcasemap"  # Windows 98 FE addition


def test_warn_list_on_9x_but_not_on_nt4() -> None:
    assert [f[0] for f in findings([("KERNEL32.dll", "TryEnterCriticalSection")], "win98")] == ["warn"]
    assert findings([("KERNEL32.dll", "TryEnterCriticalSection")], "nt4") == []


def test_ordinal_and_unlisted_dlls_warn() -> None:
    got = findings([("KERNEL32.dll", None), ("USER32.dll", "MessageBoxA")], "win98")
    assert [(g[0], g[1]) for g in got] == [("warn", "KERNEL32.dll!#7"), ("warn", "USER32.dll!MessageBoxA")]


def test_lists_match_the_shared_reference_data() -> None:
    """The copies under toolchain/data/winapi are the shared facts, unchanged."""
    shared = Path(__file__).resolve().parents[2] / "shared" / "docs" / "winapi"
    if not shared.is_dir():
        pytest.fail(f"{shared}: shared reference data missing")
    for ours in sorted(imp.WINAPI_DIR.glob("*.txt")):
        assert ours.read_bytes() == (shared / ours.name).read_bytes(), ours.name


def test_truncated_list_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "k.txt").write_text("# lines: 3\nA\nB\n")
    monkeypatch.setattr(imp, "WINAPI_DIR", tmp_path)
    imp.read_list.cache_clear()
    try:
        with pytest.raises(ConfigError, match="header says 3 names, file has 2"):
            imp.read_list("k.txt")
    finally:
        imp.read_list.cache_clear()


def test_real_unicode_conversions_are_info_and_w_stubs_stay_warnings() -> None:
    """Windows 95 implements MultiByteToWideChar/WideCharToMultiByte (what
    Open Watcom's runtime calls on 9x); GetModuleFileNameW is a stub there,
    called by that runtime only on NT, and stays a warning."""
    for os in ("win95", "win98"):
        got = findings([("KERNEL32.DLL", "MultiByteToWideChar"), ("KERNEL32.DLL", "WideCharToMultiByte"),
                        ("KERNEL32.DLL", "GetModuleFileNameW")], os)
        severity = {where.split("!")[1]: sev for sev, where, _ in got}
        assert severity == {"MultiByteToWideChar": "info", "WideCharToMultiByte": "info",
                            "GetModuleFileNameW": "warn"}, got
    assert findings([("KERNEL32.DLL", "GetModuleFileNameW")], "nt4") == []
