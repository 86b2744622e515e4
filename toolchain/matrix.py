"""Many bundles at once: every (target, model) pair built in parallel.

A collector with a Pentium II, a 486 under DOS and an NT4 box wants one
bundle per machine and per model.  Each pair is an ordinary ``build`` run in
a process of its own, with its own work folder (so two pairs never share
``build/TARGET/src``) and its own log; a pair that fails is reported in the
summary while the others finish.  The zips land in the usual out folder, one
subfolder per model when several models are asked for (a zip's name says
only its target).
"""

from __future__ import annotations

import fnmatch
import os
import re
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, replace
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from toolchain.errors import ConfigError, RetroError

FLOPPY_BYTES = 1_457_664  # what one 1.44 MB FAT12 disk holds for files (2847 clusters of 512 bytes)


@dataclass(frozen=True)
class Pair:
    """One bundle to build: a target (or alias) and a model (None: the default model)."""

    target: str
    model: str | None

    @property
    def label(self) -> str:
        return f"{self.target} + {model_label(self.model)}"


@dataclass(frozen=True)
class PairResult:
    """What the summary table shows for one pair."""

    pair: Pair
    ok: bool
    target_name: str = ""  # the target built (an alias resolved)
    kind: str = ""  # "exe" or "source kit"
    audit: str = ""
    smoke: str = ""
    zip_path: Path | None = None
    zip_bytes: int = 0
    floppies: int = 0
    error: str = ""
    log: Path | None = None


def model_label(model: str | None) -> str:
    """A short name for a model spec: a registry name, or a file's stem."""
    if model is None:
        return "default"
    return Path(model).name.rsplit(".", 1)[0] if "/" in model or model.lower().endswith(".bin") else model


def select_targets(patterns: str | None, names: list[str], aliases: dict[str, list[str]]) -> list[str]:
    """``--targets 'win98*,dos-386'`` -> target names, in the order first matched.

    Each comma-separated item is a target, an alias (kept: the build resolves
    it to the best installed compiler) or a shell-style pattern over target
    names; an item that matches nothing is an error, not a silent empty run.
    """
    if not patterns:
        return list(names)
    chosen: list[str] = []
    for item in (p.strip() for p in patterns.split(",")):
        if not item:
            continue
        if item in aliases or item in names:
            hits = [item]
        else:
            hits = fnmatch.filter(names, item)
        if not hits:
            raise ConfigError(f"--targets: {item!r} matches no target (see `invoke targets`)")
        chosen += [h for h in hits if h not in chosen]
    if not chosen:
        raise ConfigError("--targets: no target given")
    return chosen


def select_models(models: str | None) -> list[str | None]:
    """``--models a,b`` -> model specs; none given: the build's default model."""
    if not models:
        return [None]
    specs = [m.strip() for m in models.split(",") if m.strip()]
    if not specs:
        raise ConfigError("--models: no model given")
    return list(dict.fromkeys(specs))


def floppies_for(bundle: Path) -> int:
    """How many 1.44 MB disks the bundle's files take (the floppy writer's own plan)."""
    from toolchain.media.floppy import plan

    try:
        return len(plan(bundle))
    except RetroError:
        total = sum(f.stat().st_size for f in bundle.rglob("*") if f.is_file())
        return -(-total // FLOPPY_BYTES)


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)


def build_pair(pair: Pair, base: object, work_root: Path, out_root: Path, several_models: bool) -> PairResult:
    """Build one pair (in a worker process); never raises for a build failure."""
    from toolchain.build import BuildOptions, build

    assert isinstance(base, BuildOptions)
    folder = work_root / _safe(f"{pair.target}--{model_label(pair.model)}")
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "build.log"
    out = out_root / _safe(model_label(pair.model)) if several_models else out_root
    opts = replace(base, target=pair.target, model=pair.model, tokenizer=None, work=folder, out=out)
    with open(log, "w", encoding="utf-8") as fh:
        console = Console(file=fh, width=120, highlight=False, soft_wrap=True, color_system=None)
        try:
            result = build(opts, console)
        except RetroError as exc:
            console.print(f"error: {exc}")
            return PairResult(pair, False, error=str(exc).splitlines()[0], log=log)
        except Exception as exc:  # a bug in one pair must not stop the others; the log has it
            console.print_exception()
            return PairResult(pair, False, error=f"internal error: {exc!r}", log=log)
    return PairResult(
        pair, True,
        target_name=result.target.name,
        kind="exe" if result.exe_built else "source kit",
        audit=result.audit or "-",
        smoke=result.smoke or "-",
        zip_path=result.zip_path,
        zip_bytes=result.zip_path.stat().st_size,
        floppies=floppies_for(result.bundle),
        log=log,
    )


def build_all(pairs: list[Pair], base: object, work_root: Path, out_root: Path, console: Console,
              jobs: int | None = None) -> list[PairResult]:
    """Build every pair, ``jobs`` at a time (default: the machine's cores), with one progress bar."""
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(pairs)))
    several = len({p.model for p in pairs}) > 1
    results: dict[Pair, PairResult] = {}
    columns = (TextColumn("[bold]build --all[/bold]"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("{task.description}"))
    with Progress(*columns, console=console, transient=True) as progress:
        bar = progress.add_task(f"{jobs} at a time", total=len(pairs))
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            futures = {pool.submit(build_pair, p, base, work_root, out_root, several): p for p in pairs}
            for fut in as_completed(futures):
                pair = futures[fut]
                try:
                    res = fut.result()
                except Exception as exc:  # the worker process itself died
                    res = PairResult(pair, False, error=f"worker died: {exc!r}")
                results[pair] = res
                word = "[green]ok[/green]" if res.ok else "[red]FAILED[/red]"
                progress.console.print(f"{word} {pair.label}" + ("" if res.ok else f": {res.error}"))
                progress.advance(bar)
    return [results[p] for p in pairs]


def summary_table(results: list[PairResult]) -> Table:
    """The table printed at the end: one row per pair."""
    table = Table(title="retrollama build --all")
    for col in ("target", "model", "RUN.EXE", "audit", "smoke", "zip", "floppies"):
        table.add_column(col)
    for r in results:
        if r.ok:
            size = f"{r.zip_bytes / 1024:.0f} KB" if r.zip_bytes < 1 << 20 else f"{r.zip_bytes / (1 << 20):.1f} MB"
            table.add_row(r.target_name or r.pair.target, model_label(r.pair.model), r.kind, r.audit, r.smoke, size, str(r.floppies))
        else:
            where = f" (log: {r.log})" if r.log else ""
            table.add_row(r.pair.target, model_label(r.pair.model), "[red]FAILED[/red]", f"{r.error}{where}",
                          "", "", "")
    return table
