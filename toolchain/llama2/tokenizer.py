"""The llama2.c tokenizer: ``tokenizer.bin`` reading, BPE encoding, decoding.

File format: int32 max_token_length, then per token a float32 merge score,
an int32 byte length and that many bytes (no terminator), all little-endian.

Encoding and decoding follow llama2.c's run.c step by step (not a "better"
SentencePiece) because the point of this module is to predict byte for byte
what run.c -- and therefore our engine -- prints.  Tokens are handled as C
strings would be: a piece is cut at its first NUL byte, since run.c stores
pieces NUL-terminated and compares them with strcmp.
"""

from __future__ import annotations

import os
import re
import struct
from collections.abc import Sequence
from pathlib import Path

from toolchain.errors import ModelError

BOS = 1
EOS = 2
# run.c's byte-fallback tokens <0x00>..<0xFF> start at id 3.
BYTE_FALLBACK_OFFSET = 3

# run.c's best-merge search starts below any sane score (a float32 -1e10).
_NO_SCORE = struct.unpack("<f", struct.pack("<f", -1e10))[0]

# run.c decodes a piece with sscanf(piece, "<0x%02hhX>"): "<0x", optional
# white space (every numeric conversion skips it), then one or two hex digits.
# The closing ">" is not checked by sscanf's return value.
_BYTE_PIECE = re.compile(rb"<0x[ \t\n\v\f\r]*([0-9A-Fa-f]{1,2})")

# isprint() and isspace() in the C locale.
_C_PRINTABLE = frozenset(range(0x20, 0x7F)) | frozenset(b" \t\n\v\f\r")


def _c_string(piece: bytes) -> bytes:
    """The piece as run.c sees it: everything before the first NUL."""
    nul = piece.find(b"\0")
    return piece if nul < 0 else piece[:nul]


