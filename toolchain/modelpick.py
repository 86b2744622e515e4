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


def _tokenizers_for_vocab(checkpoint: Path) -> list[str]:
    """Registry tokenizer file names whose models have this checkpoint's vocabulary size.

    A model of one's own (``invoke quantize``'s stories15M_q80.bin) has no
    known name, but its vocabulary size says which tokenizer it needs.
    """
    from toolchain.llama2.quant import read_any_config

    try:
        vocab = read_any_config(checkpoint)[0].vocab_size
    except ModelError:
        return []
    entries = registry.load()
    names = []
    for e in entries.values():
        if e.kind == "checkpoint" and e.config is not None and e.config.vocab_size == vocab and e.tokenizer:
            tok = entries[e.tokenizer].file
            if tok not in names:
                names.append(tok)
    return names


def _guess_tokenizer(checkpoint: Path) -> Path | None:
    for ckpt, tok in known_pairs():
        if checkpoint.name == ckpt and (checkpoint.parent / tok).is_file():
            return checkpoint.parent / tok
    for _, tok in BUNDLE_PAIRS:
        if (checkpoint.parent / tok).is_file():
            return checkpoint.parent / tok
    for tok in _tokenizers_for_vocab(checkpoint):
        for folder in (checkpoint.parent, registry.cache_dir()):
            if (folder / tok).is_file():
                return folder / tok
    return None


def model_path(model: str, configured: str | None = None) -> tuple[Path, Path | None]:
    """A model argument -> (checkpoint file, its registry tokenizer if known).

    A path to a file is taken as it is; a bare name such as ``stories15M``
    is looked up in the registry, as ``invoke inspect`` does, and means that
    file in the first models folder holding it (the same folders a build
    searches, the download cache among them), with a one-line hint to fetch
    it when none does.
    """
    path = Path(model).expanduser()
    if path.is_file():
        return path, None
    if path.suffix or "/" in model or "\\" in model:
        raise ModelError(f"{path}: no such model file (or a registry name; see `invoke models`)")
    entries = registry.load()
    entry = registry.get(model, entries)
    if entry.kind != "checkpoint":
        raise ModelError(f"{model}: is a tokenizer in the registry, not a model")
    tok_entry = entries.get(entry.tokenizer) if entry.tokenizer else None
    for folder in search_dirs(configured):
        if (folder / entry.file).is_file():
            tok = folder / tok_entry.file if tok_entry is not None else None
            if tok is None or not tok.is_file():
                cached_tok = registry.cached_path(tok_entry) if tok_entry is not None else None
                tok = cached_tok if cached_tok is not None and cached_tok.is_file() else None
            return folder / entry.file, tok
    cached = registry.cached_path(entry)
    raise ModelError(f"{entry.name} is not downloaded yet ({cached}): run `invoke models.fetch {entry.name}`")


def pick_model(model: str | None, tokenizer: str | None, configured: str | None = None) -> ModelPair:
    """Resolve the model files, or say in one line what to pass."""
    if model:
        ckpt, registry_tok = model_path(model, configured)
        tok = Path(tokenizer).expanduser() if tokenizer else (registry_tok or _guess_tokenizer(ckpt))
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
