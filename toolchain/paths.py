"""Where things are: the repository, the shared test data, build folders.

Kept in one place so that tests, tasks and stages agree on the layout.
"""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
ENGINE_DIR = REPO_ROOT / "engine"
TARGETS_DIR = REPO_ROOT / "targets"
TEMPLATES_DIR = REPO_ROOT / "templates"
PATCHES_DIR = REPO_ROOT / "patches"
DATA_DIR = REPO_ROOT / "toolchain" / "data"
SHARED_DIR = REPO_ROOT.parent / "shared"
SHARED_MODELS = SHARED_DIR / "models"


def engine_sources() -> list[Path]:
    """The C files that make up RUN.EXE, in a stable order."""
    return sorted(ENGINE_DIR.glob("*.c"))


def engine_headers() -> list[Path]:
    """The engine's headers, in a stable order."""
    return sorted(ENGINE_DIR.glob("*.h"))
