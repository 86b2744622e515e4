"""The ``quantize`` task: an fp32 llama2.c checkpoint to llama2.c's int8 (version 2) format."""

from __future__ import annotations

from invoke import Collection

from toolchain.cli.common import task, user_errors
from toolchain.errors import ConfigError
from toolchain.progress import progress_bar

MB = 1024 * 1024


@task(
    help={
        "model": "fp32 llama2.c checkpoint (version 0, what run.c reads), or a downloaded registry name",
        "out": "the int8 file to write (never the input; replaced if it exists)",
        "group_size": "values per scale; must divide dim and hidden_dim (default: largest of 64, 32, ... that does)",
    }
)
def quantize(c, model, out, group_size=None):
    """Quantize a model to int8 Q8_0 as llama2.c's `export.py --version 2` does (runq.c reads it)."""
    _quantize(model, out, group_size)


@user_errors
def _quantize(model: str, out: str, group_size: str | int | None) -> None:
    from toolchain.llama2 import quant
    from toolchain.llama2.checkpoint import describe

    gs: int | None = None
    if group_size is not None:
        try:
            gs = int(group_size)
        except ValueError:
            raise ConfigError(f"--group-size {group_size!r} is not a whole number") from None
    from toolchain.modelpick import model_path

    src, _ = model_path(model)
    with progress_bar(f"quantizing {src.name}") as advance:
        report = quant.quantize_checkpoint(src, out, gs, progress=advance)
    print(
        f"{out}: int8 Q8_0, group size {report.group_size}, {report.bytes_out / MB:.1f} MB "
        f"(fp32 {report.bytes_in / MB:.1f} MB), max error {report.max_error:.5f}; {describe(report.config)}"
    )


def register(ns: Collection) -> None:
    """Add the ``quantize`` task."""
    ns.add_task(quantize)
