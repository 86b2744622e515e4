"""The engine (engine/*.c) against the NumPy reference of llama2.c's run.c.

This is where the project proves the engine is llama2.c-exact: for the
same checkpoint, tokenizer and flags, stdout must be byte-identical to what
run.c prints (the reference reproduces run.c's loop, encoder, decoder and
sampler), and the logits of every forward() call (the engine's ``-L``
dump) must agree with the reference's float32 forward pass to a tolerance.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from engine_util import write_tokenizer
from llama2_util import (
    RANDOM_MODELS,
    engine_command,
    greedy_inputs,
    max_scaled_error,
    read_logits,
    reference_run,
    run_engine,
)

from toolchain.llama2.checkpoint import Config, write_random_checkpoint
from toolchain.llama2.reference import Transformer
from toolchain.llama2.tokenizer import Tokenizer

PROMPT = "Once upon a time"
# Logits may differ by summation order only: |engine - reference| must stay
# below this fraction of the position's largest logit (or of 1).  Measured with
# gcc -O2 on x86-64: about 1.5e-6 on every model here, so this leaves ~10x.
LOGIT_TOLERANCE = 2e-5

Model = tuple[Path, Path]  # (checkpoint, tokenizer)


@pytest.fixture(scope="module")
def random_models(tmp_path_factory: pytest.TempPathFactory, models_dir: Path) -> dict[str, Model]:
    """The RANDOM_MODELS written once per module, each with its shared tokenizer."""
    out: dict[str, Model] = {}
    folder = tmp_path_factory.mktemp("random_models")
    for m in RANDOM_MODELS:
        path = folder / f"{m.name}.bin"
        write_random_checkpoint(path, m.config, seed=m.seed)
        out[m.name] = (path, models_dir / m.tokenizer)
    return out


@pytest.fixture(scope="module")
def all_models(random_models: dict[str, Model], stories260k: Model) -> dict[str, Model]:
    """stories260K plus the random models, by name."""
    return {"stories260K": stories260k, **random_models}


MODEL_NAMES = ["stories260K", *(m.name for m in RANDOM_MODELS)]


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_greedy_logits_and_output_match(
    name: str, all_models: dict[str, Model], native_engine: Path, tmp_path: Path
) -> None:
    ckpt, tok_path = all_models[name]
    dump = tmp_path / "logits.f32"
    cmd = engine_command(native_engine, ckpt, tok_path, prompt=PROMPT, temperature=0.0, steps=256, logits=dump)
    stdout = run_engine(cmd)

    gen = reference_run(ckpt, tok_path, PROMPT, 0.0, 0.9, 1, 256)
    vocab_size = gen.logits[0].shape[0]

    got = read_logits(dump, vocab_size)
    assert got.shape[0] == len(gen.tokens), "engine and reference made a different number of forward() calls"
    # Compare on the engine's own greedy path (see greedy_inputs).
    inputs = greedy_inputs(gen.prompt_tokens, got)
    want = Transformer.load(ckpt).logits_for(inputs)
    err, pos = max_scaled_error(got, want)
    assert err < LOGIT_TOLERANCE, f"{name}: logits differ by {err:.2e} (scaled) at position {pos}"
    assert inputs == gen.tokens, "greedy tokens differ"
    assert stdout == gen.stdout


SAMPLED = [
    # (model, temperature, topp, seed); seeds meet MIN_SAMPLING_MARGIN (llama2_util)
    ("stories260K", 1.0, 0.9, 1),
    ("stories260K", 1.0, 0.9, 3),
    ("stories260K", 1.0, 0.9, 4),
    ("stories260K", 0.8, 0.9, 2),
    ("stories260K", 1.0, 1.0, 1),  # top-p 1: off, plain multinomial
    ("stories260K", 1.0, 1.0, 4),
    ("stories260K", 1.2, 0.0, 4),  # top-p 0 is also "off"
    ("stories260K", 0.7, 0.5, 2),
    ("gqa", 1.0, 0.9, 1),
    ("gqa", 1.0, 1.0, 5),
    ("odd_sizes", 1.0, 0.9, 2),
    ("separate_cls", 0.9, 0.95, 17),
    # 32000 near-uniform random logits: only a low temperature leaves margins
    ("vocab32000", 0.3, 0.9, 1),
    ("vocab32000", 0.2, 1.0, 2),
]


@pytest.mark.parametrize(("name", "temperature", "topp", "seed"), SAMPLED)
def test_sampled_output_matches(
    name: str, temperature: float, topp: float, seed: int, all_models: dict[str, Model], native_engine: Path
) -> None:
    ckpt, tok_path = all_models[name]
    cmd = engine_command(
        native_engine, ckpt, tok_path, prompt=PROMPT, temperature=temperature, topp=topp, seed=seed, steps=256
    )
    want = reference_run(ckpt, tok_path, PROMPT, temperature, topp, seed, 256)
    assert run_engine(cmd) == want.stdout


@pytest.mark.parametrize(
    "prompt",
    [
        None,  # no -i: BOS only
        "",
        "Lily",
        "  two leading spaces and a tab\there",
        "caf\u00e9 \u65e5\u672c \U0001f600!",  # byte fallback for code points tok512 lacks
    ],
    ids=["none", "empty", "word", "spaces", "non-ascii"],
)
def test_prompts_encode_and_echo_alike(prompt: str | None, stories260k: Model, native_engine: Path) -> None:
    ckpt, tok_path = stories260k
    cmd = engine_command(native_engine, ckpt, tok_path, prompt=prompt, temperature=0.0, steps=48)
    assert run_engine(cmd) == reference_run(ckpt, tok_path, prompt, 0.0, 0.9, 1, 48).stdout


def test_32000_vocabulary_non_ascii_prompt(random_models: dict[str, Model], native_engine: Path) -> None:
    ckpt, tok_path = random_models["vocab32000"]
    prompt = "Grüße aus \u65e5\u672c, \U0001f600 ok"
    cmd = engine_command(native_engine, ckpt, tok_path, prompt=prompt, temperature=0.3, topp=0.9, seed=3, steps=40)
    assert run_engine(cmd) == reference_run(ckpt, tok_path, prompt, 0.3, 0.9, 3, 40).stdout


@pytest.mark.parametrize("steps", [0, 37, 1000, 3])
def test_steps_clamp_like_run(steps: int, random_models: dict[str, Model], native_engine: Path, tmp_path: Path) -> None:
    ckpt, tok_path = random_models["odd_sizes"]
    dump = tmp_path / "logits.f32"
    cmd = engine_command(native_engine, ckpt, tok_path, prompt="a", temperature=1.0, seed=1, steps=steps, logits=dump)
    stdout = run_engine(cmd)
    gen = reference_run(ckpt, tok_path, "a", 1.0, 0.9, 1, steps)
    assert stdout == gen.stdout
    assert read_logits(dump, gen.logits[0].shape[0]).shape[0] == len(gen.tokens)
    # 0, negative and too many steps all mean seq_len (37); this run meets no BOS
    assert len(gen.tokens) == (3 if steps == 3 else 37)


def test_negative_seed_is_a_64_bit_state(stories260k: Model, native_engine: Path) -> None:
    """run.c stores atoi(seed) in an unsigned long long: -1 is 2^64 - 1, not 2^32 - 1."""
    ckpt, tok_path = stories260k
    cmd = engine_command(native_engine, ckpt, tok_path, prompt=PROMPT, temperature=1.0, topp=0.9, seed=-1, steps=64)
    want = reference_run(ckpt, tok_path, PROMPT, 1.0, 0.9, -1, 64).stdout
    assert run_engine(cmd) == want
    assert want != reference_run(ckpt, tok_path, PROMPT, 1.0, 0.9, 2**32 - 1, 64).stdout


def test_logit_dump_is_per_forward_call(stories260k: Model, native_engine: Path, tmp_path: Path) -> None:
    """Sampled run: the dump holds the raw logits (before temperature/softmax), one row per call."""
    ckpt, tok_path = stories260k
    dump = tmp_path / "logits.f32"
    cmd = engine_command(
        native_engine, ckpt, tok_path, prompt=PROMPT, temperature=0.9, topp=0.9, seed=5, steps=30, logits=dump
    )
    run_engine(cmd)
    gen = reference_run(ckpt, tok_path, PROMPT, 0.9, 0.9, 5, 30)
    got = read_logits(dump, 512)
    assert got.shape[0] == len(gen.tokens) == 30
    err, pos = max_scaled_error(got, np.stack(gen.logits))
    assert err < LOGIT_TOLERANCE, f"logits differ by {err:.2e} (scaled) at position {pos}"


def test_long_prompt_merges_like_llama2c(stories260k: Model, native_engine: Path, tmp_path: Path) -> None:
    """The heap-ordered BPE merges (O(n log n)) pick the pairs llama2.c's rescans pick, ties included.

    Runs of one letter make many pairs of equal score at once; the logits of
    every prompt position must match the reference fed its own encoding.
    """
    ckpt, tok_path = stories260k
    prompt = ("aaaaaaaaaaaaaaa bbbbbbbb aaaa. Once upon a time the the the theeee cat sat sat. "
              "Zo\u00eb saw a caf\u00e9 \U0001f600 in Lily's park, and ran ran ran. ") * 4
    tokens = Tokenizer.read(tok_path, 512).encode(prompt)
    assert 200 < len(tokens) < 512
    dump = tmp_path / "l.f32"
    steps = len(tokens) + 8
    cmd = engine_command(native_engine, ckpt, tok_path, prompt=prompt, temperature=0.0, steps=steps, logits=dump)
    gen = reference_run(ckpt, tok_path, prompt, 0.0, 0.9, 1, steps)
    assert run_engine(cmd) == gen.stdout
    got = read_logits(dump, 512)
    want = np.stack(gen.logits)
    assert got.shape == want.shape
    np.testing.assert_allclose(got[: len(tokens)], want[: len(tokens)], rtol=0, atol=1e-4)


def test_equal_pairs_merge_leftmost_first(models_dir: Path, native_engine: Path, tmp_path: Path) -> None:
    """"aaa" with "aa" in the vocabulary but not "aaa": llama2.c merges the left pair first ([aa, a]);
    merging the right one would give [" a", "aa"], a different token sequence and different logits."""
    pieces = [b"<unk>", b"\n<s>\n", b"\n</s>\n"] + [b"<0x%02X>" % i for i in range(256)]
    pieces += [b"aa", b" a", b" ", b"a"]
    pieces += [b"z%d" % i for i in range(512 - len(pieces))]
    tok_path = write_tokenizer(tmp_path / "tok_aa.bin", pieces, 8)
    ckpt = tmp_path / "m.bin"
    write_random_checkpoint(ckpt, Config(32, 64, 2, 4, 4, 512, 64, shared_classifier=True), seed=3)
    prompt = "aaa aaa aaaaa"
    tokens = Tokenizer.read(tok_path, 512).encode(prompt)
    assert tokens[:4] == [1, 261, 259, 262]  # BOS, " ", "aa", "a": the left pair merged
    dump = tmp_path / "l.f32"
    cmd = engine_command(native_engine, ckpt, tok_path, prompt=prompt, temperature=0.0, steps=len(tokens),
                         logits=dump)
    gen = reference_run(ckpt, tok_path, prompt, 0.0, 0.9, 1, len(tokens))
    run_engine(cmd)
    np.testing.assert_allclose(read_logits(dump, 512), np.stack(gen.logits), rtol=0, atol=1e-4)
