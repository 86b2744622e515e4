"""``invoke demo-model``: corpus -> tokenizer -> training -> MODEL.BIN + TOKENIZ.BIN + README.md.

Everything is seeded (corpus, vocabulary, initial weights, batches), but
training runs for a time budget, not a step count, so a rebuild on another
machine gives a model of the same recipe, not the same bytes; README.md
records the step count and losses of the committed one.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from toolchain.demo import bpe, corpus
from toolchain.errors import ConfigError, ModelError
from toolchain.llama2.checkpoint import Config, write_checkpoint
from toolchain.llama2.tokenizer import Tokenizer, write_tokenizer

# The shape: ~0.46M parameters, 1.8 MB as fp32 -- under the 2 MB budget
# for a committed file, and a floppy's worth with RUN.EXE.
CONFIG = Config(dim=96, hidden_dim=224, n_layers=4, n_heads=4, n_kv_heads=4, vocab_size=512, seq_len=256)
N_STORIES = 20_000
SAMPLE_SEED = 42
SAMPLE_TEMPERATURE = 0.8


def _need_torch() -> None:
    try:
        import torch  # noqa: F401
    except ImportError:
        raise ConfigError(
            "the demo model is trained with PyTorch, which is not installed: "
            ".venv/bin/pip install torch (CPU build; not a project requirement)"
        ) from None


def make_demo_model(
    out: Path, *, minutes: float = 8.0, seed: int = 1998, say: Callable[[str], object] = print
) -> Path:
    """Build the demo model into ``out``; return the checkpoint path."""
    _need_torch()
    from toolchain.demo import train

    try:
        os.nice(10)  # a shared machine: training yields to everything else
    except OSError:
        pass
    stories = corpus.stories(N_STORIES, seed)
    say(f"corpus: {len(stories)} stories, {sum(map(len, stories))} characters (seed {seed})")
    pieces, scores = bpe.train(stories, CONFIG.vocab_size)
    encoder = bpe.ChunkEncoder(pieces, scores)
    reference = Tokenizer(pieces, scores, max(len(p) for p in pieces))
    for story in stories[:50]:
        if encoder.encode(story) != reference.encode(story):
            raise ModelError(f"the chunk encoder disagrees with run.c's encoder on: {story[:60]}...")
    tokens = np.fromiter((t for s in stories for t in encoder.encode(s)), dtype=np.int64)
    say(f"tokens: {len(tokens)} ({sum(map(len, stories)) / len(tokens):.2f} characters per token)")

    check_network(out.parent if out.parent.exists() else Path("."))
    say("network: agrees with the NumPy reference of run.c")
    weights, stats = train.train(tokens, CONFIG, seconds=minutes * 60, seed=seed, say=say)

    out.mkdir(parents=True, exist_ok=True)
    model_path, tok_path = out / "MODEL.BIN", out / "TOKENIZ.BIN"
    write_checkpoint(model_path, CONFIG, weights)
    write_tokenizer(tok_path, pieces, scores)
    sample = _sample(model_path, tok_path)
    say(f"sample (seed {SAMPLE_SEED}, temperature {SAMPLE_TEMPERATURE}):\n{sample}")
    _readme(out, model_path, tok_path, stats, sample, minutes, seed, len(tokens))
    return model_path


def check_network(scratch: Path) -> None:
    """Refuse to train a network that does not compute what run.c computes.

    A small random model is run by the torch network and, after export, by
    the NumPy reference of run.c; their logits must agree.  This is the
    proof that the exported checkpoint means to the engine what it meant to
    the trainer (torch is not a test dependency, so the task checks it).
    """
    import tempfile

    import torch

    from toolchain.demo.train import Model
    from toolchain.llama2.reference import Transformer

    config = Config(dim=32, hidden_dim=48, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=40, seq_len=16)
    torch.manual_seed(0)
    model = Model(config)
    with torch.no_grad():
        for p in model.parameters():  # larger than the init so differences would show
            p.normal_(0.0, 0.3)
    tokens = [1, 5, 9, 33, 2, 7, 7, 12]
    with tempfile.TemporaryDirectory(dir=scratch) as tmp:
        path = Path(tmp) / "check.bin"
        write_checkpoint(path, config, model.export())
        with torch.no_grad():
            want = model(torch.tensor([tokens])).numpy()[0]
        got = Transformer.load(path).logits_for(tokens)
    if not np.allclose(got, want, rtol=1e-4, atol=1e-4):
        raise ModelError(f"the torch network disagrees with run.c's maths (max diff {abs(got - want).max():.2e})")


def _sample(model_path: Path, tok_path: Path) -> str:
    from toolchain.llama2.reference import generate

    text = generate(model_path, tok_path, prompt=None, temperature=SAMPLE_TEMPERATURE, topp=0.9,
                    seed=SAMPLE_SEED, steps=256)
    return text.decode("ascii", errors="replace").strip()


def _readme(out: Path, model: Path, tok: Path, stats: dict[str, float], sample: str, minutes: float,
            seed: int, n_tokens: int) -> None:
    c = CONFIG

    def digest(p: Path) -> str:
        return hashlib.sha256(p.read_bytes()).hexdigest()

    text = f"""# The demo model

A tiny llama2.c-format story model that retrollama makes itself, so that
`invoke build --target win98` works with no network and no downloaded
model.  It knows only the few hundred words of its own template stories.

| file | bytes | sha256 |
|---|---|---|
| MODEL.BIN | {model.stat().st_size} | `{digest(model)}` |
| TOKENIZ.BIN | {tok.stat().st_size} | `{digest(tok)}` |

## How it was made

`invoke demo-model` (code in `toolchain/demo/`) did, with seed {seed}:

1. **Corpus**: {N_STORIES} short stories from the templates and word lists in
   `toolchain/data/demo_stories.yaml`, filled in by `toolchain/demo/corpus.py`
   with `random.Random({seed})`: {n_tokens} tokens.
2. **Tokenizer**: {c.vocab_size} tokens in llama2.c's `tokenizer.bin` layout
   (`toolchain/demo/bpe.py`): `<unk>`, BOS, EOS, the byte-fallback pieces
   `<0x00>`..`<0xFF>` (ids 3-258), byte-pair merges learned from the corpus
   (scores -0, -1, ...), then the single characters.  Encoding was checked
   against run.c's algorithm (`toolchain.llama2.tokenizer`) before training.
3. **Training**: PyTorch on one CPU thread for {minutes:g} minutes
   (`toolchain/demo/train.py`): dim {c.dim}, hidden {c.hidden_dim}, {c.n_layers} layers,
   {c.n_heads} heads, context {c.seq_len}, shared classifier; AdamW (lr 3e-3, 30
   warm-up steps, cosine decay), batches of 16 x {c.seq_len} tokens, every story
   preceded by BOS.  {int(stats["steps"])} steps; final training loss
   {stats["train_loss"]:.3f}, validation loss {stats["val_loss"]:.3f}.
4. **Export**: llama2.c v0 checkpoint (`toolchain.llama2.checkpoint.write_checkpoint`).

Training runs for a time budget, so a rebuild gives a model of the same
recipe, not the same bytes.  PyTorch is needed only for this step and is
not a project requirement (`.venv/bin/pip install torch`).

## Sample

From the NumPy reference of run.c (`toolchain.llama2.reference.generate`,
no prompt, temperature {SAMPLE_TEMPERATURE}, top-p 0.9, seed {SAMPLE_SEED}):

> {sample}
"""
    (out / "README.md").write_text(text, encoding="utf-8")
