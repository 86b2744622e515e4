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


def test_readme_pipeline_diagram_names_a_real_module_for_each_stage() -> None:
    readme = (paths.REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## What is inside", 1)[1].split("\n## ", 1)[0]
    diagram = section.split("```\n", 2)[1]
    lines = diagram.splitlines()
    assert len(lines) <= 24 and max(len(ln) for ln in lines) <= 80  # one screen
    stages = [ln.split("─►", 1) for ln in lines if "─►" in ln]
    wanted = ["targets/", "engine/", "MAKEFILE", "compiler", "RUN.EXE", "bundle", "FTP"]
    assert [next(w for w in wanted if w in left) for left, _ in stages] == wanted
    for _, right in stages:
        for name in re.findall(r"(?:^|; )\s*([a-z_/<>]+(?:\.[a-z_]+)?):", right):
            module, _, func = name.replace("<family>", "mingw").partition(".")
            path = paths.REPO_ROOT / "toolchain" / module.rstrip("/")
            assert path.with_suffix(".py").is_file() or path.is_dir(), f"diagram names {name}: no such module"
            if func:
                import importlib

                mod = importlib.import_module("toolchain." + module.replace("/", "."))
                assert hasattr(mod, func), f"diagram names {name}: {module} has no {func}"
