"""The repository is self-contained: the documents its code cites are in
docs/, and nothing points at files outside it."""

from __future__ import annotations

import re
import subprocess

from toolchain import paths

CITED = re.compile(r"docs/([a-z0-9-]+\.md)")


def _tracked_text_files() -> list[str]:
    out = subprocess.run(["git", "ls-files"], cwd=paths.REPO_ROOT, capture_output=True, text=True, check=True)
    return [f for f in out.stdout.splitlines()
            if f.endswith((".py", ".md", ".yaml", ".txt", ".c", ".h", ".j2", ".toml", ".json")) and f != "tests/test_docs.py"]


def test_no_file_points_at_the_shared_folder_docs() -> None:
    bad = [f for f in _tracked_text_files()
           if "shared/docs" in (paths.REPO_ROOT / f).read_text(encoding="utf-8", errors="replace")
           or "platform-facts" in (paths.REPO_ROOT / f).read_text(encoding="utf-8", errors="replace")]
    assert bad == []


def test_every_cited_doc_exists() -> None:
    missing = set()
    for f in _tracked_text_files():
        for name in CITED.findall((paths.REPO_ROOT / f).read_text(encoding="utf-8", errors="replace")):
            if not (paths.REPO_ROOT / "docs" / name).is_file():
                missing.add(f"{f}: docs/{name}")
    assert not missing, sorted(missing)
