"""Will this model run on that PC, and how fast?  Estimates, before copying.

RAM is counted the way the engine allocates (llama2.c's run.c layout, a
32-bit process): every weight in RAM (the checkpoint is read with malloc +
fread, not mapped -- docs/platform.md §8), a key and a value cache of
``min(steps, seq_len)`` positions per layer, the run-state vectors, the
sampler's probability buffer and the tokenizer's pieces and indexes.

Speed comes from a two-parameter cost model, seconds per token =
``overhead + MACs / rate``, fitted through the two measurements we have of
one real machine (a Pentium II 350: 39.31 tok/s on stories260K, 1.03 tok/s
on stories15M; ``toolchain/data/cost_model.yaml``).  MACs per token are the
matmuls (all layers plus the classifier) and the attention over the average
context of a ``steps``-long run.  It is an estimate for fp32 code on that
CPU; it ignores swapping, so a model that does not fit RAM runs far slower.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path

from toolchain import costdata
from toolchain.costdata import COST_FILE
from toolchain.cycles import estimate_tok_s, macs_per_token
from toolchain.errors import ConfigError, ModelError
from toolchain.llama2.checkpoint import Config, describe, fp32_file_bytes
from toolchain.llama2.tokenizer import Tokenizer

FLOAT = 4
POINTER = 4  # the engine is a 32-bit program
QUANTS = ("fp32", "int8")
MB = 1024 * 1024


@dataclass(frozen=True)
class CostModel:
    """The fitted speed model and the planning constants from cost_model.yaml."""

    overhead_s: float
    macs_per_s: float
    calibration_steps: int
    machine: str
    os_reserve_bytes: int
    file_limits: dict[str, int]
    address_space_bytes: int
    disk_mb_per_s: tuple[float, float] = (5.0, 15.0)

    def tok_per_s(self, config: Config, steps: int) -> float:
        """Estimated tokens per second on the calibration machine."""
        return 1.0 / (self.overhead_s + macs_per_token(config, steps) / self.macs_per_s)


@functools.cache
def cost_model(path: Path = COST_FILE) -> CostModel:
    """Load cost_model.yaml and fit overhead and rate through its two points."""
    from toolchain.models import registry  # late: registry is a sibling data file

    data = costdata.load(path)
    cal = data.calibration
    entries = registry.load()
    points = []
    for p in cal.points:
        entry = entries.get(p.model)
        if entry is None or entry.config is None:
            raise ConfigError(f"{path}: calibration point {p.model!r} is not a checkpoint of the model registry")
        points.append((macs_per_token(entry.config.to_config(), cal.steps), 1.0 / p.tok_per_s))
    (m1, t1), (m2, t2) = sorted(points)
    rate = (m2 - m1) / (t2 - t1) if t2 != t1 else 0.0
    overhead = t1 - m1 / rate if rate > 0 else -1.0
    if rate <= 0 or overhead < 0:
        raise ConfigError(f"{path}: the calibration points give a negative rate or overhead")
    return CostModel(
        overhead_s=overhead,
        macs_per_s=rate,
        calibration_steps=cal.steps,
        machine=cal.machine,
        os_reserve_bytes=data.os_reserve_mb * MB,
        file_limits=dict(data.file_limits),
        address_space_bytes=data.address_space_bytes,
        disk_mb_per_s=(data.disk_mb_per_s.low, data.disk_mb_per_s.high),
    )


def _group_size(c: Config) -> int:
    """The int8 group size `invoke quantize` picks for a shape (the largest power of two up to 64
    dividing dim and hidden_dim: 32 for stories15M/42M, 64 for 110M)."""
    from toolchain.llama2 import quant as q8

    return q8.default_group_size(c)


def _state_bytes(c: Config, steps: int) -> int:
    """Run-state vectors, KV cache and the sampler buffer, all fp32."""
    q_dim = c.n_heads * c.head_size
    vectors = 3 * c.dim + 2 * c.hidden_dim + q_dim + 2 * c.kv_dim + c.n_heads * steps + c.vocab_size
    kv_cache = 2 * c.n_layers * steps * c.kv_dim
    sampler = c.vocab_size * (FLOAT + 4)  # (probability, index) pairs for top-p
    return FLOAT * (vectors + kv_cache) + sampler


def _tokenizer_bytes(file_bytes: int, vocab: int) -> int:
    """Piece bytes (+NUL), score and pointer arrays, and the sorted (str, id) index."""
    piece_bytes = file_bytes - 4 - 8 * vocab
    return piece_bytes + vocab * (1 + FLOAT + POINTER + POINTER + 4)


def _int8_weight_bytes(c: Config, group: int) -> int:
    """Weights as int8 with one fp32 scale per ``group``, norms fp32: the int8 file less its header."""
    from toolchain.llama2 import quant as q8

    return q8.int8_file_bytes(c, group) - q8.HEADER_BYTES


def _matrix_bytes(n: int, quant: str, group: int) -> int:
    """``n`` weights as the file holds them: fp32, or int8 with one fp32 scale per ``group``."""
    return FLOAT * n if quant == "fp32" else n + FLOAT * (n // group)


def streamed_bytes_per_token(c: Config, quant: str, group: int, classifier_too: bool = True) -> int:
    """What RUN.EXE -b reads from disk per token when the weights do not fit (engine/run.c plan_stream):
    every layer's seven matrices, the classifier when it does not fit either, and one embedding row."""
    def size(n: int) -> int:
        return _matrix_bytes(n, quant, group)

    q_dim = c.n_heads * c.head_size
    layers = c.n_layers * (2 * size(q_dim * c.dim) + 2 * size(c.kv_dim * c.dim) + 3 * size(c.dim * c.hidden_dim))
    return layers + (size(c.vocab_size * c.dim) if classifier_too else 0) + size(c.dim)


