"""retrollama's invoke tasks: a thin face over the ``toolchain`` package.

One plain Collection, assembled area by area from ``toolchain/cli``; each
task parses its options and calls a stage module of ``toolchain``.  Run
``invoke --list`` for the tasks and ``invoke --help TASK`` for options.
"""

from invoke import Collection

from toolchain import settings
from toolchain.cli import audit, bench, core, models, port, quant, serve

ns = Collection(
    # build and its inputs
    core.build, core.targets, core.docs, core.test,
    # checking what was built
    audit.audit, bench.bench,
    # models, and getting a bundle onto the old PC
    models.models, models.inspect_model, models.demo_model, quant.quantize, serve.serve,
    # porting a C99 tree
    port.port, port.validate_patches,
)
ns.configure({"retrollama": settings.defaults()})
