"""The demo model: corpus, tokenizer and the committed MODEL.BIN/TOKENIZ.BIN.

The torch network's agreement with run.c's maths is checked by
`invoke demo-model` itself before it trains (torch is not a test dependency)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from toolchain import paths
from toolchain.demo import bpe, corpus
from toolchain.llama2.checkpoint import read_config
from toolchain.llama2.reference import generate
from toolchain.llama2.tokenizer import Tokenizer, write_tokenizer

DEMO = paths.REPO_ROOT / "models" / "demo"


def test_corpus_is_seeded_ascii_and_grammatical() -> None:
    a = corpus.stories(200, 7)
    assert a == corpus.stories(200, 7) and a != corpus.stories(200, 8)
    for story in a:
        assert story.isascii() and "{" not in story and "  " not in story
        assert not re.search(r"\b(she|her)\b", story) or not re.search(r"\b(he|his|him)\b", story)


def test_vocabulary_layout_and_encoding_match_run_c() -> None:
    stories = corpus.stories(300, 3)
    pieces, scores = bpe.train(stories, 512)
    assert len(pieces) == len(scores) == 512
    assert pieces[:3] == [b"<unk>", b"\n<s>\n", b"\n</s>\n"]
    assert pieces[3] == b"<0x00>" and pieces[258] == b"<0xFF>"
    assert not any(b" " in p[1:] for p in pieces[259:])  # no piece spans two words
    encoder = bpe.ChunkEncoder(pieces, scores)
    reference = Tokenizer(pieces, scores, max(map(len, pieces)))
    for story in corpus.stories(40, 99):  # stories the vocabulary was not learned from
        ids = encoder.encode(story)
        assert ids == reference.encode(story)
        text = b"".join(reference.decode(p, t) for p, t in zip(ids, ids[1:]))
        assert text.decode("ascii") == story
    assert len(ids) < len(story) / 2  # merges really compress


def test_committed_demo_model_is_small_and_consistent() -> None:
    model, tok = DEMO / "MODEL.BIN", DEMO / "TOKENIZ.BIN"
    assert model.stat().st_size + tok.stat().st_size <= 2_000_000
    config = read_config(model)
    assert Tokenizer.read(tok, config.vocab_size).vocab_size == config.vocab_size
    assert (DEMO / "README.md").read_text().count("invoke demo-model") >= 1


def test_committed_demo_model_tells_a_story() -> None:
    known = set(re.findall(r"[A-Za-z]+", " ".join(corpus.stories(2000, 1998))))
    text = generate(DEMO / "MODEL.BIN", DEMO / "TOKENIZ.BIN", prompt="Once upon a time",
                    temperature=0.0, steps=120).decode("ascii")
    words = re.findall(r"[A-Za-z]+", text)
    assert text.startswith("Once upon a time") and len(words) > 30
    assert sum(w in known for w in words) / len(words) > 0.95, text
    assert text.count(".") >= 3, text  # sentences, not a word salad


def test_demo_model_task_says_how_to_get_torch(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import builtins

    from toolchain.demo import make
    from toolchain.errors import ConfigError

    real_import = builtins.__import__

    def no_torch(name: str, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        if name == "torch" or name.startswith("torch."):
            raise ImportError("No module named 'torch'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_torch)
    with pytest.raises(ConfigError, match=r"pip install torch"):
        make.make_demo_model(tmp_path / "out", minutes=0.01)
    assert not (tmp_path / "out").exists()


def test_write_tokenizer_round_trip(tmp_path: Path) -> None:
    pieces, scores = bpe.train(corpus.stories(100, 1), 400)
    write_tokenizer(tmp_path / "t.bin", pieces, scores)
    back = Tokenizer.read(tmp_path / "t.bin", 400)
    assert back.pieces == pieces and back.scores == scores