@dataclass(frozen=True)
class Streamed:
    """A model too big for the PC's RAM, run with RUN.EXE -b: what it reads from disk and how fast it goes.

    The speed is the compute time of the cycle model plus the reads, which RUN.EXE does not overlap with
    computing: seconds per token = 1 / compute tok/s + bytes / disk rate, at both ends of the
    assumed disk speed (cost_model.yaml ``disk_mb_per_s``: an IDE disk of the era, 5-15 MB/s).
    """

    budget_mb: int
    bytes_per_token: int
    classifier_streamed: bool
    disk_mb_per_s: tuple[float, float]
    tok_per_s: tuple[float, float]  # (slow disk, fast disk)


def streamed_tok_s(est: Estimate, bytes_per_token: int, compute_tok_s: float | None = None) -> tuple[float, float]:
    """Tokens per second when every token also reads ``bytes_per_token`` from the disk, at the slow and
    the fast end of the assumed disk speed (reads and computing do not overlap).  The compute speed is
    ``compute_tok_s`` (a target CPU's) or the Pentium II 350's."""
    compute_s = 1.0 / (compute_tok_s or est.tok_per_s_p2_350)
    slow, fast = (1.0 / (compute_s + bytes_per_token / (rate * 1e6)) for rate in cost_model().disk_mb_per_s)
    return slow, fast


