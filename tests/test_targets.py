"""Target files: schema, extends, aliases, error messages with YAML lines."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from toolchain import compilers, docs, paths
from toolchain.compilers import Discovery
from toolchain.errors import ConfigError
from toolchain.targets import is_83, load_target, resolve, target_names


def test_every_shipped_target_loads() -> None:
    names = target_names()
    assert {"win98-bcc", "win98-owc", "win98-mingw"} <= set(names)
    for name in names:
        t = load_target(name)
        assert t.linker.subsystem_version == "4.0"
        assert is_83(t.names.exe) and is_83(t.names.model) and is_83(t.names.tokenizer)
        assert is_83(t.make.makefile)


def test_extends_merges_platform_and_compiler_bases() -> None:
    t = load_target("win98-mingw")
    assert (t.platform.os, t.platform.cpu) == ("win98", "pentium2")
    assert t.compiler.family == "mingw"
    assert "-march=pentium2" in t.compiler.cpu_flags
    assert "-Wl,--no-insert-timestamp" in t.linker.flags  # from the mingw base
    assert load_target("win98-bcc").make.dialect == "borland"
    assert load_target("win98-owc").make.dialect == "wmake"


def test_abstract_base_is_not_a_target() -> None:
    assert "mingw" not in target_names()
    with pytest.raises(ConfigError, match="abstract"):
        load_target("mingw")


def test_unknown_target_names_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="unknown target 'win3.1'.*win98-mingw"):
        load_target("win3.1")


def _copy_targets(tmp_path: Path) -> Path:
    d = tmp_path / "targets"
    shutil.copytree(paths.TARGETS_DIR, d)
    return d


def test_all_schema_errors_at_once_with_lines(tmp_path: Path) -> None:
    d = _copy_targets(tmp_path)
    (d / "bad.yaml").write_text(
        "description: broken\n"
        "extends: [win98-base, mingw]\n"
        "platform:\n"
        "  ram_mb: lots\n"
        "  colour: beige\n"
        "compiler:\n"
        "  optimize: -O2\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as exc:
        load_target("bad", d)
    lines = str(exc.value).splitlines()
    assert any(line.startswith("targets/bad.yaml:5:3: platform.colour: Extra inputs") or
               line.endswith("bad.yaml:5:3: platform.colour: Extra inputs are not permitted (got 'beige')")
               for line in lines), lines
    assert any("bad.yaml:4:11: platform.ram_mb:" in line for line in lines), lines
    assert any("bad.yaml:7:13: compiler.optimize:" in line for line in lines), lines
    assert len(lines) == 3


def test_missing_field_points_at_the_leaf_file(tmp_path: Path) -> None:
    d = _copy_targets(tmp_path)
    (d / "nocc.yaml").write_text("description: no compiler\nextends: win98-base\n", encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_target("nocc", d)
    text = str(exc.value)
    assert "nocc.yaml:1:1: compiler: Field required" in text
    assert "make: Field required" in text


def test_top_level_typo_and_yaml_syntax(tmp_path: Path) -> None:
    d = _copy_targets(tmp_path)
    (d / "typo.yaml").write_text("extends: win98-mingw\ncompilr:\n  cc: gcc\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"typo.yaml:2:1: compilr: Extra inputs are not permitted"):
        load_target("typo", d)
    (d / "syntax.yaml").write_text("extends: win98-mingw\nplatform: [\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"syntax.yaml:\d+:\d+: YAML syntax error"):
        load_target("syntax", d)


def test_extends_loop_and_missing_base(tmp_path: Path) -> None:
    d = _copy_targets(tmp_path)
    (d / "a.yaml").write_text("extends: b\n", encoding="utf-8")
    (d / "b.yaml").write_text("extends: a\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"b.yaml:1:10: extends: 'a' makes a loop \(a -> b -> a\)"):
        load_target("a", d)
    (d / "c.yaml").write_text("extends: nowhere\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"c.yaml:1:10: extends: no target file 'nowhere'"):
        load_target("c", d)


def test_names_must_be_8_3(tmp_path: Path) -> None:
    d = _copy_targets(tmp_path)
    (d / "longname.yaml").write_text("extends: win98-mingw\nnames:\n  model: STORIES260K.BIN\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"longname.yaml:3:10: names.model: .*not an upper-case 8.3 name"):
        load_target("longname", d)


def test_quoted_version_required(tmp_path: Path) -> None:
    d = _copy_targets(tmp_path)
    (d / "ver.yaml").write_text("extends: win98-mingw\nlinker:\n  subsystem_version: 4.0\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"ver.yaml:3:22: linker.subsystem_version"):
        load_target("ver", d)


def test_is_83() -> None:
    assert is_83("RUN.EXE") and is_83("MAKEFILE") and is_83("TOKENIZ.BIN")
    assert not is_83("run.exe") and not is_83("TOKENIZER.BIN") and not is_83("A.B.C") and not is_83("X.")


def test_win98_alias_prefers_borland_then_watcom_then_mingw(monkeypatch: pytest.MonkeyPatch) -> None:
    installed: set[str] = set()

    def fake_discover(target, environ=None):
        if target.compiler.family in installed:
            return Discovery(Path(f"/opt/{target.compiler.family}"))
        return Discovery(problem=f"{target.compiler.family} missing")

    monkeypatch.setattr(compilers, "discover", fake_discover)
    installed.update({"mingw"})
    t, found, why = resolve("win98")
    assert t.name == "win98-mingw" and found.found
    assert "borland missing" in why and "watcom missing" in why
    installed.add("watcom")
    assert resolve("win98")[0].name == "win98-owc"
    installed.add("borland")
    assert resolve("win98")[0].name == "win98-bcc"
    installed.clear()
    t, found, why = resolve("win98")
    assert t.name == "win98-bcc" and not found.found and "no compiler found" in why


def test_compiler_discovery_reports_what_is_missing(tmp_path: Path) -> None:
    from toolchain import compilers

    bcc = load_target("win98-bcc")
    assert "$BCC_ROOT is not set" in compilers.discover(bcc, {"PATH": "/usr/bin"}).problem
    assert "no BIN/BCC32.EXE" in compilers.discover(bcc, {"BCC_ROOT": str(tmp_path), "PATH": "/usr/bin"}).problem
    owc = load_target("win98-owc")
    assert "$WATCOM is not set" in compilers.discover(owc, {"PATH": "/usr/bin"}).problem
    assert "no wcl386" in compilers.discover(owc, {"WATCOM": str(tmp_path), "PATH": "/usr/bin"}).problem
    (tmp_path / "binl64").mkdir()
    (tmp_path / "binl64" / "wcl386").write_text("")
    found = compilers.discover(owc, {"WATCOM": str(tmp_path), "PATH": "/usr/bin"})
    assert found.found and str(found.path).endswith("binl64/wcl386")
    mingw = load_target("win98-mingw")
    assert "not on PATH" in compilers.discover(mingw, {"PATH": str(tmp_path)}).problem


def test_generated_docs_are_current() -> None:
    readme = docs.README_PATH.read_text(encoding="utf-8")
    assert docs.readme_with_table(readme) == readme, "run `invoke docs` to refresh the README's targets table"
    assert docs.SCHEMA_PATH.read_text(encoding="utf-8") == docs.schema_json(), "run `invoke docs`"
