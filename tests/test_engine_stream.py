"""Weights streamed from disk under a memory budget (-b) and the int8 KV cache (-k q8).

Streaming must not change a single byte: each budgeted run is compared with
the same run in memory (stdout and every logit, -L), for fp32 and int8
files, shared and separate classifiers, with the classifier kept in memory
or streamed too.  The peak resident set (toolchain/data/maxrss.c) must stay
within the budget plus 4 MB.  The int8 KV cache is not bit-exact by design:
it must shrink the run state by the cache's three quarters and still tell
the same story for a while.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from engine_util import LILY, PROMPT, run, stderr_lines

from toolchain import paths
from toolchain.llama2 import quant
from toolchain.llama2.checkpoint import Config, write_random_checkpoint
from toolchain.models import fit

MB = 1 << 20
# 256 wide, 4 layers over the 512-token vocabulary: 10-13 MB of fp32 weights,
# far more than the 2-3 MB budgets below, and quick to run; "wide*" have the
# 32000-token vocabulary, whose classifier does not fit a 4 MB budget.
SHAPES = {
    "shared": (Config(256, 512, 4, 8, 4, 512, 64, shared_classifier=True), "tok512.bin"),
    "separate": (Config(256, 576, 4, 4, 2, 512, 64, shared_classifier=False), "tok512.bin"),
    "wide-sep": (Config(64, 128, 2, 4, 4, 32000, 64, shared_classifier=False), "tokenizer.bin"),
    "wide-shared": (Config(64, 128, 2, 4, 2, 32000, 64, shared_classifier=True), "tokenizer.bin"),
}
# (model, budget in MB, whether the classifier stays in memory): every
# combination of fp32/int8, shared/separate, classifier resident/streamed
CASES = [("shared", "2", False), ("shared", "3", True), ("separate", "2", False), ("separate", "3", True),
         ("shared-q8", "2", True), ("separate-q8", "3", True), ("wide-sep", "4", False),
         ("wide-sep-q8", "4", False), ("wide-shared-q8", "4", False)]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory, models_dir: Path) -> dict[str, tuple[Path, Config, Path]]:
    """Every shape in fp32 and int8 (group size 64), with its tokenizer."""
    folder = tmp_path_factory.mktemp("stream")
    out: dict[str, tuple[Path, Config, Path]] = {}
    for name, (config, tok) in SHAPES.items():
        fp32 = folder / f"{name}.bin"
        write_random_checkpoint(fp32, config, seed=11)
        q8 = folder / f"{name}_q80.bin"
        quant.quantize_checkpoint(fp32, q8, group_size=64)
        out[name] = (fp32, config, models_dir / tok)
        out[f"{name}-q8"] = (q8, config, models_dir / tok)
    return out


@pytest.fixture(scope="module")
def maxrss(tmp_path_factory: pytest.TempPathFactory) -> Path:
    exe = tmp_path_factory.mktemp("maxrss") / "maxrss"
    subprocess.run(["gcc", "-O2", "-o", str(exe), str(paths.DATA_DIR / "maxrss.c")], check=True)
    return exe


def _peak_kib(helper: Path, cmd: list[str]) -> int:
    out = subprocess.run([str(helper), *cmd], capture_output=True, text=True, timeout=120, check=True).stdout
    kib, status = (int(v) for v in out.split())
    assert status == 0, cmd
    return kib


def per_token_bytes(config: Config, gs: int, cls_streamed: bool, emb_streamed: bool) -> int:
    """What one forward() must read: every layer's seven matrices, the classifier and embedding row if streamed."""
    d, h, kv = config.dim, config.hidden_dim, config.dim // config.n_heads * config.n_kv_heads

    def size(numel: int) -> int:
        return 4 * numel if gs == 0 else numel + 4 * (numel // gs)

    total = config.n_layers * sum(size(n) for n in (d * d, kv * d, kv * d, d * d, h * d, d * h, h * d))
    if cls_streamed:
        total += size(config.vocab_size * d)
    if emb_streamed:
        total += size(d)
    return total


@pytest.mark.parametrize(("name", "budget", "cls_resident"), CASES)
def test_budgeted_run_is_byte_identical(name: str, budget: str, cls_resident: bool,
                                        models: dict[str, tuple[Path, Config, Path]], native_engine: Path,
                                        tmp_path: Path) -> None:
    ckpt, config, tok = models[name]
    flags = ["-s", "7", "-n", "40", "-i", PROMPT]
    ram = run(native_engine, ckpt, "-z", tok, *flags, "-L", tmp_path / "ram.f32")
    disk = run(native_engine, ckpt, "-z", tok, *flags, "-L", tmp_path / "disk.f32", "-b", budget, "-v")
    assert ram.returncode == 0 and disk.returncode == 0, disk.stderr
    assert disk.stdout == ram.stdout
    assert (tmp_path / "disk.f32").read_bytes() == (tmp_path / "ram.f32").read_bytes()
    text = disk.stderr.decode()
    m = re.search(r"weights: streamed from disk \(budget (\d+) MB\): norms( and classifier)? in memory, "
                  r"a (\d+)-byte buffer, (\d+) bytes read per token", text)
    assert m, text
    resident = m.group(2) is not None
    assert resident == cls_resident, text
    gs = 0 if "q8" not in name else 64
    want = per_token_bytes(config, gs, not resident, not (resident and config.shared_classifier))
    assert int(m.group(4)) == want
    assert re.search(rf"streamed: \d+ bytes read from disk, {want} per token", text), text


@pytest.mark.parametrize(("name", "budget_mb"), [("separate", 3), ("wide-sep-q8", 4)])
def test_peak_memory_stays_within_the_budget(name: str, budget_mb: int,
                                             models: dict[str, tuple[Path, Config, Path]], native_engine: Path,
                                             maxrss: Path) -> None:
    ckpt, _, tok = models[name]
    cmd = [str(native_engine), str(ckpt), "-z", str(tok), "-n", "16", "-s", "1"]
    in_ram = _peak_kib(maxrss, cmd)
    streamed = _peak_kib(maxrss, [*cmd, "-b", str(budget_mb)])
    assert streamed * 1024 <= (budget_mb + 4) * MB, (streamed, in_ram)
    assert streamed < in_ram - ckpt.stat().st_size / 2048, (streamed, in_ram)


def test_budget_that_holds_everything_keeps_it_in_memory(models: dict[str, tuple[Path, Config, Path]],
                                                         native_engine: Path) -> None:
    ckpt, _, tok = models["shared-q8"]
    proc = run(native_engine, ckpt, "-z", tok, "-n", "4", "-b", "64", "-v")
    assert proc.returncode == 0 and "weights: in memory (within the budget)" in proc.stderr.decode()


def test_budget_too_small_is_one_line(models: dict[str, tuple[Path, Config, Path]], native_engine: Path) -> None:
    ckpt, _, tok = models["separate"]
    proc = run(native_engine, ckpt, "-z", tok, "-n", "4", "-b", "1")
    lines = stderr_lines(proc)
    assert proc.returncode == 3 and len(lines) == 1 and "-b 1 MB is too small for" in lines[0], lines


def test_streamed_damage_is_refused_with_the_offset(models: dict[str, tuple[Path, Config, Path]],
                                                    native_engine: Path, tmp_path: Path) -> None:
    """A NaN deep in a layer is found when its block is read, with the file offset, and the run stops."""
    ckpt, config, tok = models["shared"]
    data = bytearray(ckpt.read_bytes())
    offset = 28 + 4 * (config.vocab_size * config.dim + config.n_layers * config.dim + 5)  # inside wq
    data[offset:offset + 4] = np.float32("nan").tobytes()
    bad = tmp_path / "nan.bin"
    bad.write_bytes(bytes(data))
    proc = run(native_engine, bad, "-z", tok, "-n", "4", "-b", "3")
    lines = stderr_lines(proc)
    want = f"error: {bad}: the weights hold NaN or infinity (float at byte {offset}); the checkpoint is damaged"
    assert proc.returncode == 2 and lines == [want], lines


# --------------------------------------------------------------------------- -k q8


def test_int8_kv_cache_tells_the_same_story_for_a_while(native_engine: Path, stories260k: tuple[Path, Path],
                                                        tmp_path: Path) -> None:
    ckpt, tok = stories260k
    f32 = run(native_engine, ckpt, "-z", tok, "-t", "0", "-n", "100", "-i", PROMPT, "-L", tmp_path / "a.f32")
    assert f32.returncode == 0
    q8 = run(native_engine, ckpt, "-z", tok, "-t", "0", "-n", "100", "-i", PROMPT, "-k", "q8", "-L",
             tmp_path / "b.f32", "-v")
    assert q8.returncode == 0, q8.stderr
    assert q8.stdout.startswith(LILY)
    a = np.fromfile(tmp_path / "a.f32", dtype="<f4").reshape(-1, 512)
    b = np.fromfile(tmp_path / "b.f32", dtype="<f4").reshape(-1, 512)
    assert np.abs(a[:20] - b[:20]).max() < 0.05 * np.abs(a[:20]).max()
    assert not np.array_equal(a, b)  # it is a different computation
    assert "int8 KV cache for 100 positions" in q8.stderr.decode()
    streamed = run(native_engine, ckpt, "-z", tok, "-t", "0", "-n", "100", "-i", PROMPT, "-k", "q8", "-b", "2")
    assert streamed.stdout == q8.stdout  # the two features together: still the same bytes as in memory


def test_int8_kv_cache_quarters_the_cache(native_engine: Path, models_dir: Path, tmp_path: Path,
                                          maxrss: Path) -> None:
    """8 layers x 512 positions x 256 wide: 8 MB of float cache become 2 MB of int8 and 0.125 MB of scales."""
    ckpt = tmp_path / "long.bin"
    write_random_checkpoint(ckpt, Config(256, 128, 8, 8, 8, 512, 512, shared_classifier=True), seed=2)
    cmd = [str(native_engine), str(ckpt), "-z", str(models_dir / "tok512.bin"), "-n", "512", "-s", "3"]
    f32 = run(native_engine, *cmd[1:], "-v")
    q8 = run(native_engine, *cmd[1:], "-k", "q8", "-v")
    state = [int(re.search(rb"run state (\d+) bytes", p.stderr).group(1)) for p in (f32, q8)]
    cache = 2 * 8 * 512 * 256 * 4
    assert state[0] - state[1] == cache - (cache // 4 + 2 * 8 * 512 * 8 * 4 + 256 * 4)
    peak = [_peak_kib(maxrss, c) for c in (cmd, [*cmd, "-k", "q8"])]
    assert (peak[0] - peak[1]) * 1024 > 0.9 * (state[0] - state[1]), peak


def test_inspect_predicts_the_bytes_the_engine_streams(native_engine: Path, tmp_path: Path, models_dir: Path) -> None:
    """invoke inspect's streamed estimate (bytes per token) equals the engine's -b -v figure, fp32 and int8."""
    config = Config(128, 384, 3, 4, 2, 32000, 64, shared_classifier=False)
    fp32, q8 = tmp_path / "m.bin", tmp_path / "m_q80.bin"
    write_random_checkpoint(fp32, config, seed=1)
    quant.quantize_checkpoint(fp32, q8, group_size=64)
    for path, name in ((fp32, "fp32"), (q8, "int8")):
        proc = run(native_engine, path, "-z", models_dir / "tokenizer.bin", "-n", "2", "-b", "5", "-v")
        m = re.search(rb"streamed: \d+ bytes read from disk, (\d+) per token", proc.stderr)
        assert m, proc.stderr
        assert fit.streamed_bytes_per_token(config, name, 64) == int(m.group(1))
    est = fit.estimate(q8, steps=2)
    lines = fit.report(est, 28 * MB)
    assert any(line.startswith("streamed    RUN -b 4 reads the weights from disk") for line in lines), lines
    assert all(len(line) <= 80 for line in lines), lines
    # the 4 MB budget left by 28 MB (24 for Windows) streams the classifier too, as the engine did above
    plan = fit.plan_streamed(est, 28 * MB)
    assert plan is not None and plan.classifier_streamed and plan.budget_mb == 4
    assert plan.bytes_per_token == fit.streamed_bytes_per_token(config, "int8", 64)
