"""Purpose-made bad exes (built here with MinGW) are flagged with the right
reason; a good one built with the own-startup recipe passes and runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from audit_util import BADEXE, OWN_STARTUP_FLAGS, OWN_STARTUP_LIBS, STARTUP, mingw, need
from toolchain import paths
from toolchain.audit import AuditReport, audit_exe
from toolchain.errors import AuditError
from toolchain.smoke import wine_env


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("badexe")


def fails(report: AuditReport, check: str) -> list[str]:
    return [f"{f.where}: {f.message}" for f in report.findings if f.severity == "fail" and f.check == check]


def test_time64_import_fails_on_win98(out: Path) -> None:
    exe = mingw(out / "time64.exe", [BADEXE / "time64.c"], ["-O2"])
    report = audit_exe(exe, os="win98", cpu="pentium2")
    assert not report.ok
    assert any(f.startswith("msvcrt.dll!_time64:") and "exists from Windows ME" in f for f in fails(report, "imports"))
    assert report.verdict.startswith("FAIL: time64.exe would not run on win98/pentium2: 1 import failure")
    assert not fails(audit_exe(exe, os="winme", cpu="pentium2"), "imports")


def test_is_debugger_present_fails_on_win95_only(out: Path) -> None:
    exe = mingw(out / "debugger.exe", [BADEXE / "debugger.c"], ["-O2"])
    assert any("IsDebuggerPresent" in f for f in fails(audit_exe(exe, os="win95", cpu="pentium2"), "imports"))
    assert not fails(audit_exe(exe, os="win98", cpu="pentium2"), "imports")


def test_vectored_exception_handler_fails(out: Path) -> None:
    exe = mingw(out / "veh.exe", [BADEXE / "veh.c"], ["-O2"])
    got = fails(audit_exe(exe, os="win98", cpu="pentium2"), "imports")
    assert any(f.startswith("KERNEL32.dll!AddVectoredExceptionHandler:") for f in got)


def test_sse_code_fails_on_pentium2_passes_on_pentium3(out: Path) -> None:
    exe = mingw(out / "sse.exe", [BADEXE / "sse.c"], ["-O3", "-march=pentium3", "-msse", "-mfpmath=sse"])
    report = audit_exe(exe, os="win98", cpu="pentium2", symbols_exe=exe.with_suffix(".sym.exe"))
    sse = [h for h in report.cpu_hits if h.set == "sse" and h.severity == "fail"]
    assert len(sse) >= 5
    assert any("SSE:" in f for f in fails(report, "cpu"))
    assert not fails(audit_exe(exe, os="win98", cpu="pentium3"), "cpu")
    # Windows 95 never enables SSE, whatever the CPU
    assert fails(audit_exe(exe, os="win95", cpu="pentium3"), "cpu")


def test_default_mingw_startup_has_cmov_on_pentium(out: Path) -> None:
    exe = mingw(out / "default.exe", [BADEXE / "hello.c"], ["-O2", "-march=pentium", "-Wl,-Map," + str(out / "default.map")])
    by_twin = audit_exe(exe, os="win98", cpu="pentium", symbols_exe=exe.with_suffix(".sym.exe"))
    assert not by_twin.ok
    startup = [f for f in fails(by_twin, "cpu") if f.startswith("___tmainCRTStartup @ 0x")]
    assert startup and "P6: cmov" in startup[0]
    # a GNU ld map lists global symbols only (C names, one underscore less):
    # hits in global functions get the same name as from the COFF symbols
    by_map = audit_exe(exe, os="win98", cpu="pentium", map_file=out / "default.map")
    pairs = {(t.function, "_" + m.function) for t, m in zip(by_twin.cpu_hits, by_map.cpu_hits) if m.function}
    assert ("___mingw_pformat", "___mingw_pformat") in pairs
    bare = audit_exe(exe, os="win98", cpu="pentium")
    assert {h.address for h in bare.cpu_hits} == {h.address for h in by_twin.cpu_hits}
    assert all(h.function is None for h in bare.cpu_hits)
    # the same exe is fine on a Pentium II
    assert not fails(audit_exe(exe, os="win98", cpu="pentium2"), "cpu")


def test_subsystem_version_5_fails(out: Path) -> None:
    exe = mingw(out / "sub5.exe", [BADEXE / "hello.c"], ["-O2", "-Wl,--subsystem,console:5.0"])
    got = fails(audit_exe(exe, os="win98", cpu="pentium2"), "pe")
    assert any(f.startswith("OPTIONAL_HEADER.MajorSubsystemVersion: subsystem version 5.0 is above 4.0") for f in got)


@pytest.mark.wine
@pytest.mark.parametrize(("march", "os_", "cpu"), [("pentium", "win98", "pentium"), ("i486", "win95osr2", "i486")])
def test_own_startup_exe_passes_and_runs(out: Path, march: str, os_: str, cpu: str) -> None:
    exe = mingw(out / f"good-{march}.exe", [BADEXE / "hello.c", STARTUP],
                [*OWN_STARTUP_FLAGS, f"-march={march}", "-Wl,--no-insert-timestamp"], OWN_STARTUP_LIBS)
    report = audit_exe(exe, os=os_, cpu=cpu)
    assert report.ok, report.verdict
    assert report.cpu_hits == []
    assert not any(f.severity == "warn" and f.check == "pe" for f in report.findings)
    assert {d.lower() for d, _, _ in report.imports} == {"msvcrt.dll"}
    need("wine")
    run = subprocess.run(["wine", str(exe), "a", "b c"], capture_output=True, timeout=120, env=wine_env())
    assert run.stdout.replace(b"\r\n", b"\n") == b"hello from 3 argument(s)\na\nb c\n"


def test_not_a_pe_is_a_one_line_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.exe"
    junk.write_bytes(b"MZ" + b"\0" * 10)
    with pytest.raises(AuditError, match=r"junk.exe: not a Windows PE executable"):
        audit_exe(junk, os="win98", cpu="pentium2")
    with pytest.raises(AuditError, match=r"missing.exe: no such file"):
        audit_exe(tmp_path / "missing.exe", os="win98", cpu="pentium2")


def _invoke(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "invoke", "audit", *args], cwd=paths.REPO_ROOT,
                          capture_output=True, text=True, timeout=120)


def test_cli_json_and_exit_code(out: Path) -> None:
    exe = mingw(out / "cli-time64.exe", [BADEXE / "time64.c"], ["-O2"])
    run = _invoke(str(exe), "--os", "win98", "--cpu", "pentium2", "--json")
    assert run.returncode == AuditError.exit_code
    doc = json.loads(run.stdout)
    assert doc["ok"] is False and doc["os"] == "win98"
    assert {"severity": "fail", "check": "imports", "where": "msvcrt.dll!_time64"}.items() <= doc["findings"][0].items()
    assert run.stderr.strip().splitlines()[-1].startswith("error: FAIL: cli-time64.exe would not run")
    good = _invoke(str(exe), "--os", "winme", "--cpu", "pentium2")
    assert good.returncode == 0, good.stderr
    assert "PASS: cli-time64.exe will load and run on winme/pentium2" in good.stderr


def test_cli_target_resolves_platform(out: Path) -> None:
    exe = mingw(out / "cli-hello.exe", [BADEXE / "hello.c"], ["-O2"])
    run = _invoke(str(exe), "--target", "win98-mingw")
    assert run.returncode == 0, run.stderr
    assert "on win98/pentium2" in run.stderr
    bad = _invoke(str(exe), "--target", "no-such-target")
    assert bad.returncode == 2 and "unknown target 'no-such-target'" in bad.stderr
    neither = _invoke(str(exe))
    assert neither.returncode == 2 and "--target NAME, or both --os and --cpu" in neither.stderr
