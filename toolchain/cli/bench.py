"""``invoke bench``: instructions, estimated cycles and tok/s per token, engine beside llama2.c.

Thin: ``toolchain.bench`` builds, runs and estimates; this shows progress
(a few minutes of callgrind runs) and prints its tables.
"""

from __future__ import annotations

from pathlib import Path

from toolchain.cli.common import task


@task(help={
    "upstream": "folder with llama2.c's run.c and runq.c (default: ../shared/upstream/llama2.c)",
    "models": "folder with stories260K.bin, tok512.bin and tokenizer.bin (default: ../shared/models)",
    "big": "also the TinyLlama-1.1B-shaped streamed run (writes 5.6 GB into .bench/ once, about 2 minutes)",
})
def bench(c, upstream=None, models=None, big=False):
    """Estimate the engine's speed on a Pentium II 350, Pentium 133 and 486DX2-66 beside llama2.c's run.c/runq.c."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from toolchain import bench as b
    from toolchain import paths

    settings = b.load_settings()
    models_dir = Path(models).expanduser() if models else paths.SHARED_MODELS
    b.check_models_dir(models_dir)
    cases = b.prepare_cases(settings, models_dir)
    builds = b.plan_builds(settings, b.BENCH_DIR, Path(upstream).expanduser() if upstream else None)
    console = Console(stderr=True)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        total = b.run_count(settings, cases, builds) + len(b.memory_cases(settings, big))
        job = progress.add_task("bench", total=total)
        started = [False]

        def step(what: str) -> None:
            if started[0]:
                progress.advance(job)
            started[0] = True
            progress.update(job, description=what)

        results = b.run_bench(settings, cases, builds, step=step)
        progress.advance(job)
        progress.update(job, description="peak memory of int8 runs")
        memory = b.run_memory(settings, models_dir=models_dir, big=big)
    for line in b.report(results, settings):
        print(line)
    for line in b.memory_report(memory):
        print(line)