def plan_streamed(est: Estimate, ram_bytes: int, compute_tok_s: float | None = None) -> Streamed | None:
    """How RUN.EXE runs ``est`` on a PC with ``ram_bytes`` (the OS reserve left out), or None if it fits.

    Mirrors engine/run.c plan_stream: the classifier stays in memory when it fits beside a buffer for the
    largest layer matrix and the run state; every layer matrix is read from disk for every token."""
    if est.fits(ram_bytes):
        return None
    cm = cost_model()
    c, group = est.config, est.group_size or _group_size(est.config)

    def size(n: int) -> int:
        return _matrix_bytes(n, est.quant, group)

    layer_max = size(c.dim * max(c.dim, c.hidden_dim, c.n_heads * c.head_size))
    norms = FLOAT * (2 * c.n_layers + 1) * c.dim
    weights = _int8_weight_bytes(c, group) if est.quant == "int8" else fp32_file_bytes(c) - 28
    fixed = est.needed_bytes - weights + MB  # run state, tokenizer, sampler; 1 MB for the program
    # at least what streaming itself needs (with less, RUN -b says it is too small)
    budget = max(ram_bytes - est.os_reserve_bytes, fixed + norms + layer_max)
    classifier_streamed = budget - fixed - norms - size(c.vocab_size * c.dim) < layer_max
    read = streamed_bytes_per_token(c, est.quant, group, classifier_too=classifier_streamed)
    return Streamed(budget_mb=-(-budget // MB), bytes_per_token=read, classifier_streamed=classifier_streamed,
                    disk_mb_per_s=cm.disk_mb_per_s, tok_per_s=streamed_tok_s(est, read, compute_tok_s))


def kv_q8_saving_bytes(c: Config, steps: int) -> int:
    """Bytes RUN.EXE -k q8 saves: the fp32 KV cache becomes int8 plus one float per head and position."""
    cells = 2 * c.n_layers * min(steps, c.seq_len)
    return cells * c.kv_dim * FLOAT - cells * (c.kv_dim + FLOAT * c.n_kv_heads)


@dataclass(frozen=True)
class Estimate:
    """What running ``config`` for ``steps`` tokens takes on the old PC."""

    config: Config
    steps: int
    params: int
    file_bytes: int
    ram_bytes: int
    ram_bytes_int8: int
    tok_per_s_p2_350: float
    quant: str = "fp32"
    tokenizer_vocab: int | None = None
    problems: list[str] = field(default_factory=list)
    os_reserve_bytes: int = 24 * MB
    group_size: int | None = None  # of the int8 weights: the file's own, or what `invoke quantize` picks

    @property
    def needed_bytes(self) -> int:
        """RAM for the chosen quantization."""
        return self.ram_bytes_int8 if self.quant == "int8" else self.ram_bytes

    def fits(self, ram_bytes_available: int) -> bool:
        """True when the model plus Windows' share fits the installed RAM (no swapping)."""
        return self.needed_bytes + self.os_reserve_bytes <= ram_bytes_available

    def streamed(self, ram_bytes: int, compute_tok_s: float | None = None) -> Streamed | None:
        """``plan_streamed`` for this estimate (README.TXT's template calls it with the target's RAM and
        the compute speed of the target's CPU)."""
        return plan_streamed(self, ram_bytes, compute_tok_s)

    @property
    def kv_q8_saving_bytes(self) -> int:
        """What RUN.EXE -k q8 saves on this run (``kv_q8_saving_bytes``)."""
        return kv_q8_saving_bytes(self.config, self.steps)


def estimate(
    checkpoint: Path,
    *,
    steps: int = 256,
    tokenizer: Path | None = None,
    quant: str = "fp32",
    max_file_bytes: int | None = None,
) -> Estimate:
    """Estimate for a checkpoint file (its header and size are read, not the weights).

    An int8 (version 2) file is estimated as int8 whatever ``quant`` says.
    """
    from toolchain.llama2 import quant as q8

    config, group_size = q8.read_any_config(checkpoint)
    if group_size is not None:
        quant = "int8"
    have = checkpoint.stat().st_size
    est = estimate_config(
        config, file_bytes=have, steps=steps, tokenizer=tokenizer, quant=quant, max_file_bytes=max_file_bytes,
        group_size=group_size,
    )
    want = fp32_file_bytes(config) if group_size is None else q8.int8_file_bytes(config, group_size)
    if have != want:
        est.problems.insert(
            0, f"{checkpoint} is {have} bytes but its header ({describe(config)}) needs {want}: "
            f"truncated, or not a llama2.c {'v0' if group_size is None else 'int8 (v2)'} checkpoint"
        )
    return est


def estimate_config(
    config: Config,
    *,
    file_bytes: int | None = None,
    steps: int = 256,
    tokenizer: Path | None = None,
    quant: str = "fp32",
    max_file_bytes: int | None = None,
    group_size: int | None = None,
) -> Estimate:
    """Estimate for a shape alone (a registry entry not yet downloaded); int8 weights with ``group_size``
    (an int8 file's), by default the one `invoke quantize` picks for the shape."""
    if quant not in QUANTS:
        raise ConfigError(f"quant {quant!r}: must be one of {', '.join(QUANTS)}")
    if steps <= 0:
        raise ConfigError(f"steps {steps}: must be positive")
    cm = cost_model()
    c = config
    run = min(steps, c.seq_len)
    file_bytes = fp32_file_bytes(c) if file_bytes is None else file_bytes
    problems: list[str] = []

    vocab = None
    if tokenizer is not None:
        try:
            tok = Tokenizer.read(tokenizer)
        except ModelError as exc:
            problems.append(str(exc))
        else:
            vocab = tok.vocab_size
            if vocab != c.vocab_size:
                problems.append(
                    f"{tokenizer} has {vocab} tokens but the model's vocabulary is {c.vocab_size}: "
                    "they do not belong together"
                )
        tok_bytes = _tokenizer_bytes(tokenizer.stat().st_size, vocab or c.vocab_size) if tokenizer.is_file() else 0
    else:
        tok_bytes = _tokenizer_bytes(4 + c.vocab_size * (8 + 6), c.vocab_size)  # ~6-byte pieces

    fp32_weights = fp32_file_bytes(c) - 28
    common = _state_bytes(c, run) + tok_bytes
    ram = fp32_weights + common
    group = group_size or _group_size(c)
    ram_int8 = _int8_weight_bytes(c, group) + common

    limits = cm.file_limits
    if max_file_bytes is not None:
        names = [k for k, v in limits.items() if v == max_file_bytes]
        limits = {names[0] if names else "the target's file system": max_file_bytes}
    for fs, limit in sorted(limits.items(), key=lambda kv: kv[1]):
        if file_bytes > limit:
            problems.append(
                f"the checkpoint is {file_bytes} bytes, over {fs}'s largest file ({limit} bytes); "
                "retrollama does not split models: pick a smaller one"
            )
    needed = ram_int8 if quant == "int8" else ram
    if needed > cm.address_space_bytes:
        problems.append(
            f"needs {needed / MB:.0f} MB of RAM, more than the 2 GB a Win9x/NT4 process can address"
        )
    return Estimate(
        config=c,
        steps=run,
        params=c.n_params,
        file_bytes=file_bytes,
        ram_bytes=ram,
        ram_bytes_int8=ram_int8,
        tok_per_s_p2_350=estimate_tok_s("pentium2", c, quant, steps=run, group_size=group),
        quant=quant,
        tokenizer_vocab=vocab,
        problems=problems,
        os_reserve_bytes=cm.os_reserve_bytes,
        group_size=group,
    )


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMG])i?B?\s*$", re.IGNORECASE)
_BARE = re.compile(r"^\s*\d+(?:\.\d+)?\s*$")


