"""The llama2.c checkpoint format (version 0, the one ``run.c`` reads).

A checkpoint is a 28-byte header of seven little-endian int32 -- dim,
hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len -- followed by
float32 tensors in a fixed order.  A negative vocab_size in the header means
the classifier is *not* the token embedding table: a separate (vocab, dim)
matrix follows all the other tensors.  Two legacy RoPE tables sit before it;
``run.c`` skips them, but they take space, so they are part of the layout.

Everything that needs to know the format (the NumPy reference, the inspect,
quantize and build stages, the tests) asks this module, so the order and the
size arithmetic live in exactly one place.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from toolchain.errors import ModelError

HEADER_FORMAT = "<7i"
HEADER_BYTES = struct.calcsize(HEADER_FORMAT)  # 28
FLOAT_BYTES = 4

# Names of the tensors that are not trained parameters: RoPE tables that the
# original exporter wrote and run.c skips.
ROPE_TABLES = ("freq_cis_real", "freq_cis_imag")

Layout = list[tuple[str, tuple[int, ...]]]


@dataclass(frozen=True)
class Config:
    """The model's shape, as the checkpoint header states it.

    ``vocab_size`` is always the positive vocabulary size; whether the
    classifier is shared with the embedding (a positive vocab_size in the
    file) is the separate flag ``shared_classifier``.  A Config may hold
    nonsense (it is built from untrusted bytes); ``problems()`` says what.
    """

    dim: int
    hidden_dim: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    vocab_size: int
    seq_len: int
    shared_classifier: bool = True

    @property
    def head_size(self) -> int:
        """Width of one attention head (dim / n_heads)."""
        return self.dim // self.n_heads if self.n_heads > 0 else 0

    @property
    def kv_dim(self) -> int:
        """Width of one position's key (or value) vector: n_kv_heads heads."""
        return self.n_kv_heads * self.head_size

    @property
    def kv_mul(self) -> int:
        """How many query heads share one key/value head (GQA)."""
        return self.n_heads // self.n_kv_heads if self.n_kv_heads > 0 else 0

    @property
    def n_params(self) -> int:
        """Trained parameters: every float in the file except the RoPE tables."""
        return sum(_count(shape) for name, shape in tensor_layout(self) if name not in ROPE_TABLES)

    def problems(self) -> list[str]:
        """Everything that makes this shape unusable, as short phrases (empty if fine).

        The checks are the ones the engine makes before it trusts a header,
        so that the toolchain refuses the same files the engine would.
        """
        out: list[str] = []
        fields = ("dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len")
        for name in fields:
            value = getattr(self, name)
            if value <= 0:
                out.append(f"{name} is {value}, must be positive")
        if out:
            return out
        if self.dim % self.n_heads:
            out.append(f"dim {self.dim} is not divisible by n_heads {self.n_heads}")
        elif self.head_size % 2:
            out.append(f"head size {self.head_size} (dim / n_heads) must be even for rotary embeddings")
        if self.n_kv_heads > self.n_heads:
            out.append(f"n_kv_heads {self.n_kv_heads} is more than n_heads {self.n_heads}")
        elif self.n_heads % self.n_kv_heads:
            out.append(f"n_heads {self.n_heads} is not divisible by n_kv_heads {self.n_kv_heads}")
        return out

    def header(self) -> bytes:
        """The 28 header bytes (vocab_size negated when the classifier is separate)."""
        vocab = self.vocab_size if self.shared_classifier else -self.vocab_size
        return struct.pack(
            HEADER_FORMAT,
            self.dim,
            self.hidden_dim,
            self.n_layers,
            self.n_heads,
            self.n_kv_heads,
            vocab,
            self.seq_len,
        )


