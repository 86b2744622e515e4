"""A small byte-pair vocabulary for the demo model, in llama2.c's layout.

Ids 0-2 are ``<unk>``, BOS and EOS as in llama2.c's tokenizers; 3-258 the
byte-fallback pieces ``<0x00>``..``<0xFF>`` (so any prompt encodes, and
run.c's decoder prints them as raw bytes); then the merged pieces with
scores -0, -1, -2... in the order they were learned, and last the single
characters of the corpus.

Merges are learned inside chunks -- an optional leading space plus a run of
letters, or an optional space plus one other character -- so no piece
spans a word boundary.  run.c's encoder merges the best-scoring adjacent
pair anywhere in the text, but no concatenation across two chunks is a
piece, so encoding chunk by chunk (``encode_chunks``, fast, cached) gives
the same ids as run.c on the whole text; ``make`` checks that against
``toolchain.llama2.tokenizer`` before training.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

SPECIALS = [b"<unk>", b"\n<s>\n", b"\n</s>\n"]
BOS = 1
_CHUNK = re.compile(r" ?[A-Za-z]+| ?[^A-Za-z ]| ")


def chunks(text: str) -> list[str]:
    """The text as run.c sees it (a dummy-prefix space first), cut into chunks."""
    return _CHUNK.findall(" " + text)


def train(texts: Iterable[str], vocab_size: int) -> tuple[list[bytes], list[float]]:
    """Pieces and scores of a ``vocab_size``-token vocabulary learned from ``texts``."""
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(chunks(text))
    chars = sorted({ch for chunk in counts for ch in chunk})
    if any(ord(ch) > 127 for ch in chars):
        raise ValueError("the demo corpus must be 7-bit ASCII")
    base = len(SPECIALS) + 256
    n_merges = vocab_size - base - len(chars)
    if n_merges < 0:
        raise ValueError(f"vocab_size {vocab_size} is too small for {len(chars)} characters")

    words = {tuple(chunk): n for chunk, n in counts.items()}
    merges: list[str] = []
    while len(merges) < n_merges:
        pairs: Counter[tuple[str, str]] = Counter()
        for symbols, n in words.items():
            for pair in zip(symbols, symbols[1:]):
                pairs[pair] += n
        if not pairs:
            break
        # Most frequent pair; ties broken by the pair itself, so training is deterministic.
        (a, b), _ = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))
        merged = a + b
        merges.append(merged)
        new_words: dict[tuple[str, ...], int] = {}
        for symbols, n in words.items():
            out, i = [], 0
            while i < len(symbols):
                if i + 1 < len(symbols) and symbols[i] == a and symbols[i + 1] == b:
                    out.append(merged)
                    i += 2
                else:
                    out.append(symbols[i])
                    i += 1
            new_words[tuple(out)] = new_words.get(tuple(out), 0) + n
        words = new_words

    pieces = list(SPECIALS) + [f"<0x{i:02X}>".encode() for i in range(256)]
    scores = [0.0] * len(pieces)
    for rank, piece in enumerate(merges):
        pieces.append(piece.encode("ascii"))
        scores.append(-float(rank))
    for i, ch in enumerate(chars):
        pieces.append(ch.encode("ascii"))
        scores.append(-float(len(merges) + i))
    return pieces, scores


class ChunkEncoder:
    """run.c's greedy merge rule applied per chunk, with a cache (the corpus repeats words)."""

    def __init__(self, pieces: list[bytes], scores: list[float]):
        self.pieces = pieces
        self.scores = scores
        self.ids: dict[bytes, int] = {}
        for i, p in enumerate(pieces):
            self.ids.setdefault(p, i)
        self._cache: dict[str, list[int]] = {}

    def chunk(self, chunk: str) -> list[int]:
        """Ids of one chunk."""
        hit = self._cache.get(chunk)
        if hit is not None:
            return hit
        toks = []
        for byte in chunk.encode("ascii"):
            found = self.ids.get(bytes([byte]))
            toks.append(found if found is not None else byte + 3)
        while True:
            best, best_i, best_id = float("-inf"), -1, -1
            for i in range(len(toks) - 1):
                merged = self.ids.get(self.pieces[toks[i]] + self.pieces[toks[i + 1]])
                if merged is not None and self.scores[merged] > best:
                    best, best_i, best_id = self.scores[merged], i, merged
            if best_i < 0:
                break
            toks[best_i : best_i + 2] = [best_id]
        self._cache[chunk] = toks
        return toks

    def encode(self, text: str) -> list[int]:
        """BOS plus the ids of ``text``, as run.c's encode(text, bos=1, eos=0) gives them."""
        out = [BOS]
        for c in chunks(text):
            out += self.chunk(c)
        return out
