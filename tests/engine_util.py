"""Helpers for the engine tests: build the engine once per profile, run it,
and write small (possibly damaged) checkpoints and tokenizers.

Checkpoints come from the reference package's ``write_random_checkpoint``;
the damaged variants are byte edits of those, so every bad-input test starts
from a file the engine accepts.
"""

from __future__ import annotations

import struct
import subprocess
from collections.abc import Sequence
from pathlib import Path

from toolchain.llama2.checkpoint import Config, write_random_checkpoint
from toolchain.smoke import wine_env

ENGINE_TIMEOUT_S = 60
PROMPT = "Once upon a time"
LILY = b"Once upon a time, there was a little girl named Lily. She loved to play outside in the park."

# A tiny model that fits tok512.bin: 16-wide, 2 heads, context 16.
SMALL = Config(16, 32, 1, 2, 2, 512, 16, shared_classifier=True)


def run(exe: Path, *args: str | Path, stdin: bytes = b"", timeout: float = ENGINE_TIMEOUT_S,
        cwd: Path | None = None, wrapper: Sequence[str] = ()) -> subprocess.CompletedProcess[bytes]:
    """Run the engine; stdout and stderr captured as bytes (``wrapper=["wine"]`` for Wine)."""
    cmd = [*wrapper, str(exe), *map(str, args)]
    env = wine_env() if "wine" in wrapper else None
    return subprocess.run(cmd, input=stdin, capture_output=True, timeout=timeout, check=False, cwd=cwd, env=env)


def stderr_lines(proc: subprocess.CompletedProcess[bytes]) -> list[str]:
    """The non-empty lines the engine wrote to stderr."""
    return [line for line in proc.stderr.decode("utf-8", "replace").splitlines() if line.strip()]


def small_model(folder: Path, config: Config = SMALL, seed: int = 3, name: str = "small.bin") -> Path:
    """A random checkpoint of ``config`` in ``folder``."""
    path = folder / name
    write_random_checkpoint(path, config, seed=seed)
    return path


def with_header(src: Path, dst: Path, **fields: int) -> Path:
    """A copy of checkpoint ``src`` whose header fields are replaced (by name)."""
    names = ("dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len")
    data = bytearray(src.read_bytes())
    values = list(struct.unpack_from("<7i", data))
    for key, value in fields.items():
        values[names.index(key)] = value
    struct.pack_into("<7i", data, 0, *values)
    dst.write_bytes(bytes(data))
    return dst


def write_tokenizer(path: Path, pieces: Sequence[bytes], max_token_length: int,
                    lengths: Sequence[int] | None = None) -> Path:
    """A tokenizer.bin with the given pieces (scores 0, -1, -2...); ``lengths`` may lie."""
    out = bytearray(struct.pack("<i", max_token_length))
    for i, piece in enumerate(pieces):
        n = len(piece) if lengths is None else lengths[i]
        out += struct.pack("<fi", -float(i), n) + piece
    path.write_bytes(bytes(out))
    return path
