"""One place for reproducible outputs: the timestamp every writer uses.

Zip, FAT and ISO writers all stamp files with ``source_date_epoch()`` so two
builds of the same inputs give the same bytes.  ``SOURCE_DATE_EPOCH`` (the
reproducible-builds.org convention) overrides the default; DOS dates cannot
go below 1980-01-01 or past 2107, so the value is clamped to that range.
"""

from __future__ import annotations

import os
import time

from toolchain.errors import ConfigError

DOS_MIN_EPOCH = 315532800  # 1980-01-01 00:00:00 UTC
DOS_MAX_EPOCH = 4354819199  # 2107-12-31 23:59:59 UTC
DEFAULT_EPOCH = 915148800  # 1999-01-01 00:00:00 UTC: a date the target era knows


def source_date_epoch() -> int:
    """The build timestamp: ``$SOURCE_DATE_EPOCH`` or a fixed 1999 date."""
    raw = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if not raw:
        return DEFAULT_EPOCH
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"SOURCE_DATE_EPOCH={raw!r}: not an integer number of seconds") from None
    return min(max(value, DOS_MIN_EPOCH), DOS_MAX_EPOCH)


def dos_date_time(epoch: int | None = None) -> tuple[int, int, int, int, int, int]:
    """``(Y, M, D, h, m, s)`` in UTC with even seconds, as zip and FAT store it."""
    t = time.gmtime(source_date_epoch() if epoch is None else epoch)
    return (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec - t.tm_sec % 2)
