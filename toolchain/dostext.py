"""The DOS-text policy: what every text file of the bundle must be.

A DOS-era editor, COMMAND.COM or Borland MAKE chokes on LF-only lines,
8-bit characters or lines wider than the screen, so every text file the
bundle gets is checked here: CRLF line ends, 7-bit ASCII, at most 80
columns, a final CRLF.
"""

from __future__ import annotations

from pathlib import Path

from toolchain.errors import BuildError

MAX_COLUMNS = 80


def check_dos_text(name: str, text: str) -> None:
    """Refuse text a DOS-era editor or COMMAND.COM would choke on."""
    for number, line in enumerate(text.split("\r\n"), start=1):
        if "\n" in line or "\r" in line:
            raise BuildError(f"{name}:{number}: line does not end in CRLF")
        if not line.isascii():
            raise BuildError(f"{name}:{number}: not 7-bit ASCII")
        if len(line) > MAX_COLUMNS:
            raise BuildError(f"{name}:{number}: {len(line)} columns (at most {MAX_COLUMNS})")
    if not text.endswith("\r\n"):
        raise BuildError(f"{name}: must end with CRLF")


def to_crlf(data: bytes) -> str:
    """A text file's bytes as CRLF text (latin-1 keeps every byte)."""
    return data.decode("latin-1").replace("\r\n", "\n").replace("\n", "\r\n")


def write_dos_text(path: Path, text: str) -> Path:
    """Check and write a DOS text file byte for byte (no newline translation)."""
    check_dos_text(path.name, text)
    path.write_bytes(text.encode("ascii"))
    return path
