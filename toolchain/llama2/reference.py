"""A NumPy reference of llama2.c's run.c: forward pass, sampler and generate loop.

This is the oracle the engine is tested against, so it follows run.c's
algorithm operation by operation (float32 throughout, the same RoPE
formula, the same sampler arithmetic) rather than being a fast or idiomatic
transformer.  Sums may be ordered differently from C's loops, so logits
agree with the engine to a tolerance, not bit for bit; the sampler's own
arithmetic (softmax sum, cumulative probabilities, the coin) is done in
sequential float32 exactly as C does, so sampled tokens agree exactly
unless a coin lands within rounding error of a boundary.

Transcendentals are computed in float64 and rounded to float32: that is
what the C89 engine does (``(float)exp(x)``) and what a correctly rounded
``expf`` gives, whereas NumPy's float32 kernels may be off by an ulp.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from toolchain.errors import ModelError
from toolchain.llama2.checkpoint import Config, load_checkpoint
from toolchain.llama2.tokenizer import BOS, Tokenizer, printable

F32 = np.float32
U64 = (1 << 64) - 1
U32 = (1 << 32) - 1
XORSHIFT_MULTIPLIER = 0x2545F4914F6CDD1D
RMS_EPS = F32(1e-5)
ROPE_THETA = F32(10000.0)


def _exp(x: np.ndarray) -> np.ndarray:
    """float32 exp, correctly rounded (via float64)."""
    return np.exp(x.astype(np.float64)).astype(F32)


# --------------------------------------------------------------------------
# forward pass


def rmsnorm(x: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """weight * x / sqrt(mean(x^2) + 1e-5), in float32 as run.c."""
    ss = F32(np.dot(x, x)) / F32(x.shape[0]) + RMS_EPS
    scale = F32(1.0) / F32(np.sqrt(np.float64(ss)))
    return weight * (scale * x)


def softmax(x: np.ndarray) -> np.ndarray:
    """run.c's softmax: subtract the max, exp, divide by the sequential float32 sum."""
    e = _exp(x - x.max())
    total = np.cumsum(e, dtype=F32)[-1]  # cumsum is sequential, like C's loop
    return e / total


def rope_cos_sin(config: Config, pos: int) -> tuple[np.ndarray, np.ndarray]:
    """cos and sin of run.c's rotation angles for each pair (i, i+1) of a dim-wide vector.

    run.c: head_dim = i % head_size; freq = 1 / powf(10000, head_dim / (float)head_size);
    val = pos * freq -- all float32.
    """
    i = np.arange(0, config.dim, 2)
    head_dim = (i % config.head_size).astype(F32)
    exponent = head_dim / F32(config.head_size)
    power = np.power(np.float64(ROPE_THETA), exponent.astype(np.float64)).astype(F32)
    freq = F32(1.0) / power
    val = (F32(pos) * freq).astype(np.float64)
    return np.cos(val).astype(F32), np.sin(val).astype(F32)


