"""The model tasks as a user runs them: `invoke models`, `inspect`, `models.fetch`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from toolchain import paths


def _invoke(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "invoke", *args], cwd=paths.REPO_ROOT, capture_output=True,
                          text=True, timeout=120, env=env)


def test_models_lists_what_fits_a_64mb_pc() -> None:
    done = _invoke("models", "--ram", "64M")
    assert done.returncode == 0, done.stderr
    rows = {line.split()[1]: line for line in done.stdout.splitlines() if line.startswith("│ stories")}
    assert "fp32" in rows["stories260K"] and "int8 only" in rows["stories15M"] and " no " in rows["stories110M"]


def test_inspect_a_file_and_a_registry_name(stories260k: tuple[Path, Path]) -> None:
    done = _invoke("inspect", str(stories260k[0]), "--tokenizer", str(stories260k[1]), "--ram", "32M")
    assert done.returncode == 0, done.stderr
    assert "parameters  260,032" in done.stdout and "fits in 32 MB" in done.stdout
    done = _invoke("inspect", "stories15M", "--target", "win98")
    assert done.returncode == 0, done.stderr
    assert "not downloaded" in done.stdout and "~3.71 tok/s on a Pentium II 350 (fp32, cycle model)" in done.stdout and "does NOT fit in 64 MB" in done.stdout


def test_inspect_mismatch_exits_with_the_model_error_code(stories260k: tuple[Path, Path], models_dir: Path) -> None:
    done = _invoke("inspect", str(stories260k[0]), "--tokenizer", str(models_dir / "tokenizer.bin"))
    assert done.returncode == 6
    assert "32000 tokens but the model's vocabulary is 512" in done.stdout
    assert done.stderr.strip().startswith("error:") and "Traceback" not in done.stderr


def test_fetch_offline_is_one_line(tmp_path: Path) -> None:
    import os

    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path), "https_proxy": "http://127.0.0.1:9", "HTTPS_PROXY":
           "http://127.0.0.1:9", "no_proxy": ""}
    done = _invoke("models.fetch", "tok512", "--quiet", env=env)
    assert done.returncode == 6
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "by hand" in lines[0] and str(tmp_path / "retrollama" / "tok512.bin") in lines[0]
    assert not (tmp_path / "retrollama" / "tok512.bin").exists()
