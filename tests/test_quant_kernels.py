"""engine/q8.c against the NumPy int8 reference (toolchain.llama2.quant).

A small harness (tests/fixtures/q8/harness.c) runs the C kernels on random
vectors and matrices; every build must quantize activations exactly as
runq.c (round half away from zero, the same scales), compute exact integer
group dots, dequantize rows exactly, and give the reference's matmul (bit
for bit where the FPU rounds to float like NumPy, to float32 tolerance on
the x87 build whose sums are long double).  Builds: native portable,
native with RL_MMX (intrinsics), 32-bit Pentium II with RL_MMX (the
hand-written MMX loop, run natively), 32-bit Pentium with RL_MMX (no MMX on
that baseline: must fall back to the portable kernel and contain no MMX
instruction).
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

from toolchain import paths
from toolchain.llama2 import quant

HARNESS = Path(__file__).parent / "fixtures" / "q8" / "harness.c"
STRICT = ["-std=c89", "-pedantic-errors", "-Wall", "-Wextra", "-Werror", "-O2"]
X87 = ["-mfpmath=387", "-mno-sse"]

# name -> (compiler, flags, kernel q8_kernel() must report, exact float match?)
BUILDS = {
    "native": ("gcc", STRICT, "portable", True),
    "native-mmx": ("gcc", [*STRICT, "-DRL_MMX"], "mmx", True),
    "pentium2-mmx": ("i686-linux-gnu-gcc", [*STRICT, "-march=pentium2", *X87, "-DRL_MMX"], "mmx", False),
    "pentium-portable": ("i686-linux-gnu-gcc", [*STRICT, "-march=pentium", *X87, "-DRL_MMX"], "portable", False),
}

# (n, d, gs): the 15M model's shapes, stories260K's (group size 4), a group
# size that is a multiple of 8 but not of 32, llama2.c's 42M file (64 does not
# divide hidden 1376: runq.c's misaligned reading), rows longer than the
# kernel's 512-group block, and a single group.
SHAPES = [(288, 37, 32), (768, 19, 32), (172, 23, 4), (104, 9, 8), (1376, 6, 64), (4100, 3, 4), (64, 5, 64)]


def _build(name: str, tmp: Path) -> Path:
    cc, flags, _, _ = BUILDS[name]
    if shutil.which(cc) is None:
        pytest.fail(f"{cc} is not installed (CI installs it: see .ci/run)")
    exe = tmp / f"harness-{name}"
    src = [str(HARNESS), str(paths.ENGINE_DIR / "q8.c")]
    subprocess.run([cc, *flags, f"-I{paths.ENGINE_DIR}", "-o", str(exe), *src], check=True)
    return exe


@pytest.fixture(scope="module")
def harnesses(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("q8")
    return {name: _build(name, tmp) for name in BUILDS}


def _inputs(n: int, d: int, gs: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(n) * 3).astype(np.float32)
    x[gs : 2 * gs] = 0.0 if n >= 2 * gs else x[gs : 2 * gs]  # a group of zeros: scale 0
    if n >= 3 * gs and gs >= 4:
        # Exact halves: max 127 makes the scale exactly 1, so 2.5 and -3.5 are
        # ties that C's round() and NumPy's half-to-even round differently.
        x[2 * gs : 2 * gs + 4] = [127.0, 2.5, -3.5, 0.5]
    w = rng.integers(-128, 128, size=d * n, dtype=np.int16).astype(np.int8)
    ws = (rng.random((d * n) // gs) * 0.02 + 1e-4).astype(np.float32)
    return x, w, ws


def _run(exe: Path, tmp: Path, n: int, d: int, gs: int, x: np.ndarray, w: np.ndarray,
         ws: np.ndarray) -> tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    inp, out = tmp / "in.bin", tmp / "out.bin"
    inp.write_bytes(struct.pack("<3i", n, d, gs) + x.tobytes() + w.tobytes() + ws.tobytes())
    proc = subprocess.run([str(exe), str(inp), str(out)], capture_output=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr.decode()
    raw = out.read_bytes()
    ng = n // gs
    at = 0

    def take(dtype: str, count: int) -> np.ndarray:
        nonlocal at
        size = np.dtype(dtype).itemsize * count
        arr = np.frombuffer(raw, dtype=dtype, count=count, offset=at)
        at += size
        return arr

    xq, xs, o = take("<i2", ng * gs), take("<f4", ng), take("<f4", d)
    iv, row = take("<i4", d * ng), take("<f4", n)
    assert at == len(raw)
    return proc.stdout.decode().strip(), xq, xs, o, iv, row


@pytest.mark.parametrize("name", list(BUILDS))
def test_kernels_match_reference(name: str, harnesses: dict[str, Path], tmp_path: Path) -> None:
    _, _, kernel, exact = BUILDS[name]
    for seed, (n, d, gs) in enumerate(SHAPES):
        x, w, ws = _inputs(n, d, gs, seed)
        got_kernel, xq, xs, out, iv, row = _run(harnesses[name], tmp_path, n, d, gs, x, w, ws)
        assert got_kernel == (kernel if gs % 8 == 0 else "portable")
        ref_q, ref_s = quant.quantize_activation(x, gs)
        assert np.array_equal(xs, ref_s), (n, gs)
        assert np.array_equal(xq, ref_q), (n, gs)
        # integer dots, row by row: the exact sums in int64
        ng = n // gs
        rows = w.reshape(d, n)[:, : ng * gs].reshape(d, ng, gs).astype(np.int64)
        want_iv = (rows * ref_q.reshape(ng, gs).astype(np.int64)).sum(axis=2)
        assert np.array_equal(iv.reshape(d, ng), want_iv), (n, gs)
        t = quant.QTensor(w.reshape(1, -1), ws.reshape(1, -1))
        ref_out = quant.q8_matmul(ref_q, ref_s, t, 0, n, d, gs)
        if exact:
            assert np.array_equal(out, ref_out), (n, gs)
        else:
            np.testing.assert_allclose(out, ref_out, rtol=2e-6, atol=1e-6 * float(np.abs(ref_out).max()))
        assert np.array_equal(row, quant.dequantize_row(t, 0, d - 1, n, gs)), (n, gs)


def test_quantize_rounds_half_away_from_zero() -> None:
    """The tie cases in _inputs really are ties that distinguish the two roundings."""
    x, _, _ = _inputs(96, 1, 32, 0)
    q, s = quant.quantize_activation(x, 32)
    assert s[2] == 1.0 and list(q[64:68]) == [127, 3, -4, 1]
    assert s[1] == 0.0 and not q[32:64].any()
    assert list(np.round(np.array([2.5, -3.5, 0.5]))) == [2.0, -4.0, 0.0]  # the exporter's rounding


def _disassembly(exe: Path) -> str:
    return subprocess.run(["objdump", "-d", str(exe)], capture_output=True, text=True, check=True).stdout


def test_mmx_only_where_asked(harnesses: dict[str, Path]) -> None:
    """The Pentium II build really multiplies with pmaddwd; the Pentium build has no MMX register at all."""
    p2 = _disassembly(harnesses["pentium2-mmx"])
    assert "pmaddwd" in p2 and "emms" in p2
    p5 = _disassembly(harnesses["pentium-portable"])
    assert "%mm" not in p5 and "pmaddwd" not in p5


@pytest.mark.parametrize("cc", ["gcc", "clang", "i686-w64-mingw32-gcc", "i686-linux-gnu-gcc"])
def test_mmx_source_is_strict_c89(cc: str, tmp_path: Path) -> None:
    """With RL_MMX on an MMX baseline, q8.c still compiles as strict C89 with every warning an error."""
    if shutil.which(cc) is None:
        pytest.fail(f"{cc} is not installed")
    arch = [] if cc in ("gcc", "clang") else ["-march=pentium2", *X87]
    obj = tmp_path / "q8.o"
    subprocess.run([cc, *STRICT, *arch, "-DRL_MMX", "-c", "-o", str(obj), str(paths.ENGINE_DIR / "q8.c")],
                   check=True)
    assert "pmaddwd" in _disassembly(obj)
