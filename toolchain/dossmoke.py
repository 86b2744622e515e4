"""Smoke test for MS-DOS: run the built RUN.EXE in DOSBox for a few tokens.

The DOS twin of ``toolchain.smoke`` (Wine): a crash, a hang, a nonzero
ERRORLEVEL or no story fails the build.  The emulated machine gets the
target's CPU type and its typical RAM (more when the model needs it, up to
DOSBox's 63 MB), so a build for an 8 MB 386 is tried on an 8 MB 386.
"""

from __future__ import annotations

from pathlib import Path

from toolchain import dosbox
from toolchain.errors import BuildError
from toolchain.smoke import SmokeResult

# DOSBox's largest memsize; a bigger model is still smoke-tested in this.
_MAX_RAM_MB = 63


def smoke_test_dos(bundle: Path, exe_name: str, model: str, tokenizer: str, *, cpu: str,
                   ram_mb: int, tokens: int = 8) -> SmokeResult:
    """Run ``exe_name`` from the bundle (mounted as C:) on its own model files."""
    ram = max(1, min(_MAX_RAM_MB, ram_mb))
    command = f"C:\\{exe_name} C:\\{model} -z C:\\{tokenizer} -n {tokens} -t 0"
    run = dosbox.run(bundle, command, cpu=cpu, ram_mb=ram)
    where = f"{bundle / exe_name} in DOSBox ({dosbox.cputype_for(cpu)}, {ram} MB)"
    crash = run.files.get("CW.ERR")
    if crash is not None:
        first = crash.decode("latin-1").strip().splitlines()[:1]
        raise BuildError(f"{where}: crashed (CauseWay's CW.ERR: {first[0] if first else 'empty'})")
    out = run.stdout.decode("latin-1")
    if run.errorlevel != 0:
        raise BuildError(f"{where}: ended with ERRORLEVEL {run.errorlevel}")
    if not out.strip():
        raise BuildError(f"{where}: printed nothing")
    return SmokeResult(True, out, f"ran in DOSBox ({dosbox.cputype_for(cpu)}, {ram} MB): {out.strip()[:60]!r}")
