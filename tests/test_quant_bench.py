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
    assert all(b in profiles for b in case["builds"]) and case["target_build"] in case["builds"]
    mmx, portable = profiles[case["target_build"]], profiles[settings["target_build"]]
    assert set(mmx.flags) - set(portable.flags) == {"-DRL_MMX"}
    assert float(case["target_ir_per_token"]) == 25.0e6
    memory = settings["memory"]
    assert memory["build"] in profiles
    assert {c["name"]: c["cap_mb"] for c in memory["cases"]} == {"random15M-q8": 20, "random42M-q8": 48}
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
         "args": ["-t", "0", "-n", "8"], "cap_mb": 1},
    ]}}
    (result,) = bench.run_memory(settings, out_dir=tmp_path, models_dir=models_dir)
    payload = (tmp_path / "tiny_q80.bin").stat().st_size - quant.HEADER_BYTES
    # the -v sum: weights (the file's payload) + run state + tokenizer + sampler
    assert payload < result.accounted_bytes < payload + 200_000
    # a real process: at least its accounted memory, and far from Python's size
    assert result.accounted_bytes < result.max_rss_bytes < 16 * bench.MB
    lines = bench.memory_report([result])
    assert "max RSS" in lines[0] and lines[1].endswith("OVER CAP")  # a 1 MB cap no process meets


def test_report_shows_int8_rows_against_their_own_target(tmp_path: Path) -> None:
    case = bench.Case("random15M-q8", tmp_path / "m.bin", tmp_path / "t.bin", ("-t", "0"), None, 25e6,
                      ("i686-pentium2-mmx", "i686-pentium2"), "i686-pentium2-mmx")
    mmx = bench.Result("i686-pentium2-mmx", case, passes=32, tok_per_s=1.0, ir_total=32 * 23_000_000)
    portable = bench.Result("i686-pentium2", case, passes=32, tok_per_s=1.0, ir_total=32 * 96_000_000)
    lines = bench.report([mmx, portable], "i686-pentium2")
    assert lines[2].endswith("ok") and "23.000 M" in lines[2] and " - " in lines[2]
    assert not lines[3].endswith(("ok", "TARGET")) and "96.000 M" in lines[3]
