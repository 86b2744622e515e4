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


def test_readme_what_is_inside_matches_the_tree() -> None:
    readme = (paths.REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## What is inside", 1)[1].split("\n## ", 1)[0]
    top = {f.split("/", 1)[0] for f in _tracked_text_files() if "/" in f and not f.startswith(".")}
    for folder in sorted(top):
        assert f"`{folder}/`" in section, f"README's 'What is inside' does not name {folder}/"
    for name in re.findall(r"`([a-z_]+)/`", section):
        assert (paths.REPO_ROOT / name).is_dir() or (paths.REPO_ROOT / "toolchain" / name).is_dir(), name
    modules = {p.stem for p in (paths.REPO_ROOT / "toolchain").glob("*.py")} - {"__init__", "errors", "paths"}
    for module in sorted(modules):
        assert f"`{module}`" in section, f"README's 'What is inside' does not name toolchain/{module}.py"
