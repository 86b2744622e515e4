"""The MinGW i686 build of the engine, run under Wine, prints the same bytes
as the native build (CRLF line ends aside): the closest we get to RUN.EXE
on Windows 98 without a Windows 98."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from engine_util import LILY, PROMPT, run

from toolchain import enginebuild
from toolchain.llama2.checkpoint import Config, write_random_checkpoint
from toolchain.smoke import wine_env

pytestmark = pytest.mark.wine

WINE_TIMEOUT_S = 120


@pytest.fixture(scope="module")
def wine_exe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("wine") is None:
        pytest.fail("wine is not installed (apt-get install wine wine32)")
    return enginebuild.build_mingw(tmp_path_factory.mktemp("mingw"))


def wine(exe: Path, *args: str | Path, cwd: Path | None = None):
    return run(exe, *args, wrapper=["wine"], timeout=WINE_TIMEOUT_S, cwd=cwd)


@pytest.mark.parametrize("flags", [["-t", "0", "-n", "120"], ["-t", "0.9", "-p", "0.9", "-s", "77", "-n", "200"]])
def test_wine_output_equals_native(wine_exe: Path, native_engine: Path, stories260k: tuple[Path, Path],
                                   flags: list[str]) -> None:
    ckpt, tok = stories260k
    win = wine(wine_exe, ckpt, "-z", tok, "-i", PROMPT, *flags)
    nat = run(native_engine, ckpt, "-z", tok, "-i", PROMPT, *flags)
    assert win.returncode == 0, win.stderr[-500:]
    assert win.stdout.replace(b"\r\n", b"\n") == nat.stdout
    assert win.stdout.startswith(LILY) if flags[1] == "0" else True
    assert b"achieved tok/s: " in win.stderr


def test_wine_bundle_layout_and_bad_input(wine_exe: Path, stories260k: tuple[Path, Path], tmp_path: Path) -> None:
    ckpt, tok = stories260k
    exe = tmp_path / "RUN.EXE"
    shutil.copy(wine_exe, exe)
    proc = wine(exe, "-n", "5", cwd=tmp_path)
    assert proc.returncode == 2 and b"MODEL.BIN: cannot open the checkpoint" in proc.stderr
    shutil.copy(ckpt, tmp_path / "MODEL.BIN")
    shutil.copy(tok, tmp_path / "TOKENIZ.BIN")
    elsewhere = tmp_path / "sub"
    elsewhere.mkdir()
    proc = wine(exe, "-t", "0", "-n", "40", "-i", PROMPT, cwd=elsewhere)
    assert proc.returncode == 0, proc.stderr[-500:]
    assert proc.stdout.startswith(LILY[:40])


def test_wine_ansi_prompt_reaches_the_tokenizer_as_utf8(wine_exe: Path, native_engine: Path,
                                                        stories260k: tuple[Path, Path], tmp_path: Path) -> None:
    """Under LC_ALL=C.UTF-8 Wine's ANSI code page is 1252: the prompt reaches RUN.EXE as 0xEB/0xE9 bytes,
    which the engine converts back to UTF-8 before encoding; the story (a pipe) stays UTF-8, and -o too (with CR LF: a text file for Notepad)."""
    ckpt, tok = stories260k
    prompt = "Zo\u00eb saw a caf\u00e9"
    story = tmp_path / "STORY.TXT"
    env = {**wine_env(), "LC_ALL": "C.UTF-8"}
    win = subprocess.run(["wine", str(wine_exe), str(ckpt), "-z", str(tok), "-t", "0", "-n", "40", "-i", prompt,
                          "-o", str(story)], capture_output=True, timeout=WINE_TIMEOUT_S, env=env, check=False)
    nat = run(native_engine, ckpt, "-z", tok, "-t", "0", "-n", "40", "-i", prompt)
    assert win.returncode == 0, win.stderr[-500:]
    assert "caf\u00e9".encode() in nat.stdout  # (\u00eb is two byte tokens, which llama2.c does not print)
    assert win.stdout.replace(b"\r\n", b"\n") == nat.stdout
    assert story.read_bytes() == nat.stdout.replace(b"\n", b"\r\n")  # -o: UTF-8, Windows line ends


def test_wine_streamed_weights_and_memory_query(wine_exe: Path, native_engine: Path, tmp_path: Path,
                                                models_dir: Path) -> None:
    """-b through the Win32 reader (CreateFile, SetFilePointer with the high DWORD, ReadFile) gives the
    in-memory bytes; with no -b the budget is GlobalMemoryStatus's free memory, which holds this model."""
    ckpt = tmp_path / "m.bin"
    write_random_checkpoint(ckpt, Config(128, 256, 2, 4, 2, 32000, 32, shared_classifier=False), seed=5)
    tok = models_dir / "tokenizer.bin"
    flags = ["-n", "12", "-s", "9", "-v"]
    streamed = wine(wine_exe, ckpt, "-z", tok, *flags, "-b", "6")
    default = wine(wine_exe, ckpt, "-z", tok, *flags)
    nat = run(native_engine, ckpt, "-z", tok, *flags)
    assert streamed.returncode == 0 and default.returncode == 0, streamed.stderr[-500:]
    assert b"weights: streamed from disk (budget 6 MB)" in streamed.stderr
    assert b"weights: in memory (within the free memory reported)" in default.stderr
    assert streamed.stdout == default.stdout and streamed.stdout.replace(b"\r\n", b"\n") == nat.stdout


