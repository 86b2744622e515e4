"""Model tasks: ``models`` (list, fetch), ``inspect`` and ``demo-model``.

Thin: ``toolchain.models.plan`` works out the estimates and fits; these
tasks parse the options and print tables.
"""

from __future__ import annotations

from pathlib import Path

from invoke import Collection
from rich.console import Console
from rich.table import Table

from toolchain import paths
from toolchain.cli.common import int_option, number_option, task
from toolchain.errors import ModelError

MB = 1024 * 1024


def _console() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


@task(
    name="list",
    default=True,
    help={
        "ram": "RAM of the old PC, e.g. 64M: adds a 'fits' column",
        "target": "take the RAM and file-size limit from a target (win98, win95, nt4...)",
        "steps": "tokens per run, for the KV cache (default 256)",
    },
)
def list_models(c, ram=None, target=None, steps="256"):
    """List the models retrollama can fetch, what each needs, and whether it is cached."""
    from toolchain.models import plan, registry

    n_steps = int_option("steps", steps)
    machine = plan.pc(ram, target)
    table = Table(title=f"models (cache: {registry.cache_dir()})")
    table.add_column("name", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    for col in ("MB", "params", "RAM fp32", "RAM int8", "tok/s PII-350"):
        table.add_column(col, justify="right")
    if machine.ram_bytes:
        table.add_column(f"fits {machine.ram_bytes // MB} MB")
    table.add_column("cache", no_wrap=True)
    for row in plan.catalogue(n_steps, machine):
        entry, est = row.entry, row.estimate
        cells = [entry.name, entry.kind, f"{entry.size / MB:.1f}" if entry.size else "?"]
        if est is not None:
            cells += [f"{est.params / 1e6:.2f}M", f"{est.ram_bytes / MB:.1f}", f"{est.ram_bytes_int8 / MB:.1f}",
                      f"{est.tok_per_s_p2_350:.2f}"]
        else:
            cells += ["", "", "", ""]
        if machine.ram_bytes:
            cells.append(row.fits)
        cells.append(row.cache)
        table.add_row(*cells)
    console = Console()
    if not console.is_terminal:
        console.width = 120  # logs and pipes: do not squeeze the table to 80 columns
    console.print(table)
    if machine.ram_bytes:
        _console().print(f"'fits' leaves room for Windows; RAM from {machine.why}.")


@task(help={"name": "registry name (see `invoke models`)", "quiet": "no progress bar"})
def fetch(c, name, quiet=False):
    """Download a model (and its tokenizer) into the cache, resuming and verifying sha256."""
    from toolchain.models import fetch as fetcher
    from toolchain.models import registry

    entries = registry.load()
    for entry in registry.with_tokenizer(registry.get(name, entries), entries):
        path = fetcher.fetch(entry, progress=not quiet)
        print(f"{entry.name}: {path}")


@task(
    name="inspect",
    help={
        "model": "checkpoint file, or a registry name (planned from the registry if not downloaded)",
        "tokenizer": "tokenizer.bin to check against the model",
        "ram": "RAM of the old PC, e.g. 32M (default: the target's typical RAM)",
        "steps": "tokens per run, for the KV cache (default 256)",
        "target": "target whose RAM and file-size limit to check against (win98, win95, nt4...)",
        "quant": "fp32 or int8: which weights 'fits' is judged for",
    },
)
def inspect_model(c, model, tokenizer=None, ram=None, steps="256", target=None, quant="fp32"):
    """Config, parameters, RAM, fit and estimated Pentium II speed of a model."""
    from toolchain.models import fit, plan

    n_steps = int_option("steps", steps)
    machine = plan.pc(ram, target)
    title, est = plan.estimate_named(model, Path(tokenizer) if tokenizer else None, n_steps, quant,
                                     machine.max_file_bytes)
    print(title)
    for line in fit.report(est, machine.ram_bytes):
        print(f"  {line}")
    if machine.ram_bytes:
        print(f"  (RAM from {machine.why})")
    if est.problems:
        raise ModelError(f"{title}: {len(est.problems)} problem(s), listed above")


@task(
    name="demo-model",
    help={
        "out": "folder for MODEL.BIN, TOKENIZ.BIN and README.md (default models/demo)",
        "minutes": "training time budget (default 8)",
        "seed": "random seed for corpus and training (default 1998)",
    },
)
def demo_model(c, out=None, minutes="8", seed="1998"):
    """Re-create the offline demo model: generate the story corpus, train (needs torch), export."""
    from toolchain.demo import make

    budget, n_seed = number_option("minutes", minutes), int_option("seed", seed)
    make.make_demo_model(Path(out) if out else paths.REPO_ROOT / "models" / "demo", minutes=budget, seed=n_seed)


# ``invoke models`` lists, ``invoke models.fetch NAME`` downloads.
models = Collection("models", list_models, fetch)
