"""The one value every check produces: a Finding.

Kept apart from the checks so that pe, imports, cpu and linksurface can be read
(and tested) alone, and the report only has to sort and count findings.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

Severity = Literal["fail", "warn", "info"]
Check = Literal["pe", "mz", "imports", "cpu", "link"]

SEVERITY_ORDER: dict[str, int] = {"fail": 0, "warn": 1, "info": 2}


@dataclass(frozen=True)
class Finding:
    """One thing the audit noticed.

    ``fail`` means the exe will not load or will crash on the target, ``warn``
    that it may misbehave there, ``info`` that it is worth knowing.  ``where``
    locates it for a human: a DLL!function, a header field, a function@address.
    """

    severity: Severity
    check: Check
    message: str
    where: str = ""

    def to_json(self) -> dict[str, str]:
        """Plain dict for ``--json`` output."""
        return asdict(self)
