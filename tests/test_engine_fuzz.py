"""A bounded libFuzzer run (ASan + UBSan) over the engine's three loaders, seeded with the real files.

tests/fuzz/engine_fuzz.c builds run.c with RL_FUZZ (a fatal error jumps back
into the harness instead of exiting).  Each target runs for a fixed time:
any crash, sanitizer report, leak or timeout makes libFuzzer exit nonzero
and write a crash file, which fails the test.  clang's fuzzer runtime comes
from the libclang-rt-dev package (toolchain/data/apt-packages.txt).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from toolchain import paths
from toolchain.llama2 import quant

HARNESS = Path(__file__).parent / "fuzz" / "engine_fuzz.c"
TARGETS = {"fp32": 1, "int8": 2, "tokenizer": 3}
SECONDS_EACH = 9


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory, models_dir: Path) -> dict[str, list[Path]]:
    folder = tmp_path_factory.mktemp("fuzz-seeds")
    q8 = folder / "stories260K_q80.bin"
    quant.quantize_checkpoint(models_dir / "stories260K.bin", q8)
    return {"fp32": [models_dir / "stories260K.bin"], "int8": [q8],
            "tokenizer": [models_dir / "tok512.bin", models_dir / "tokenizer.bin"]}


@pytest.mark.parametrize("target", list(TARGETS))
def test_fuzz_loader(target: str, seeds: dict[str, list[Path]], tmp_path: Path) -> None:
    if shutil.which("clang") is None:
        pytest.fail("clang is not installed (apt-get install clang libclang-rt-dev)")
    exe = tmp_path / f"fuzz-{target}"
    engine = paths.ENGINE_DIR
    build = subprocess.run(
        ["clang", "-g", "-O1", "-fsanitize=fuzzer,address,undefined", "-fno-sanitize-recover=all",
         f"-DFUZZ_TARGET={TARGETS[target]}", f"-I{engine}", str(HARNESS), str(engine / "q8.c"),
         str(engine / "platform.c"), "-lm", "-o", str(exe)],
        capture_output=True, text=True, timeout=180, check=False)
    assert build.returncode == 0, build.stderr[-2000:]
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for seed in seeds[target]:
        shutil.copy(seed, corpus / seed.name)
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    proc = subprocess.run(
        [str(exe), f"-max_total_time={SECONDS_EACH}", "-timeout=10", "-rss_limit_mb=1024",
         "-max_len=1100000", f"-artifact_prefix={artifacts}/", str(corpus)],
        capture_output=True, text=True, timeout=SECONDS_EACH + 120, check=False)
    crashes = sorted(p.name for p in artifacts.iterdir())
    assert proc.returncode == 0 and not crashes, (crashes, proc.stderr[-3000:])
    assert "Done " in proc.stderr
