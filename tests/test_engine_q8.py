"""The engine on int8 (llama2.c "version 2") checkpoints against the NumPy int8 reference.

The reference (toolchain.llama2.quant.QTransformer) is runq.c's forward pass;
the engine must print the same greedy and sampled bytes, and its logits
(``-L``) must follow the reference on the engine's own token path.  Int8
logits cannot be held to float32 rounding like the fp32 ones: an activation
that lands within an ulp of a rounding boundary of its quantization is
rounded one way by one program and the other way by the other, and from
then on the KV cache carries the difference.  So the first position must
agree to rounding and every position within the effect of such flips.

Builds: the native one (portable kernel) and the 32-bit Pentium II one with
RL_MMX (the MMX kernels), both run natively.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from engine_util import run, stderr_lines
from llama2_util import RANDOM_MODELS, engine_command, greedy_inputs, read_logits, run_engine
from toolchain import enginebuild, paths
from toolchain.llama2 import quant
from toolchain.llama2.checkpoint import Config, load_checkpoint, write_random_checkpoint
from toolchain.llama2.reference import clamp_options, run_generate
from toolchain.llama2.tokenizer import Tokenizer

PROMPT = "Once upon a time"
LILY = b"Once upon a time, there was a little girl named Lily. She loved to play outside in the park."
# Per position, |engine - reference| / max(1, max|reference|): the first
# position differs by float rounding only (measured: below 1e-6), no position
# by more than the aftermath of rounding flips (measured: up to 2e-2 on the
# x87 build, where a flip at one position moves every later one through the
# KV cache).
ROUNDING = 1e-5
FLIP = 0.05

Model = tuple[Path, Path]  # (int8 checkpoint, tokenizer)


@pytest.fixture(scope="module")
def mmx_engine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The benchmark's 32-bit x87 build with the MMX kernels (runs natively)."""
    return enginebuild.build_engine("i686-pentium2", tmp_path_factory.mktemp("q8mmx"), name="run-mmx",
                                    extra_flags=["-DRL_MMX"])


@pytest.fixture(scope="module")
def q8_models(tmp_path_factory: pytest.TempPathFactory, models_dir: Path) -> dict[str, Model]:
    """stories260K and the shared random shapes, quantized with the default group size."""
    folder = tmp_path_factory.mktemp("q8_models")
    out: dict[str, Model] = {}
    src = models_dir / "stories260K.bin"
    quant.quantize_checkpoint(src, folder / "stories260K_q80.bin")
    out["stories260K"] = (folder / "stories260K_q80.bin", models_dir / "tok512.bin")
    for m in RANDOM_MODELS:
        fp32 = folder / f"{m.name}.bin"
        write_random_checkpoint(fp32, m.config, seed=m.seed)
        quant.quantize_checkpoint(fp32, folder / f"{m.name}_q80.bin")
        out[m.name] = (folder / f"{m.name}_q80.bin", models_dir / m.tokenizer)
    return out


def _engine(name: str, native_engine: Path, mmx_engine: Path) -> Path:
    return {"native": native_engine, "mmx": mmx_engine}[name]


def _compare_logits(got: np.ndarray, ckpt: Path, inputs: list[int]) -> None:
    want = quant.QTransformer.load(ckpt).logits_for(inputs)
    scale = np.maximum(1.0, np.abs(want).max(axis=1))
    err = np.abs(got.astype(np.float64) - want).max(axis=1) / scale
    assert float(err.max()) < FLIP, f"position {int(err.argmax())}: scaled error {err.max():.3g}"
    assert float(err[0]) < ROUNDING, f"first position: scaled error {err[0]:.3g}"


@pytest.mark.parametrize("build", ["native", "mmx"])
@pytest.mark.parametrize("name", ["stories260K", *(m.name for m in RANDOM_MODELS)])
def test_int8_greedy_output_and_logits(name: str, build: str, q8_models: dict[str, Model], native_engine: Path,
                                       mmx_engine: Path, tmp_path: Path) -> None:
    ckpt, tok_path = q8_models[name]
    exe = _engine(build, native_engine, mmx_engine)
    dump = tmp_path / "logits.bin"
    steps = 48
    out = run_engine(engine_command(exe, ckpt, tok_path, prompt=PROMPT, temperature=0.0, steps=steps, logits=dump))
    model = quant.QTransformer.load(ckpt)
    tok = Tokenizer.read(tok_path, model.config.vocab_size)
    gen = run_generate(model, tok, PROMPT, clamp_options(model.config, 0.0, 0.9, 1, steps))  # type: ignore[arg-type]
    assert gen.closest > 1e-3, f"{name}: the reference's greedy path has a near-tie ({gen.closest:.2g})"
    assert out == gen.stdout
    got = read_logits(dump, model.config.vocab_size)
    _compare_logits(got, ckpt, greedy_inputs(gen.prompt_tokens, got))
    if name == "stories260K":
        assert out.startswith(LILY)


