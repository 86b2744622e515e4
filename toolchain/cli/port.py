"""Porting tasks: ``port`` (C99 tree -> C89 tree) and ``validate-patches`` (CI)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from invoke import Exit

from toolchain.cli.common import task
from toolchain.errors import PortError


def _family(target: str | None, compiler: str | None) -> str:
    """The compiler family: from --target through the target file, else --compiler."""
    if target and compiler:
        raise PortError("give --target or --compiler, not both")
    if target:
        from toolchain.targets import resolve

        return resolve(target)[0].compiler.family
    return compiler or "gcc"


def _print_programs(programs: list[Path]) -> None:
    if not programs:
        print("no file defines main(): a library, not a program")
    else:
        print(f"{len(programs)} program(s), each file with a main(): "
              f"{', '.join(p.as_posix() for p in programs)}")


def _print_summary(changes: list) -> None:
    from toolchain.porting import summary

    rows = summary(changes)
    if not rows:
        print("no patch changes anything")
        return
    width = max(len(patch) for patch, _, _ in rows)
    print(f"{'patch':<{width}}  {'count':>5}  files")
    for patch, count, files in rows:
        print(f"{patch:<{width}}  {count:>5}  {', '.join(f.as_posix() for f in files)}")


@task(help={
    "src": "C99 source tree (or one .c file) to port; never written to",
    "out": "new folder for the C89 sources and rcompat.h",
    "target": "target name or alias (win98, win98-bcc...): picks the compiler family",
    "compiler": "compiler family instead of --target: gcc, mingw, borland, watcom",
    "report": "only list what each patch would change (file:line [patch] why), then a summary",
})
def port(c, src, out=None, target=None, compiler=None, report=False):
    """Port a llama2.c-style C99 tree to C89 with the documented patch series."""
    from toolchain.porting import port_tree, survey_tree

    family = _family(target, compiler)
    if report:
        survey = survey_tree(Path(src), compiler=family)
        for change in survey.changes:
            print(change)
        _print_programs(survey.programs)
        _print_summary(survey.changes)
        return
    if not out:
        raise PortError("give --out DIR (or --report to only list the changes)")
    result = port_tree(Path(src), Path(out), compiler=family)
    patches = sorted({ch.patch_id for ch in result.changes})
    from toolchain.porting.rules.compat_include import COMPAT_HEADER

    sources = [f for f in result.files if f.name != COMPAT_HEADER]  # one header per folder
    print(f"ported {len(sources)} file(s) for {family} into {out}: "
          f"{len(result.changes)} change(s) by {len(patches)} patch(es)")
    _print_programs(result.programs)


@task(name="validate-patches",
      help={"keep": "folder to keep the ported fixtures and builds in (default: a temporary one)"})
def validate_patches(c, keep=None):
    """Check every patch: goldens, idempotence, strict C89 builds, same output (CI)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from toolchain.porting.series import load_series
    from toolchain.porting.validate import step_count, validate_all

    load_series()  # a broken series is a one-line error before anything is built
    with Progress(TextColumn("validate-patches"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.description}"), TimeElapsedColumn(), transient=True) as bar:
        job = bar.add_task("", total=step_count())
        started = [False]

        def step(name: str) -> None:
            if started[0]:
                bar.advance(job)
            started[0] = True
            bar.update(job, description=name)

        if keep:
            outcomes = validate_all(Path(keep), progress=step)
        else:
            with tempfile.TemporaryDirectory(prefix="retro-port-") as tmp:
                outcomes = validate_all(Path(tmp), progress=step)
    failed = [o for o in outcomes if o.checked and not o.ok]
    unchecked = [o for o in outcomes if not o.checked]
    for outcome in outcomes:
        if not outcome.ok:
            print(outcome)
    passed = len(outcomes) - len(failed) - len(unchecked)
    tail = ""
    if unchecked:
        why = sorted({o.check for o in unchecked})
        tail = f"; {len(unchecked)} not checked ({'; '.join(why)})"
    print(f"validate-patches: {passed} of {len(outcomes)} checks passed{tail}")
    if failed:
        raise Exit(f"validate-patches: {len(failed)} check(s) failed", code=PortError.exit_code)
