"""Smoke test for MS-DOS: run the built RUN.EXE in DOSBox for a few tokens.

The DOS twin of the Wine runner in ``toolchain.smoke``: a crash (CauseWay
writes CW.ERR), a hang, a nonzero ERRORLEVEL or no story fails the build.
The emulated PC gets the target's CPU type and RAM, so a build for an 8 MB
386 is tried on an 8 MB 386.

One limit of DOSBox 0.74 is not the exe's fault: it emulates no MMX.  On a
target whose CPU has MMX an invalid-opcode stop (exception 06) in the run
is reported as "not fully test-run" instead of failing the build; the CPU
audit has already proved that no instruction beyond the target is there.
"""

from __future__ import annotations

import re
from pathlib import Path

from toolchain import dosbox
from toolchain.errors import BuildError

# DOSBox's largest memsize; a bigger model is still smoke-tested in this.
_MAX_RAM_MB = 63
_INVALID_OPCODE = re.compile(rb"Exception: 06\b")


def smoke_test_dos(bundle: Path, exe_name: str, model: str, tokenizer: str, *, cpu: str,
                   ram_mb: int, tokens: int = 8) -> str:
    """Run ``exe_name`` from the bundle (mounted as C:, not written to) on its model
    files; the line for the build log (``toolchain.smoke`` wraps it)."""
    ram = max(1, min(_MAX_RAM_MB, ram_mb))
    command = f"C:\\{exe_name} C:\\{model} -z C:\\{tokenizer} -n {tokens} -t 0"
    run = dosbox.run(bundle, command, cpu=cpu, ram_mb=ram)
    machine = f"DOSBox ({dosbox.cputype_for(cpu)}, {ram} MB, cycles {run.cycles})"
    crash = run.files.get("CW.ERR")
    if crash is not None:
        if _INVALID_OPCODE.search(crash) and cpu in dosbox.settings().mmx_cpus:
            return (f"started in {machine}, which stops at MMX code (it emulates none): "
                    "not fully test-run")
        first = crash.decode("latin-1").strip().splitlines()
        why = next((line for line in first if line.startswith("Exception")), first[0] if first else "empty")
        raise BuildError(f"{bundle / exe_name}: crashed in {machine}: {why.strip()} (CauseWay's CW.ERR)")
    out = run.stdout.decode("latin-1")
    if run.errorlevel != 0:
        raise BuildError(f"{bundle / exe_name}: ended with ERRORLEVEL {run.errorlevel} in {machine}")
    if not out.strip():
        raise BuildError(f"{bundle / exe_name}: printed nothing in {machine}")
    return f"ran in {machine}: {out.strip()[:60]!r}"
