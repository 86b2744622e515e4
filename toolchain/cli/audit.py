"""``invoke audit EXE --target T [--json]``: will this exe load and run there?

Thin: resolves the target to plain (os, cpu) strings, calls
``toolchain.audit.audit_exe`` and prints a table or JSON.  A failing audit
exits with AuditError's code, so scripts and CI can rely on the status.
"""

from __future__ import annotations

import json as jsonlib
from pathlib import Path

from rich.console import Console

from toolchain.cli.common import task
from toolchain.errors import AuditError, ConfigError


@task(
    help={
        "exe": "the .exe to audit",
        "target": "target name (targets/*.yaml) whose platform.os and platform.cpu apply",
        "os": "target OS instead of --target: win95 win95osr2 win98 win98se winme nt4 dos",
        "cpu": "CPU baseline instead of --target: i386 i486 pentium pentium-mmx k6 k6-2 pentiumpro pentium2 pentium3",
        "symbols": "unstripped twin of the exe, to name the function of each CPU hit",
        "map": "linker map file, to name functions when there is no unstripped twin",
        "json": "print the report as JSON on stdout instead of a table",
    },
)
def audit(c, exe, target=None, os=None, cpu=None, symbols=None, map=None, json=False):  # noqa: A002
    """Check an exe's PE header, imports and CPU instructions against its target."""
    from toolchain.audit import audit_exe

    if target:
        from toolchain.targets import resolve

        platform = resolve(target)[0].platform
        os, cpu = os or platform.os, cpu or platform.cpu
    if not os or not cpu:
        raise ConfigError("say which target the exe is for: --target NAME, or both --os and --cpu")
    report = audit_exe(Path(exe), os=os, cpu=cpu, map_file=Path(map) if map else None,
                       symbols_exe=Path(symbols) if symbols else None)
    if json:
        print(jsonlib.dumps(report.to_json(), indent=2))
    else:
        report.render(Console(stderr=True))
    if not report.ok:
        raise AuditError(report.verdict)