class Tokenizer:
    """Pieces and scores of a tokenizer.bin, with run.c's encode and decode."""

    def __init__(self, pieces: Sequence[bytes], scores: Sequence[float], max_token_length: int):
        if len(pieces) != len(scores):
            raise ValueError("pieces and scores differ in length")
        self.pieces: list[bytes] = list(pieces)
        self.scores: list[float] = [float(s) for s in scores]
        self.max_token_length = max_token_length
        # run.c looks pieces up as C strings; the first id of a duplicate wins here.
        self._c_pieces = [_c_string(p) for p in self.pieces]
        self._ids: dict[bytes, int] = {}
        for i, piece in enumerate(self._c_pieces):
            self._ids.setdefault(piece, i)

    @property
    def vocab_size(self) -> int:
        """Number of tokens."""
        return len(self.pieces)

    @classmethod
    def read(cls, path: str | os.PathLike[str], vocab_size: int | None = None) -> Tokenizer:
        """Read a tokenizer.bin; with ``vocab_size``, it must hold exactly that many tokens.

        Every defect is a ModelError naming the file and, where it helps, the
        token and byte offset -- the same defects the engine refuses.
        """
        p = Path(path)
        try:
            data = p.read_bytes()
        except OSError as exc:
            raise ModelError(f"{p}: cannot read tokenizer: {exc.strerror or exc}") from None
        if len(data) < 4:
            raise ModelError(f"{p}: too short for a tokenizer ({len(data)} bytes, no max_token_length)")
        (max_len,) = struct.unpack_from("<i", data, 0)
        if max_len <= 0:
            raise ModelError(f"{p}: max_token_length is {max_len}, must be positive")
        pieces: list[bytes] = []
        scores: list[float] = []
        at = 4
        while at < len(data):
            i = len(pieces)
            if vocab_size is not None and i >= vocab_size:
                raise ModelError(
                    f"{p}: has more than the {vocab_size} tokens the model's vocabulary needs"
                )
            if at + 8 > len(data):
                raise ModelError(f"{p}: truncated in the header of token {i} (byte offset {at})")
            score, length = struct.unpack_from("<fi", data, at)
            at += 8
            if length < 0:
                raise ModelError(f"{p}: token {i} has negative length {length}")
            if length > max_len:
                raise ModelError(
                    f"{p}: token {i} is {length} bytes, longer than max_token_length {max_len}"
                )
            if at + length > len(data):
                raise ModelError(f"{p}: truncated in the bytes of token {i} (byte offset {at})")
            pieces.append(data[at : at + length])
            scores.append(score)
            at += length
        if vocab_size is not None and len(pieces) != vocab_size:
            raise ModelError(
                f"{p}: has {len(pieces)} tokens but the model's vocabulary has {vocab_size}"
            )
        return cls(pieces, scores, max_len)

    def lookup(self, piece: bytes) -> int:
        """The id of a piece, or -1 (run.c's str_lookup)."""
        return self._ids.get(piece, -1)

    def encode(self, text: bytes | str, bos: bool = True, eos: bool = False) -> list[int]:
        """Token ids for ``text`` exactly as run.c's encode() produces them.

        A " " dummy prefix token when the text is not empty; UTF-8 code points
        (up to 4 bytes) looked up whole, else one byte-fallback token per
        byte; then, repeatedly, the adjacent pair whose concatenation is the
        vocabulary entry with the highest score is merged (the leftmost pair
        on a tie).  The BOS token takes part in the merging, as in run.c.
        """
        raw = text.encode("utf-8") if isinstance(text, str) else bytes(text)
        raw = _c_string(raw)  # a C string ends at its first NUL
        tokens: list[int] = []
        if bos:
            tokens.append(BOS)
        if raw:
            space = self.lookup(b" ")
            if space < 0:
                raise ModelError("tokenizer has no ' ' token for the dummy prefix run.c adds")
            tokens.append(space)

        buf = bytearray()
        for i, byte in enumerate(raw):
            if byte & 0xC0 != 0x80:
                buf.clear()  # a new code point starts here
            buf.append(byte)
            nxt = raw[i + 1] if i + 1 < len(raw) else 0
            if nxt & 0xC0 == 0x80 and len(buf) < 4:
                continue  # more continuation bytes of this code point follow
            found = self.lookup(bytes(buf))
            if found >= 0:
                tokens.append(found)
            else:
                for b in buf:
                    fallback = b + BYTE_FALLBACK_OFFSET
                    if fallback >= self.vocab_size:
                        raise ModelError(
                            f"tokenizer has {self.vocab_size} tokens, too few for byte fallback "
                            f"of byte 0x{b:02X}"
                        )
                    tokens.append(fallback)
            buf.clear()

        pieces = self._c_pieces
        scores = self.scores
        while True:
            best_score = _NO_SCORE
            best_id = -1
            best_idx = -1
            for i in range(len(tokens) - 1):
                merged = self._ids.get(pieces[tokens[i]] + pieces[tokens[i + 1]], -1)
                if merged >= 0 and scores[merged] > best_score:
                    best_score = scores[merged]
                    best_id = merged
                    best_idx = i
            if best_idx < 0:
                break
            tokens[best_idx : best_idx + 2] = [best_id]

        if eos:
            tokens.append(EOS)
        return tokens

    def decode(self, prev: int, token: int) -> bytes:
        """The bytes run.c's decode() yields for ``token`` following ``prev``.

        After BOS a leading space is dropped (SentencePiece's dummy prefix);
        a ``<0xHH>`` piece stands for that raw byte.
        """
        piece = self._c_pieces[token]
        if prev == BOS and piece[:1] == b" ":
            piece = piece[1:]
        m = _BYTE_PIECE.match(piece)
        if m:
            piece = _c_string(bytes([int(m.group(1), 16)]))
        return piece


def printable(piece: bytes) -> bytes:
    """What run.c's safe_printf() writes for a decoded piece (C locale).

    A single byte that is neither printable nor white space (control codes,
    a lone byte >= 0x80) prints nothing; longer pieces print whole.
    """
    if len(piece) == 1 and piece[0] not in _C_PRINTABLE:
        return b""
    return piece


def write_tokenizer(
    path: str | os.PathLike[str],
    pieces: Sequence[bytes],
    scores: Sequence[float],
    max_token_length: int | None = None,
) -> None:
    """Write a tokenizer.bin (test fixtures; max_token_length defaults to the longest piece)."""
    if len(pieces) != len(scores):
        raise ValueError("pieces and scores differ in length")
    if max_token_length is None:
        max_token_length = max((len(p) for p in pieces), default=1)
    out = bytearray(struct.pack("<i", max_token_length))
    for piece, score in zip(pieces, scores):
        out += struct.pack("<fi", score, len(piece))
        out += piece
    Path(path).write_bytes(bytes(out))
