"""Helpers shared by the llama2 reference and engine-comparison tests.

The random model shapes live here so both modules exercise the same
corners of the format: grouped-query attention, a separate classifier
(negative vocab_size in the header), sizes that are not powers of two, and
a 32000-token vocabulary paired with the real ``tokenizer.bin``.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from toolchain.llama2.checkpoint import Config
from toolchain.llama2.reference import Generation, Transformer, clamp_options, run_generate
from toolchain.llama2.tokenizer import Tokenizer

ENGINE_TIMEOUT_S = 60


@dataclass(frozen=True)
class RandomModel:
    """A random-weight test model: its shape, seed and which shared tokenizer fits it."""

    name: str
    config: Config
    tokenizer: str  # file name in ../shared/models
    seed: int


# Seeds are chosen so that the greedy continuation of "Once upon a time" has
# no near-tie (its top two logits are always >= 0.04 apart, far above float32
# rounding), so a greedy comparison cannot hinge on summation order.
RANDOM_MODELS: tuple[RandomModel, ...] = (
    # 8 query heads over 2 key/value heads (kv_mul 4), classifier shared.
    RandomModel("gqa", Config(64, 96, 2, 8, 2, 512, 64, shared_classifier=True), "tok512.bin", 1),
    # Negative vocab_size in the header: wcls is its own matrix at the end.
    RandomModel("separate_cls", Config(32, 64, 2, 4, 4, 512, 48, shared_classifier=False), "tok512.bin", 6),
    # dim 48, hidden 100, 3 heads of 16 sharing one kv head: nothing is a power of two.
    RandomModel("odd_sizes", Config(48, 100, 3, 3, 1, 512, 37, shared_classifier=True), "tok512.bin", 7),
    # The Llama 2 vocabulary: 32000 tokens, separate classifier, GQA.
    RandomModel("vocab32000", Config(64, 160, 2, 4, 2, 32000, 40, shared_classifier=False), "tokenizer.bin", 2),
)


def engine_command(
    exe: Path,
    checkpoint: Path,
    tokenizer: Path,
    *,
    prompt: str | None = None,
    temperature: float | None = None,
    topp: float | None = None,
    seed: int | None = None,
    steps: int | None = None,
    logits: Path | None = None,
) -> list[str]:
    """The engine's argv in llama2.c run's flag syntax (flags after the checkpoint)."""
    cmd = [str(exe), str(checkpoint), "-z", str(tokenizer)]
    for flag, value in (("-t", temperature), ("-p", topp), ("-s", seed), ("-n", steps)):
        if value is not None:
            cmd += [flag, repr(value) if isinstance(value, float) else str(value)]
    if prompt is not None:
        cmd += ["-i", prompt]
    if logits is not None:
        cmd += ["-L", str(logits)]
    return cmd


def run_engine(cmd: Sequence[str]) -> bytes:
    """stdout of one engine run; fails the test with stderr if it exits nonzero."""
    proc = subprocess.run(list(cmd), capture_output=True, timeout=ENGINE_TIMEOUT_S)
    if proc.returncode != 0:
        raise AssertionError(
            f"engine exited {proc.returncode}: {' '.join(cmd)}\n{proc.stderr.decode(errors='replace')}"
        )
    return proc.stdout


def read_logits(path: Path, vocab_size: int) -> np.ndarray:
    """The engine's ``-L`` dump: float32 little-endian, vocab_size per forward() call."""
    flat = np.fromfile(path, dtype="<f4")
    assert flat.size % vocab_size == 0, f"{path}: {flat.size} floats is not a multiple of {vocab_size}"
    return flat.reshape(-1, vocab_size).astype(np.float32)


def greedy_inputs(prompt_tokens: Sequence[int], logits: np.ndarray) -> list[int]:
    """The token each forward() call of a greedy run was fed, recovered from its logits.

    Prompt tokens are forced; after the prompt, each input is the argmax of
    the previous call's logits.  Feeding these to the reference compares
    both programs on the engine's own path, so one near-tie cannot make
    every later position differ.
    """
    inputs = [prompt_tokens[0]]
    for pos in range(1, logits.shape[0]):
        if pos < len(prompt_tokens):
            inputs.append(prompt_tokens[pos])
        else:
            inputs.append(int(np.argmax(logits[pos - 1])))
    return inputs


def max_scaled_error(got: np.ndarray, want: np.ndarray) -> tuple[float, int]:
    """Worst |got - want| / max(1, max|want|) over positions, and where it occurs."""
    scale = np.maximum(1.0, np.abs(want).max(axis=1))
    err = np.abs(got.astype(np.float64) - want.astype(np.float64)).max(axis=1) / scale
    worst = int(np.argmax(err))
    return float(err[worst]), worst


# A comparison of sampled output is only meaningful where no decision of the
# reference run was within rounding distance of flipping (Sampler.closest):
# the engine's logits differ from NumPy's in the last bits.  Parameters below
# were chosen so these hold; the tests assert them, so a change to a model or
# to the reference that makes a case fragile fails loudly instead of flaking.
MIN_GREEDY_MARGIN = 1e-3  # lead of the chosen logit over the runner-up
MIN_SAMPLING_MARGIN = 2e-5  # distance of the coin (or top-p cut) from a cdf step


def reference_run(
    checkpoint: Path,
    tokenizer: Path,
    prompt: str | None,
    temperature: float,
    topp: float,
    seed: int,
    steps: int,
) -> Generation:
    """The reference's run of the generate loop, checked to be far from any rounding tie."""
    model = Transformer.load(checkpoint)
    tok = Tokenizer.read(tokenizer, model.config.vocab_size)
    gen = run_generate(model, tok, prompt, clamp_options(model.config, temperature, topp, seed, steps))
    need = MIN_GREEDY_MARGIN if temperature == 0 else MIN_SAMPLING_MARGIN
    assert gen.closest >= need, (
        f"test premise: a sampling decision was {gen.closest:.1e} from flipping (need {need:.0e}); "
        "pick another seed"
    )
    return gen
