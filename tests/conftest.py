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


@pytest.fixture(scope="session")
def watcom_root() -> Path:
    """The real Open Watcom: ``$WATCOM`` or the archive in ../shared/toolchains,
    unpacked once outside the repo.  Missing, the test fails (never skips)."""
    from watcom_util import find_watcom

    root, how = find_watcom()
    if root is None:
        pytest.fail(how)
    return root


@pytest.fixture
def with_watcom(watcom_root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point WATCOM/PATH/INCLUDE at the real Open Watcom for one test."""
    from watcom_util import watcom_environ

    for key, value in watcom_environ(watcom_root).items():
        monkeypatch.setenv(key, value)
    return watcom_root