def _count(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def tensor_layout(config: Config) -> Layout:
    """The tensors in file order with their shapes.

    Matrices are stored as (out, in), row-major, so ``W @ x`` is the matmul
    run.c performs.  Per-layer tensors carry the layer count first.
    """
    c = config
    L, d, hs = c.n_layers, c.dim, c.head_size
    q_dim = c.n_heads * hs
    layout: Layout = [
        ("token_embedding_table", (c.vocab_size, d)),
        ("rms_att_weight", (L, d)),
        ("wq", (L, q_dim, d)),
        ("wk", (L, c.kv_dim, d)),
        ("wv", (L, c.kv_dim, d)),
        ("wo", (L, d, q_dim)),
        ("rms_ffn_weight", (L, d)),
        ("w1", (L, c.hidden_dim, d)),
        ("w2", (L, d, c.hidden_dim)),
        ("w3", (L, c.hidden_dim, d)),
        ("rms_final_weight", (d,)),
        ("freq_cis_real", (c.seq_len, hs // 2)),
        ("freq_cis_imag", (c.seq_len, hs // 2)),
    ]
    if not c.shared_classifier:
        layout.append(("wcls", (c.vocab_size, d)))
    return layout


def fp32_file_bytes(config: Config) -> int:
    """Bytes of a well-formed fp32 (version 0) checkpoint of this shape: header plus every tensor."""
    return HEADER_BYTES + FLOAT_BYTES * sum(_count(shape) for _, shape in tensor_layout(config))


def read_config(path: str | os.PathLike[str]) -> Config:
    """The Config from a checkpoint header; ModelError if it is missing, short or nonsense."""
    p = Path(path)
    try:
        with p.open("rb") as f:
            raw = f.read(HEADER_BYTES)
    except OSError as exc:
        raise ModelError(f"{p}: cannot read checkpoint: {exc.strerror or exc}") from None
    if len(raw) < HEADER_BYTES:
        raise ModelError(
            f"{p}: too short for a llama2.c checkpoint ({len(raw)} bytes, the header alone is {HEADER_BYTES})"
        )
    dim, hidden, layers, heads, kv_heads, vocab, seq_len = struct.unpack(HEADER_FORMAT, raw)
    config = Config(dim, hidden, layers, heads, kv_heads, abs(vocab), seq_len, shared_classifier=vocab > 0)
    if vocab == 0:
        # abs() hides the sign; report the header value itself.
        problems = ["vocab_size is 0, must be nonzero"] + [q for q in config.problems() if "vocab" not in q]
    else:
        problems = config.problems()
    if problems:
        raise ModelError(f"{p}: bad checkpoint header: {'; '.join(problems)}")
    return config


def load_checkpoint(path: str | os.PathLike[str]) -> tuple[Config, dict[str, np.ndarray]]:
    """Config and float32 tensors (named as in ``tensor_layout``) of a checkpoint.

    The file size must match the layout exactly: a truncated download or a
    different format version is reported, not half-read.
    """
    p = Path(path)
    config = read_config(p)
    want = fp32_file_bytes(config)
    have = p.stat().st_size
    if have != want:
        raise ModelError(
            f"{p}: file is {have} bytes but a checkpoint with this header "
            f"({describe(config)}) must be {want} bytes"
        )
    flat = np.fromfile(p, dtype="<f4", offset=HEADER_BYTES).astype(np.float32, copy=False)
    weights: dict[str, np.ndarray] = {}
    at = 0
    for name, shape in tensor_layout(config):
        n = _count(shape)
        weights[name] = flat[at : at + n].reshape(shape)
        at += n
    return config, weights


def describe(config: Config) -> str:
    """One-line summary of a shape, for messages and ``-v``-style output."""
    c = config
    cls = "shared classifier" if c.shared_classifier else "separate classifier"
    return (
        f"dim {c.dim}, hidden {c.hidden_dim}, {c.n_layers} layers, {c.n_heads} heads, "
        f"{c.n_kv_heads} kv heads, vocab {c.vocab_size}, seq_len {c.seq_len}, {cls}"
    )


def write_checkpoint(
    path: str | os.PathLike[str], config: Config, weights: dict[str, np.ndarray]
) -> None:
    """Write a checkpoint; every tensor of the layout must be present with its exact shape."""
    problems = config.problems()
    if problems:
        raise ModelError(f"{path}: cannot write checkpoint: {'; '.join(problems)}")
    layout = tensor_layout(config)
    for name, shape in layout:
        if name not in weights:
            raise ModelError(f"{path}: cannot write checkpoint: tensor {name} is missing")
        if tuple(weights[name].shape) != shape:
            raise ModelError(
                f"{path}: cannot write checkpoint: tensor {name} has shape "
                f"{tuple(weights[name].shape)}, the header needs {shape}"
            )
    with Path(path).open("wb") as f:
        f.write(config.header())
        for name, _ in layout:
            f.write(np.ascontiguousarray(weights[name], dtype="<f4").tobytes())


def rope_tables(config: Config) -> tuple[np.ndarray, np.ndarray]:
    """The legacy (seq_len, head_size/2) cos and sin tables the exporter stored.

    run.c ignores them and recomputes RoPE, but writing the real values keeps
    our files indistinguishable from exported ones.
    """
    hs = config.head_size
    freqs = 1.0 / (10000.0 ** (np.arange(0, hs, 2, dtype=np.float64)[: hs // 2] / hs))
    angles = np.outer(np.arange(config.seq_len, dtype=np.float64), freqs)
    return np.cos(angles).astype(np.float32), np.sin(angles).astype(np.float32)


# Rows generated per call when writing random weights: bounds memory to a
# few MB per chunk even for vocab-32000 embeddings.
_CHUNK_FLOATS = 1 << 20


def write_random_checkpoint(path: str | os.PathLike[str], config: Config, seed: int = 0) -> None:
    """Write a deterministic random-weight checkpoint of the given shape.

    Used for tests (odd shapes no trained model has) and for the 15M-shaped
    benchmark model, so it streams float32 chunks straight to the file.  The
    scales keep activations and logits in a trained model's range: matmul
    weights ~ N(0, 1/fan_in) (unit-variance outputs), RMS-norm gains ~ 1,
    embedding/classifier rows ~ N(0, 2/sqrt(dim)) so logits have a spread of
    a few units (peaked enough that greedy and top-p differ, never uniform).
    """
    problems = config.problems()
    if problems:
        raise ModelError(f"{path}: cannot write checkpoint: {'; '.join(problems)}")
    rng = np.random.default_rng(seed)
    cos, sin = rope_tables(config)
    fixed = {"freq_cis_real": cos, "freq_cis_imag": sin}
    with Path(path).open("wb") as f:
        f.write(config.header())
        for name, shape in tensor_layout(config):
            if name in fixed:
                f.write(fixed[name].astype("<f4").tobytes())
                continue
            n = _count(shape)
            if name.startswith("rms_"):
                mean, std = 1.0, 0.1
            elif name in ("token_embedding_table", "wcls"):
                mean, std = 0.0, 2.0 / np.sqrt(config.dim)
            else:
                mean, std = 0.0, 1.0 / np.sqrt(shape[-1])
            done = 0
            while done < n:
                k = min(_CHUNK_FLOATS, n - done)
                chunk = rng.standard_normal(k, dtype=np.float32)
                chunk *= np.float32(std)
                if mean:
                    chunk += np.float32(mean)
                f.write(chunk.astype("<f4", copy=False).tobytes())
                done += k
