"""``invoke bench``: how fast the engine is, in callgrind instructions per token.

Wall-clock speed on this machine says little about a Pentium II, but the
number of instructions an x87-only build executes per token does, and it is
reproducible.  The workloads, builds and llama2.c's figures come from
``toolchain/data/bench.yaml``; models generated for the benchmark are cached
in ``.bench/`` (git-ignored).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from toolchain import enginebuild, paths
from toolchain.errors import BuildError, CompilerMissing, ConfigError, ModelError

BENCH_FILE = paths.DATA_DIR / "bench.yaml"
BENCH_DIR = paths.REPO_ROOT / ".bench"
RUN_TIMEOUT_S = 600

_PASSES = re.compile(rb"forward passes: (\d+)")
_TOKS = re.compile(rb"achieved tok/s: ([0-9.]+)")
_IR = re.compile(rb"refs:\s+([0-9,]+)")


@dataclass(frozen=True)
class Case:
    """One workload: model files, engine flags and the figures to compare with."""

    name: str
    checkpoint: Path
    tokenizer: Path
    args: tuple[str, ...]
    llama2c_ir_per_token: float
    target_ir_per_token: float


@dataclass(frozen=True)
class Result:
    """One (build, case) measurement."""

    build: str
    case: Case
    passes: int
    tok_per_s: float
    ir_total: int

    @property
    def ir_per_token(self) -> float:
        """Total Ir of the process over the forward() calls it made."""
        return self.ir_total / self.passes


def load_settings(path: Path = BENCH_FILE) -> dict:
    """The parsed bench.yaml."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read the benchmark settings: {exc}") from None


def prepare_cases(settings: dict, models_dir: Path = paths.SHARED_MODELS, cache: Path = BENCH_DIR) -> list[Case]:
    """The cases with their files in place (generating random models once)."""
    from toolchain.llama2.checkpoint import Config, write_random_checkpoint

    cases = []
    for item in settings["cases"]:
        if "generate" in item:
            gen = item["generate"]
            ckpt = cache / gen["file"]
            if not ckpt.is_file():
                cache.mkdir(parents=True, exist_ok=True)
                tmp = ckpt.with_suffix(".tmp")
                write_random_checkpoint(tmp, Config(**gen["config"]), seed=int(gen["seed"]))
                tmp.replace(ckpt)
        else:
            ckpt = models_dir / item["checkpoint"]
        tok = models_dir / item["tokenizer"]
        for f in (ckpt, tok):
            if not f.is_file():
                raise ModelError(f"{f}: missing (needed by the {item['name']} benchmark)")
        cases.append(Case(item["name"], ckpt, tok, tuple(item["args"]), float(item["llama2c_ir_per_token"]),
                          float(item["target_ir_per_token"])))
    return cases


def _engine_command(exe: Path, case: Case) -> list[str]:
    return [str(exe), str(case.checkpoint), "-z", str(case.tokenizer), *case.args, "-v"]


def _run(cmd: list[str]) -> subprocess.CompletedProcess[bytes]:
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=RUN_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise BuildError(f"{cmd[0]}: benchmark run took over {RUN_TIMEOUT_S} s") from None
    if proc.returncode != 0:
        tail = proc.stderr.decode(errors="replace").strip().splitlines()[-1:]
        raise BuildError(f"{cmd[0]}: benchmark run failed ({proc.returncode}): {' '.join(tail)}")
    return proc


def measure(build: str, exe: Path, case: Case, out_dir: Path) -> Result:
    """Run once for tok/s, then under callgrind for the instruction count."""
    plain = _run(_engine_command(exe, case))
    toks = _TOKS.search(plain.stderr)
    out_file = out_dir / f"callgrind.{build}.{case.name}.out"
    cg = _run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_file}", *_engine_command(exe, case)])
    passes = _PASSES.search(cg.stderr)
    ir = _IR.search(cg.stderr)
    if passes is None or ir is None:
        raise BuildError(f"{exe}: no forward-pass count or callgrind total in the output")
    return Result(build, case, int(passes.group(1)), float(toks.group(1)) if toks else 0.0,
                  int(ir.group(1).replace(b",", b"")))


def run_bench(out_dir: Path = BENCH_DIR) -> list[Result]:
    """Build every configured engine and measure every case with it."""
    if shutil.which("valgrind") is None:
        raise CompilerMissing("valgrind: not installed (the benchmark counts instructions with callgrind)")
    settings = load_settings()
    cases = prepare_cases(settings)
    results = []
    for build in settings["builds"]:
        exe = enginebuild.build_engine(build, out_dir / "build", name=f"run-{build}")
        for case in cases:
            results.append(measure(build, exe, case, out_dir))
    return results


def report(results: list[Result], target_build: str) -> list[str]:
    """The lines `invoke bench` prints."""
    lines = [
        "instructions per token = callgrind total Ir of the whole process / forward() calls made",
        f"{'build':<15} {'case':<12} {'tokens':>6} {'tok/s':>10} {'Ir/token':>12} {'llama2.c':>10} {'target':>9}",
    ]
    for r in results:
        mark = ""
        if r.build == target_build:
            mark = "  ok" if r.ir_per_token <= r.case.target_ir_per_token else "  MISSES TARGET"
        lines.append(
            f"{r.build:<15} {r.case.name:<12} {r.passes:>6} {r.tok_per_s:>10.1f} "
            f"{r.ir_per_token / 1e6:>10.3f} M {r.case.llama2c_ir_per_token / 1e6:>8.2f} M "
            f"{r.case.target_ir_per_token / 1e6:>7.2f} M{mark}"
        )
    lines.append(f"targets and llama2.c figures apply to the {target_build} build "
                 "(i686-linux-gnu-gcc -O2 -march=pentium2 -mfpmath=387 -mno-sse)")
    return lines
