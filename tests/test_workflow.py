"""The GitHub Actions workflows are valid and safe, though they cannot run here.

actionlint checks syntax, expressions and job wiring; zizmor the security
lints (pinned actions, no injection from event data, no credentials left in
the checkout, no cache in a release build).  The bundle matrix must name every
buildable target, so a new target file cannot be forgotten there.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from toolchain import paths

WORKFLOWS = paths.REPO_ROOT / ".github" / "workflows"


def _tool(name: str) -> str:
    """A tool installed into the venv by requirements.txt (next to python)."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.is_file() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed (it is in requirements.txt; run ./retro test)")
    return found


def _workflow(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))


def test_actionlint_passes() -> None:
    files = sorted(str(p) for p in WORKFLOWS.glob("*.yml"))
    assert files, "no workflow files"
    proc = subprocess.run([_tool("actionlint"), "-no-color", *files], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_zizmor_finds_nothing() -> None:
    proc = subprocess.run(
        [_tool("zizmor"), "--no-progress", "--format", "plain", str(WORKFLOWS.parent)],
        capture_output=True, text=True, timeout=120, cwd=paths.REPO_ROOT,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No findings" in proc.stdout, proc.stdout


def test_matrix_names_every_buildable_target() -> None:
    from toolchain.targets import target_names

    matrix = _workflow("bundles.yml")["jobs"]["bundle"]["strategy"]["matrix"]["target"]
    assert sorted(matrix) == sorted(target_names())


def test_jobs_run_the_readme_commands() -> None:
    """The test job runs exactly the README's test command; each bundle job
    builds its own target with the README's build command."""
    readme = (paths.REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert "./retro test" in readme and "./retro build --target" in readme
    jobs = _workflow("bundles.yml")["jobs"]
    runs = [s.get("run", "") for s in jobs["test"]["steps"]]
    assert "./retro test" in runs
    bundle_runs = " ".join(s.get("run", "") for s in jobs["bundle"]["steps"])
    assert './retro build --target "$TARGET"' in bundle_runs


def test_release_builds_without_caches() -> None:
    release = _workflow("release.yml")
    call = release["jobs"]["bundles"]
    assert call["uses"].endswith("bundles.yml") and call["with"]["no-cache"] is True
    caches = [s for job in _workflow("bundles.yml")["jobs"].values() for s in job.get("steps", [])
              if str(s.get("uses", "")).startswith("actions/cache@")]
    assert caches and all(s.get("if") == "${{ !inputs.no-cache }}" for s in caches)


def test_helper_scripts_parse() -> None:
    for script in sorted((paths.REPO_ROOT / ".github" / "scripts").glob("*.sh")):
        proc = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        assert proc.returncode == 0, f"{script}: {proc.stderr}"
