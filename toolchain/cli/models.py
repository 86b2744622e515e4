"""Model and transfer tasks: ``models`` (list, fetch), ``inspect``, ``serve``, ``demo-model``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from invoke import Collection
from rich.console import Console
from rich.table import Table

from toolchain import paths, settings
from toolchain.cli.common import int_option, number_option, task, user_errors
from toolchain.errors import ConfigError, ModelError
from toolchain.targets import Platform

MB = 1024 * 1024


def _console() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def _platform(target: str | None) -> Platform | None:
    """The target's platform (an alias such as win98 means its first target: they share one)."""
    if not target:
        return None
    from toolchain.targets import resolve

    return resolve(target)[0].platform


def _ram(ram: str | None, target: str | None) -> tuple[int | None, int | None, str]:
    """(RAM bytes, largest file bytes, where the RAM figure comes from)."""
    from toolchain.models.fit import parse_size

    platform = _platform(target)
    max_file = platform.max_file_bytes if platform else None
    if ram:
        return parse_size(ram), max_file, f"--ram {ram}"
    if platform:
        return platform.ram_mb * MB, max_file, f"a typical {platform.os_name} PC ({target})"
    return None, None, ""


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
    _list(ram, target, steps)


@user_errors
def _list(ram: str | None, target: str | None, steps_text: str) -> None:
    steps = int_option("steps", steps_text)
    from toolchain.models import fit, registry

    available, max_file, why = _ram(ram, target)
    table = Table(title=f"models (cache: {registry.cache_dir()})")
    table.add_column("name", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    for col in ("MB", "params", "RAM fp32", "RAM int8", "tok/s PII-350"):
        table.add_column(col, justify="right")
    if available:
        table.add_column(f"fits {available // MB} MB")
    table.add_column("cache", no_wrap=True)
    for entry in registry.load().values():
        size = f"{entry.size / MB:.1f}" if entry.size else "?"
        row = [entry.name, entry.kind, size]
        if entry.config is not None:
            est = fit.estimate_config(entry.config.to_config(), file_bytes=entry.size, steps=steps,
                                          max_file_bytes=max_file)
            row += [f"{est.params / 1e6:.2f}M", f"{est.ram_bytes / MB:.1f}", f"{est.ram_bytes_int8 / MB:.1f}",
                    f"{est.tok_per_s_p2_350:.2f}"]
            if available:
                fp32 = est.fits(available)
                int8 = fit.estimate_config(entry.config.to_config(), steps=steps, quant="int8").fits(available)
                row.append("fp32" if fp32 else ("int8 only" if int8 else "no"))
        else:
            row += ["", "", "", ""] + ([""] if available else [])
        row.append(registry.cache_state(entry))
        table.add_row(*row)
    console = Console()
    if not console.is_terminal:
        console.width = 120  # logs and pipes: do not squeeze the table to 80 columns
    console.print(table)
    if available:
        _console().print(f"'fits' leaves room for Windows; RAM from {why}.")


@task(help={"name": "registry name (see `invoke models`)", "quiet": "no progress bar"})
def fetch(c, name, quiet=False):
    """Download a model (and its tokenizer) into the cache, resuming and verifying sha256."""
    _fetch(name, quiet)


@user_errors
def _fetch(name: str, quiet: bool) -> None:
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
    _inspect(model, tokenizer, ram, steps, target, quant)


@user_errors
def _inspect(model: str, tokenizer: str | None, ram: str | None, steps_text: str, target: str | None,
             quant: str) -> None:
    from toolchain.models import fit, registry

    steps = int_option("steps", steps_text)
    available, max_file, why = _ram(ram, target)
    tok = Path(tokenizer) if tokenizer else None
    path = Path(model)
    if path.is_file():
        est = fit.estimate(path, steps=steps, tokenizer=tok, quant=quant, max_file_bytes=max_file)
        title = str(path)
    elif path.suffix or "/" in model:
        raise ConfigError(f"{model}: no such checkpoint file (or registry name; see `invoke models`)")
    else:
        entries = registry.load()
        entry = registry.get(model, entries)
        if entry.config is None:
            raise ConfigError(f"{model}: is a tokenizer, not a model")
        cached = registry.cached_path(entry)
        if tok is None and entry.tokenizer:
            tok_path = registry.cached_path(entries[entry.tokenizer])
            tok = tok_path if tok_path.is_file() else None
        if cached.is_file():
            est = fit.estimate(cached, steps=steps, tokenizer=tok, quant=quant, max_file_bytes=max_file)
            title = f"{entry.name} ({cached})"
        else:
            est = fit.estimate_config(entry.config.to_config(), file_bytes=entry.size, steps=steps,
                                          tokenizer=tok, quant=quant, max_file_bytes=max_file)
            title = f"{entry.name} (from the registry; not downloaded)"
    print(title)
    for line in fit.report(est, available):
        print(f"  {line}")
    if available:
        print(f"  (RAM from {why})")
    if est.problems:
        raise ModelError(f"{title}: {len(est.problems)} problem(s), listed above")


@task(
    help={
        "bundle": "bundle folder or zip to serve (default: dist/retrollama-TARGET.zip)",
        "target": "serve dist/retrollama-TARGET.zip (default win98)",
        "bind": "the ONE address to listen on (default 127.0.0.1: this PC only; give your LAN address)",
        "port": "TCP port (default 2121; 21 needs root)",
    }
)
def serve(c, bundle=None, target=None, bind="127.0.0.1", port="2121"):
    """Serve a bundle read-only over FTP (anonymous, active + passive) and say what to type on Windows 98."""
    _serve(c.config.get("retrollama"), bundle, target, bind, port)


@user_errors
def _serve(config: Any, bundle: str | None, target: str | None, bind: str, port_text: str) -> None:
    from toolchain.serve import serve as run_server

    port = int_option("port", port_text)
    if bundle and target:
        raise ConfigError("give --bundle or --target, not both")
    if bundle:
        source = Path(bundle)
    else:
        from toolchain.targets import resolve

        s = settings.from_layers(config, target=target)
        source = settings.anchored(s.out) / f"retrollama-{resolve(s.target)[0].name}.zip"
    why = run_server(source, bind, port)
    _console().print(f"server {why}")


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
    _demo(out, minutes, seed)


@user_errors
def _demo(out: str | None, minutes_text: str, seed_text: str) -> None:
    minutes, seed = number_option("minutes", minutes_text), int_option("seed", seed_text)
    from toolchain.demo import make

    make.make_demo_model(Path(out) if out else paths.REPO_ROOT / "models" / "demo", minutes=minutes, seed=seed)


def register(ns: Collection) -> None:
    """Add ``models`` (list, fetch) as a collection and inspect, serve, demo-model as tasks."""
    models = Collection("models")
    models.add_task(list_models)
    models.add_task(fetch)
    ns.add_collection(models)
    for t in (inspect_model, serve, demo_model):
        ns.add_task(t)
