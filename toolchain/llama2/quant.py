"""llama2.c's int8 checkpoint (the "version 2" Q8_0 export) and runq.c's int8 forward pass.

File format, all little-endian:

* a 256-byte header: uint32 magic 0x616b3432 ("ak42"), int32 version 2, the
  seven int32 of the Config (vocab_size always positive), one uint8 flag
  "classifier shared with the embedding", int32 group size, zero padding;
* the RMS-norm gains in float32: rms_att (layers, dim), rms_ffn (layers, dim),
  rms_final (dim);
* every matrix quantized to Q8_0: for the embedding table, then each layer's
  wq, wk, wv, wo, w1, w2, w3 (all layers of wq, then all of wk, ...), then
  the separate classifier if there is one -- the int8 values of that one
  tensor, immediately followed by its float32 scales, one per group of
  ``group_size`` consecutive values (scale = max|w| / 127, w ~ q * scale).

The quantizer reproduces llama2.c's exporter (``export.py --version 2``) bit
for bit: float32 division by the scale, round half to even (torch.round),
tensors in the same order.  Only the default group size differs where the
exporter is wrong: it halves 64 until it divides ``dim`` but never checks
``hidden_dim``, so stories42M (hidden 1376) and stories260K (hidden 172) get a
group size that splits the rows of w2 -- runq.c then silently drops the last
hidden_dim % group_size inputs of w2 and reads misaligned scales (upstream
pull requests #532/#533).  We halve until the group size divides both, which
gives the exporter's own choice for every model where that choice works
(stories15M: 32, stories110M and Llama 2 7B: 64).

The reference forward pass (``QTransformer``) follows runq.c operation by
operation: activations quantized per group with C's round() (half away from
zero), int32 sums per group, ``val += ((float)ival * w_scale) * x_scale``
summed in float32 group by group, the embedding row dequantized on lookup.
It accepts llama2.c files whose group size does not divide hidden_dim and
computes on them exactly what runq.c computes, flaws included, so that the
engine can be held to runq.c's tokens on any file runq.c reads.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from toolchain.errors import ModelError
from toolchain.llama2.checkpoint import Config, describe, load_checkpoint, read_config
from toolchain.llama2 import reference
from toolchain.llama2.tokenizer import Tokenizer

F32 = np.float32
MAGIC = 0x616B3432  # "ak42" read as a little-endian uint32
VERSION = 2
HEADER_BYTES = 256
# magic, version, 7 config ints, shared-classifier byte, group size: 41 bytes, unaligned.
HEADER_FORMAT = "<Ii7iBi"
MAX_GROUP_SIZE = 64  # the exporter's default, and where its halving starts
Q_MAX = F32(127.0)

# The RMS-norm gains, kept in float32, in file order: (name, per layer?).
NORMS: tuple[tuple[str, bool], ...] = (
    ("rms_att_weight", True),
    ("rms_ffn_weight", True),
    ("rms_final_weight", False),
)
# The quantized matrices after the embedding, each stored for every layer in turn.
LAYER_MATRICES = ("wq", "wk", "wv", "wo", "w1", "w2", "w3")


@dataclass(frozen=True)
class QTensor:
    """One tensor (or one per layer) in Q8_0: int8 values and their float32 group scales.

    ``q`` is (count, numel) int8 and ``s`` (count, numel // group_size)
    float32, where count is the number of layers (1 for the embedding and the
    classifier); row ``l`` is what the file holds for layer ``l``.
    """

    q: np.ndarray
    s: np.ndarray


@dataclass
class Q8Checkpoint:
    """Everything in a version-2 file: shape, group size, fp32 norms and Q8_0 matrices."""

    config: Config
    group_size: int
    norms: dict[str, np.ndarray]
    tensors: dict[str, QTensor]
    warnings: list[str] = field(default_factory=list)


def matrix_shapes(config: Config) -> list[tuple[str, int, tuple[int, int]]]:
    """The quantized matrices in file order: (name, how many (layers or 1), (rows, cols)).

    Rows are outputs and columns inputs, as in checkpoint.tensor_layout, so
    a matmul with ``n`` inputs and ``d`` outputs reads a (d, n) matrix.
    """
    c = config
    L, d, hidden = c.n_layers, c.dim, c.hidden_dim
    q_dim, kv = c.n_heads * c.head_size, c.kv_dim
    shapes = {
        "wq": (q_dim, d), "wk": (kv, d), "wv": (kv, d), "wo": (d, q_dim),
        "w1": (hidden, d), "w2": (d, hidden), "w3": (hidden, d),
    }
    out = [("token_embedding_table", 1, (c.vocab_size, d))]
    out += [(name, L, shapes[name]) for name in LAYER_MATRICES]
    if not c.shared_classifier:
        out.append(("wcls", 1, (c.vocab_size, d)))
    return out


def norm_shapes(config: Config) -> list[tuple[str, tuple[int, ...]]]:
    """The float32 norm tensors in file order with their shapes."""
    return [(name, (config.n_layers, config.dim) if per_layer else (config.dim,)) for name, per_layer in NORMS]


def int8_file_bytes(config: Config, group_size: int) -> int:
    """Bytes of a well-formed version-2 file: header, norms, int8 values and scales.

    Scales are counted per tensor as numel // group_size, which is what
    runq.c steps over (and exact whenever group_size divides dim).
    """
    size = HEADER_BYTES
    size += 4 * sum(int(np.prod(shape)) for _, shape in norm_shapes(config))
    for _, count, (rows, cols) in matrix_shapes(config):
        numel = rows * cols
        size += count * (numel + 4 * (numel // group_size))
    return size


def llama2c_group_size(config: Config, start: int = MAX_GROUP_SIZE) -> int:
    """The group size llama2.c's export.py picks: halve ``start`` until it divides dim."""
    g = start
    while g > 1 and config.dim % g:
        g //= 2
    return g


def default_group_size(config: Config, start: int = MAX_GROUP_SIZE) -> int:
    """Our default: halve ``start`` until it divides both dim and hidden_dim (see module doc)."""
    g = start
    while g > 1 and (config.dim % g or config.hidden_dim % g):
        g //= 2
    return g


def group_size_problem(config: Config, group_size: int) -> str | None:
    """Why ``group_size`` cannot be used to quantize this shape, or None."""
    if group_size <= 0:
        return f"group size {group_size} must be positive"
    bad = [f"{name} {value}" for name, value in (("dim", config.dim), ("hidden_dim", config.hidden_dim))
           if value % group_size]
    if bad:
        return f"group size {group_size} does not divide {' and '.join(bad)}"
    return None


# --------------------------------------------------------------------------
# quantizing weights (the exporter) and activations (runq.c)


def quantize_q80(w: np.ndarray, group_size: int) -> tuple[np.ndarray, np.ndarray, float]:
    """export.py's quantize_q80 on a float32 tensor: (int8 values, float32 scales, max error).

    scale = max|w| / 127 per group (float32), q = round_half_even(w / scale).
    A group of zeros has scale 0; its values are 0 (torch would divide 0 by 0
    and convert NaN to int8, which is undefined; no trained model has one).
    """
    flat = np.ascontiguousarray(w, dtype=F32).reshape(-1, group_size)
    scale = np.abs(flat).max(axis=1) / Q_MAX
    with np.errstate(divide="ignore", invalid="ignore"):
        quant = flat / scale[:, None]
    quant = np.where(scale[:, None] > 0, quant, F32(0.0))
    q = np.round(quant).astype(np.int8)  # np.round is half-to-even, like torch.round
    err = np.abs(q.astype(F32) * scale[:, None] - flat)
    return q.reshape(-1), scale.astype(F32), float(err.max()) if err.size else 0.0


def round_half_away(v: np.ndarray) -> np.ndarray:
    """C's round(): halves away from zero (float64, exact for float32 inputs)."""
    a = np.floor(np.abs(v.astype(np.float64)) + 0.5)
    return np.where(v < 0, -a, a)


def quantize_activation(x: np.ndarray, group_size: int) -> tuple[np.ndarray, np.ndarray]:
    """runq.c's quantize(): the first n // group_size groups of x as (int values, float32 scales).

    Differs from the exporter on purpose, as runq.c does: C's round() sends
    halves away from zero.  A group of zeros gives scale 0 and values 0
    (runq.c computes round(0/0), whose int8 conversion gives 0 on x86).
    """
    ng = x.shape[0] // group_size
    groups = x[: ng * group_size].astype(F32).reshape(ng, group_size)
    scale = np.abs(groups).max(axis=1) / Q_MAX
    with np.errstate(divide="ignore", invalid="ignore"):
        quant = groups / scale[:, None]
    q = np.where(scale[:, None] > 0, round_half_away(quant), 0.0)
    return q.astype(np.int32).reshape(-1), scale.astype(F32)


def dequantize_row(t: QTensor, index: int, row: int, width: int, group_size: int) -> np.ndarray:
    """Row ``row`` (``width`` values) of tensor ``index`` of ``t`` in float32: q * its group's scale.

    Only that row is touched: this is how the embedding table is looked up,
    never dequantized whole.
    """
    start = row * width
    pos = np.arange(start, start + width)
    return t.q[index, start : start + width].astype(F32) * t.s[index, pos // group_size]


def q8_matmul(xq: np.ndarray, xs: np.ndarray, t: QTensor, index: int, n: int, d: int,
              group_size: int) -> np.ndarray:
    """runq.c's matmul: W (d, n) in Q8_0 times the quantized x, to float32 (d,).

    Row i covers values [i*n, i*n + n) of the tensor; its groups start at
    the row start, so group j uses scale (i*n + j*gs) // gs -- which is the
    right scale when gs divides n and the misaligned one runq.c reads when
    it does not.  Only n // gs full groups are summed.  Integer products are
    summed exactly in float32 (|sum| <= gs * 127 * 127 < 2**24 for gs <= 1040).
    """
    ng = n // group_size
    w = t.q[index, : d * n].reshape(d, n)[:, : ng * group_size].reshape(d, ng, group_size)
    xg = xq[: ng * group_size].reshape(ng, group_size).astype(F32)
    # (ng, d, gs) @ (ng, gs, 1) -> (ng, d, 1): one exact small matmul per group.
    ival = np.matmul(w.transpose(1, 0, 2).astype(F32), xg[:, :, None])[:, :, 0].T
    rows = (np.arange(d, dtype=np.int64) * n) // group_size
    ws = t.s[index][rows[:, None] + np.arange(ng)[None, :]]
    terms = (ival * ws) * xs[None, :ng]
    if ng == 0:
        return np.zeros(d, dtype=F32)
    return np.cumsum(terms, axis=1, dtype=F32)[:, -1]  # sequential, like C's loop


# --------------------------------------------------------------------------
# reading and writing files


def is_q8_file(path: str | os.PathLike[str]) -> bool:
    """True if the file starts with the version-2 magic (cheap format sniffing)."""
    try:
        with Path(path).open("rb") as f:
            head = f.read(4)
    except OSError:
        return False
    return len(head) == 4 and struct.unpack("<I", head)[0] == MAGIC


def header_bytes(config: Config, group_size: int) -> bytes:
    """The 256 header bytes of a version-2 file."""
    raw = struct.pack(
        HEADER_FORMAT, MAGIC, VERSION, config.dim, config.hidden_dim, config.n_layers, config.n_heads,
        config.n_kv_heads, config.vocab_size, config.seq_len, int(config.shared_classifier), group_size,
    )
    return raw + b"\0" * (HEADER_BYTES - len(raw))


def read_header(path: str | os.PathLike[str]) -> tuple[Config, int]:
    """Config and group size of a version-2 file; ModelError naming the problem otherwise."""
    p = Path(path)
    try:
        with p.open("rb") as f:
            raw = f.read(HEADER_BYTES)
    except OSError as exc:
        raise ModelError(f"{p}: cannot read int8 checkpoint: {exc.strerror or exc}") from None
    need = struct.calcsize(HEADER_FORMAT)
    if len(raw) < need:
        raise ModelError(f"{p}: too short for an int8 (version 2) checkpoint ({len(raw)} bytes)")
    magic, version, *ints, shared, group_size = struct.unpack_from(HEADER_FORMAT, raw)
    if magic != MAGIC:
        raise ModelError(f"{p}: not an int8 checkpoint (magic {magic:#010x}, expected {MAGIC:#010x} 'ak42')")
    if version != VERSION:
        raise ModelError(f"{p}: version {version} checkpoint; only version 2 (int8 Q8_0) is supported")
    if shared not in (0, 1):
        raise ModelError(f"{p}: bad int8 checkpoint header: shared-classifier flag is {shared}, must be 0 or 1")
    dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len = ints
    config = Config(dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len,
                    shared_classifier=bool(shared))
    problems = config.problems()
    if problems:
        raise ModelError(f"{p}: bad int8 checkpoint header: {'; '.join(problems)}")
    if group_size <= 0 or config.dim % group_size:
        raise ModelError(f"{p}: bad int8 checkpoint header: group size {group_size} does not divide dim {config.dim}")
    return config, group_size


def read_any_config(path: str | os.PathLike[str]) -> tuple[Config, int | None]:
    """Config of an fp32 (version 0) or int8 (version 2) checkpoint, and the group size (None for fp32).

    For stages that accept either kind (build, inspect): the version-2 magic
    decides which header to read.
    """
    if is_q8_file(path):
        return read_header(path)
    return read_config(path), None


def load_q8(path: str | os.PathLike[str]) -> Q8Checkpoint:
    """Read a version-2 file whole; its size must match the header exactly."""
    p = Path(path)
    config, gs = read_header(p)
    want = int8_file_bytes(config, gs)
    have = p.stat().st_size
    if have != want:
        raise ModelError(
            f"{p}: file is {have} bytes but an int8 checkpoint with this header "
            f"({describe(config)}, group size {gs}) must be {want} bytes"
        )
    data = np.fromfile(p, dtype=np.uint8, offset=HEADER_BYTES)
    at = 0
    norms: dict[str, np.ndarray] = {}
    for name, shape in norm_shapes(config):
        n = int(np.prod(shape))
        norms[name] = data[at : at + 4 * n].view("<f4").astype(F32).reshape(shape)
        at += 4 * n
    tensors: dict[str, QTensor] = {}
    for name, count, (rows, cols) in matrix_shapes(config):
        numel = rows * cols
        qs, ss = [], []
        for _ in range(count):
            qs.append(data[at : at + numel].view(np.int8))
            at += numel
            ns = numel // gs
            ss.append(data[at : at + 4 * ns].view("<f4").astype(F32))
            at += 4 * ns
        tensors[name] = QTensor(np.stack(qs), np.stack(ss))
    warnings = []
    if config.hidden_dim % gs:
        warnings.append(
            f"group size {gs} does not divide hidden_dim {config.hidden_dim}: runq.c (and so this "
            f"reference) drops the last {config.hidden_dim % gs} inputs of w2 and reads misaligned scales; "
            f"re-quantize with a group size of {default_group_size(config)}"
        )
    return Q8Checkpoint(config, gs, norms, tensors, warnings)


def write_q8(path: str | os.PathLike[str], ckpt: Q8Checkpoint) -> None:
    """Write a version-2 file from its parts (the inverse of load_q8)."""
    with Path(path).open("wb") as f:
        f.write(header_bytes(ckpt.config, ckpt.group_size))
        for name, shape in norm_shapes(ckpt.config):
            f.write(np.ascontiguousarray(ckpt.norms[name], dtype="<f4").reshape(shape).tobytes())
        for name, count, _ in matrix_shapes(ckpt.config):
            t = ckpt.tensors[name]
            for i in range(count):
                f.write(np.ascontiguousarray(t.q[i], dtype=np.int8).tobytes())
                f.write(np.ascontiguousarray(t.s[i], dtype="<f4").tobytes())


@dataclass(frozen=True)
class QuantizeReport:
    """What ``quantize_checkpoint`` did, for the CLI to print."""

    config: Config
    group_size: int
    max_error: float
    bytes_in: int
    bytes_out: int


def _check_out_path(src: Path, dst: Path) -> None:
    if dst.exists() and not dst.is_file():
        raise ModelError(f"{dst}: output path exists and is not a regular file")
    same = dst.resolve() == src.resolve() or (dst.exists() and src.exists() and os.path.samefile(src, dst))
    if same:
        raise ModelError(f"{dst}: output is the input checkpoint; choose another --out")
    if not dst.parent.is_dir():
        raise ModelError(f"{dst}: output folder {dst.parent} does not exist")


def quantize_checkpoint(
    src: str | os.PathLike[str], dst: str | os.PathLike[str], group_size: int | None = None,
    progress: Callable[[int, int], object] | None = None,
) -> QuantizeReport:
    """Quantize a version-0 fp32 checkpoint to a version-2 int8 file, as export.py --version 2.

    ``group_size`` None picks ``default_group_size``.  The output is written
    to a temporary name beside ``dst`` and renamed at the end, so a failure
    never leaves a half-written model (and the input is never touched).
    ``progress(done, total)`` is called after each matrix (a 110M model takes a while).
    """
    s, d = Path(src), Path(dst)
    if is_q8_file(s):
        raise ModelError(f"{s}: already an int8 (version 2) checkpoint; quantize the fp32 original")
    _check_out_path(s, d)
    config, weights = load_checkpoint(s)
    gs = default_group_size(config) if group_size is None else int(group_size)
    problem = group_size_problem(config, gs)
    if problem:
        raise ModelError(f"{s}: cannot quantize ({describe(config)}): {problem}")
    for name, w in weights.items():
        if not np.isfinite(w).all():
            raise ModelError(f"{s}: tensor {name} holds NaN or infinite values; cannot quantize")
    max_err = 0.0
    tmp = d.with_name(d.name + ".part")
    try:
        with tmp.open("wb") as f:
            f.write(header_bytes(config, gs))
            for name, _shape in norm_shapes(config):
                f.write(np.ascontiguousarray(weights[name], dtype="<f4").tobytes())
            shapes = list(matrix_shapes(config))
            total = sum(count for _, count, _ in shapes)
            done = 0
            for name, count, _ in shapes:
                w = weights[name].reshape(count, -1)
                for i in range(count):
                    q, scale, err = quantize_q80(w[i], gs)
                    max_err = max(max_err, err)
                    f.write(q.tobytes())
                    f.write(scale.astype("<f4").tobytes())
                    done += 1
                    if progress is not None:
                        progress(done, total)
        os.replace(tmp, d)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ModelError(f"{d}: cannot write: {exc.strerror or exc}") from None
    return QuantizeReport(config, gs, max_err, s.stat().st_size, d.stat().st_size)


# --------------------------------------------------------------------------
# the forward pass


class QTransformer(reference.Transformer):
    """runq.c's int8 Transformer: reference.Transformer's forward pass with
    int8 matmuls (activations quantized per group, int32 sums per group,
    scaled) and the embedding row dequantized on lookup."""

    def __init__(self, ckpt: Q8Checkpoint):  # not super().__init__: that one takes fp32 weights
        self.ckpt = ckpt
        self.config = ckpt.config
        self.gs = ckpt.group_size
        self.w = ckpt.norms  # forward() reads the fp32 norm weights from self.w
        self.t = ckpt.tensors
        self.qcls = self.t["token_embedding_table"] if ckpt.config.shared_classifier else self.t["wcls"]
        self._init_state()

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> QTransformer:
        """Read a version-2 file (see load_q8)."""
        return cls(load_q8(path))

    def _embed(self, token: int) -> np.ndarray:
        return dequantize_row(self.t["token_embedding_table"], 0, token, self.config.dim, self.gs)

    def _mm(self, name: str, layer: int, x: np.ndarray) -> np.ndarray:
        # runq.c quantizes xb once for wq/wk/wv; quantizing is deterministic, so per call is the same.
        c = self.config
        rows = {"wk": c.kv_dim, "wv": c.kv_dim, "w1": c.hidden_dim, "w3": c.hidden_dim, "wcls": c.vocab_size}
        xq, xs = quantize_activation(x, self.gs)
        t = self.qcls if name == "wcls" else self.t[name]
        return q8_matmul(xq, xs, t, layer, x.shape[0], rows.get(name, c.dim), self.gs)


def generate(
    checkpoint: str | os.PathLike[str] | QTransformer,
    tokenizer: str | os.PathLike[str] | Tokenizer,
    *args: Any,
    **options: Any,
) -> bytes:
    """The bytes runq (and our engine) prints for an int8 model: reference.generate on a QTransformer."""
    model = QTransformer.load(checkpoint) if isinstance(checkpoint, (str, os.PathLike)) else checkpoint
    return reference.generate(model, tokenizer, *args, **options)
