"""The model registry: the files retrollama can fetch, read from models.yaml.

URLs, sizes and digests are pinned data (``toolchain/data/models.yaml``),
not code, so refreshing a pin never touches the fetcher.  The file is
validated as a whole and every problem names the file and the entry, since a
wrong digest here would make every download "fail".
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator

from toolchain import paths, yamlfile
from toolchain.errors import ConfigError, ModelError
from toolchain.llama2.checkpoint import Config

REGISTRY_FILE = paths.DATA_DIR / "models.yaml"

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class Shape(yamlfile.Strict):
    """A checkpoint's header values, so a model can be planned before it is
    fetched; also the shape a bench case generates and a cost-model point has."""

    dim: int = Field(gt=0)
    hidden_dim: int = Field(gt=0)
    n_layers: int = Field(gt=0)
    n_heads: int = Field(gt=0)
    n_kv_heads: int = Field(gt=0)
    vocab_size: int = Field(gt=0)
    seq_len: int = Field(gt=0)
    shared_classifier: bool = True

    def to_config(self) -> Config:
        """The checkpoint module's Config for this shape."""
        return Config(**self.model_dump())


class Entry(yamlfile.Strict):
    """One fetchable file: a checkpoint or a tokenizer."""

    name: str = Field(description="Registry key, what the user types")
    kind: Literal["checkpoint", "tokenizer"]
    file: str = Field(description="File name in the cache")
    url: str
    size: int | None = Field(None, gt=0, description="Bytes; null when unknown")
    sha256: str | None = Field(None, description="Lower-case hex digest; null when unknown")
    tokenizer: str | None = Field(None, description="For a checkpoint: the tokenizer entry it needs")
    config: Shape | None = Field(None, description="For a checkpoint: its header values")
    description: str = ""
    source: str = Field("", description="Where size and sha256 come from")

    @field_validator("sha256")
    @classmethod
    def _hex(cls, value: str | None) -> str | None:
        if value is not None and not _SHA256.match(value):
            raise ValueError("must be 64 lower-case hex digits or null")
        return value

    @field_validator("file")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if not value or "/" in value or "\\" in value or value.startswith("."):
            raise ValueError("must be a plain file name")
        return value

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return value


def load(path: Path = REGISTRY_FILE) -> dict[str, Entry]:
    """All entries by name, in file order; ConfigError listing every problem at its line.

    Read through ``yamlfile`` (size cap, duplicate names refused, aliases
    bounded), so a hand-edited registry fails with ``models.yaml:LINE:COL``.
    """
    from toolchain import yamlfile

    doc = yamlfile.load_mapping(path, what="the model registry")
    raw = doc.data
    entries: dict[str, Entry] = {}
    problems: list[str] = []
    for name, body in raw.items():
        if not isinstance(body, dict):
            problems.append(f"{doc.at(yamlfile.node_at(doc.node, (name,)))}: {name}: must be a mapping")
            continue
        try:
            entries[str(name)] = Entry.model_validate({**body, "name": str(name)})
        except ValidationError as exc:
            problems += yamlfile.validation_lines(doc, exc, prefix=(name,))
    for entry in entries.values():
        if entry.kind == "checkpoint":
            tok = entries.get(entry.tokenizer or "")
            if tok is None or tok.kind != "tokenizer":
                where = doc.at(yamlfile.nearest_node(doc, (entry.name, "tokenizer")))
                problems.append(f"{where}: {entry.name}.tokenizer: {entry.tokenizer!r} is not a tokenizer entry")
            if entry.config is None:
                where = doc.at(yamlfile.nearest_node(doc, (entry.name,)))
                problems.append(f"{where}: {entry.name}.config: a checkpoint needs its header values")
        elif entry.tokenizer is not None or entry.config is not None:
            where = doc.at(yamlfile.nearest_node(doc, (entry.name,)))
            problems.append(f"{where}: {entry.name}: only a checkpoint has a tokenizer and a config")
    if problems:
        raise ConfigError("\n".join(problems))
    return entries


def get(name: str, entries: dict[str, Entry] | None = None) -> Entry:
    """The entry called ``name`` (case-insensitive); ModelError listing the known names."""
    entries = load() if entries is None else entries
    if name in entries:
        return entries[name]
    folded = {k.lower(): v for k, v in entries.items()}
    if name.lower() in folded:
        return folded[name.lower()]
    raise ModelError(f"unknown model {name!r} (known: {', '.join(entries)})")


def with_tokenizer(entry: Entry, entries: dict[str, Entry]) -> list[Entry]:
    """What fetching ``entry`` means: a checkpoint comes with its tokenizer."""
    if entry.kind == "checkpoint" and entry.tokenizer:
        return [entry, entries[entry.tokenizer]]
    return [entry]


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/retrollama``, else ``~/.cache/retrollama`` (XDG base-dir spec)."""
    base = os.environ.get("XDG_CACHE_HOME", "").strip()
    # The spec says a relative XDG_CACHE_HOME is invalid and must be ignored.
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".cache"
    return root / "retrollama"


def cached_path(entry: Entry, cache: Path | None = None) -> Path:
    """Where ``entry`` lives once fetched (it may not exist yet)."""
    return (cache or cache_dir()) / entry.file


def cache_state(entry: Entry, cache: Path | None = None) -> str:
    """'cached', 'partial (N bytes)', 'wrong size' or 'missing' -- a cheap check by size.

    The full sha256 check happens on fetch; listing stays instant even with
    a 438 MB model in the cache.
    """
    path = cached_path(entry, cache)
    if path.is_file():
        if entry.size is not None and path.stat().st_size != entry.size:
            return "wrong size"
        return "cached"
    part = path.with_name(path.name + ".part")
    if part.is_file():
        return f"partial ({part.stat().st_size} bytes)"
    return "missing"
