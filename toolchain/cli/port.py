"""Porting tasks: ``port`` (C99 tree -> C89 tree) and ``validate-patches`` (CI)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from invoke import Collection, Exit

from toolchain.cli.common import task, user_errors
from toolchain.errors import PortError


def _family(target: str | None, compiler: str | None) -> str:
    """The compiler family: from --target through the target file, else --compiler."""
    if target and compiler:
        raise PortError("give --target or --compiler, not both")
    if target:
        from toolchain.compilers import resolve

        return resolve(target)[0].compiler.family
    return compiler or "gcc"


@task(help={
    "src": "C99 source tree (or one .c file) to port; never written to",
    "out": "new folder for the C89 sources and rcompat.h",
    "target": "target name or alias (win98, win98-bcc...): picks the compiler family",
    "compiler": "compiler family instead of --target: gcc, mingw, borland, watcom",
    "report": "only list what each patch would change (file:line [patch] why)",
})
@user_errors
def port(c, src, out=None, target=None, compiler=None, report=False):
    """Port a llama2.c-style C99 tree to C89 with the documented patch series."""
    from toolchain.porting import port_tree, report_tree

    family = _family(target, compiler)
    if report:
        for change in report_tree(Path(src), compiler=family):
            print(change)
        return
    if not out:
        raise PortError("give --out DIR (or --report to only list the changes)")
    result = port_tree(Path(src), Path(out), compiler=family)
    patches = sorted({ch.patch_id for ch in result.changes})
    print(f"ported {len(result.files) - 1} file(s) for {family} into {out}: "
          f"{len(result.changes)} change(s) by {len(patches)} patch(es)")


@task(help={"keep": "folder to keep the ported fixtures and builds in (default: a temporary one)"})
@user_errors
def validate_patches(c, keep=None):
    """Check every patch: goldens, idempotence, strict C89 builds, same output (CI)."""
    from toolchain.porting.series import load_series
    from toolchain.porting.validate import validate_all

    load_series()  # a broken series is a one-line error before anything is built
    if keep:
        outcomes = validate_all(Path(keep))
    else:
        with tempfile.TemporaryDirectory(prefix="retro-port-") as tmp:
            outcomes = validate_all(Path(tmp))
    failed = [o for o in outcomes if not o.ok]
    for outcome in outcomes:
        if not outcome.ok or "not installed" in outcome.check or "not found" in outcome.check:
            print(outcome)
    print(f"validate-patches: {len(outcomes) - len(failed)} of {len(outcomes)} checks passed")
    if failed:
        raise Exit(f"validate-patches: {len(failed)} check(s) failed", code=PortError.exit_code)


def register(ns: Collection) -> None:
    """Add the porting tasks to the root collection."""
    ns.add_task(port)
    ns.add_task(validate_patches, name="validate-patches")
