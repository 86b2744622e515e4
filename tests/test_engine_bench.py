"""The benchmark's settings and report (the callgrind runs themselves are
`invoke bench`, never a timed test)."""

from __future__ import annotations

from pathlib import Path

from toolchain import bench, enginebuild


def test_settings_name_real_builds_and_both_cases() -> None:
    settings = bench.load_settings()
    profiles = enginebuild.load_profiles()
    assert all(b in profiles for b in settings["builds"])
    assert settings["target_build"] in settings["builds"]
    names = [c["name"] for c in settings["cases"]]
    assert names == ["stories260K", "random15M", "random15M-q8"]
    i686 = profiles[settings["target_build"]]
    assert {"-march=pentium2", "-mfpmath=387", "-mno-sse", "-O2"} <= set(i686.flags)


def test_report_divides_total_ir_by_forward_passes(tmp_path: Path) -> None:
    case = bench.Case("stories260K", tmp_path / "m.bin", tmp_path / "t.bin", ("-t", "0"), 3.19e6, 1.1e6)
    fast = bench.Result("i686-pentium2", case, passes=256, tok_per_s=100.0, ir_total=256 * 1_000_000)
    slow = bench.Result("i686-pentium2", case, passes=200, tok_per_s=100.0, ir_total=200 * 2_000_000)
    assert fast.ir_per_token == 1e6 and slow.ir_per_token == 2e6
    lines = bench.report([fast, slow], "i686-pentium2")
    assert "forward() calls" in lines[0]
    assert lines[2].endswith("ok") and "1.000 M" in lines[2] and "3.19 M" in lines[2]
    assert lines[3].endswith("MISSES TARGET")
