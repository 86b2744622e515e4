"""What a user sees from the engine: the story, the llama2.c command line,
the bundle layout, -v, -L, chat mode and the exit status.

Exactness against llama2.c's algorithm (logits, sampled tokens) is proven in
test_engine_vs_reference.py; these tests pin the program's behaviour.
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from engine_util import LILY, PROMPT, run, small_model, stderr_lines

from toolchain.llama2.checkpoint import Config

Model = tuple[Path, Path]


def test_greedy_story_begins_with_lily(native_engine: Path, stories260k: Model) -> None:
    ckpt, tok = stories260k
    proc = run(native_engine, ckpt, "-z", tok, "-t", "0", "-i", PROMPT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(LILY)
    assert proc.stdout.endswith(b"\n")
    lines = stderr_lines(proc)
    assert len(lines) == 1 and re.fullmatch(r"achieved tok/s: \d+\.\d{6}", lines[0]), lines


def test_same_seed_same_story_other_seed_other_story(native_engine: Path, stories260k: Model) -> None:
    ckpt, tok = stories260k
    a = run(native_engine, ckpt, "-z", tok, "-s", "42", "-n", "64").stdout
    b = run(native_engine, ckpt, "-z", tok, "-s", "42", "-n", "64").stdout
    c = run(native_engine, ckpt, "-z", tok, "-s", "-42", "-n", "64").stdout
    assert a == b and len(a) > 40
    assert a != c


def test_bundle_layout_finds_model_beside_exe(native_engine: Path, stories260k: Model, tmp_path: Path) -> None:
    """No checkpoint argument: MODEL.BIN and TOKENIZ.BIN next to the exe, from any directory."""
    ckpt, tok = stories260k
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    exe = bundle / "RUN"
    shutil.copy(native_engine, exe)
    shutil.copy(ckpt, bundle / "MODEL.BIN")
    shutil.copy(tok, bundle / "TOKENIZ.BIN")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = run(exe, "-t", "0", "-n", "50", "-i", PROMPT, cwd=elsewhere)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(LILY[:50])
    direct = run(native_engine, ckpt, "-z", tok, "-t", "0", "-n", "50", "-i", PROMPT)
    assert proc.stdout == direct.stdout


def test_no_model_beside_exe_is_one_line(native_engine: Path, tmp_path: Path) -> None:
    exe = tmp_path / "RUN"
    shutil.copy(native_engine, exe)
    proc = run(exe, "-n", "5", cwd=tmp_path)
    assert proc.returncode != 0
    lines = stderr_lines(proc)
    assert len(lines) == 1 and "MODEL.BIN" in lines[0]


@pytest.mark.parametrize(("steps", "positions"), [("0", 512), ("5000", 512), ("7", 7)])
def test_steps_clamp_to_context(native_engine: Path, stories260k: Model, tmp_path: Path, steps: str,
                                positions: int) -> None:
    """-n 0 or beyond seq_len means seq_len (512), as in run.c; -L shows each forward()."""
    ckpt, tok = stories260k
    dump = tmp_path / "logits.f32"
    # a prompt long enough that BOS is never sampled before the end
    proc = run(native_engine, ckpt, "-z", tok, "-t", "0", "-n", steps, "-L", dump, "-v")
    assert proc.returncode == 0, proc.stderr
    logits = np.fromfile(dump, dtype="<f4")
    assert logits.size % 512 == 0
    calls = logits.size // 512
    assert calls <= positions
    if positions == 7:
        assert calls == 7
    assert f"KV cache for {positions} positions" in proc.stderr.decode()


def test_verbose_reports_config_and_memory(native_engine: Path, stories260k: Model) -> None:
    ckpt, tok = stories260k
    proc = run(native_engine, ckpt, "-z", tok, "-n", "3", "-v", "-t", "0")
    text = proc.stderr.decode()
    assert "dim=64 hidden_dim=172 n_layers=5 n_heads=8 n_kv_heads=4 vocab_size=512 seq_len=512" in text
    weights = int(re.search(r"weights (\d+) bytes", text).group(1))
    # the file minus the header and the two legacy RoPE tables (512 * 8 floats)
    assert weights == ckpt.stat().st_size - 28 - 4 * 512 * 8
    assert proc.stdout.count(b"\n") == 1  # -v writes nothing to stdout


def test_logits_dump_is_vocab_floats_per_position(native_engine: Path, stories260k: Model, tmp_path: Path) -> None:
    ckpt, tok = stories260k
    dump = tmp_path / "l.f32"
    proc = run(native_engine, ckpt, "-z", tok, "-t", "0", "-n", "9", "-i", PROMPT, "-L", dump)
    assert proc.returncode == 0
    logits = np.fromfile(dump, dtype="<f4").reshape(-1, 512)
    assert logits.shape == (9, 512)
    assert np.isfinite(logits).all()


def test_chat_mode_reads_stdin(native_engine: Path, stories260k: Model) -> None:
    ckpt, tok = stories260k
    proc = run(native_engine, ckpt, "-z", tok, "-m", "chat", "-t", "0", "-n", "60", stdin=b"\nHello there\n")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.startswith(b"Enter system prompt (optional): User: Assistant: ")
    # -y and -i skip the questions
    proc2 = run(native_engine, ckpt, "-z", tok, "-m", "chat", "-t", "0", "-n", "60", "-y", "Be nice", "-i", "Hi")
    assert proc2.returncode == 0 and proc2.stdout.startswith(b"Assistant: ")


def test_random_small_model_runs(native_engine: Path, models_dir: Path, tmp_path: Path) -> None:
    ckpt = small_model(tmp_path)
    proc = run(native_engine, ckpt, "-z", models_dir / "tok512.bin", "-n", "16", "-s", "5")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.endswith(b"\n")


def test_output_file_gets_the_story_too(native_engine: Path, stories260k: Model, tmp_path: Path) -> None:
    """-o: the story in a file as well (COMMAND.COM cannot redirect stderr, nor tee stdout)."""
    ckpt, tok = stories260k
    story = tmp_path / "STORY.TXT"
    proc = run(native_engine, ckpt, "-z", tok, "-t", "0", "-n", "60", "-i", PROMPT, "-o", story)
    assert proc.returncode == 0, proc.stderr
    assert story.read_bytes() == proc.stdout and proc.stdout.startswith(LILY[:50])
    chat = tmp_path / "CHAT.TXT"
    proc = run(native_engine, ckpt, "-z", tok, "-m", "chat", "-t", "0", "-n", "40", "-o", chat, stdin=b"\nHi\n")
    assert proc.returncode == 0 and chat.read_bytes() == proc.stdout


def test_40kb_prompt_encodes_in_well_under_a_second(native_engine: Path, models_dir: Path, tmp_path: Path) -> None:
    """BPE merges through a heap: 40 KB (16 s with llama2.c's rescans) within a context that can hold it."""
    ckpt = small_model(tmp_path, Config(16, 32, 1, 2, 2, 32000, 16384, shared_classifier=True))
    prompt = ("Once upon a time, Zo\u00eb saw a caf\u00e9 and a big red ball. " * 800)[:40000]
    start = time.monotonic()
    proc = run(native_engine, ckpt, "-z", models_dir / "tokenizer.bin", "-n", "2", "-i", prompt, timeout=20)
    assert proc.returncode == 0, proc.stderr
    assert time.monotonic() - start < 5