def parse_size(text: str, option: str = "--ram") -> int:
    """'32M', '64MB', '1G', '512k' -> bytes (binary units, as RAM is sold).

    A bare number is refused: ``--ram 64`` once meant 64 bytes, and "does
    not fit in 0 MB" was all the user saw.
    """
    if _BARE.match(str(text)):
        raise ConfigError(f"{option} {text}: give a unit, K, M or G (e.g. {str(text).strip()}M for megabytes)")
    m = _SIZE.match(str(text))
    if not m:
        raise ConfigError(f"{option} {text!r}: expected a number with K, M or G, e.g. 32M")
    scale = {"K": 1024, "M": MB, "G": 1024 * MB}[m.group(2).upper()]
    value = int(float(m.group(1)) * scale)
    if value <= 0:
        raise ConfigError(f"{option} {text}: must be more than zero")
    return value


def _rate_text(tok_s: float) -> str:
    """0.0812 -> '0.081', 1.52 -> '1.5': two significant digits, as a speed this uncertain deserves."""
    return f"{tok_s:.2g}" if tok_s < 1 else f"{tok_s:.1f}"


def _size_text(n: int) -> str:
    return f"{n / MB:.0f} MB" if n >= MB else f"{n / 1024:.0f} KB"


def report(est: Estimate, ram_available: int | None = None) -> list[str]:
    """The estimate as short lines for the terminal and README.TXT (7-bit ASCII)."""
    c = est.config
    lines = [
        f"config      dim {c.dim}, hidden {c.hidden_dim}, {c.n_layers} layers, {c.n_heads} heads "
        f"({c.n_kv_heads} kv), vocab {c.vocab_size}, seq {c.seq_len}",
        f"parameters  {est.params:,}",
        f"file        {est.file_bytes:,} bytes",
        f"RAM fp32    {est.ram_bytes / MB:.1f} MB (weights, KV cache for {est.steps} steps, buffers, tokenizer)",
        f"RAM int8    {est.ram_bytes_int8 / MB:.1f} MB",
        f"speed       ~{est.tok_per_s_p2_350:.2f} tok/s on a Pentium II 350 ({est.quant}, cycle model)",
    ]
    if est.tokenizer_vocab is not None:
        agree = "agrees" if est.tokenizer_vocab == c.vocab_size else "DOES NOT agree"
        lines.append(f"tokenizer   {est.tokenizer_vocab} tokens: {agree} with the model")
    if ram_available is not None:
        fits = est.fits(ram_available)
        lines.append(
            f"fit         {est.quant} {'fits' if fits else 'does NOT fit'} in {_size_text(ram_available)} "
            f"({est.needed_bytes / MB:.1f} MB + {est.os_reserve_bytes / MB:.0f} MB for Windows)"
        )
        streamed = plan_streamed(est, ram_available)
        if streamed is not None:
            slow, fast = streamed.tok_per_s
            low, high = streamed.disk_mb_per_s
            lines += [
                f"streamed    RUN -b {streamed.budget_mb} reads the weights from disk for every token:",
                f"            {streamed.bytes_per_token / MB:.1f} MB a token, ~{_rate_text(slow)}-{_rate_text(fast)} "
                f"tok/s at {low:.0f}-{high:.0f} MB/s",
                "            (an assumed IDE disk; the Pentium II's compute time included)",
            ]
    lines.append(f"KV cache    -k q8 (int8) saves {kv_q8_saving_bytes(c, est.steps) / MB:.1f} MB "
                 "(not bit-exact with llama2.c)")
    lines += [f"problem     {p}" for p in est.problems]
    return lines
