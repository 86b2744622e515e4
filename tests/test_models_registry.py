"""The model registry: its pinned data agrees with real files and with itself."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from toolchain.errors import ConfigError, ModelError
from toolchain.llama2.checkpoint import fp32_file_bytes, read_config
from toolchain.models import registry


def test_registry_lists_the_tinystories_family() -> None:
    entries = registry.load()
    for name in ("stories260K", "tok512", "stories15M", "stories42M", "stories110M", "tokenizer"):
        assert name in entries
    assert [e.name for e in registry.with_tokenizer(entries["stories15M"], entries)] == ["stories15M", "tokenizer"]
    assert entries["stories260K"].tokenizer == "tok512"


@pytest.mark.parametrize("name", ["stories260K", "tok512", "tokenizer"])
def test_pins_match_the_shared_files(models_dir: Path, name: str) -> None:
    entry = registry.load()[name]
    data = (models_dir / entry.file).read_bytes()
    assert entry.size == len(data)
    assert entry.sha256 == hashlib.sha256(data).hexdigest()


def test_checkpoint_sizes_follow_from_their_configs() -> None:
    for entry in registry.load().values():
        if entry.kind == "checkpoint":
            assert entry.config is not None
            assert fp32_file_bytes(entry.config.to_config()) == entry.size, entry.name


def test_stories260k_config_matches_its_header(stories260k: tuple[Path, Path]) -> None:
    entry = registry.load()["stories260K"]
    assert entry.config is not None
    assert entry.config.to_config() == read_config(stories260k[0])


def test_lookup_is_case_insensitive_and_names_the_known_models() -> None:
    assert registry.get("STORIES15m").name == "stories15M"
    with pytest.raises(ModelError, match="unknown model 'llama3'.*stories260K"):
        registry.get("llama3")


def test_bad_registry_files_are_reported_with_file_and_entry(tmp_path: Path) -> None:
    bad = tmp_path / "models.yaml"
    bad.write_text(
        "a:\n  kind: checkpoint\n  file: a.bin\n  url: ftp://x/a.bin\n  sha256: ABC\n  tokenizer: nope\n"
        "  config: {dim: 8, hidden_dim: 8, n_layers: 1, n_heads: 2, n_kv_heads: 2, vocab_size: 4, seq_len: 4}\n"
    )
    with pytest.raises(ConfigError) as exc:
        registry.load(bad)
    text = str(exc.value)
    assert f"{bad}:4:8: a.url" in text and f"{bad}:5:11: a.sha256" in text  # at their lines
    bad.write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match=r"models.yaml:\d+:\d+: YAML syntax error"):
        registry.load(bad)
    bad.write_text("t:\n  kind: tokenizer\n  file: t.bin\n  url: https://x/t.bin\nt:\n  kind: tokenizer\n")
    with pytest.raises(ConfigError, match=r"models.yaml:5:1: duplicate key 't' \(first at line 1\)"):
        registry.load(bad)
    bad.write_text("t:\n  kind: tokenizer\n  file: t.bin\n  url: https://x/t.bin\nc:\n  kind: checkpoint\n"
                   "  file: c.bin\n  url: https://x/c.bin\n  tokenizer: missing\n")
    with pytest.raises(ConfigError) as exc:
        registry.load(bad)
    assert "c.tokenizer: 'missing' is not a tokenizer entry" in str(exc.value)
    assert "c.config: a checkpoint needs its header values" in str(exc.value)


def test_cache_dir_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert registry.cache_dir() == tmp_path / "retrollama"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/dir")  # invalid per the spec: ignored
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert registry.cache_dir() == tmp_path / "home" / ".cache" / "retrollama"


def test_cache_state_by_size(tmp_path: Path) -> None:
    entry = registry.load()["tok512"]
    assert registry.cache_state(entry, tmp_path) == "missing"
    (tmp_path / "tok512.bin.part").write_bytes(b"x" * 10)
    assert registry.cache_state(entry, tmp_path) == "partial (10 bytes)"
    (tmp_path / "tok512.bin").write_bytes(b"x" * 10)
    assert registry.cache_state(entry, tmp_path) == "wrong size"
    (tmp_path / "tok512.bin").write_bytes(b"x" * 6227)
    assert registry.cache_state(entry, tmp_path) == "cached"


def test_a_registry_name_is_found_in_the_models_folders(stories260k, tmp_path, monkeypatch) -> None:
    """`--model stories260K` means that file in the first models folder holding
    it (../shared/models here), not only the download cache."""
    from toolchain.modelpick import pick_model

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty-cache"))
    pair = pick_model("stories260K", None)
    assert (pair.checkpoint, pair.tokenizer) == stories260k
