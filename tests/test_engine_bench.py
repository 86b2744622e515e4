"""The benchmark: its settings, the cycle model on known loops, one tiny real
callgrind run of the engine and of llama2.c's run.c, the report, and the
x87 kernel's exactness.  Speed itself comes from `invoke bench`, never from a
timed test."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from toolchain import bench, cycles, paths
from toolchain.errors import ConfigError, ModelError
from toolchain.llama2.checkpoint import Config, write_random_checkpoint

TINY = Config(64, 128, 2, 4, 4, 512, 32, shared_classifier=True)
# n not a multiple of 4, d not a multiple of 4: every tail of the kernels
ODD = Config(54, 102, 2, 3, 1, 512, 24, shared_classifier=True)


def test_settings_name_real_builds_cpus_and_the_three_cases() -> None:
    settings = bench.load_settings()
    model = cycles.load_model()
    assert settings["cpus"] == ["p6", "p5", "i486"] and all(k in model.cpus for k in settings["cpus"])
    names = [c["name"] for c in settings["cases"]]
    assert names == ["stories260K", "random15M", "random15M-q8"]
    for case in settings["cases"]:
        assert set(case["builds"]) <= set(settings["builds"]) and case["baseline"] in case["builds"]
        assert "engine" in case["builds"]
    targets = {c["name"]: (c.get("target_ratio"), c.get("target_tok_s")) for c in settings["cases"]}
    assert targets == {"stories260K": (0.45, None), "random15M": (0.55, None), "random15M-q8": (0.12, 15)}


def test_engine_is_built_with_exactly_the_shipped_flags(tmp_path: Path) -> None:
    settings = bench.load_settings()
    builds = bench.plan_builds(settings, tmp_path, upstream=paths.SHARED_DIR / "upstream" / "llama2.c")
    shipped = bench.target_compile_flags("win98-mingw")
    cmd = list(builds["engine"].command)
    assert cmd[1:1 + len(shipped)] == shipped and "-DRL_MMX" in shipped
    portable = list(builds["engine-c8"].command)
    assert portable[1:len(shipped)] == [f for f in shipped if f != "-DRL_MMX"]
    assert builds["run.c"].command[-2].endswith("run.c") and "-static" in builds["run.c"].command


def test_speed_estimate_per_target_cpu_and_quantization() -> None:
    c15 = Config(288, 768, 6, 6, 6, 32000, 256)
    p2, p5, i486 = (cycles.estimate_tok_s(cpu, c15) for cpu in ("pentium2", "pentium", "i486"))
    assert p2 > p5 > i486 > 0
    assert cycles.estimate_tok_s("p6", c15, clock_mhz=175) == pytest.approx(p2 / 2)
    assert cycles.estimate_tok_s("pentium2", c15, "int8") > 2 * p2
    with pytest.raises(ConfigError, match="no CPU 'z80'"):
        cycles.estimate_tok_s("z80", c15)


def test_missing_upstream_and_models_get_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"run\.c: missing.*--upstream DIR"):
        bench.plan_builds(bench.load_settings(), tmp_path, upstream=tmp_path / "nowhere")
    with pytest.raises(ModelError, match=r"stories260K\.bin, tok512\.bin, tokenizer\.bin.*--models DIR"):
        bench.check_models_dir(tmp_path)


# --------------------------------------------------------------------------
# the cycle model on two hand-assembled dot-product loops


def _block(code: bytes) -> list[cycles.Insn]:
    import capstone

    md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_32)
    addrs = [i.address for i in md.disasm(code, 0x1000)]
    insns = cycles.decode([(0x1000, code)], addrs)
    return [insns[a] for a in addrs]


def _loop_cost(code: bytes, cpu: str) -> float:
    model = cycles.load_model()
    block = _block(code)
    costs = [cycles._with_memory_form(cycles.classify(i, model), i, model.cpus[cpu], model) for i in block]
    return cycles._block_cost(block, costs, model.cpus[cpu])


# val += w[j] * x[j], one accumulator (llama2.c's matmul as GCC compiles it)
ONE_ACC = bytes.fromhex("d90486" "d80c87" "dec1" "40" "39c8" "75f3")
# the engine's dot4_x87: x held, fld w / fmul st,st(1) / faddp, four rows
FOUR_ACC = bytes.fromhex("d9048e" "d90488" "d8c9" "dec5" "d9048b" "d8c9" "dec4" "d9048a" "d8c9" "dec3"
                         "d80c8f" "dec1" "83c101" "75de")


def test_classes_of_the_kernels_instructions() -> None:
    model = cycles.load_model()
    got = [cycles.classify(i, model) for i in _block(FOUR_ACC)]
    assert got[:4] == ["fld_m", "fld_m", "fmul_r", "fadd_r"] and got[10:] == ["fmul_m", "fadd_r", "alu_r", "branch"]
    assert _block(FOUR_ACC)[-1].target == 0x1000


def test_one_accumulator_waits_on_fadd_latency_and_four_on_the_multiplier() -> None:
    # P6: a dependent fadd every 3 cycles; with four accumulators port 0 and
    # the multiplier take 2 cycles per multiply-add
    assert _loop_cost(ONE_ACC, "p6") == pytest.approx(3.0)
    assert _loop_cost(FOUR_ACC, "p6") / 4 == pytest.approx(2.0)
    # the 486 adds clock counts: fld m32 3 + fmul m32 11 + fadd 10 + inc/cmp 1+1 + branch 2
    assert _loop_cost(ONE_ACC, "i486") == pytest.approx(28.0)


# --------------------------------------------------------------------------
# one tiny run, engine and run.c, through the real callgrind


@pytest.fixture(scope="module")
def tiny_case(tmp_path_factory: pytest.TempPathFactory, models_dir: Path) -> bench.Case:
    path = tmp_path_factory.mktemp("bench") / "tiny.bin"
    write_random_checkpoint(path, TINY, seed=3)
    return bench.Case("tiny", path, models_dir / "tok512.bin", ("-t", "0", "-n", "12"), ("engine", "run.c"),
                      "run.c", 0.45, None, 1e6)


def test_tiny_bench_estimates_engine_and_run_c_on_each_cpu(tiny_case: bench.Case, tmp_path: Path) -> None:
    settings = bench.load_settings()
    builds = bench.plan_builds(settings, tmp_path)
    results = bench.run_bench({**settings, "cpus": ["p6", "i486"]}, [tiny_case], builds, out_dir=tmp_path)
    by = {(r.build, r.cpu): r for r in results}
    assert set(by) == {("engine", "p6"), ("run.c", "p6"), ("engine", "i486"), ("run.c", "i486")}
    for r in results:
        assert r.passes == 12  # calls to step() (engine) and forward() (run.c)
        # every instruction costs something; a 486 takes several cycles for most
        assert r.compute_cycles > 0.3 * r.ir_total and r.memory_cycles > 0
    assert by[("engine", "i486")].cycles_per_token > 2 * by[("engine", "p6")].cycles_per_token
    lines = bench.report(results, {**settings, "cpus": ["p6", "i486"]})
    text = "\n".join(lines)
    assert "tiny (-t 0 -n 12)" in text and "PII-350 cyc/tok" in text and "486DX2-66 cyc/tok" in text
    assert "target: engine <= 0.45 x run.c cycles on PII-350" in text


def test_report_gives_verdicts_and_the_cross_check(tmp_path: Path) -> None:
    case = bench.Case("random15M", tmp_path / "m", tmp_path / "t", ("-n", "16"), ("engine", "run.c"), "run.c",
                      0.55, None, 50e6)
    eng = bench.Result("engine", case, "p6", 16, 16 * 40_000_000, 16 * 30e6, 16 * 55e6, 350.0)
    ref = bench.Result("run.c", case, "p6", 16, 16 * 100_000_000, 16 * 45e6, 16 * 55e6, 350.0)
    lines = bench.report([eng, ref], {"cpus": ["p6"]})
    assert any("0.85 x -- NOT MET" in line and "cache misses alone are 0.55 x" in line for line in lines)
    assert any("<= 50.00 M instructions/token: 40.00 M -- met" in line for line in lines)
    assert any(line.startswith("  random15M: measured 1.03 tok/s") and "3.50 for gcc -O2 run.c" in line
               for line in lines)


# --------------------------------------------------------------------------
# the x87 kernel computes exactly what the C loop does


def _build(tmp: Path, name: str, extra: list[str]) -> Path:
    exe = tmp / name
    flags = bench.target_compile_flags("win98-mingw")
    cmd = ["i686-linux-gnu-gcc", *flags, *extra, "-o", str(exe), *map(str, paths.engine_sources()), "-lm"]
    subprocess.run(cmd, check=True, capture_output=True)
    return exe


def test_x87_kernel_gives_the_c_loops_logits_bit_for_bit(tmp_path: Path, models_dir: Path) -> None:
    asm = _build(tmp_path, "run-asm", [])
    plain = _build(tmp_path, "run-c", ["-DRL_C_DOT"])
    odd = tmp_path / "odd.bin"
    write_random_checkpoint(odd, ODD, seed=5)
    for ckpt in (models_dir / "stories260K.bin", odd):
        dumps = []
        for exe in (asm, plain):
            dump = tmp_path / f"{exe.name}.{ckpt.stem}.f32"
            subprocess.run([str(exe), str(ckpt), "-z", str(models_dir / "tok512.bin"), "-t", "0.9", "-s", "7",
                            "-n", "40", "-L", str(dump)], check=True, capture_output=True)
            dumps.append(dump.read_bytes())
        assert len(dumps[0]) > 0 and dumps[0] == dumps[1], ckpt.name


def test_big_memory_cases_run_only_when_asked() -> None:
    """The TinyLlama-shaped case writes 5.6 GB and takes minutes: `invoke bench --big` only."""
    settings = bench.load_settings()
    default = [c["name"] for c in bench.memory_cases(settings)]
    everything = [c["name"] for c in bench.memory_cases(settings, big=True)]
    assert "tinyllama-q8-b24" not in default and "tinyllama-q8-b24" in everything
    assert {"random42M-q8-kvq8", "random110M-q8-b24"} <= set(default)


def test_streamed_memory_case_reports_bytes_per_token_and_speed(native_engine: Path, models_dir: Path,
                                                                tmp_path: Path) -> None:
    from toolchain.models import fit

    ckpt = tmp_path / "wide.bin"
    config = Config(64, 128, 2, 4, 4, 32000, 32, shared_classifier=False)
    write_random_checkpoint(ckpt, config, seed=8)
    helper = bench._maxrss_helper(tmp_path)
    args = [str(ckpt), "-z", str(models_dir / "tokenizer.bin"), "-n", "3", "-b", "4"]
    r = bench.measure_memory(helper, native_engine, "wide-b4", "native", args, 8)
    assert r.streamed_bytes_per_token == fit.streamed_bytes_per_token(config, "fp32", 64)
    assert r.streamed_tok_s == fit.streamed_tok_s(fit.estimate(ckpt), r.streamed_bytes_per_token)
    assert 0 < r.max_rss_bytes <= 8 * (1 << 20)
    assert 0 < r.private_bytes < r.max_rss_bytes  # no shared C library pages in it
    lines = bench.memory_report([r])
    assert lines[1].startswith("native            wide-b4 ") and lines[1].endswith("ok")
    assert lines[3].startswith(f"streamed          wide-b4: {r.streamed_bytes_per_token:,} bytes read per token; ~")
    in_ram = bench.measure_memory(helper, native_engine, "wide", "native", args[:-2], 8)
    assert in_ram.streamed_bytes_per_token is None and len(bench.memory_report([in_ram])) == 3
