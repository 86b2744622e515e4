"""Bad input never crashes the engine: one line on stderr, a nonzero exit.

Everything here runs the AddressSanitizer + UBSan build (profile
``sanitize``), on good inputs too, so an out-of-bounds read or an integer
overflow anywhere on these paths fails the test.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import pytest
from engine_util import (
    LILY,
    PROMPT,
    SMALL,
    run,
    small_model,
    stderr_lines,
    with_header,
    write_tokenizer,
)

from toolchain import enginebuild
from toolchain.llama2 import quant
from toolchain.llama2.checkpoint import Config, write_random_checkpoint

SANITIZER_MARKS = (b"AddressSanitizer", b"runtime error", b"LeakSanitizer", b"Segmentation")


@pytest.fixture(scope="module")
def asan_engine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return enginebuild.build_sanitized(tmp_path_factory.mktemp("asan"))


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, models_dir: Path) -> dict[str, Path]:
    """A good small model and tokenizer plus the base for the damaged ones."""
    d = tmp_path_factory.mktemp("inputs")
    return {"dir": d, "model": small_model(d), "tok": models_dir / "tok512.bin"}


def clean(proc) -> None:
    for mark in SANITIZER_MARKS:
        assert mark not in proc.stderr, proc.stderr.decode(errors="replace")


# --------------------------------------------------------------------------- good inputs


def test_asan_greedy_story(asan_engine: Path, stories260k: tuple[Path, Path]) -> None:
    ckpt, tok = stories260k
    proc = run(asan_engine, ckpt, "-z", tok, "-t", "0", "-n", "120", "-i", PROMPT)
    clean(proc)
    assert proc.returncode == 0 and proc.stdout.startswith(LILY)


@pytest.mark.parametrize("flags", [["-t", "1", "-p", "0.9", "-s", "3"], ["-t", "0.8", "-p", "1", "-s", "-9"],
                                   ["-t", "1", "-p", "0.5", "-i", "caf\u00e9 \U0001f600 <0x41>"]])
def test_asan_sampling(asan_engine: Path, stories260k: tuple[Path, Path], flags: list[str]) -> None:
    ckpt, tok = stories260k
    proc = run(asan_engine, ckpt, "-z", tok, "-n", "200", *flags)
    clean(proc)
    assert proc.returncode == 0


def test_asan_chat(asan_engine: Path, stories260k: tuple[Path, Path]) -> None:
    ckpt, tok = stories260k
    proc = run(asan_engine, ckpt, "-z", tok, "-m", "chat", "-n", "120", "-s", "1", stdin=b"sys\nhi\nmore\n")
    clean(proc)
    assert proc.returncode == 0


def test_asan_gqa_separate_classifier_32000_vocab(asan_engine: Path, models_dir: Path, tmp_path: Path) -> None:
    cfg = Config(32, 48, 2, 4, 2, 32000, 24, shared_classifier=False)
    ckpt = tmp_path / "v32k.bin"
    write_random_checkpoint(ckpt, cfg, seed=4)
    proc = run(asan_engine, ckpt, "-z", models_dir / "tokenizer.bin", "-n", "24", "-s", "2", "-i", "Grüße \u65e5")
    clean(proc)
    assert proc.returncode == 0, proc.stderr


# --------------------------------------------------------------------------- bad inputs


def _truncated(f: dict[str, Path]) -> list[str]:
    p = f["dir"] / "truncated.bin"
    p.write_bytes(f["model"].read_bytes()[:-100])
    return [str(p), "-z", str(f["tok"])]


def _extra(f: dict[str, Path]) -> list[str]:
    p = f["dir"] / "extra.bin"
    p.write_bytes(f["model"].read_bytes() + b"\0" * 8)
    return [str(p), "-z", str(f["tok"])]


def _short(f: dict[str, Path]) -> list[str]:
    p = f["dir"] / "short.bin"
    p.write_bytes(b"\x10\0\0\0" * 3)
    return [str(p), "-z", str(f["tok"])]


def _header(**fields: int) -> Callable[[dict[str, Path]], list[str]]:
    def make(f: dict[str, Path]) -> list[str]:
        name = "_".join(f"{k}{v}" for k, v in fields.items()) + ".bin"
        return [str(with_header(f["model"], f["dir"] / name, **fields)), "-z", str(f["tok"])]
    return make


def _huge(f: dict[str, Path]) -> list[str]:
    """A 7B-shaped header on a small file: too big for any 32-bit process."""
    return _header(dim=4096, hidden_dim=11008, n_layers=32, n_heads=32, n_kv_heads=32, vocab_size=32000,
                   seq_len=2048)(f)


def _vocab_mismatch(f: dict[str, Path]) -> list[str]:
    """A well-formed model with 600 tokens against the 512-token tokenizer."""
    cfg = Config(SMALL.dim, SMALL.hidden_dim, 1, 2, 2, 600, 16, shared_classifier=True)
    return [str(small_model(f["dir"], cfg, name="vocab600.bin")), "-z", str(f["tok"])]


def _tok(f: dict[str, Path], name: str, data: bytes) -> list[str]:
    p = f["dir"] / name
    p.write_bytes(data)
    return [str(f["model"]), "-z", str(p)]


def _tok_truncated(f: dict[str, Path]) -> list[str]:
    return _tok(f, "tok_trunc.bin", f["tok"].read_bytes()[:3001])


def _tok_too_few(f: dict[str, Path]) -> list[str]:
    p = write_tokenizer(f["dir"] / "tok_few.bin", [b"a"] * 300, 4)
    return [str(f["model"]), "-z", str(p)]


def _tok_too_many(f: dict[str, Path]) -> list[str]:
    p = write_tokenizer(f["dir"] / "tok_many.bin", [b"a"] * 600, 4)
    return [str(f["model"]), "-z", str(p)]


def _tok_long_token(f: dict[str, Path]) -> list[str]:
    pieces = [b"ab"] * 512
    pieces[7] = b"abcdefgh"
    p = write_tokenizer(f["dir"] / "tok_long.bin", pieces, 4)
    return [str(f["model"]), "-z", str(p)]


def _tok_negative_length(f: dict[str, Path]) -> list[str]:
    lengths = [2] * 512
    lengths[3] = -1
    p = write_tokenizer(f["dir"] / "tok_neg.bin", [b"ab"] * 512, 4, lengths)
    return [str(f["model"]), "-z", str(p)]


def _tok_bad_max(f: dict[str, Path]) -> list[str]:
    return _tok(f, "tok_max.bin", struct.pack("<i", -7) + f["tok"].read_bytes()[4:])


def _long_prompt(f: dict[str, Path]) -> list[str]:
    return [str(f["model"]), "-z", str(f["tok"]), "-i", "and then " * 40]  # SMALL has seq_len 16


def _poke(src: Path, dst: Path, offset: int, value: float) -> Path:
    data = bytearray(src.read_bytes())
    struct.pack_into("<f", data, offset, value)
    dst.write_bytes(bytes(data))
    return dst


def _nan_weight(f: dict[str, Path]) -> list[str]:
    return [str(_poke(f["model"], f["dir"] / "nan.bin", 28 + 4 * 40, float("nan"))), "-z", str(f["tok"])]


def _inf_weight(f: dict[str, Path]) -> list[str]:
    """The last rms_final gain (the legacy RoPE tables follow it; they are never used)."""
    size = f["model"].stat().st_size - 4 * SMALL.seq_len * (SMALL.dim // SMALL.n_heads)
    return [str(_poke(f["model"], f["dir"] / "inf.bin", size - 4, float("-inf"))), "-z", str(f["tok"])]


def _q8(f: dict[str, Path]) -> Path:
    out = f["dir"] / "small_q80.bin"
    if not out.exists():
        quant.quantize_checkpoint(f["model"], out)
    return out


def _q8_nan_norm(f: dict[str, Path]) -> list[str]:
    return [str(_poke(_q8(f), f["dir"] / "q8nan.bin", 256 + 8, float("nan"))), "-z", str(f["tok"])]


def _q8_nan_scale(f: dict[str, Path]) -> list[str]:
    c = SMALL
    scales = 256 + 4 * (2 * c.n_layers + 1) * c.dim + c.vocab_size * c.dim
    return [str(_poke(_q8(f), f["dir"] / "q8scale.bin", scales + 4, float("nan"))), "-z", str(f["tok"])]


def _args(*extra: str) -> Callable[[dict[str, Path]], list[str]]:
    return lambda f: [str(f["model"]), "-z", str(f["tok"]), *extra]


BAD = {
    "missing checkpoint": lambda f: [str(f["dir"] / "nope.bin")],
    "empty checkpoint": lambda f: _tok(f, "empty.bin", b"")[2:3] + ["-z", str(f["tok"])],
    "short header": _short,
    "truncated weights": _truncated,
    "bytes after weights": _extra,
    "dim zero": _header(dim=0),
    "negative layers": _header(n_layers=-2),
    "absurd dim": _header(dim=1 << 30),
    "absurd vocab": _header(vocab_size=-(1 << 31)),
    "dim % n_heads": _header(n_heads=3),
    "odd head size": _header(n_heads=16),
    "NaN weight": _nan_weight,
    "infinite final norm": _inf_weight,
    "int8 NaN norm": _q8_nan_norm,
    "int8 NaN scale": _q8_nan_scale,
    "n_heads % n_kv_heads": _header(n_heads=4, n_kv_heads=3),
    "kv heads > heads": _header(n_kv_heads=4),
    "needs > 2 GB": _huge,
    "vocab 600 vs tokenizer 512": _vocab_mismatch,
    "header vocab changed": _header(vocab_size=600),
    "missing tokenizer": lambda f: [str(f["model"]), "-z", str(f["dir"] / "nope.tok")],
    "truncated tokenizer": _tok_truncated,
    "tokenizer with fewer tokens": _tok_too_few,
    "tokenizer with more tokens": _tok_too_many,
    "token longer than max": _tok_long_token,
    "negative token length": _tok_negative_length,
    "negative max_token_length": _tok_bad_max,
    "prompt longer than context": _long_prompt,
    "temperature not a number": _args("-t", "warm"),
    "steps not a number": _args("-n", "12x"),
    "seed not an int": _args("-s", "1.5"),
    "seed out of range": _args("-s", "99999999999"),
    "topp nan": _args("-p", "nan"),
    "topp above 1": _args("-p", "1.5"),
    "topp negative": _args("-p", "-0.1"),
    "temperature negative": _args("-t", "-1"),
    "temperature nan": _args("-t", "nan"),
    "temperature inf": _args("-t", "inf"),
    "temperature beyond float": _args("-t", "1e39"),
    "steps negative": _args("-n", "-3"),
    "seed not a number": _args("-s", "abc"),
    "budget negative": _args("-b", "-1"),
    "kv cache unknown": _args("-k", "q4"),
    "output file not writable": _args("-o", "/nonexistent-dir/story.txt"),
    "unknown mode": _args("-m", "talk"),
    "chat system prompt too long": _args("-m", "chat", "-y", "x" * 600),
    "logits file not writable": _args("-L", "/nonexistent-dir/logits.f32"),
}

USAGE = {
    "unknown flag": _args("-q", "1"),
    "flag without value": _args("-n"),
    "long flag": _args("--steps", "3"),
    "stray argument": _args("-n", "3", "extra"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_line(case: str, asan_engine: Path, files: dict[str, Path]) -> None:
    proc = run(asan_engine, *BAD[case](files), "-n", "4")
    clean(proc)
    assert proc.returncode not in (0, None) and proc.returncode > 0, proc.returncode
    lines = stderr_lines(proc)
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: ")
    assert proc.stdout == b""


@pytest.mark.parametrize("case", list(USAGE))
def test_usage_error(case: str, asan_engine: Path, files: dict[str, Path]) -> None:
    """One line: what is wrong, then the usage in parentheses."""
    proc = run(asan_engine, *USAGE[case](files))
    clean(proc)
    assert proc.returncode == 1
    lines = stderr_lines(proc)
    assert len(lines) == 1 and lines[0].startswith("error: ") and "(usage: run [checkpoint]" in lines[0], lines
    assert proc.stdout == b""


T_RANGE = "-t must be a finite number >= 0 (0: greedy)"
P_RANGE = "-p must be a number from 0 to 1"
S_RANGE = "-s must be a whole number from -2147483648 to 2147483647 (0: the time)"
N_RANGE = "-n must be a whole number from 0 to 2147483647 (0: the model's context)"
B_RANGE = "-b must be a whole number from 0 to 4095 (MB; 0: no budget)"


@pytest.mark.parametrize(("flags", "names"), [
    (["-t", "-1"], T_RANGE), (["-t", "nan"], T_RANGE), (["-t", "inf"], T_RANGE), (["-t", "warm"], T_RANGE),
    (["-p", "1.5"], P_RANGE), (["-p", "nan"], P_RANGE), (["-p", "-0.1"], P_RANGE),
    (["-s", "abc"], S_RANGE), (["-s", "1.5"], S_RANGE), (["-s", "99999999999"], S_RANGE),
    (["-n", "-3"], N_RANGE), (["-n", "12x"], N_RANGE), (["-b", "-1"], B_RANGE), (["-b", "4096"], B_RANGE),
    (["-m", "talk"], "-m must be generate or chat"), (["-k", "q4"], "-k must be f32 (llama2.c's KV cache) or q8 (int8)"),
])
def test_range_errors_name_flag_and_range(flags: list[str], names: str, asan_engine: Path,
                                          files: dict[str, Path]) -> None:
    """Every bad flag value: one line naming the flag, what it must be and what was given; exit 1."""
    proc = run(asan_engine, *_args(*flags)(files), timeout=10)
    clean(proc)
    assert proc.returncode == 1 and stderr_lines(proc) == [f'error: {names}, not "{flags[1]}"'], stderr_lines(proc)
    assert proc.stdout == b""


def test_help_lists_every_flag(asan_engine: Path) -> None:
    proc = run(asan_engine, "-h")
    assert proc.returncode == 0
    for flag in ("-t", "-p", "-s", "-n", "-i", "-z", "-m", "-y", "-b", "-k", "-o", "-v", "-L"):
        assert f"\n  {flag} " in proc.stdout.decode(), flag


def test_too_big_names_the_limit(asan_engine: Path, files: dict[str, Path]) -> None:
    proc = run(asan_engine, *_huge(files))
    assert b"a 32-bit process can address at most 2048 MB" in proc.stderr
    assert proc.returncode == 3


def test_messages_name_the_file(asan_engine: Path, files: dict[str, Path]) -> None:
    proc = run(asan_engine, *_tok_long_token(files))
    assert b"tok_long.bin: token 7 is 8 bytes long; max_token_length is 4" in proc.stderr
    proc = run(asan_engine, *_truncated(files))
    assert b"truncated.bin: file is" in proc.stderr
    proc = run(asan_engine, *_vocab_mismatch(files))
    assert b"tok512.bin: holds 512 tokens but the model's vocabulary has 600" in proc.stderr


def test_non_finite_values_are_named(asan_engine: Path, files: dict[str, Path]) -> None:
    proc = run(asan_engine, *_nan_weight(files))
    assert b"nan.bin: the weights hold NaN or infinity (float at byte 188)" in proc.stderr
    proc = run(asan_engine, *_q8_nan_scale(files))
    assert b"q8scale.bin: the scales hold NaN or infinity" in proc.stderr
    proc = run(asan_engine, *_header(n_heads=16)(files))
    assert b"head size 1 (dim / n_heads) must be even" in proc.stderr


def test_huge_prompt_is_refused_at_once(asan_engine: Path, files: dict[str, Path]) -> None:
    """40 KB against a 16-token context: refused from its length, before any encoding."""
    proc = run(asan_engine, *_args("-i", "Zo\u00eb and a caf\u00e9 " * 2000)(files), timeout=10)
    assert proc.returncode == 1
    assert b"more than the model's context of 16 tokens can hold" in proc.stderr


def test_odd_head_size_is_refused_alike_by_the_engine_and_invoke_quantize(asan_engine: Path,
                                                                          files: dict[str, Path]) -> None:
    """Rotary embeddings turn pairs of a head's values: with an odd head size a pair would straddle two
    heads (llama2.c does that silently).  RUN and `invoke quantize` refuse the same file, for that reason,
    in one line each."""
    from cli_util import invoke

    bad = Path(_header(n_heads=16)(files)[0])  # dim 16 / 16 heads: head size 1
    reason = "head size 1 (dim / n_heads) must be even for rotary embeddings"
    proc = run(asan_engine, bad, "-z", files["tok"], "-n", "2", timeout=10)
    clean(proc)
    assert proc.returncode == 2 and stderr_lines(proc) == [f"error: {bad}: {reason}"]
    done = invoke("quantize", str(bad), str(files["dir"] / "odd_q80.bin"))
    assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and reason in lines[0], lines
    assert not (files["dir"] / "odd_q80.bin").exists()
