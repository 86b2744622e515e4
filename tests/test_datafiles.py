"""Every hand-edited data file is read through a schema: one broken value is
one ``file:LINE:COL: field: what is wrong`` line pointing at that value."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from toolchain import bench, costdata, cycles, dosbox, enginebuild, paths
from toolchain.audit import imports as imp
from toolchain.audit import platforms
from toolchain.errors import ConfigError
from toolchain.porting import validate

DATA = paths.DATA_DIR

# (file under toolchain/data, text to break, broken text, loader, field named in the message)
CASES: list[tuple[str, str, str, Callable[[Path], object], str]] = [
    ("bench.yaml", "cap_mb: 20", "cap_mb: lots", bench.load_settings, "memory.cases.0.cap_mb"),
    ("cost_model.yaml", "os_reserve_mb: 24", "os_reserve_mb: -24", costdata.load, "os_reserve_mb"),
    ("cpu_cycles.yaml", "clock_mhz: 133", "clock_mhz: fast", cycles.load_model, "cpus.p5.clock_mhz"),
    ("cpu_baselines.yaml", 'opcode: "0f"', 'opcode: "zz"', platforms.baselines, "sets.p6.rules.2.opcode"),
    ("winapi/os_apis.yaml", "warn_list: false", "warn_list: perhaps", platforms.os_apis, "os.nt4.warn_list"),
    ("engine_builds.yaml", "  cc: tcc", "  cc: [tcc]", enginebuild.load_profiles, "tcc.cc"),
    ("dosbox.yaml", "memsize: 16", "memsize: 640", dosbox.settings, "memsize"),
    ("cost_model.yaml", "dos_reserve_mb: 2", "dos_reserve_mb: two", costdata.load, "dos_reserve_mb"),
    ("port_oracles.yaml", "family: mingw", "family: msvc", validate.oracles, "compilers.mingw.family"),
]


@pytest.mark.parametrize("name, good, bad, loader, field", CASES, ids=[c[0] for c in CASES])
def test_a_broken_value_is_one_line_at_its_line_and_column(
    tmp_path: Path, name: str, good: str, bad: str, loader: Callable[[Path], object], field: str
) -> None:
    text = (DATA / name).read_text(encoding="utf-8")
    assert text.count(good) == 1, f"{name}: the test's anchor {good!r} moved"
    broken = tmp_path / Path(name).name
    broken.write_text(text.replace(good, bad), encoding="utf-8")
    lines = broken.read_text(encoding="utf-8").splitlines()
    line = next(i for i, ln in enumerate(lines, 1) if bad in ln)
    col = lines[line - 1].index(bad.split(": ", 1)[1]) + 1
    with pytest.raises(ConfigError) as err:
        loader(broken)
    message = str(err.value)
    assert "\n" not in message and "Traceback" not in message
    assert re.fullmatch(rf"{re.escape(str(broken))}:{line}:{col}: {re.escape(field)}: .+", message), message


def test_the_real_files_load() -> None:
    bench.load_settings()
    costdata.load()
    cycles.load_model()
    platforms.baselines()
    platforms.os_apis()
    assert enginebuild.load_profiles()
    assert dosbox.settings().cycles > 0
    assert [c.name for c in validate.oracles()] == ["gcc", "clang", "tcc", "mingw", "watcom"]


def test_a_bad_export_list_entry_names_its_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "k.txt").write_text("# lines: 3\nCreateFileA\nGet Version\nReadFile\n", encoding="utf-8")
    monkeypatch.setattr(imp, "WINAPI_DIR", tmp_path)
    imp.read_list.cache_clear()
    try:
        with pytest.raises(ConfigError, match=rf"^{re.escape(str(tmp_path / 'k.txt'))}:3:1: 'Get Version' is not"):
            imp.read_list("k.txt")
        (tmp_path / "n.txt").write_text("# lines: many\nA\n", encoding="utf-8")
        with pytest.raises(ConfigError, match=r"n.txt:1:10: '# lines:' must give a whole number"):
            imp.read_list("n.txt")
    finally:
        imp.read_list.cache_clear()
