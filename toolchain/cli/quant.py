"""The ``quantize`` task: an fp32 llama2.c checkpoint to llama2.c's int8 (version 2) format."""

from __future__ import annotations

from toolchain.cli.common import int_option, task
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
    from toolchain.llama2 import quant
    from toolchain.llama2.checkpoint import describe
    from toolchain.modelpick import model_path

    gs = None if group_size is None else int_option("group-size", group_size)

    src, _ = model_path(model)
    with progress_bar(f"quantizing {src.name}") as advance:
        report = quant.quantize_checkpoint(src, out, gs, progress=advance)
    print(
        f"{out}: int8 Q8_0, group size {report.group_size}, {report.bytes_out / MB:.1f} MB "
        f"(fp32 {report.bytes_in / MB:.1f} MB), max error {report.max_error:.5f}; {describe(report.config)}"
    )
