"""The audit's result: findings, a one-line verdict, a rich table and JSON.

The build fails on ``not report.ok``; a person reads ``render``; CI and other
tools read ``to_json``.  Everything here is presentation of values the checks
already computed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from toolchain.audit.cpu import CpuHit
from toolchain.audit.findings import SEVERITY_ORDER, Finding

_STYLE = {"fail": "bold red", "warn": "yellow", "info": "dim"}
_CHECK_WORDS = {"pe": "header", "mz": "header", "imports": "import", "cpu": "CPU", "link": "link-surface"}


@dataclass
class AuditReport:
    """Everything one audit found about one exe on one (os, cpu) target."""

    exe: Path
    os: str
    cpu: str
    findings: list[Finding] = field(default_factory=list)
    cpu_hits: list[CpuHit] = field(default_factory=list)
    imports: list[tuple[str, str | None, int | None]] = field(default_factory=list)
    code_bytes: int = 0
    symbols: str = ""

    def __post_init__(self) -> None:
        self.findings.sort(key=lambda f: (SEVERITY_ORDER[f.severity], f.check, f.where))

    @property
    def ok(self) -> bool:
        """True when nothing would stop the exe from loading or running."""
        return not any(f.severity == "fail" for f in self.findings)

    def count(self, severity: str) -> int:
        return sum(1 for f in self.findings if f.severity == severity)

    @property
    def verdict(self) -> str:
        """One line: PASS/FAIL, the target, and what failed."""
        target = f"{self.os}/{self.cpu}"
        warns = self.count("warn")
        tail = f" ({warns} warning{'s' if warns != 1 else ''})" if warns else ""
        if self.ok:
            return f"PASS: {self.exe.name} will load and run on {target}{tail}"
        fails = Counter(f.check for f in self.findings if f.severity == "fail" and f.check != "cpu")
        parts = [f"{n} {_CHECK_WORDS.get(c, c)} failure{'s' if n != 1 else ''}" for c, n in sorted(fails.items())]
        bad = sum(1 for h in self.cpu_hits if h.severity == "fail")
        places = sum(1 for f in self.findings if f.severity == "fail" and f.check == "cpu")
        if bad:
            parts.append(f"{bad} instruction{'s' if bad != 1 else ''} beyond {self.cpu} "
                         f"in {places} place{'s' if places != 1 else ''}")
        return f"FAIL: {self.exe.name} would not run on {target}: {', '.join(parts)}{tail}"

    def to_json(self) -> dict[str, Any]:
        """Plain JSON-able dict (what ``invoke audit --json`` prints)."""
        return {
            "exe": str(self.exe),
            "os": self.os,
            "cpu": self.cpu,
            "ok": self.ok,
            "verdict": self.verdict,
            "findings": [f.to_json() for f in self.findings],
            "cpu_hits": [h.to_json() for h in self.cpu_hits],
            "imports": [{"dll": d, "name": n, "ordinal": o} for d, n, o in self.imports],
            "code_bytes": self.code_bytes,
            "symbols": self.symbols,
        }

    def render(self, console: Console) -> None:
        """The findings as a table, then the verdict line."""
        table = Table(title=f"audit of {self.exe} for {self.os}/{self.cpu}", title_justify="left")
        table.add_column("", no_wrap=True)
        table.add_column("check", no_wrap=True)
        table.add_column("where", overflow="fold")
        table.add_column("finding", overflow="fold")
        for f in self.findings:
            table.add_row(f"[{_STYLE[f.severity]}]{f.severity}[/]", f.check, f.where, f.message)
        if self.findings:
            console.print(table)
        imports = len(self.imports)
        what = "" if self.os == "dos" else f"{imports} imports, "  # a DOS program imports nothing
        console.print(f"[dim]{what}{self.code_bytes} code bytes swept"
                      f"{', ' + self.symbols if self.symbols else ''}[/]")
        console.print(f"[{'bold green' if self.ok else 'bold red'}]{self.verdict}[/]")
