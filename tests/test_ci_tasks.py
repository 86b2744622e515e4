"""The checks CI must run as tasks, run here as a user would: `invoke
validate-patches`, and `invoke build` refusing an exe the audit rejects."""

from __future__ import annotations

import shutil
from pathlib import Path

from cli_util import invoke

from toolchain import paths


def test_validate_patches_task_passes() -> None:
    proc = invoke("validate-patches")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = [line for line in (proc.stdout + proc.stderr).splitlines() if line.startswith("validate-patches:")]
    assert summary and "checks passed" in summary[-1]


def test_build_refuses_an_exe_the_audit_rejects(tmp_path: Path) -> None:
    """MinGW's default startup has CMOV: a Pentium target without our own
    startup must not produce a zip, and must say why."""
    targets = tmp_path / "targets"
    shutil.copytree(paths.TARGETS_DIR, targets)
    (targets / "p5-default-crt.yaml").write_text(
        "description: Pentium with MinGW's default startup (wrong on purpose)\n"
        "extends: [win95-base, mingw]\n"
        "compiler:\n"
        "  cpu_flags: [-march=pentium]\n",
        encoding="utf-8",
    )
    proc = invoke("build", "--target", "p5-default-crt", "--out", str(tmp_path),
                  env={"RETROLLAMA_TARGETS": str(targets), "INVOKE_RETROLLAMA_WORK": str(tmp_path / "w")})
    assert proc.returncode == 5, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "cmov" in proc.stderr.lower() and "FAIL" in proc.stderr
    assert not (tmp_path / "retrollama-p5-default-crt.zip").exists()