def rotate(vec: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
    """Rotate consecutive pairs (v0, v1) by the given angles (RoPE)."""
    v0 = vec[0::2]
    v1 = vec[1::2]
    out = np.empty_like(vec)
    out[0::2] = v0 * cos - v1 * sin
    out[1::2] = v0 * sin + v1 * cos
    return out


class Transformer:
    """Weights plus a key/value cache; ``forward(token, pos)`` returns float32 logits."""

    def __init__(self, config: Config, weights: dict[str, np.ndarray]):
        self.config = config
        self.w = weights
        self.wcls = weights["token_embedding_table"] if config.shared_classifier else weights["wcls"]
        self._init_state()

    def _init_state(self) -> None:
        c = self.config
        self.key_cache = np.zeros((c.n_layers, c.seq_len, c.kv_dim), dtype=F32)
        self.value_cache = np.zeros((c.n_layers, c.seq_len, c.kv_dim), dtype=F32)
        self._rope: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    # The two places where weight formats differ (fp32 here, int8 in
    # quant.QTransformer); everything else in forward() is shared.
    def _embed(self, token: int) -> np.ndarray:
        """The token's row of the embedding table, as float32."""
        return self.w["token_embedding_table"][token].copy()

    def _mm(self, name: str, layer: int, x: np.ndarray) -> np.ndarray:
        """W @ x for the named matrix of a layer (``wcls``: the classifier)."""
        return self.wcls @ x if name == "wcls" else self.w[name][layer] @ x

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Transformer:
        """Read a checkpoint file (see checkpoint.load_checkpoint)."""
        config, weights = load_checkpoint(path)
        return cls(config, weights)

    def forward(self, token: int, pos: int) -> np.ndarray:
        """Logits for the next token after ``token`` at position ``pos``.

        Positions must be fed in order 0, 1, 2, ... (the cache holds the past),
        exactly as run.c's generate loop does.
        """
        c, w = self.config, self.w
        if not 0 <= token < c.vocab_size:
            raise ValueError(f"token {token} outside the vocabulary of {c.vocab_size}")
        if not 0 <= pos < c.seq_len:
            raise ValueError(f"position {pos} outside the context of {c.seq_len}")
        hs, n_kv, kv_mul = c.head_size, c.n_kv_heads, c.kv_mul
        if pos not in self._rope:
            self._rope[pos] = rope_cos_sin(c, pos)
        cos, sin = self._rope[pos]
        kv_half = c.kv_dim // 2
        sqrt_hs = F32(np.sqrt(np.float64(hs)))

        x = self._embed(token)
        for layer in range(c.n_layers):
            xb = rmsnorm(x, w["rms_att_weight"][layer])
            q = self._mm("wq", layer, xb)
            k = self._mm("wk", layer, xb)
            v = self._mm("wv", layer, xb)
            # run.c rotates q everywhere and k only for i < kv_dim.
            q = rotate(q, cos, sin)
            k = rotate(k, cos[:kv_half], sin[:kv_half])
            self.key_cache[layer, pos] = k
            self.value_cache[layer, pos] = v

            # Attention: query head h reads key/value head h // kv_mul.
            keys = self.key_cache[layer, : pos + 1].reshape(pos + 1, n_kv, hs)
            values = self.value_cache[layer, : pos + 1].reshape(pos + 1, n_kv, hs)
            qh = q.reshape(n_kv, kv_mul, hs)
            scores = np.einsum("gmh,tgh->gmt", qh, keys) / sqrt_hs
            scores = scores - scores.max(axis=-1, keepdims=True)
            att = _exp(scores)
            att = att / att.sum(axis=-1, keepdims=True, dtype=F32)
            xb = np.einsum("gmt,tgh->gmh", att, values).reshape(c.dim).astype(F32, copy=False)

            x = x + self._mm("wo", layer, xb)
            xb = rmsnorm(x, w["rms_ffn_weight"][layer])
            hb = self._mm("w1", layer, xb)
            hb2 = self._mm("w3", layer, xb)
            hb = hb * (F32(1.0) / (F32(1.0) + _exp(-hb))) * hb2  # SwiGLU
            x = x + self._mm("w2", layer, hb)

        x = rmsnorm(x, w["rms_final_weight"])
        return self._mm("wcls", 0, x).astype(F32, copy=False)

    def logits_for(self, tokens: list[int]) -> np.ndarray:
        """(len(tokens), vocab) logits of feeding ``tokens`` at positions 0, 1, ..."""
        return np.stack([self.forward(t, pos) for pos, t in enumerate(tokens)])


# --------------------------------------------------------------------------
# sampler


def random_u32(state: int) -> tuple[int, int]:
    """One xorshift64* step: (new 64-bit state, 32-bit output)."""
    state ^= state >> 12
    state ^= (state << 25) & U64
    state ^= state >> 27
    return state, ((state * XORSHIFT_MULTIPLIER) & U64) >> 32


# Every draw below also reports its *margin*: how far the deciding value
# (the coin, r, a cumulative probability, the runner-up logit) was from
# flipping the decision.  Two float32 programs whose logits differ in the
# last bits can only pick different tokens where the margin is that small;
# the tests use it to show that a comparison does not hinge on rounding.


def _first_above(cdf: np.ndarray, value: np.float32) -> tuple[int, float]:
    """First i with value < cdf[i] (else the last i), and value's distance to the nearest bound."""
    hits = np.flatnonzero(value < cdf)
    i = int(hits[0]) if hits.size else cdf.shape[0] - 1
    below = float(cdf[i - 1]) if i > 0 else 0.0
    return i, min(abs(float(cdf[i]) - float(value)), abs(float(value) - below))


def argmax_with_margin(logits: np.ndarray) -> tuple[int, float]:
    """Index of the first maximum (run.c's strict >), and its lead over the runner-up."""
    i = int(np.argmax(logits))
    if logits.shape[0] < 2:
        return i, float("inf")
    top2 = np.partition(logits, -2)[-2:]
    return i, float(top2[1]) - float(top2[0])


def mult_with_margin(probs: np.ndarray, coin: np.float32) -> tuple[int, float]:
    """sample_mult and its margin."""
    return _first_above(np.cumsum(probs, dtype=F32), coin)  # cumsum is sequential, like C


def topp_with_margin(probs: np.ndarray, topp: np.float32, coin: np.float32) -> tuple[int, float]:
    """sample_topp and its margin (the coin's, and the truncation's against topp)."""
    n = probs.shape[0]
    cutoff = (F32(1.0) - topp) / F32(n - 1)
    index = np.flatnonzero(probs >= cutoff)
    order = index[np.argsort(-probs[index], kind="stable")]
    cumulative = np.cumsum(probs[order], dtype=F32)
    over = np.flatnonzero(cumulative > topp)
    margin = float("inf")
    if over.size:
        last = int(over[0])
        margin = float(cumulative[last]) - float(topp)
        if last > 0:
            margin = min(margin, float(topp) - float(cumulative[last - 1]))
    else:
        last = order.shape[0] - 1
    r = F32(coin * cumulative[last])
    k, coin_margin = _first_above(cumulative[: last + 1], r)
    return int(order[k]), min(margin, coin_margin)


def sample_mult(probs: np.ndarray, coin: np.float32) -> int:
    """First index whose sequential float32 cumulative probability exceeds coin."""
    return mult_with_margin(probs, coin)[0]


def sample_topp(probs: np.ndarray, topp: np.float32, coin: np.float32) -> int:
    """run.c's nucleus sampling.

    Candidates are tokens with prob >= (1 - topp) / (n - 1); they are sorted
    by probability, descending, ties by index ascending (what glibc's stable
    qsort yields and what the engine's own sort must do); the list is cut
    after the first entry whose cumulative probability exceeds topp; then
    the token is drawn with r = coin * (that cumulative probability).
    """
    return topp_with_margin(probs, topp, coin)[0]


@dataclass
class Sampler:
    """run.c's Sampler: temperature, top-p and a xorshift64* state.

    ``closest`` is the smallest margin of any draw so far (see above): in
    logits for greedy decoding, in probability when sampling.
    """

    vocab_size: int
    temperature: np.float32
    topp: np.float32
    state: int
    closest: float = float("inf")

    def __post_init__(self) -> None:
        self.temperature = F32(self.temperature)
        self.topp = F32(self.topp)
        self.state &= U64

    def random_u32(self) -> int:
        """Advance the generator; the 32-bit output."""
        self.state, out = random_u32(self.state)
        return out

    def random_f32(self) -> np.float32:
        """A float32 in [0, 1): the top 24 bits of random_u32 over 2^24."""
        return F32((self.random_u32() >> 8) / 16777216.0)

    def sample(self, logits: np.ndarray) -> int:
        """The next token from logits (not modified; run.c modifies its copy in place)."""
        if self.temperature == 0:
            token, margin = argmax_with_margin(logits)
        else:
            probs = softmax(logits.astype(F32) / self.temperature)
            coin = self.random_f32()
            if self.topp <= 0 or self.topp >= 1:
                token, margin = mult_with_margin(probs, coin)
            else:
                token, margin = topp_with_margin(probs, self.topp, coin)
        self.closest = min(self.closest, margin)
        return token


# --------------------------------------------------------------------------
# the run CLI's generate mode


@dataclass(frozen=True)
class Options:
    """run's flags after its clamps."""

    temperature: np.float32
    topp: np.float32
    seed: int
    steps: int


def clamp_options(config: Config, temperature: float, topp: float, seed: int, steps: int) -> Options:
    """Apply run.c's argument fix-ups.

    Negative temperature -> 0; top-p outside [0, 1] -> 0.9; steps < 0 -> 0 and
    then 0 or more than seq_len -> seq_len; seed is an int converted to a
    64-bit unsigned state, and 0 means "seed from the clock" (time(NULL)).
    """
    t = F32(temperature)
    if t < 0:
        t = F32(0.0)
    p = F32(topp)
    if p < 0 or p > 1:
        p = F32(0.9)
    state = seed & U64
    if state == 0:
        state = int(time.time()) & U32
    if steps < 0:
        steps = 0
    if steps == 0 or steps > config.seq_len:
        steps = config.seq_len
    return Options(t, p, state, steps)


@dataclass
class Generation:
    """Everything one run of the generate loop did."""

    prompt_tokens: list[int]
    tokens: list[int] = field(default_factory=list)  # the token fed to each forward() call
    logits: list[np.ndarray] = field(default_factory=list)  # what each forward() returned
    stdout: bytes = b""
    closest: float = float("inf")  # smallest margin of any sampling decision (Sampler.closest)


def run_generate(
    transformer: Transformer,
    tokenizer: Tokenizer,
    prompt: bytes | str | None,
    options: Options,
) -> Generation:
    """run.c's generate(): feed the prompt, then sample until steps or BOS.

    Prompt tokens after the first are forced (no sampling, no RNG use); each
    step prints the decoded piece of the *next* token through safe_printf;
    generation stops early when the next token is BOS; a final newline ends
    the output.
    """
    prompt_tokens = tokenizer.encode(prompt or b"", bos=True, eos=False)
    sampler = Sampler(transformer.config.vocab_size, options.temperature, options.topp, options.seed)
    gen = Generation(prompt_tokens)
    out = bytearray()
    token = prompt_tokens[0]
    pos = 0
    while pos < options.steps:
        logits = transformer.forward(token, pos)
        gen.tokens.append(token)
        gen.logits.append(logits)
        if pos < len(prompt_tokens) - 1:
            nxt = prompt_tokens[pos + 1]
        else:
            nxt = sampler.sample(logits)
        pos += 1
        if nxt == BOS:
            break
        out += printable(tokenizer.decode(token, nxt))
        token = nxt
    out += b"\n"
    gen.stdout = bytes(out)
    gen.closest = sampler.closest
    return gen


def generate(
    checkpoint: str | os.PathLike[str] | Transformer,
    tokenizer: str | os.PathLike[str] | Tokenizer,
    prompt: bytes | str | None = None,
    temperature: float = 1.0,
    topp: float = 0.9,
    seed: int = 0,
    steps: int = 256,
) -> bytes:
    """Exactly the bytes ``run checkpoint -z tokenizer -t T -p P -s S -n N -i prompt`` prints.

    Defaults are run.c's (seed 0 = from the clock).  A model object passed in
    (this module's Transformer, or anything with ``config`` and ``forward``
    such as the int8 one in quant.py) must be fresh or reused in order: its
    cache is simply overwritten.
    """
    model = Transformer.load(checkpoint) if isinstance(checkpoint, (str, os.PathLike)) else checkpoint
    if isinstance(tokenizer, Tokenizer):
        tok = tokenizer
        if tok.vocab_size != model.config.vocab_size:
            raise ModelError(
                f"tokenizer has {tok.vocab_size} tokens but the model's vocabulary has "
                f"{model.config.vocab_size}"
            )
    else:
        tok = Tokenizer.read(Path(tokenizer), model.config.vocab_size)
    options = clamp_options(model.config, temperature, topp, seed, steps)
    return run_generate(model, tok, prompt, options).stdout