# Seeds whose 80 sampled tokens agree: sampling over many steps amplifies any
# activation rounding flip (see the top), so these were checked, and the
# float margin of every decision is asserted below.
@pytest.mark.parametrize("seed", [42, 1998])
def test_int8_sampled_output(seed: int, q8_models: dict[str, Model], native_engine: Path, mmx_engine: Path) -> None:
    ckpt, tok_path = q8_models["stories260K"]
    model = quant.QTransformer.load(ckpt)
    tok = Tokenizer.read(tok_path, model.config.vocab_size)
    gen = run_generate(model, tok, PROMPT, clamp_options(model.config, 1.0, 0.9, seed, 80))  # type: ignore[arg-type]
    assert gen.closest > 2e-5, f"seed {seed}: a sampling decision is within rounding of flipping"
    for exe in (native_engine, mmx_engine):
        cmd = engine_command(exe, ckpt, tok_path, prompt=PROMPT, temperature=1.0, topp=0.9, seed=seed, steps=80)
        assert run_engine(cmd) == gen.stdout


def test_llama2c_misaligned_group_size_runs_as_runq(models_dir: Path, native_engine: Path, mmx_engine: Path,
                                                    tmp_path: Path) -> None:
    """llama2.c's own export of stories260K (group size 64, hidden 172): runq.c's reading, with a warning."""
    config, w = load_checkpoint(models_dir / "stories260K.bin")
    tensors = {}
    for name, count, _ in quant.matrix_shapes(config):
        parts = [quant.quantize_q80(m, 64) for m in w[name].reshape(count, -1)]
        tensors[name] = quant.QTensor(np.stack([p[0] for p in parts]), np.stack([p[1] for p in parts]))
    ckpt = tmp_path / "gs64.bin"
    quant.write_q8(ckpt, quant.Q8Checkpoint(config, 64, {n: w[n] for n, _ in quant.norm_shapes(config)}, tensors))
    tok_path = models_dir / "tok512.bin"
    model = quant.QTransformer.load(ckpt)
    options = clamp_options(config, 0.0, 0.9, 1, 40)
    gen = run_generate(model, Tokenizer.read(tok_path, 512), PROMPT, options)  # type: ignore[arg-type]
    for exe in (native_engine, mmx_engine):
        proc = run(exe, ckpt, "-z", tok_path, "-t", "0", "-n", "40", "-i", PROMPT, "-v")
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == gen.stdout
        assert any("does not divide hidden_dim 172" in line for line in stderr_lines(proc))


def test_verbose_reports_int8_memory_and_kernel(q8_models: dict[str, Model], native_engine: Path,
                                                mmx_engine: Path) -> None:
    ckpt, tok_path = q8_models["vocab32000"]
    payload = ckpt.stat().st_size - quant.HEADER_BYTES
    for exe, kernel in ((native_engine, "portable"), (mmx_engine, "mmx")):
        proc = run(exe, ckpt, "-z", tok_path, "-t", "0", "-n", "4", "-v")
        text = proc.stderr.decode()
        assert proc.returncode == 0, text
        assert f"int8: Q8_0 weights, group size 32, {kernel} kernel" in text
        assert f"memory: weights {payload} bytes" in text


def test_sampler_buffers_only_for_top_p(q8_models: dict[str, Model], native_engine: Path) -> None:
    """Greedy and plain sampling never sort: no 16 bytes a token of top-p buffers (500 KB for 32000),
    which Windows 9x would commit untouched."""
    ckpt, tok_path = q8_models["vocab32000"]
    sizes = {}
    for flags in (("-t", "0"), ("-t", "1", "-p", "1"), ("-t", "1", "-p", "0.9")):
        proc = run(native_engine, ckpt, "-z", tok_path, *flags, "-n", "4", "-s", "7", "-v")
        assert proc.returncode == 0, proc.stderr
        found = re.search(rb"sampler (\d+) bytes", proc.stderr)
        assert found is not None, proc.stderr
        sizes[flags] = int(found.group(1))
    assert sizes[("-t", "0")] == sizes[("-t", "1", "-p", "1")] == 0
    assert sizes[("-t", "1", "-p", "0.9")] == 2 * 32000 * 8


MAXRSS_C = paths.DATA_DIR / "maxrss.c"


