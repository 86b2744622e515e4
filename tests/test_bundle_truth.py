"""The bundle tells the truth: README.TXT's memory, time, runtime DLL and
floppy words come from the model actually bundled and the target; the build
says when an fp32 model is too big and what int8 would give; RUN.BAT takes
the build's sampling defaults; a bad prompt is refused before any work."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from cli_util import invoke
from rich.console import Console

from toolchain import build, render
from toolchain.llama2 import quant
from toolchain.llama2.checkpoint import Config, write_random_checkpoint
from toolchain.modelpick import ModelPair
from toolchain.models.fit import estimate
from toolchain.targets import load_target

MB = 1 << 20
# 1.3 M parameters: 5.4 MB in fp32 (four floppies), about 1.4 MB in int8.
SHAPE = Config(dim=128, hidden_dim=384, n_layers=6, n_heads=4, n_kv_heads=4, vocab_size=512, seq_len=256)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory, stories260k: tuple[Path, Path]) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("models")
    fp32 = d / "mid.bin"
    write_random_checkpoint(fp32, SHAPE, seed=3)
    int8 = d / "mid_q80.bin"
    quant.quantize_checkpoint(fp32, int8)
    return {"fp32": fp32, "int8": int8, "tok": stories260k[1]}


def _readme(target: str, model: Path, tok: Path, steps: int = 256) -> tuple[str, dict[str, object]]:
    t = load_target(target)
    facts = build._model_facts(t, ModelPair(model, tok), steps)
    return render.render_readme(t, prompt="Once upon a time", source_kit=False, **facts), facts


def test_memory_is_that_of_the_bundled_weights(models: dict[str, Path]) -> None:
    fp32_text, fp32 = _readme("win98-mingw", models["fp32"], models["tok"])
    int8_text, int8 = _readme("win98-mingw", models["int8"], models["tok"])
    assert fp32["quant"] == "fp32" and int8["quant"] == "int8"
    est8 = estimate(models["int8"], steps=256, tokenizer=models["tok"])
    assert int8["ram_mb"] == max(1, round(est8.ram_bytes_int8 / MB))
    assert int8["ram_mb"] < fp32["ram_mb"]  # not the fp32 figure any more
    assert f"Memory needed: about {int8['ram_mb']} MB for 256 tokens" in int8_text
    assert "Weights: int8" in int8_text and "Weights: fp32" in fp32_text
    assert "writes 256 tokens, which takes about" in int8_text


@pytest.mark.parametrize("target, cpu, words", [
    ("win98-mingw", "pentium2", "a Pentium II 350"),
    ("win95-p5", "pentium", "a Pentium 133"),
    ("win95-486", "i486", "a 486DX2-66"),
    ("dos-386", "i386", "a 486DX2-66 (a 386 is slower)"),
])
def test_speed_is_that_of_the_targets_cpu(models: dict[str, Path], target: str, cpu: str, words: str) -> None:
    from toolchain import cycles

    text, facts = _readme(target, models["fp32"], models["tok"])
    expected = cycles.estimate_tok_s(cpu, SHAPE, "fp32", steps=256)
    assert f"Expected speed on {words}: about {expected:.3g} tokens/second" in " ".join(text.split())
    assert f"which takes {build._story_time(256, expected)} on {words}." in " ".join(text.split())


def test_int8_speed_follows_the_kernel_the_exe_has(models: dict[str, Path]) -> None:
    """A Pentium Pro target has no MMX kernel: its int8 figure is the portable
    kernel's on the P6, slower than the Pentium II's MMX one."""
    _, p2 = _readme("win98-mingw", models["int8"], models["tok"])
    _, ppro = _readme("nt4-mingw", models["int8"], models["tok"])
    assert float(str(ppro["tok_s"])) < float(str(p2["tok_s"]))
    assert ppro["speed_cpu"] == p2["speed_cpu"] == "a Pentium II 350"


def test_story_time_words() -> None:
    assert build._story_time(256, 39.3) == "about 7 seconds"
    assert build._story_time(256, 1.03) == "about 4 minutes"
    assert build._story_time(256, 0.02) == "about 3.6 hours"


def test_windows_95_says_whether_msvcrt_must_be_installed(models: dict[str, Path]) -> None:
    mingw95, _ = _readme("win95-p5", models["int8"], models["tok"])
    watcom95, _ = _readme("win95-owc", models["int8"], models["tok"])
    mingw98, _ = _readme("win98-mingw", models["int8"], models["tok"])
    assert "BEFORE THE FIRST RUN: MSVCRT.DLL" in mingw95 and "does not include" in mingw95
    assert "needs no msvcrt.dll" in watcom95
    assert "MSVCRT" not in mingw98


def test_a_model_split_over_floppies_says_join_first(models: dict[str, Path], stories260k: tuple[Path, Path]) -> None:
    text, _ = _readme("win98-mingw", models["fp32"], models["tok"])
    size = models["fp32"].stat().st_size
    assert "type JOIN there before RUN" in text
    assert f"Joining needs about {2 * size:,} bytes" in text
    small, _ = _readme("win98-mingw", *stories260k)
    assert "JOIN" not in small


def test_fp32_over_a_few_floppies_or_the_ram_suggests_quantize(models: dict[str, Path]) -> None:
    t = load_target("win98-mingw")
    _, facts = _readme("win98-mingw", models["fp32"], models["tok"])
    hint = build._int8_advice(t, facts)
    assert hint is not None and "takes 4 floppies" in hint and f"invoke quantize {models['fp32']} --out mid_q80.bin" in hint, hint
    assert "int8 needs about 3 MB of RAM (fits) and 1 floppy" in hint, hint
    _, facts8 = _readme("win98-mingw", models["int8"], models["tok"])
    assert build._int8_advice(t, facts8) is None  # already int8
    t486 = load_target("win95-486")  # 16 MB: Windows' own share leaves nothing
    _, facts486 = _readme("win95-486", models["fp32"], models["tok"])
    hint486 = build._int8_advice(t486, facts486)
    assert hint486 is not None and "a typical win95-486 PC has 16 MB" in hint486 and "still does not fit" in hint486


def test_demo_model_is_named_when_nothing_else_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from toolchain import paths

    monkeypatch.setattr(paths, "SHARED_MODELS", tmp_path / "none")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("RETROLLAMA_MODELS", raising=False)
    monkeypatch.delenv("WATCOM", raising=False)
    console = Console(record=True, width=200)
    opts = build.BuildOptions(target="win95-owc", out=tmp_path / "dist", work=tmp_path / "work")
    build.build(opts, console)
    assert "using the project's demo model (models/demo)" in console.export_text()


def test_build_options_reach_run_bat_and_readme(models: dict[str, Path], tmp_path: Path) -> None:
    proc = invoke("build", "--target", "win95-owc", "--model", str(models["int8"]), "--tokenizer",
                  str(models["tok"]), "--temperature", "0.7", "--topp", "0.85", "--seed", "5",
                  "--prompt", "He said hi 100%", "--out", str(tmp_path),
                  env={"INVOKE_RETROLLAMA_WORK": str(tmp_path / "work"), "WATCOM": ""})
    assert proc.returncode == 0, proc.stderr
    with zipfile.ZipFile(tmp_path / "retrollama-win95-owc.zip") as zf:
        run_bat = zf.read("RUN.BAT").decode("ascii")
        readme = zf.read("README.TXT").decode("ascii")
    assert 'RUN.EXE MODEL.BIN -z TOKENIZ.BIN -t 0.7 -p 0.85 -s 5 -i "He said hi 100%%"\r\n' in run_bat
    assert "Weights: int8" in readme


@pytest.mark.parametrize("option, value, message", [
    ("--prompt", 'He said "hi" 100%', "--prompt 'He said \"hi\" 100%': contains '\"'"),
    ("--prompt", "Hi > RUN.EXE", "contains '>'"),
    ("--temperature", "hot", "--temperature 'hot': must be a number"),
    ("--seed", "4.5", "--seed '4.5': must be a whole number"),
    ("--topp", "2", "--topp 2: must be between 0 and 1"),
])
def test_bad_run_options_are_one_line_before_any_work(tmp_path: Path, option: str, value: str, message: str) -> None:
    proc = invoke("build", "--target", "win98-mingw", option, value, "--out", str(tmp_path),
                  env={"INVOKE_RETROLLAMA_WORK": str(tmp_path / "work")})
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and message in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr and "built" not in proc.stderr
    assert not (tmp_path / "work").exists()


def test_refused_characters_are_documented_in_help() -> None:
    proc = invoke("build", "--help")
    assert '" | < > & ^ are refused' in " ".join(proc.stdout.split())


@pytest.mark.parametrize("kind", ["fp32", "int8"])
def test_readme_memory_agrees_with_the_engines_own_count(models: dict[str, Path], native_engine: Path,
                                                         kind: str) -> None:
    """README.TXT's figure against what RUN.EXE -v says it allocated for the same file and steps."""
    import re
    import subprocess

    proc = subprocess.run([str(native_engine), str(models[kind]), "-z", str(models["tok"]), "-n", "256", "-t", "0",
                           "-v"], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    line = next(ln for ln in proc.stderr.splitlines() if ln.startswith("memory:"))
    engine_bytes = sum(int(n) for n in re.findall(r"(\d+) bytes", line))
    _, facts = _readme("win98-mingw", models[kind], models["tok"])
    estimated = facts["estimate"].needed_bytes  # type: ignore[attr-defined]
    assert abs(estimated - engine_bytes) <= 0.05 * engine_bytes, (kind, estimated, engine_bytes, line)
    assert facts["ram_mb"] == max(1, round(estimated / MB))


def test_dos_readme_says_what_memory_and_models_fit(models: dict[str, Path]) -> None:
    """A DOS bundle explains extended memory and lists which registry models
    fit 8 / 16 / 32 MB; a Windows bundle has neither."""
    text, facts = _readme("dos-386", models["fp32"], models["tok"])
    assert "At the C:\\> prompt" in text and "Open an MS-DOS prompt" not in text
    assert "MEMORY ON MS-DOS" in text and "HIMEM.SYS (XMS)" in text and "EMM386 (VCPI)" in text
    rows = {line.split()[0]: line for line in text.splitlines() if line.startswith("    stories")}
    assert "(8 MB PC)" in rows["stories260K"] and "int8   21 MB (32 MB PC)" in rows["stories15M"]
    assert "fp32   62 MB (over 32 MB: -b)" in rows["stories15M"]
    assert all(len(line) <= 80 for line in text.splitlines())
    windows, _ = _readme("win98-mingw", models["fp32"], models["tok"])
    assert "MEMORY ON MS-DOS" not in windows and "Open an MS-DOS prompt in this folder" in windows


def test_a_model_too_big_for_the_pc_says_it_is_streamed_and_how_fast(models: dict[str, Path]) -> None:
    """win95-486 (16 MB, less than Windows' own share) cannot hold even the small fp32 model: README.TXT says
    RUN.EXE reads it from disk for every token, how much and how fast (the target CPU's compute time plus
    the reads), from inspect's plan; win98 (64 MB) not."""
    text, facts = _readme("win95-486", models["fp32"], models["tok"])
    est = facts["estimate"]
    plan = est.streamed(16 * MB, float(str(facts["tok_s"])))  # type: ignore[attr-defined]
    assert plan is not None and plan.tok_per_s[1] < float(str(facts["tok_s"]))
    flat = " ".join(text.split())
    slow, fast = plan.tok_per_s
    assert (f"RUN.EXE reads the weights from disk for every token (as RUN -b {plan.budget_mb} does" in flat), flat
    assert f"{plan.bytes_per_token / MB:.1f} MB a token, about {slow:.2g} to {fast:.2g} tokens/second" in flat
    assert "IDE disk of 5-15 MB/s (an assumption about the disk, not a measurement)" in flat
    assert f"so the 256 tokens of RUN take {256 / fast / 3600:.1f} to {256 / slow / 3600:.1f} hours" in flat
    assert all(len(line) <= 78 for line in text.splitlines())
    roomy, _ = _readme("win98-mingw", models["int8"], models["tok"])
    assert "reads the weights from disk for every token" not in roomy


def test_readme_gives_what_the_int8_kv_cache_saves(models: dict[str, Path]) -> None:
    text, facts = _readme("win98-mingw", models["int8"], models["tok"], steps=200)
    saving = 2 * SHAPE.n_layers * 200 * (SHAPE.dim * 4 - SHAPE.dim - 4 * SHAPE.n_kv_heads)
    assert saving == facts["estimate"].kv_q8_saving_bytes  # type: ignore[attr-defined]
    assert f"({saving / MB:.1f} MB less for 200 tokens of this model)" in text
