"""Fixtures shared by every test module: the shared models and a native build
of the engine.  Area-specific helpers live in ``tests/*_util.py``."""

from __future__ import annotations

from pathlib import Path

import pytest

from toolchain import paths


@pytest.fixture(scope="session")
def models_dir() -> Path:
    """``../shared/models``: real llama2.c files (never copied into the repo)."""
    d = paths.SHARED_MODELS
    if not (d / "stories260K.bin").is_file():
        pytest.fail(f"{d}: the shared test models are missing (stories260K.bin, tok512.bin)")
    return d


@pytest.fixture(scope="session")
def stories260k(models_dir: Path) -> tuple[Path, Path]:
    """(checkpoint, tokenizer) of the 260K-parameter TinyStories model."""
    return models_dir / "stories260K.bin", models_dir / "tok512.bin"


@pytest.fixture(scope="session")
def native_engine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The engine built natively (the "native" profile of engine_builds.yaml), once per session."""
    from toolchain.enginebuild import build_engine

    return build_engine("native", tmp_path_factory.mktemp("engine"))
