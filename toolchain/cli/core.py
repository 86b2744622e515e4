"""Core tasks: ``build``, ``targets`` and ``test``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import TypedDict

from invoke import Context, Exit
from rich.console import Console
from rich.table import Table

from toolchain import paths, settings
from toolchain.build import BuildOptions
from toolchain.cli.common import int_option, number_option, task
from toolchain.dosbatch import REFUSED_HELP
from toolchain.errors import ConfigError


def _console() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


@task(
    help={
        "target": "target name or alias (win98, win95, nt4); see `invoke targets`",
        "model": "llama2.c checkpoint (default: first model found, see README)",
        "tokenizer": "tokenizer.bin matching the model (default: found beside it)",
        "out": "folder for the zip (default: dist in the project)",
        "source": "build a llama2.c-style C99 tree ported by `invoke port` instead of engine/",
        "prompt": "default prompt RUN.BAT uses; % is kept, but " + REFUSED_HELP + " are refused",
        "temperature": "RUN.BAT's default temperature (default 1.0; 0 = always the likeliest word)",
        "topp": "RUN.BAT's default top-p (default 0.9)",
        "seed": "RUN.BAT's default random seed (default: the clock, a new story each run)",
        "steps": "tokens RUN.BAT generates (0 = the model's context length)",
        "media": "also write disk images: floppy, iso, or floppy,iso",
        "program": "with --source: the C file whose main is built (default run.c when the tree has several)",
        "all": "build every (target, model) pair in parallel, with a summary table (see --targets, --models)",
        "targets": "with --all: targets, aliases or patterns, comma-separated (e.g. 'win98*,dos*'; default: all)",
        "models": "with --all: models (registry names or files), comma-separated (default: the default model)",
        "jobs": "with --all: pairs built at once (default: the number of cores)",
    }
)
def build(c, target=None, model=None, tokenizer=None, out=None, source=None, prompt=None,
          steps=None, media=None, program=None, all_=False, targets=None, models=None, jobs=None,
          temperature=None, topp=None, seed=None):
    """Build the bundle zip for a target: RUN.EXE (or a source kit), model, RUN.BAT, README.TXT."""
    sampling = (temperature, topp, seed)
    if all_ or targets or models or jobs:
        _build_all(c, all_, targets, models, jobs, target=target, model=model, tokenizer=tokenizer, out=out,
                   source=source, prompt=prompt, steps=steps, media=media, program=program, sampling=sampling)
        return
    from toolchain.build import build as run_build

    opts, _ = _options(c, target, model, tokenizer, out, source, prompt, steps, media, program, sampling)
    console = _console()
    result = run_build(opts, console)
    for note in result.notes:
        console.print(note)
    for image in result.media:
        console.print(f"[bold]media[/bold]  {image}")
    kind = "bundle" if result.exe_built else "source kit, no RUN.EXE"
    console.print(f"[bold green]wrote[/bold green] {result.zip_path} ({kind})")


class _Sampling(TypedDict, total=False):
    temperature: float
    topp: float
    seed: int


def _sampling(sampling: tuple[object, object, object]) -> _Sampling:
    """--temperature, --topp, --seed as BuildOptions fields: only those given,
    so RUN.BAT's defaults stay where they are written (BuildOptions)."""
    temperature, topp, seed = sampling
    given = _Sampling()
    if temperature is not None:
        given["temperature"] = number_option("temperature", temperature)
    if topp is not None:
        given["topp"] = number_option("topp", topp)
    if seed is not None:
        given["seed"] = int_option("seed", seed)
    return given


def _options(c: Context, target: str | None, model: str | None, tokenizer: str | None, out: str | None,
             source: str | None, prompt: str | None, steps: str | None, media: str | None,
             program: str | None, sampling: tuple[object, object, object] = (None, None, None),
             ) -> tuple[BuildOptions, settings.Settings]:
    """The command line and the settings layers -> BuildOptions (checked before anything is built)."""
    s = settings.from_layers(c.config.get("retrollama"), target=target, prompt=prompt,
                             steps=None if steps is None else int_option("steps", steps))
    opts = BuildOptions(
        target=s.target,
        model=model,
        tokenizer=tokenizer,
        out=Path(out) if out else settings.anchored(s.out),
        source=Path(source) if source else None,
        prompt=s.prompt,
        steps=s.steps,
        models_dir=s.models_dir,
        work=settings.anchored(s.work),
        media=tuple(m.strip() for m in media.split(",")) if media else (),
        program=program,
        **_sampling(sampling),
    )
    return opts, s


def _build_all(c, all_, targets, models, jobs, *, target, model, tokenizer, **common):
    """``build --all``: every selected (target, model) pair, then one summary table."""
    from toolchain import matrix
    from toolchain.build import check_options
    from toolchain.targets import aliases, target_names

    if not all_:
        raise ConfigError("--targets, --models and --jobs go with --all")
    if target or model or tokenizer:
        raise ConfigError("--all builds the targets of --targets and the models of --models, "
                          "not --target/--model/--tokenizer")
    n_jobs = None if jobs is None else int_option("jobs", jobs)
    if n_jobs is not None and n_jobs < 1:
        raise ConfigError(f"--jobs {n_jobs}: must be 1 or more")
    opts, s = _options(c, None, None, None, **common)
    check_options(opts)
    names = matrix.select_targets(targets, target_names(), aliases())
    pairs = [matrix.Pair(t, m) for m in matrix.select_models(models) for t in names]
    console = _console()
    results = matrix.build_all(pairs, opts, settings.anchored(s.work) / "all", opts.out, console, jobs=n_jobs)
    Console().print(matrix.summary_table(results))
    failed = [r for r in results if not r.ok]
    if failed:
        raise ConfigError(f"{len(failed)} of {len(results)} builds failed (their logs are named above)")
    console.print(f"[bold green]built[/bold green] {len(results)} bundles into {opts.out}")


@task
def targets(c):
    """List the targets, their compilers, and where each compiler was found or what is missing."""
    from toolchain import compilers
    from toolchain.targets import aliases, load_all

    good, problems = load_all()
    table = Table(title="retrollama targets")
    for col in ("target", "OS / CPU", "compiler", "found at / missing"):
        table.add_column(col)
    for t in good:
        d = compilers.discover(t)
        status = f"[green]{d.status}[/green]" if d.found else f"[yellow]{d.status}[/yellow]"
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
    from toolchain.docs import update

    for path in update() or ["(nothing changed)"]:
        print(path)
