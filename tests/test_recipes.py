"""One source of compile recipes: host builds that stand for a target take
the target's own flags, and the profile file is checked like the targets."""

from __future__ import annotations

from pathlib import Path

import pytest

from toolchain import enginebuild
from toolchain.compilers import compile_command, compile_flags
from toolchain.errors import ConfigError
from toolchain.targets import load_target


def test_benchmark_builds_use_the_shipping_recipe() -> None:
    target = load_target("win98-mingw")
    profiles = enginebuild.load_profiles()
    assert list(profiles["i686-pentium2-mmx"].flags) == compile_flags(target)
    assert "-DRL_MMX" in compile_flags(target)
    assert list(profiles["i686-pentium2"].flags) == [f for f in compile_flags(target) if f != "-DRL_MMX"]


def test_compile_command_is_the_flags_around_one_file() -> None:
    target = load_target("win95-p5")
    cmd = compile_command(target, "run.c", "run.o")
    assert cmd == ["i686-w64-mingw32-gcc", *compile_flags(target), "-c", "-o", "run.o", "run.c"]
    assert "-march=pentium" in cmd and "-funsafe-math-optimizations" in cmd


def test_watcom_flags_use_its_define_syntax() -> None:
    flags = compile_flags(load_target("win98-owc"))
    assert "-d_WIN32_WINNT=0x0400" in flags and "-dRL_MMX" in flags
    assert not any(f.startswith("-D") for f in flags)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("native:\n  cc: gcc\n  flagz: [-O2]\n", ":3:3: native.flagz: Extra inputs are not permitted"),
        ("native:\n  flags: [-O2]\n", ":2:3: native.cc: Field required"),
        ("native:\n  cc: gcc\n  target: amiga\n", "profile 'native': unknown target 'amiga'"),
        ("native:\n  cc: gcc\nnative:\n  cc: tcc\n", ":3:1:"),
    ],
)
def test_bad_profile_file_is_one_line_with_its_place(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "engine_builds.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        enginebuild.load_profiles(path)
    assert message in str(err.value), str(err.value)


def test_settings_layer_defaults_config_and_command_line() -> None:
    from toolchain import paths, settings

    s = settings.from_layers(None)
    assert (s.prompt, s.steps, s.target) == ("Once upon a time", 256, "win98")
    assert settings.anchored(s.out) == paths.REPO_ROOT / "dist"
    s = settings.from_layers({"steps": 64, "out": "/tmp/x"}, steps=None, prompt="Hi")
    assert (s.steps, s.prompt, settings.anchored(s.out)) == (64, "Hi", Path("/tmp/x"))
    assert settings.from_layers({"steps": 64}, steps=12).steps == 12
    with pytest.raises(ConfigError, match=r"^setting retrollama.steps 'many': "):
        settings.from_layers({"steps": "many"})
    with pytest.raises(ConfigError, match=r"^setting retrollama.colour 'red': Extra inputs"):
        settings.from_layers({"colour": "red"})
    with pytest.raises(ConfigError, match=r"^--steps -1: "):
        settings.from_layers(None, steps=-1)
