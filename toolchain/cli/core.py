"""Core tasks: ``build``, ``targets`` and ``test``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from invoke import Collection, Exit, task
from rich.console import Console
from rich.table import Table

from toolchain import paths
from toolchain.cli.common import user_errors
from toolchain.dosbatch import REFUSED_HELP


def _console() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


@task(
    help={
        "target": "target name or alias (win98, win95, nt4); see `invoke targets`",
        "model": "llama2.c checkpoint (default: first model found, see README)",
        "tokenizer": "tokenizer.bin matching the model (default: found beside it)",
        "out": "folder for the zip (default: dist)",
        "source": "build a llama2.c-style C99 tree ported by `invoke port` instead of engine/",
        "prompt": "default prompt RUN.BAT uses; % is kept, but " + REFUSED_HELP + " are refused",
        "temperature": "RUN.BAT's default temperature (default 1.0; 0 = always the likeliest word)",
        "topp": "RUN.BAT's default top-p (default 0.9)",
        "seed": "RUN.BAT's default random seed (default: the clock, a new story each run)",
        "steps": "tokens RUN.BAT generates (0 = the model's context length)",
        "media": "also write disk images: floppy, iso, or floppy,iso",
    }
)
def build(c, target="win98", model=None, tokenizer=None, out=None, source=None, prompt="Once upon a time",
          steps=256, media=None, temperature=None, topp=None, seed=None):
    """Build the bundle zip for a target: RUN.EXE (or a source kit), model, RUN.BAT, README.TXT."""
    _build(c, target, model, tokenizer, out, source, prompt, int(steps), media, (temperature, topp, seed))


def _number(option: str, value: str | None, kind: type) -> float | int | None:  # type: ignore[type-arg]
    if value is None:
        return None
    try:
        return kind(value)  # type: ignore[no-any-return]
    except ValueError:
        from toolchain.errors import ConfigError

        raise ConfigError(f"--{option} {value!r}: not a {'whole ' if kind is int else ''}number") from None


@user_errors
def _build(c, target, model, tokenizer, out, source, prompt, steps, media, sampling=(None, None, None)):
    from toolchain.build import BuildOptions
    from toolchain.build import build as run_build

    cfg = c.config.get("retrollama", {})
    opts = BuildOptions(
        target=target,
        model=model,
        tokenizer=tokenizer,
        out=Path(out or cfg.get("out", "dist")),
        source=Path(source) if source else None,
        prompt=prompt,
        steps=steps,
        models_dir=cfg.get("models_dir"),
        work=Path(cfg.get("work") or paths.REPO_ROOT / "build"),
        media=tuple(m.strip() for m in media.split(",")) if media else (),
        temperature=_number("temperature", sampling[0], float) if sampling[0] is not None else 1.0,
        topp=_number("topp", sampling[1], float) if sampling[1] is not None else 0.9,
        seed=_number("seed", sampling[2], int),
    )
    console = _console()
    result = run_build(opts, console)
    for note in result.notes:
        console.print(note)
    for image in result.media:
        console.print(f"[bold]media[/bold]  {image}")
    kind = "bundle" if result.exe_built else "source kit, no RUN.EXE"
    console.print(f"[bold green]wrote[/bold green] {result.zip_path} ({kind})")


@task
def targets(c):
    """List the targets, their compilers, and where each compiler was found or what is missing."""
    _targets()


@user_errors
def _targets():
    from toolchain import compilers
    from toolchain.errors import ConfigError
    from toolchain.targets import aliases, load_all

    good, problems = load_all()
    table = Table(title="retrollama targets")
    for col in ("target", "OS / CPU", "compiler", "found at / missing"):
        table.add_column(col)
    for t in good:
        d = compilers.discover(t)
        status = f"[green]{d.where}[/green]" if d.found else f"[yellow]{d.where}[/yellow]"
        table.add_row(t.name, f"{t.platform.os_name} / {t.platform.cpu}", t.compiler.name, status)
    console = Console()
    console.print(table)
    for alias, names in aliases().items():
        console.print(f"alias [bold]{alias}[/bold] = first available of {', '.join(names)}")
    if problems:
        for line in (ln for problem in problems for ln in problem.splitlines()):
            _console().print(f"error: {line}", markup=False)
        raise ConfigError(f"{len(problems)} broken target file(s), listed above")


@task(help={"k": "only tests matching this expression (pytest -k)", "x": "stop at the first failure"})
def test(c, k=None, x=False):
    """Run the test suite (pytest)."""
    cmd = [sys.executable, "-m", "pytest", "-q"]
    if k:
        cmd += ["-k", k]
    if x:
        cmd.append("-x")
    code = subprocess.call(cmd, cwd=paths.REPO_ROOT)
    if code:
        raise Exit(code=code)


@task
def docs(c):
    """Regenerate the README's targets table and targets/schema.json from the target files."""
    _docs()


@user_errors
def _docs():
    from toolchain.docs import update

    for path in update() or ["(nothing changed)"]:
        print(path)


def register(ns: Collection) -> None:
    """Add the core tasks and their default settings."""
    for t in (build, targets, test, docs):
        ns.add_task(t)
    ns.configure({"retrollama": {"models_dir": None, "out": "dist", "work": "build"}})
