"""``invoke bench``: how fast the engine is, in callgrind instructions per token.

Wall-clock speed on this machine says little about a Pentium II, but the
number of instructions an x87-only build executes per token does, and it is
reproducible.  The workloads, builds and llama2.c's figures come from
``toolchain/data/bench.yaml``; models generated (or quantized) for the
benchmark are cached in ``.bench/`` (git-ignored).

It also reports the peak memory of int8 runs (issue 7): the maximum resident
set of the native build, measured by a small fork-and-exec helper
(``toolchain/data/maxrss.c``, compiled on first use), and the engine's own
``-v`` accounting, against the caps in bench.yaml.
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
_MEMORY = re.compile(rb"memory: weights (\d+) bytes, run state (\d+) bytes.*tokenizer (\d+) bytes, sampler (\d+) bytes")
MAXRSS_SOURCE = paths.DATA_DIR / "maxrss.c"
MB = 1 << 20


@dataclass(frozen=True)
class Case:
    """One workload: model files, engine flags and the figures to compare with."""

    name: str
    checkpoint: Path
    tokenizer: Path
    args: tuple[str, ...]
    llama2c_ir_per_token: float | None
    target_ir_per_token: float
    builds: tuple[str, ...] = ()  # empty: the settings' builds
    target_build: str | None = None  # None: the settings' target build


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


def _model_file(item: dict, models_dir: Path, cache: Path) -> Path:
    """The checkpoint of a case: a shared model, or one generated and/or quantized into the cache once."""
    from toolchain.llama2.checkpoint import Config, write_random_checkpoint
    from toolchain.llama2.quant import quantize_checkpoint

    ckpt = models_dir / item["checkpoint"] if "checkpoint" in item else None
    if "generate" in item:
        gen = item["generate"]
        ckpt = cache / gen["file"]
        if not ckpt.is_file():
            cache.mkdir(parents=True, exist_ok=True)
            tmp = ckpt.with_suffix(".tmp")
            write_random_checkpoint(tmp, Config(**gen["config"]), seed=int(gen["seed"]))
            tmp.replace(ckpt)
    if "quantize" in item:
        q = item["quantize"]
        ckpt = cache / q["file"]
        if not ckpt.is_file():
            source = cache / q["source"]
            if not source.is_file():
                raise ModelError(f"{source}: missing (an earlier case generates it for {item['name']})")
            quantize_checkpoint(source, ckpt)
    if ckpt is None:
        raise ConfigError(f"{BENCH_FILE}: case {item['name']!r} names no checkpoint, generate or quantize")
    return ckpt


def _files(item: dict, models_dir: Path, cache: Path) -> tuple[Path, Path]:
    ckpt = _model_file(item, models_dir, cache)
    tok = models_dir / item["tokenizer"]
    for f in (ckpt, tok):
        if not f.is_file():
            raise ModelError(f"{f}: missing (needed by the {item['name']} benchmark)")
    return ckpt, tok


def prepare_cases(settings: dict, models_dir: Path = paths.SHARED_MODELS, cache: Path = BENCH_DIR) -> list[Case]:
    """The cases with their files in place (generating and quantizing random models once)."""
    cases = []
    for item in settings["cases"]:
        ckpt, tok = _files(item, models_dir, cache)
        llama2c = item.get("llama2c_ir_per_token")
        cases.append(Case(item["name"], ckpt, tok, tuple(item["args"]), None if llama2c is None else float(llama2c),
                          float(item["target_ir_per_token"]), tuple(item.get("builds", ())),
                          item.get("target_build")))
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
    """Build every configured engine and measure each case with its builds."""
    if shutil.which("valgrind") is None:
        raise CompilerMissing("valgrind: not installed (the benchmark counts instructions with callgrind)")
    settings = load_settings()
    cases = prepare_cases(settings)
    exes: dict[str, Path] = {}
    results = []
    for case in cases:
        for build in case.builds or tuple(settings["builds"]):
            if build not in exes:
                exes[build] = enginebuild.build_engine(build, out_dir / "build", name=f"run-{build}")
            results.append(measure(build, exes[build], case, out_dir))
    return results


def report(results: list[Result], target_build: str) -> list[str]:
    """The lines `invoke bench` prints."""
    lines = [
        "instructions per token = callgrind total Ir of the whole process / forward() calls made",
        f"{'build':<17} {'case':<12} {'tokens':>6} {'tok/s':>10} {'Ir/token':>12} {'llama2.c':>10} {'target':>9}",
    ]
    for r in results:
        mark = ""
        if r.build == (r.case.target_build or target_build):
            mark = "  ok" if r.ir_per_token <= r.case.target_ir_per_token else "  MISSES TARGET"
        llama2c = "-" if r.case.llama2c_ir_per_token is None else f"{r.case.llama2c_ir_per_token / 1e6:.2f} M"
        lines.append(
            f"{r.build:<17} {r.case.name:<12} {r.passes:>6} {r.tok_per_s:>10.1f} "
            f"{r.ir_per_token / 1e6:>10.3f} M {llama2c:>10} "
            f"{r.case.target_ir_per_token / 1e6:>7.2f} M{mark}"
        )
    lines.append(f"targets and llama2.c figures apply to the {target_build} build "
                 "(i686-linux-gnu-gcc -O2 -march=pentium2 -mfpmath=387 -mno-sse); "
                 "int8 (-q8) targets to its RL_MMX twin")
    return lines


# --------------------------------------------------------------------------
# peak memory of int8 runs


@dataclass(frozen=True)
class MemoryResult:
    """One int8 run's peak memory: measured resident set and the engine's own -v sum."""

    name: str
    build: str
    max_rss_bytes: int
    accounted_bytes: int
    cap_bytes: int


def _maxrss_helper(out_dir: Path) -> Path:
    """The fork-and-exec helper that reports a program's own peak RSS, compiled once."""
    exe = out_dir / "build" / "maxrss"
    if not exe.is_file() or exe.stat().st_mtime < MAXRSS_SOURCE.stat().st_mtime:
        if shutil.which("gcc") is None:
            raise CompilerMissing("gcc: not installed (needed for the peak-memory helper)")
        exe.parent.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(["gcc", "-O2", "-o", str(exe), str(MAXRSS_SOURCE)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise BuildError(f"{MAXRSS_SOURCE}: does not compile: {proc.stderr.strip()[:200]}")
    return exe


def measure_memory(helper: Path, exe: Path, name: str, build: str, cmd_args: list[str], cap_mb: float) -> MemoryResult:
    """Peak RSS of one run (through the helper) and the engine's -v accounting of the same run."""
    cmd = [str(exe), *cmd_args, "-v"]
    verbose = _run(cmd)
    m = _MEMORY.search(verbose.stderr)
    if m is None:
        raise BuildError(f"{exe}: no memory line in the -v output")
    out = _run([str(helper), *cmd]).stdout.split()
    if len(out) != 2 or out[1] != b"0":
        raise BuildError(f"{exe}: the peak-memory run failed ({b' '.join(out).decode(errors='replace')})")
    return MemoryResult(name, build, int(out[0]) * 1024, sum(int(g) for g in m.groups()), int(cap_mb * MB))


def run_memory(settings: dict, out_dir: Path = BENCH_DIR, models_dir: Path = paths.SHARED_MODELS) -> list[MemoryResult]:
    """Every memory case of bench.yaml, with the memory build."""
    spec = settings.get("memory")
    if not spec:
        return []
    build = spec["build"]
    exe = enginebuild.build_engine(build, out_dir / "build", name=f"run-{build}")
    helper = _maxrss_helper(out_dir)
    results = []
    for item in spec["cases"]:
        ckpt, tok = _files(item, models_dir, out_dir)
        args = [str(ckpt), "-z", str(tok), *item["args"]]
        results.append(measure_memory(helper, exe, item["name"], build, args, float(item["cap_mb"])))
    return results


def memory_report(results: list[MemoryResult]) -> list[str]:
    """The peak-memory lines `invoke bench` prints (MB = 2^20 bytes)."""
    if not results:
        return []
    lines = [f"{'peak memory':<17} {'case':<12} {'max RSS':>10} {'engine -v':>10} {'cap':>7}"]
    for r in results:
        mark = "  ok" if r.max_rss_bytes <= r.cap_bytes else "  OVER CAP"
        lines.append(f"{r.build:<17} {r.name:<12} {r.max_rss_bytes / MB:>7.1f} MB {r.accounted_bytes / MB:>7.1f} MB "
                     f"{r.cap_bytes / MB:>4.0f} MB{mark}")
    return lines
