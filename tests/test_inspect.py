"""inspect: RAM and speed estimates, fit and file-system checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from toolchain import cycles
from toolchain.errors import ConfigError, ModelError
from toolchain.llama2 import quant
from toolchain.llama2.checkpoint import Config, fp32_file_bytes
from toolchain.models import fit, registry

MB = 1024 * 1024


def _shape(name: str) -> Config:
    entry = registry.get(name)
    assert entry.config is not None
    return entry.config.to_config()


def test_speed_comes_from_the_cycle_model() -> None:
    # the bench's cycle model (docs/cost-model.md) for the engine on a Pentium II 350
    s260 = fit.estimate_config(_shape("stories260K")).tok_per_s_p2_350
    s15 = fit.estimate_config(_shape("stories15M")).tok_per_s_p2_350
    assert s260 == pytest.approx(cycles.estimate_tok_s("pentium2", _shape("stories260K"), "fp32"), rel=1e-9)
    # within the engine's `invoke bench` figures (160 and 3.8 tok/s) and faster
    # than Borland's run.c measured on that machine (39.31 and 1.03)
    assert 39.31 < s260 < 250 and 1.03 < s15 < 6
    s15q = fit.estimate_config(_shape("stories15M"), quant="int8").tok_per_s_p2_350
    assert 2 * s15 < s15q < 20  # int8: a quarter of the memory traffic, MMX dots


def test_bigger_models_are_slower_in_proportion() -> None:
    s15 = fit.estimate_config(_shape("stories15M")).tok_per_s_p2_350
    s42 = fit.estimate_config(_shape("stories42M")).tok_per_s_p2_350
    s110 = fit.estimate_config(_shape("stories110M")).tok_per_s_p2_350
    assert s15 > s42 > s110
    # Compute-bound: the speed ratio follows the parameter ratio (within 15%).
    assert s15 / s110 == pytest.approx(109.5 / 15.2, rel=0.15)
    # More steps mean more attention work per token.
    assert fit.estimate_config(_shape("stories42M"), steps=1024).tok_per_s_p2_350 < s42


def test_ram_is_counted_as_the_engine_allocates(stories260k: tuple[Path, Path]) -> None:
    model, tok = stories260k
    est = fit.estimate(model, tokenizer=tok, steps=100)
    # dim 64, hidden 172, 5 layers, 8 heads, 4 kv heads (kv_dim 32), vocab 512
    weights = model.stat().st_size - 28
    kv = 2 * 5 * 100 * 32 * 4
    vectors = 4 * (3 * 64 + 2 * 172 + 64 + 2 * 32 + 8 * 100 + 512)
    sampler = 512 * 8
    tokenizer = tok.stat().st_size - 4 - 8 * 512 + 512 * 17
    assert est.ram_bytes == weights + kv + vectors + sampler + tokenizer
    assert est.params == 260_032 and est.file_bytes == 1_056_540 and est.steps == 100
    assert est.tokenizer_vocab == 512 and est.problems == []
    # int8 as `invoke quantize` writes it: 172 = 4 x 43, so a float scale per 4 weights, not per 64
    assert est.group_size == 4
    int8_weights = quant.int8_file_bytes(est.config, 4) - quant.HEADER_BYTES
    assert est.ram_bytes_int8 - int8_weights == est.ram_bytes - weights


def test_steps_are_capped_at_the_context_length(stories260k: tuple[Path, Path]) -> None:
    long = fit.estimate(stories260k[0], steps=100_000)
    full = fit.estimate(stories260k[0], steps=512)
    assert long.steps == 512 and long.ram_bytes == full.ram_bytes


def test_a_shape_is_planned_with_the_group_size_quantize_picks() -> None:
    """42M: 1376 = 32 x 43, so scales per 32 weights (5.2 MB of them), not the 2.6 MB per 64 would give."""
    c42 = _shape("stories42M")
    est = fit.estimate_config(c42, quant="int8")
    assert est.group_size == quant.default_group_size(c42) == 32
    assert est.ram_bytes_int8 - est.ram_bytes == (quant.int8_file_bytes(c42, 32) - quant.HEADER_BYTES
                                                   - (fp32_file_bytes(c42) - 28))
    assert fit.estimate_config(_shape("stories110M")).group_size == 64


def test_fit_accounts_for_windows_share() -> None:
    est = fit.estimate_config(_shape("stories15M"))
    assert 60 * MB < est.ram_bytes < 66 * MB
    assert not est.fits(64 * MB) and est.fits(128 * MB)
    int8 = fit.estimate_config(_shape("stories15M"), quant="int8")
    assert int8.fits(64 * MB) and not int8.fits(32 * MB)
    assert fit.estimate_config(_shape("stories260K")).fits(32 * MB)


def test_tokenizer_that_does_not_belong_is_a_problem(stories260k: tuple[Path, Path], models_dir: Path) -> None:
    est = fit.estimate(stories260k[0], tokenizer=models_dir / "tokenizer.bin")
    assert est.tokenizer_vocab == 32000
    assert any("has 32000 tokens but the model's vocabulary is 512" in p for p in est.problems)


def test_truncated_checkpoint_is_a_problem(stories260k: tuple[Path, Path], tmp_path: Path) -> None:
    short = tmp_path / "short.bin"
    short.write_bytes(stories260k[0].read_bytes()[:100_000])
    est = fit.estimate(short)
    assert "is 100000 bytes but its header" in est.problems[0] and "truncated" in est.problems[0]


def test_garbage_is_refused_with_the_file_name(tmp_path: Path) -> None:
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"\x00" * 10)
    with pytest.raises(ModelError, match="bad.bin"):
        fit.estimate(bad)


def test_file_system_limits() -> None:
    # ~3 GB of weights: over FAT16's 2 GB, under FAT32's 4 GB.
    big = Config(dim=4096, hidden_dim=11008, n_layers=32, n_heads=32, n_kv_heads=32, vocab_size=32000, seq_len=2048)
    size = fp32_file_bytes(big)
    assert 2**31 < size < 2**32 - 2 or size > 2**32  # sanity of the shape
    est = fit.estimate_config(big, file_bytes=3 * 1024 * MB)
    assert any("FAT16's largest file" in p for p in est.problems)
    assert not any("FAT32" in p for p in est.problems)
    assert any("2 GB a Win9x/NT4 process can address" in p for p in est.problems)
    fat32 = fit.estimate_config(big, file_bytes=3 * 1024 * MB, max_file_bytes=4294967294)
    assert not any("largest file" in p for p in fat32.problems)
    huge = fit.estimate_config(big, file_bytes=5 * 1024 * MB, max_file_bytes=4294967294)
    assert any("FAT32's largest file" in p and "does not split" in p for p in huge.problems)


def test_bad_options() -> None:
    with pytest.raises(ConfigError, match="quant 'q4'"):
        fit.estimate_config(_shape("stories260K"), quant="q4")
    with pytest.raises(ConfigError, match="steps 0"):
        fit.estimate_config(_shape("stories260K"), steps=0)


@pytest.mark.parametrize(
    ("text", "value"), [("32M", 32 * MB), ("64MB", 64 * MB), ("1G", 1024 * MB), ("512k", 512 * 1024), ("0.5G", 512 * MB)]
)
def test_parse_size(text: str, value: int) -> None:
    assert fit.parse_size(text) == value


def test_parse_size_rejects_nonsense() -> None:
    with pytest.raises(ConfigError, match="'lots'"):
        fit.parse_size("lots")
    with pytest.raises(ConfigError, match=r"^--ram 64: give a unit, K, M or G \(e.g. 64M for megabytes\)$"):
        fit.parse_size("64")
    with pytest.raises(ConfigError, match="more than zero"):
        fit.parse_size("0M")


def test_report_lines(stories260k: tuple[Path, Path]) -> None:
    est = fit.estimate(stories260k[0], tokenizer=stories260k[1])
    lines = fit.report(est, 32 * MB)
    text = "\n".join(lines)
    assert "parameters  260,032" in text and "fits in 32 MB" in text and "agrees" in text
    assert all(len(line) < 80 and line.isascii() for line in lines)


def test_a_model_that_fits_is_not_streamed() -> None:
    est = fit.estimate_config(_shape("stories15M"), quant="int8")
    assert est.fits(64 * MB) and fit.plan_streamed(est, 64 * MB) is None
    assert not any(line.startswith("streamed") for line in fit.report(est, 64 * MB))


def test_streamed_speed_is_compute_plus_the_disk_reads() -> None:
    """stories110M in int8 on a 48 MB PC: 24 MB left, so the classifier is streamed too (as RUN -b 24 does,
    116,355,888 bytes a token in the bench); each token costs the compute time plus the reads at 5-15 MB/s."""
    est = fit.estimate_config(_shape("stories110M"), quant="int8", steps=16)
    plan = fit.plan_streamed(est, 48 * MB)
    assert plan is not None and plan.budget_mb == 24 and plan.classifier_streamed
    assert plan.bytes_per_token == fit.streamed_bytes_per_token(est.config, "int8", 64) == 116_355_888
    slow, fast = plan.tok_per_s
    assert plan.disk_mb_per_s == (5.0, 15.0)
    assert 1 / slow == pytest.approx(1 / est.tok_per_s_p2_350 + plan.bytes_per_token / 5e6)
    assert 1 / fast == pytest.approx(1 / est.tok_per_s_p2_350 + plan.bytes_per_token / 15e6)
    assert slow < fast < est.tok_per_s_p2_350 / 10  # the disk, not the CPU, sets the pace
    # with 128 MB (104 left) the classifier fits beside the buffer: one embedding row and the layers only
    roomy = fit.plan_streamed(est, 128 * MB)
    assert roomy is not None and not roomy.classifier_streamed
    assert roomy.bytes_per_token == fit.streamed_bytes_per_token(est.config, "int8", 64, classifier_too=False)
    lines = fit.report(est, 48 * MB)
    text = "\n".join(lines)
    assert "RUN -b 24 reads the weights from disk for every token" in text
    assert f"111.0 MB a token, ~{slow:.2g}-{fast:.2g} tok/s at 5-15 MB/s" in text, text
    streamed = lines[[i for i, line in enumerate(lines) if line.startswith("streamed")][0]:][:3]
    assert all(len(line) < 80 and line.isascii() for line in streamed), streamed


def test_an_int8_file_is_planned_with_its_own_group_size(tmp_path: Path) -> None:
    from toolchain.llama2 import quant
    from toolchain.llama2.checkpoint import write_random_checkpoint

    config = Config(96, 160, 2, 4, 4, 512, 32, shared_classifier=True)  # 160 % 64 != 0: group size 32
    fp32, q8 = tmp_path / "m.bin", tmp_path / "m_q80.bin"
    write_random_checkpoint(fp32, config, seed=4)
    quant.quantize_checkpoint(fp32, q8)
    est = fit.estimate(q8)
    assert est.group_size == 32
    plan = fit.plan_streamed(est, 1 * MB)
    assert plan is not None and plan.bytes_per_token == fit.streamed_bytes_per_token(config, "int8", 32)
