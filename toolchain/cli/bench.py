"""``invoke bench``: the engine's tok/s and callgrind instructions per token.

Thin: ``toolchain.bench`` builds, runs and counts; this prints its table.
"""

from __future__ import annotations

from invoke import Collection

from toolchain.cli.common import add_tasks, task, user_errors


@task
def bench(c):
    """Measure the engine (native and 32-bit x87 builds) on stories260K and a 15M-shaped model, fp32 and int8."""
    _bench()


@user_errors
def _bench() -> None:
    from toolchain import bench as b

    settings = b.load_settings()
    results = b.run_bench()
    for line in b.report(results, settings["target_build"]):
        print(line)
    for line in b.memory_report(b.run_memory(settings)):
        print(line)


def register(ns: Collection) -> None:
    """Add the bench task."""
    add_tasks(ns, bench)