def _sparse_checkpoint_over_2gb(path: Path) -> int:
    """A valid fp32 checkpoint of 2.56 GB whose separate classifier lies beyond 2^31: the legacy RoPE tables
    of a 10M-token context (never read) are a hole in a sparse file, so it takes 2 MB of disk."""
    import numpy as np

    dim, hidden, layers, heads, vocab, seq_len = 128, 256, 2, 2, 512, 10_000_000
    rng = np.random.default_rng(21)

    def floats(n: int, scale: float = 0.08, base: float = 0.0) -> bytes:
        return (base + scale * rng.standard_normal(n)).astype("<f4").tobytes()

    with path.open("wb") as f:
        f.write(np.array([dim, hidden, layers, heads, heads, -vocab, seq_len], dtype="<i4").tobytes())
        f.write(floats(vocab * dim))
        f.write(floats(layers * dim, 0.1, 1.0))                             # rms_att
        f.write(floats(layers * dim * dim * 4))                             # wq, wk, wv, wo
        f.write(floats(layers * dim, 0.1, 1.0))                             # rms_ffn
        f.write(floats(layers * dim * hidden * 3))                          # w1, w2, w3
        f.write(floats(dim, 0.1, 1.0))                                      # rms_final
        f.seek(seq_len * (dim // heads) * 4, 1)                             # the legacy tables: a hole
        cls_at = f.tell()
        f.write(floats(vocab * dim, 0.5))                                   # the classifier, past 2 GB
    return cls_at


def test_wine_streams_a_file_beyond_2gb(wine_exe: Path, native_engine: Path, models_dir: Path,
                                        tmp_path: Path) -> None:
    """FAT32 holds files up to 4 GB: the Win32 reader seeks past 2^31 with SetFilePointer's high DWORD and
    sizes the file with GetFileSize's, so a checkpoint whose classifier lies beyond 2 GB streams to the
    logits of the same exe reading it in memory (msvcrt's fread has no 2 GB limit) and to the native
    (64-bit) build's story (which is byte-identical in memory and streamed, tests/test_engine_stream.py)."""
    ckpt = tmp_path / "big.bin"
    cls_at = _sparse_checkpoint_over_2gb(ckpt)
    assert cls_at > 2**31 and 2**31 < ckpt.stat().st_size < 2**32
    tok = models_dir / "tok512.bin"
    flags = ["-n", "6", "-s", "4", "-i", PROMPT]
    nat = run(native_engine, ckpt, "-z", tok, *flags, "-b", "2", timeout=120)  # seeks over the hole
    assert nat.returncode == 0, nat.stderr[-500:]
    win = wine(wine_exe, ckpt, "-z", tok, *flags, "-b", "2", "-v", "-L", tmp_path / "win.f32")
    assert win.returncode == 0, win.stderr[-500:]
    assert b"weights: streamed from disk (budget 2 MB)" in win.stderr
    assert win.stdout.replace(b"\r\n", b"\n") == nat.stdout
    in_ram = wine(wine_exe, ckpt, "-z", tok, *flags, "-b", "0", "-L", tmp_path / "ram.f32")
    assert in_ram.returncode == 0 and in_ram.stdout == win.stdout, in_ram.stderr[-500:]
    assert (tmp_path / "win.f32").read_bytes() == (tmp_path / "ram.f32").read_bytes()
    # one byte short: the size check sees the whole 2.56 GB, not a 32-bit remainder
    with ckpt.open("r+b") as f:
        f.truncate(ckpt.stat().st_size - 1)
    short = wine(wine_exe, ckpt, "-z", tok, *flags, "-b", "2")
    lines = [line for line in short.stderr.decode(errors="replace").splitlines() if line.strip()]
    assert short.returncode == 2 and len(lines) == 1, lines
    assert f"file is {ckpt.stat().st_size} bytes but its header describes a {ckpt.stat().st_size + 1}-byte" in lines[0]
