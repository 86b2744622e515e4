"""The int8 rows of `invoke bench`: settings, model preparation, peak-memory measurement and report.

The callgrind figures themselves come from `invoke bench`, never from a test;
the peak-memory measurement is exercised here on a small model.
"""

from __future__ import annotations

from pathlib import Path

from toolchain import bench, enginebuild
from toolchain.llama2 import quant

TINY = {"dim": 64, "hidden_dim": 128, "n_layers": 1, "n_heads": 4, "n_kv_heads": 4, "vocab_size": 512,
        "seq_len": 32}


def test_int8_settings_name_real_builds() -> None:
    settings = bench.load_settings()
    profiles = enginebuild.load_profiles()
    q8 = [c for c in settings["cases"] if "quantize" in c]
    assert [c["name"] for c in q8] == ["random15M-q8"]
    case = q8[0]
    assert case["builds"] == ["engine", "engine-c8", "runq.c"] and case["baseline"] == "runq.c"
    mmx, portable = settings["builds"]["engine"], settings["builds"]["engine-c8"]
    assert mmx["target"] == portable["target"] == "win98-mingw" and portable["drop"] == ["-DRL_MMX"]
    assert portable["mmx"] is False and settings["builds"]["runq.c"]["upstream"] == "runq.c"
    assert float(case["target_ir_per_token"]) == 25.0e6 and case["target_tok_s"] == 15
    memory = settings["memory"]
    # measured as RUN.EXE ships: win98-mingw's flags with the MMX kernels (test_recipes), a 32-bit program
    assert memory["build"] == "i686-pentium2-mmx" and profiles[memory["build"]].cc.startswith("i686-")
    assert {c["name"]: c["cap_mb"] for c in memory["cases"]} == {
        "random15M-q8": 20, "random42M-q8": 56, "random42M-q8-kvq8": 48,
        "random110M-q8-b24": 28, "tinyllama-q8-b24": 28}
    streamed = [c for c in memory["cases"] if "-b" in c["args"]]
    assert streamed and all(c["cap_mb"] < 32 for c in streamed)  # bigger than RAM, in a 32 MB PC
    big = next(c for c in memory["cases"] if c["name"] == "random42M-q8")
    assert big["generate"]["config"]["dim"] == 512 and big["args"][-1] == "256"


def test_quantized_case_is_generated_then_quantized_once(tmp_path: Path, models_dir: Path) -> None:
    item = {"name": "tiny-q8", "generate": {"file": "tiny.bin", "seed": 1, "config": TINY},
            "quantize": {"source": "tiny.bin", "file": "tiny_q80.bin"}, "tokenizer": "tok512.bin"}
    ckpt, tok = bench._files(item, models_dir, tmp_path)
    assert ckpt == tmp_path / "tiny_q80.bin" and tok == models_dir / "tok512.bin"
    assert quant.load_q8(ckpt).group_size == 64
    stamp = ckpt.stat().st_mtime_ns
    bench._files(item, models_dir, tmp_path)
    assert ckpt.stat().st_mtime_ns == stamp  # cached, not rewritten


def test_peak_memory_is_measured_and_reported(tmp_path: Path, models_dir: Path) -> None:
    settings = {"memory": {"build": "native", "cases": [
        {"name": "tiny-q8", "generate": {"file": "tiny.bin", "seed": 1, "config": TINY},
         "quantize": {"source": "tiny.bin", "file": "tiny_q80.bin"}, "tokenizer": "tok512.bin",
         "args": ["-t", "0", "-n", "8"], "cap_mb": 0.1},
    ]}}
    (result,) = bench.run_memory(settings, out_dir=tmp_path, models_dir=models_dir)
    payload = (tmp_path / "tiny_q80.bin").stat().st_size - quant.HEADER_BYTES
    # the -v sum: weights (the file's payload) + run state + tokenizer + sampler
    assert payload < result.accounted_bytes < payload + 200_000
    # a real process: at least its accounted memory, and far from Python's size
    assert result.accounted_bytes < result.max_rss_bytes < 16 * bench.MB
    # the cap is on own memory: private + the exe's image, without the shared C library's pages
    exe = tmp_path / "build" / "run-native"
    assert result.own_bytes == result.private_bytes + exe.stat().st_size < result.max_rss_bytes
    lines = bench.memory_report([result])
    assert "max RSS" in lines[0] and lines[1].endswith("OVER CAP")  # a 100 KB cap no process meets


def test_report_shows_int8_rows_against_their_own_targets(tmp_path: Path) -> None:
    case = bench.Case("random15M-q8", tmp_path / "m.bin", tmp_path / "t.bin", ("-t", "0"),
                      ("engine", "engine-c8", "runq.c"), "runq.c", 0.12, 15.0, 25e6)
    mmx = bench.Result("engine", case, "p6", 32, 32 * 23_000_000, 32 * 12e6, 32 * 18e6, 350.0)
    portable = bench.Result("engine-c8", case, "p6", 32, 32 * 96_000_000, 32 * 60e6, 32 * 18e6, 350.0)
    runq = bench.Result("runq.c", case, "p6", 32, 32 * 150_000_000, 32 * 130e6, 32 * 18e6, 350.0)
    lines = bench.report([mmx, portable, runq], {"cpus": ["p6"]})
    row = next(line for line in lines if line.startswith("engine "))
    assert "23.00 M" in row and "30.00 M" in row and "11.67" in row  # 350e6 / 30e6 cycles
    assert any("0.12 x runq.c cycles on PII-350: 0.20 x -- NOT MET" in line for line in lines)
    assert any(">= 15 tok/s on PII-350: 11.7 -- NOT MET (compute 12.0 M + memory 18.0 M" in line for line in lines)
    assert any("<= 25.00 M instructions/token: 23.00 M -- met" in line for line in lines)
