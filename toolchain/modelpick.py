"""Which model and tokenizer go into a bundle.

Given with ``--model``/``--tokenizer``, or found in a models folder:
``$RETROLLAMA_MODELS``, then the ``retrollama.models_dir`` setting, then the
shared test models beside the checkout, then the cache ``invoke
models.fetch`` downloads into, then the project's own demo model.  The first
folder holding a known (checkpoint, tokenizer) pair wins; the pairs come
from the model registry (toolchain/data/models.yaml), in its order, plus the
bundle's own names.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from toolchain import paths
from toolchain.errors import ModelError
from toolchain.models import registry

# The names a bundle (or a models folder laid out like one) uses.
BUNDLE_PAIRS = (("MODEL.BIN", "TOKENIZ.BIN"), ("model.bin", "tokenizer.bin"))

DEMO_DIR = paths.REPO_ROOT / "models" / "demo"


def known_pairs() -> list[tuple[str, str]]:
    """(checkpoint file, tokenizer file) names, registry models first."""
    entries = registry.load()
    pairs = [
        (e.file, entries[e.tokenizer].file)
        for e in entries.values()
        if e.kind == "checkpoint" and e.tokenizer in entries
    ]
    return pairs + list(BUNDLE_PAIRS)


@dataclass(frozen=True)
class ModelPair:
    checkpoint: Path
    tokenizer: Path


def search_dirs(configured: str | None = None) -> list[Path]:
    """The folders searched when no ``--model`` is given, in order."""
    dirs = []
    env = os.environ.get("RETROLLAMA_MODELS", "").strip()
    if env:
        dirs.append(Path(env).expanduser())
    if configured:
        dirs.append(Path(configured).expanduser())
    dirs += [paths.SHARED_MODELS, registry.cache_dir(), DEMO_DIR]
    return dirs


def _guess_tokenizer(checkpoint: Path) -> Path | None:
    for ckpt, tok in known_pairs():
        if checkpoint.name == ckpt and (checkpoint.parent / tok).is_file():
            return checkpoint.parent / tok
    for _, tok in BUNDLE_PAIRS:
        if (checkpoint.parent / tok).is_file():
            return checkpoint.parent / tok
    return None


def pick_model(model: str | None, tokenizer: str | None, configured: str | None = None) -> ModelPair:
    """Resolve the model files, or say in one line what to pass."""
    if model:
        ckpt = Path(model).expanduser()
        if not ckpt.is_file():
            raise ModelError(f"{ckpt}: no such model file")
        tok = Path(tokenizer).expanduser() if tokenizer else _guess_tokenizer(ckpt)
        if tok is None:
            raise ModelError(f"{ckpt}: no tokenizer beside it; pass --tokenizer PATH")
        if not tok.is_file():
            raise ModelError(f"{tok}: no such tokenizer file")
        return ModelPair(ckpt, tok)
    if tokenizer:
        raise ModelError("--tokenizer given without --model; pass both")
    pairs = known_pairs()
    for folder in search_dirs(configured):
        for ckpt_name, tok_name in pairs:
            if (folder / ckpt_name).is_file() and (folder / tok_name).is_file():
                return ModelPair(folder / ckpt_name, folder / tok_name)
    looked = ", ".join(str(d) for d in search_dirs(configured))
    raise ModelError(
        f"no model found (looked in {looked}); pass --model FILE --tokenizer FILE "
        "or set RETROLLAMA_MODELS to a folder with e.g. stories260K.bin + tok512.bin"
    )
