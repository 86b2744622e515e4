"""Every shell command in README.md's code blocks runs as typed.

The commands run in README order with bash, in a temporary copy of the
project (its ``.venv`` is this test's Python, already set up), with a
temporary HOME holding ``~/llama2.c`` (llama2.c's sources from
../shared/upstream) and the model cache.  Offline variants: ``stories15M``
(a 58 MB download) becomes ``stories260K``, which the cache already holds
from ../shared/models, so ``models.fetch`` only verifies it.  A line that
says ``not run in tests`` is skipped (it says why); a command that equals
one already run (``./retro build`` is ``.venv/bin/invoke build`` after the
setup check) runs once.  Each must exit 0 and print no traceback.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from toolchain import paths

FENCE = re.compile(r"^```(?:sh|bash|shell|console)\s*$(.*?)^```\s*$", re.MULTILINE | re.DOTALL)
SKIP_MARK = "not run in tests"
OFFLINE = {"stories15M": "stories260K"}
IGNORE = shutil.ignore_patterns(".venv", "build", "dist", ".git", "__pycache__", ".pytest_cache", ".bench",
                                ".hypothesis", "*.zip.*part", "ported")


def readme_commands(text: str) -> tuple[list[str], list[str]]:
    """(commands to run, skipped lines) from every shell block, in order."""
    run, skipped = [], []
    for block in FENCE.findall(text):
        for line in block.splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            (skipped if SKIP_MARK in line else run).append(line)
    return run, skipped


def _offline(command: str) -> str:
    for online, offline in OFFLINE.items():
        command = command.replace(online, offline)
    return command


def _key(command: str) -> str:
    """What a command does, for running each only once."""
    bare = command.split(" #", 1)[0]
    bare = re.sub(r"^\./retro ", ".venv/bin/invoke ", bare)
    return " ".join(bare.split())


def test_readme_commands_are_found_and_marked() -> None:
    run, skipped = readme_commands((paths.REPO_ROOT / "README.md").read_text(encoding="utf-8"))
    assert len(run) >= 10, run
    assert any(c.startswith("./retro build") for c in run)
    assert all("invoke " not in c or c.startswith((".venv/bin/invoke ", "./retro ")) for c in run), \
        "bare `invoke` does not work as typed: write .venv/bin/invoke"
    assert all("(" in s for s in skipped)  # each skipped line says why


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    top = tmp_path_factory.mktemp("readme")
    repo = top / "retrollama"
    shutil.copytree(paths.REPO_ROOT, repo, ignore=IGNORE, symlinks=True)
    (top / "shared").symlink_to(paths.SHARED_DIR.resolve())  # ../shared, as beside a checkout
    venv_bin = repo / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    (venv_bin / "invoke").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m invoke "$@"\n', encoding="ascii")
    (venv_bin / "invoke").chmod(0o755)
    (repo / ".venv" / ".installed").touch()  # newer than requirements.txt: ./retro installs nothing
    home = top / "home"
    cache = home / ".cache" / "retrollama"
    cache.mkdir(parents=True)
    for name in ("stories260K.bin", "tok512.bin"):
        shutil.copyfile(paths.SHARED_MODELS / name, cache / name)
    llama = paths.SHARED_DIR / "upstream" / "llama2.c"
    shutil.copytree(llama, home / "llama2.c")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INVOKE_", "RETROLLAMA_", "XDG_CACHE"))}
    env.update(HOME=str(home), PYTHONDONTWRITEBYTECODE="1")
    return repo, env


def test_every_readme_command_runs_as_typed(sandbox: tuple[Path, dict[str, str]]) -> None:
    repo, env = sandbox
    run, _ = readme_commands((repo / "README.md").read_text(encoding="utf-8"))
    seen: set[str] = set()
    report = []
    for command in run:
        command = _offline(command)
        if _key(command) in seen:
            continue
        seen.add(_key(command))
        start = time.monotonic()
        proc = subprocess.run(["bash", "-c", command], check=False, cwd=repo, env=env, capture_output=True, text=True,
                              timeout=600, stdin=subprocess.DEVNULL)
        took = time.monotonic() - start
        report.append(f"{took:5.1f} s  {command}")
        output = proc.stdout + proc.stderr
        assert proc.returncode == 0, f"README command failed ({proc.returncode}): {command}\n{output[-2000:]}"
        assert "Traceback" not in output, f"README command printed a traceback: {command}\n{output[-2000:]}"
    print("\n".join(report))
