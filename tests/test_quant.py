"""The int8 (version 2) format, the quantizer and the NumPy int8 reference.

The quantizer's bytes are checked against an independent re-derivation of
llama2.c's export.py --version 2 written here with plain Python floats and
struct (no NumPy, no shared code): same header, same tensor order, same
float32 scale and division, round half to even.
"""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path

import numpy as np
import pytest
from invoke import Context, Exit

from toolchain.cli.quant import quantize as quantize_task
from toolchain.errors import ModelError
from toolchain.llama2 import quant, reference
from toolchain.llama2.checkpoint import Config, load_checkpoint, write_random_checkpoint
from toolchain.llama2.tokenizer import Tokenizer

LILY = b"Once upon a time, there was a little girl named Lily. She loved to play outside in the park."
GQA = Config(64, 128, 2, 4, 2, 512, 32, shared_classifier=True)
SEPARATE = Config(32, 96, 2, 4, 4, 512, 16, shared_classifier=False)


def _f32(v: float) -> float:
    return struct.unpack("<f", struct.pack("<f", v))[0]


def _rederive(src: Path, group_size: int) -> bytes:
    """export.py version2_export from a v0 file, element by element in Python floats.

    A float32 division done in float64 and rounded once to float32 is the
    correctly rounded float32 quotient (double has more than 2*24+2 bits),
    which is what torch computes.
    """
    raw = src.read_bytes()
    dim, hidden, layers, heads, kv_heads, vocab, seq_len = struct.unpack_from("<7i", raw)
    shared = vocab > 0
    vocab = abs(vocab)
    floats = struct.unpack_from(f"<{(len(raw) - 28) // 4}f", raw, 28)
    kv_dim = dim * kv_heads // heads
    sizes = [("emb", vocab * dim), ("rms_att", layers * dim), ("wq", layers * dim * dim),
             ("wk", layers * kv_dim * dim), ("wv", layers * kv_dim * dim), ("wo", layers * dim * dim),
             ("rms_ffn", layers * dim), ("w1", layers * hidden * dim), ("w2", layers * dim * hidden),
             ("w3", layers * hidden * dim), ("rms_final", dim), ("rope", seq_len * (dim // heads)),
             ("wcls", 0 if shared else vocab * dim)]
    t: dict[str, tuple[float, ...]] = {}
    at = 0
    for name, n in sizes:
        t[name] = floats[at : at + n]
        at += n
    assert at == len(floats)

    def per_layer(name: str) -> list[tuple[float, ...]]:
        each = len(t[name]) // layers
        return [t[name][i * each : (i + 1) * each] for i in range(layers)]

    out = bytearray(struct.pack("<I", 0x616B3432) + struct.pack("<i", 2))
    out += struct.pack("<7i", dim, hidden, layers, heads, kv_heads, vocab, seq_len)
    out += struct.pack("<B", int(shared)) + struct.pack("<i", group_size)
    out += b"\0" * (256 - len(out))
    for name in ("rms_att", "rms_ffn", "rms_final"):
        out += struct.pack(f"<{len(t[name])}f", *t[name])
    tensors = [t["emb"]]
    for name in ("wq", "wk", "wv", "wo", "w1", "w2", "w3"):
        tensors += per_layer(name)
    if not shared:
        tensors.append(t["wcls"])
    for w in tensors:
        qs, scales = [], []
        for g in range(0, len(w), group_size):
            group = w[g : g + group_size]
            scale = _f32(max(abs(v) for v in group) / _f32(127.0))
            scales.append(scale)
            qs += [round(_f32(v / scale)) for v in group]  # Python's round is half to even
        out += struct.pack(f"<{len(qs)}b", *qs) + struct.pack(f"<{len(scales)}f", *scales)
    return bytes(out)


@pytest.mark.parametrize("config", [GQA, SEPARATE], ids=["gqa-shared", "separate-classifier"])
def test_quantizer_matches_an_independent_rederivation(config: Config, tmp_path: Path) -> None:
    src, dst = tmp_path / "m.bin", tmp_path / "m_q80.bin"
    write_random_checkpoint(src, config, seed=5)
    report = quant.quantize_checkpoint(src, dst)
    gs = {GQA: 64, SEPARATE: 32}[config]
    assert report.group_size == quant.default_group_size(config) == quant.llama2c_group_size(config) == gs
    data = dst.read_bytes()
    assert data == _rederive(src, gs)
    assert len(data) == quant.int8_file_bytes(config, gs)
    assert data[:4] == b"24ka"  # "ak42" as a little-endian uint32
    assert 0 < report.max_error < 0.01


def test_group_size_rules() -> None:
    """llama2.c's rule (only dim) and ours (dim and hidden_dim) agree exactly where llama2.c's works."""
    m15 = Config(288, 768, 6, 6, 6, 32000, 256)
    m42 = Config(512, 1376, 8, 8, 8, 32000, 1024)
    m110 = Config(768, 2048, 12, 12, 12, 32000, 1024)
    m260k = Config(64, 172, 5, 8, 4, 512, 512)
    assert (quant.llama2c_group_size(m15), quant.default_group_size(m15)) == (32, 32)
    assert (quant.llama2c_group_size(m110), quant.default_group_size(m110)) == (64, 64)
    assert (quant.llama2c_group_size(m42), quant.default_group_size(m42)) == (64, 32)
    assert (quant.llama2c_group_size(m260k), quant.default_group_size(m260k)) == (64, 4)
    assert quant.group_size_problem(m42, 64) == "group size 64 does not divide hidden_dim 1376"
    assert quant.group_size_problem(m15, 0) is not None and quant.group_size_problem(m15, 16) is None


def test_load_write_round_trip(tmp_path: Path) -> None:
    src, dst, again = tmp_path / "m.bin", tmp_path / "q.bin", tmp_path / "q2.bin"
    write_random_checkpoint(src, SEPARATE, seed=2)
    quant.quantize_checkpoint(src, dst, group_size=16)
    ckpt = quant.load_q8(dst)
    assert ckpt.config == SEPARATE and ckpt.group_size == 16 and not ckpt.warnings
    quant.write_q8(again, ckpt)
    assert again.read_bytes() == dst.read_bytes()
    # dequantized weights are within half a step of the originals
    _, w = load_checkpoint(src)
    t = ckpt.tensors["w2"]
    deq = t.q.astype(np.float32) * np.repeat(t.s, 16, axis=1)
    flat = w["w2"].reshape(SEPARATE.n_layers, -1)
    assert np.all(np.abs(deq - flat) <= np.repeat(t.s, 16, axis=1) * 0.5 + 1e-7)
    assert np.array_equal(ckpt.norms["rms_final_weight"], w["rms_final_weight"])


def _bad(tmp_path: Path, good: bytes, name: str, data: bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


def test_reader_rejects_damaged_files(tmp_path: Path) -> None:
    src, q = tmp_path / "m.bin", tmp_path / "q.bin"
    write_random_checkpoint(src, GQA, seed=1)
    quant.quantize_checkpoint(src, q)
    good = q.read_bytes()

    def patched(offset: int, fmt: str, value: int) -> bytes:
        b = bytearray(good)
        struct.pack_into(fmt, b, offset, value)
        return bytes(b)

    cases = {
        "short.bin": (good[:20], "too short"),
        "truncated.bin": (good[:-1], "must be"),
        "longer.bin": (good + b"\0", "must be"),
        "magic.bin": (patched(0, "<I", 0x12345678), "not an int8 checkpoint"),
        "version.bin": (patched(4, "<i", 1), "version 1"),
        "dim.bin": (patched(8, "<i", -64), "dim is -64"),
        "heads.bin": (patched(20, "<i", 3), "not divisible by n_heads"),
        "flag.bin": (patched(36, "<B", 7), "shared-classifier flag is 7"),
        "gs.bin": (patched(37, "<i", 0), "group size 0"),
        "gs48.bin": (patched(37, "<i", 48), "group size 48 does not divide dim 64"),
    }
    for name, (data, needle) in cases.items():
        path = _bad(tmp_path, good, name, data)
        with pytest.raises(ModelError) as err:
            quant.load_q8(path)
        msg = str(err.value)
        assert needle in msg and str(path) in msg and "\n" not in msg, (name, msg)


def test_llama2c_files_with_misaligned_groups_run_as_runq(tmp_path: Path, stories260k: tuple[Path, Path]) -> None:
    """stories260K with llama2.c's group size 64 (hidden 172): accepted, flagged, computed as runq.c does."""
    config, w = load_checkpoint(stories260k[0])
    tensors = {}
    for name, count, _ in quant.matrix_shapes(config):
        parts = [quant.quantize_q80(m, 64) for m in w[name].reshape(count, -1)]
        tensors[name] = quant.QTensor(np.stack([p[0] for p in parts]), np.stack([p[1] for p in parts]))
    norms = {name: w[name] for name, _ in quant.norm_shapes(config)}
    path = tmp_path / "llama2c_gs64.bin"
    quant.write_q8(path, quant.Q8Checkpoint(config, 64, norms, tensors))
    ckpt = quant.load_q8(path)
    assert ckpt.group_size == 64 and "does not divide hidden_dim 172" in ckpt.warnings[0]
    # runq.c's w2 matmul reads only the first 128 of 172 inputs
    rng = np.random.default_rng(0)
    hb = rng.standard_normal(172).astype(np.float32)
    hb2 = hb.copy()
    hb2[128:] = 99.0
    outs = [quant.q8_matmul(*quant.quantize_activation(h, 64), ckpt.tensors["w2"], 0, 172, 64, 64) for h in (hb, hb2)]
    assert np.array_equal(outs[0], outs[1])
    logits = quant.QTransformer(ckpt).forward(1, 0)
    assert logits.shape == (512,) and np.isfinite(logits).all()


@pytest.fixture(scope="module")
def q260k(tmp_path_factory: pytest.TempPathFactory, stories260k: tuple[Path, Path]) -> Path:
    out = tmp_path_factory.mktemp("q260k") / "stories260K_q80.bin"
    quant.quantize_checkpoint(stories260k[0], out)
    return out


def test_int8_reference_generates_the_story(q260k: Path, stories260k: tuple[Path, Path]) -> None:
    text = quant.generate(q260k, stories260k[1], "Once upon a time",
                              temperature=0.0, steps=60)
    assert text.startswith(LILY)


def test_int8_logits_track_fp32(q260k: Path, stories260k: tuple[Path, Path]) -> None:
    """Quantization noise, not a different model: int8 logits stay close to fp32 ones."""
    tok = Tokenizer.read(stories260k[1], 512)
    tokens = tok.encode(b"Once upon a time, there was a little dog", bos=True, eos=False)
    fp = reference.Transformer.load(stories260k[0]).logits_for(tokens)
    q8 = quant.QTransformer.load(q260k).logits_for(tokens)
    spread = float(fp.std())
    assert float(np.abs(fp - q8).max()) < 0.25 * spread
    assert float(np.abs(fp - q8).max()) > 0  # really a different (quantized) computation
    agree = np.mean(fp.argmax(axis=1) == q8.argmax(axis=1))
    assert agree >= 0.9


def test_embedding_row_is_dequantized_alone(q260k: Path) -> None:
    ckpt = quant.load_q8(q260k)
    t = ckpt.tensors["token_embedding_table"]
    row = quant.dequantize_row(t, 0, 300, 64, ckpt.group_size)
    full = t.q[0].astype(np.float32) * np.repeat(t.s[0], ckpt.group_size)
    assert np.array_equal(row, full[300 * 64 : 301 * 64])


# --------------------------------------------------------------------------
# the invoke task


def _cli_error(model: Path | str, out: Path | str, group_size: str | None = None) -> str:
    with pytest.raises(Exit) as err:
        quantize_task(Context(), str(model), str(out), group_size)
    msg = str(err.value.message)
    assert msg.startswith("error: ") and "\n" not in msg
    return msg


def test_cli_quantizes_and_refuses_bad_requests(tmp_path: Path, stories260k: tuple[Path, Path],
                                                capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "m.bin"
    write_random_checkpoint(src, GQA, seed=3)
    before = hashlib.sha256(src.read_bytes()).hexdigest()
    out = tmp_path / "q.bin"
    quantize_task(Context(), str(src), str(out), "16")
    assert "group size 16" in capsys.readouterr().out
    assert quant.load_q8(out).group_size == 16

    assert "does not divide dim 64 and hidden_dim 128" in _cli_error(src, tmp_path / "x.bin", "256")
    odd_hidden = tmp_path / "odd.bin"
    write_random_checkpoint(odd_hidden, Config(64, 96, 1, 4, 4, 512, 16), seed=1)
    assert "group size 64 does not divide hidden_dim 96" in _cli_error(odd_hidden, tmp_path / "x.bin", "64")
    assert "does not divide dim 64" in _cli_error(src, tmp_path / "x.bin", "48")
    assert "--group-size 'big': must be a whole number" in _cli_error(src, tmp_path / "x.bin", "big")
    assert "must be positive" in _cli_error(src, tmp_path / "x.bin", "-8")
    assert "output is the input" in _cli_error(src, src)
    assert "output is the input" in _cli_error(src, tmp_path / "sub" / ".." / "m.bin")
    assert "not a regular file" in _cli_error(src, tmp_path)
    assert "does not exist" in _cli_error(src, tmp_path / "nowhere" / "q.bin")
    assert "already an int8" in _cli_error(out, tmp_path / "again.bin")
    assert "missing.bin: no such model file" in _cli_error(tmp_path / "missing.bin", tmp_path / "x.bin")
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x01" * 100)
    assert str(junk) in _cli_error(junk, tmp_path / "x.bin")
    assert hashlib.sha256(src.read_bytes()).hexdigest() == before
    assert not list(tmp_path.glob("*.part")) and not (tmp_path / "x.bin").exists()