@pytest.fixture(scope="module")
def maxrss(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fork-and-exec helper reporting a program's own peak RSS (see the C file)."""
    exe = tmp_path_factory.mktemp("maxrss") / "maxrss"
    subprocess.run(["gcc", "-O2", "-o", str(exe), str(MAXRSS_C)], check=True)
    return exe


def _max_rss_kib(helper: Path, cmd: list[str]) -> int:
    out = subprocess.run([str(helper), *cmd], capture_output=True, text=True, timeout=120, check=True).stdout
    kib, status = (int(v) for v in out.split())
    assert status == 0, cmd
    return kib


def test_int8_run_needs_a_quarter_of_the_memory(native_engine: Path, models_dir: Path, tmp_path: Path,
                                                maxrss: Path) -> None:
    """Peak RSS falls by about the fp32 weights' three quarters: in particular the
    embedding table is never expanded to fp32 (runq.c does that: +4 bytes per value)."""
    config = Config(96, 256, 2, 4, 4, 32000, 64, shared_classifier=True)
    fp32, q8 = tmp_path / "m.bin", tmp_path / "m_q80.bin"
    write_random_checkpoint(fp32, config, seed=4)
    quant.quantize_checkpoint(fp32, q8)
    tok = str(models_dir / "tokenizer.bin")
    rss = {p.name: _max_rss_kib(maxrss, [str(native_engine), str(p), "-z", tok, "-t", "0", "-n", "8"])
           for p in (fp32, q8)}
    fp32_weights = (fp32.stat().st_size - 28) / 1024
    q8_weights = (q8.stat().st_size - 256) / 1024
    saved = rss["m.bin"] - rss["m_q80.bin"]
    assert saved > 0.9 * (fp32_weights - q8_weights), (rss, fp32_weights, q8_weights)


BAD_CASES = {
    "truncated": (lambda b: b[:-3], "file is"),
    "version": (lambda b: b[:4] + (3).to_bytes(4, "little") + b[8:], "version 3"),
    "group-size": (lambda b: b[:37] + (48).to_bytes(4, "little") + b[41:], "group size 48 does not divide dim 64"),
    "zero-group": (lambda b: b[:37] + (0).to_bytes(4, "little") + b[41:], "group size 0"),
    "flag": (lambda b: b[:36] + b"\x05" + b[37:], "shared-classifier flag is 5"),
    "vocab": (lambda b: b[:28] + (-512).to_bytes(4, "little", signed=True) + b[32:], "vocab_size is -512"),
    "heads": (lambda b: b[:20] + (5).to_bytes(4, "little") + b[24:], "not divisible by n_heads 5"),
    "header": (lambda b: b[:100], "256-byte header"),
}


@pytest.mark.parametrize("case", list(BAD_CASES))
def test_bad_int8_files_get_one_line(case: str, q8_models: dict[str, Model], tmp_path: Path,
                                     native_engine: Path) -> None:
    ckpt, tok_path = q8_models["gqa"]
    damage, needle = BAD_CASES[case]
    bad = tmp_path / f"{case}.bin"
    bad.write_bytes(damage(ckpt.read_bytes()))
    proc = run(native_engine, bad, "-z", tok_path, "-n", "4")
    lines = stderr_lines(proc)
    assert proc.returncode == 2 and len(lines) == 1, (proc.returncode, lines)
    assert needle in lines[0] and str(bad) in lines[0], lines[0]
    assert proc.stdout == b""


def test_int8_path_is_clean_under_sanitizers(q8_models: dict[str, Model], tmp_path: Path) -> None:
    """ASan + UBSan on a good int8 run (GQA, separate classifier, 32000 vocabulary) and on damaged files."""
    exe = enginebuild.build_sanitized(tmp_path)
    for name in ("gqa", "separate_cls", "vocab32000"):
        ckpt, tok_path = q8_models[name]
        proc = run(exe, ckpt, "-z", tok_path, "-t", "0.8", "-s", "3", "-n", "12", "-i", PROMPT, timeout=120)
        assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    ckpt, tok_path = q8_models["gqa"]
    for case in ("truncated", "group-size", "header"):
        bad = tmp_path / f"{case}.bin"
        bad.write_bytes(BAD_CASES[case][0](ckpt.read_bytes()))
        proc = run(exe, bad, "-z", tok_path, "-n", "4", timeout=120)
        assert proc.returncode == 2 and len(stderr_lines(proc)) == 1, proc.stderr.decode(errors="replace")[-2000:]


@pytest.mark.wine
def test_int8_bundle_runs_under_wine(q8_models: dict[str, Model], tmp_path: Path) -> None:
    """RUN.EXE as a Pentium II target builds it (MinGW, RL_MMX) in the bundle layout: int8 MODEL.BIN under Wine."""
    if shutil.which("wine") is None:
        pytest.fail("wine is not installed (apt-get install wine wine32)")
    exe = enginebuild.build_engine("mingw", tmp_path / "build", name="RUN",
                                   extra_flags=["-march=pentium2", "-mfpmath=387", "-mno-sse", "-DRL_MMX"])
    for name, kernel in (("stories260K", "portable"), ("gqa", "mmx")):
        ckpt, tok_path = q8_models[name]
        bundle = tmp_path / name
        bundle.mkdir()
        shutil.copy(exe, bundle / "RUN.EXE")
        shutil.copy(ckpt, bundle / "MODEL.BIN")
        shutil.copy(tok_path, bundle / "TOKENIZ.BIN")
        want = quant.generate(ckpt, tok_path, PROMPT, temperature=0.0, steps=40)
        proc = run(bundle / "RUN.EXE", "-t", "0", "-n", "40", "-i", PROMPT, "-v", wrapper=["wine"], timeout=120,
                   cwd=bundle)
        assert proc.returncode == 0, proc.stderr[-500:]
        assert proc.stdout.replace(b"\r\n", b"\n") == want
        assert f"{kernel} kernel".encode() in proc.stderr
