"""retrollama's invoke tasks: a thin face over the ``toolchain`` package.

Each module in ``toolchain/cli`` adds its tasks to the collection through
``register(ns)``; the work itself lives in the stage modules of ``toolchain``.
Run ``invoke --list`` for the tasks and ``invoke --help TASK`` for options.
"""

from invoke import Collection

from toolchain.cli import audit, core, models, port, bench, quant

ns = Collection()
for module in (core, audit, models, port, bench, quant):
    module.register(ns)
