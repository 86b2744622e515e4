"""``invoke bench``: how fast the engine is on a Pentium II, a Pentium and a 486.

Wall-clock speed on this machine says nothing about a Pentium II; the
instructions an x87 build executes per token, where they run and which
cache level serves their data do, and callgrind counts them reproducibly.
Each (case, build, CPU) is one callgrind run (``--dump-instr=yes``, cache
simulation with the CPU's L1/L2 geometry) of a static 32-bit program,
turned into cycles by ``toolchain.cycles``.  The engine is compiled with
exactly the win98-mingw target's compile flags (what RUN.EXE ships with),
llama2.c's run.c and runq.c with plain ``-O2`` x87 flags, in the same run.
The workloads and targets come from ``toolchain/data/bench.yaml``; models
generated (or quantized) for the benchmark are cached in ``.bench/``.

It also reports the peak memory of int8 runs of the build RUN.EXE ships
as (bench.yaml's ``memory.build``: win98-mingw's flags and kernels, 32-bit),
measured by a small fork-and-exec helper (``toolchain/data/maxrss.c``,
compiled on first use): the maximum resident set, the peak private memory,
and the engine's own -v accounting.  The caps in bench.yaml are on the
program's own memory: its private memory plus its exe's image.  Max RSS
also holds the pages of the shared C library (glibc, libm) that the Linux
build touched; on Windows 98 the C library is MSVCRT.DLL, a system DLL
whose pages every program shares, so those pages are not the engine's.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError

from toolchain import cycles, enginebuild, paths, yamlfile
from toolchain.errors import BuildError, CompilerMissing, ConfigError, ModelError
from toolchain.models.registry import Shape

BENCH_FILE = paths.DATA_DIR / "bench.yaml"
BENCH_DIR = paths.REPO_ROOT / ".bench"
RUN_TIMEOUT_S = 1800
BUILD_TIMEOUT_S = 300

_MEMORY = re.compile(rb"memory: weights (\d+) bytes, run state (\d+) bytes.*tokenizer (\d+) bytes, sampler (\d+) bytes")
_STREAMED = re.compile(rb"streamed: \d+ bytes read from disk, (\d+) per token")
MAXRSS_SOURCE = paths.DATA_DIR / "maxrss.c"
MB = 1 << 20
SHARED_MODEL_FILES = ("stories260K.bin", "tok512.bin", "tokenizer.bin")


@dataclass(frozen=True)
class Case:
    """One workload: model files, flags, the builds measured and the targets."""

    name: str
    checkpoint: Path
    tokenizer: Path
    args: tuple[str, ...]
    builds: tuple[str, ...]
    baseline: str | None = None  # the upstream build the ratio target compares with
    target_ratio: float | None = None
    target_tok_s: float | None = None
    target_ir_per_token: float | None = None


@dataclass(frozen=True)
class Build:
    """One bench program: its name, the compiler command that makes it, and whether it uses MMX."""

    name: str
    what: str
    command: tuple[str, ...]
    exe: Path
    mmx: bool
    engine: bool  # our engine or llama2.c's program
    per_token: str  # the function whose calls are the tokens (callgrind collects only inside it)


@dataclass(frozen=True)
class Result:
    """One (case, build, CPU) callgrind run and its cycle estimate."""

    build: str
    case: Case
    cpu: str
    passes: int
    ir_total: int
    compute_cycles: float
    memory_cycles: float
    clock_mhz: float

    @property
    def ir_per_token(self) -> float:
        """Total Ir of the process over the forward() calls it made."""
        return self.ir_total / self.passes

    @property
    def cycles_per_token(self) -> float:
        """Estimated cycles of the whole process over its forward() calls."""
        return (self.compute_cycles + self.memory_cycles) / self.passes

    @property
    def tok_per_s(self) -> float:
        """Estimated tokens per second at the CPU's clock."""
        return self.clock_mhz * 1e6 / self.cycles_per_token


class _Generate(yamlfile.Strict):
    file: str
    seed: int
    config: Shape


class _Quantize(yamlfile.Strict):
    source: str
    file: str


class _Model(yamlfile.Strict):
    """Where a case's checkpoint comes from: the models folder, generated, or quantized."""

    name: str
    checkpoint: str | None = None
    generate: _Generate | None = None
    quantize: _Quantize | None = None
    tokenizer: str
    args: list[str]


class _Case(_Model):
    builds: list[str] = Field(min_length=1)
    baseline: str | None = None
    target_ratio: float | None = Field(None, gt=0)
    target_tok_s: float | None = Field(None, gt=0)
    target_ir_per_token: float | None = Field(None, gt=0)


class _MemoryCase(_Model):
    cap_mb: float = Field(gt=0)
    big: bool = Field(False, description="run only with invoke bench --big (gigabytes of model files)")


class _Memory(yamlfile.Strict):
    build: str = Field(description="an engine_builds.yaml profile")
    cases: list[_MemoryCase]


class _Build(yamlfile.Strict):
    what: str
    target: str | None = Field(None, description="build the engine with this target's compile flags")
    drop: list[str] = []
    upstream: str | None = Field(None, description="or build this llama2.c file")
    flags: list[str] = []
    per_token: str = Field(description="the function whose calls count the tokens")
    mmx: bool = True


class BenchFile(yamlfile.Strict):
    """``bench.yaml``: the programs, the cases and the CPUs of `invoke bench`."""

    cpus: list[str] = Field(min_length=1, description="keys in cpu_cycles.yaml; the first is the main one")
    cc: str
    link: list[str] = []
    libs: list[str] = []
    env: dict[str, str] = {}
    builds: dict[str, _Build]
    upstream_dir: str
    cases: list[_Case]
    memory: _Memory | None = None


def load_settings(path: Path = BENCH_FILE) -> dict[str, Any]:
    """bench.yaml, checked against ``BenchFile`` (every problem one ``file:LINE:COL`` line).

    The checked file is returned as plain data: the bench and its tests pass
    such mappings around, with CPUs or cases swapped for a run.
    """
    doc = yamlfile.load_mapping(path, what="the benchmark settings")
    try:
        BenchFile.model_validate(doc.data)
    except ValidationError as exc:
        raise ConfigError("\n".join(yamlfile.validation_lines(doc, exc))) from None
    data: dict[str, Any] = doc.data
    return data


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


def check_models_dir(models_dir: Path) -> None:
    """A clear error, before anything is built, when the shared models are not there."""
    missing = [f for f in SHARED_MODEL_FILES if not (models_dir / f).is_file()]
    if missing:
        raise ModelError(
            f"the benchmark needs llama2.c's models {', '.join(missing)} "
            f"(looked in {models_dir}); put them there or pass --models DIR"
        )


def _files(item: dict, models_dir: Path, cache: Path) -> tuple[Path, Path]:
    ckpt = _model_file(item, models_dir, cache)
    tok = models_dir / item["tokenizer"]
    for f in (ckpt, tok):
        if not f.is_file():
            raise ModelError(f"{f}: missing (needed by the {item['name']} benchmark)")
    return ckpt, tok


def _opt(item: dict, key: str) -> float | None:
    return None if item.get(key) is None else float(item[key])


def prepare_cases(settings: dict, models_dir: Path = paths.SHARED_MODELS, cache: Path = BENCH_DIR) -> list[Case]:
    """The cases with their files in place (generating and quantizing random models once)."""
    cases = []
    for item in settings["cases"]:
        ckpt, tok = _files(item, models_dir, cache)
        cases.append(Case(item["name"], ckpt, tok, tuple(item["args"]), tuple(item["builds"]),
                          item.get("baseline"), _opt(item, "target_ratio"), _opt(item, "target_tok_s"),
                          _opt(item, "target_ir_per_token")))
    return cases


# --------------------------------------------------------------------------
# the programs


def target_compile_flags(target_name: str) -> list[str]:
    """Every compile flag the target builds RUN.EXE with (the one place the bench asks for them)."""
    from toolchain import compilers, targets

    return list(compilers.compile_flags(targets.load_target(target_name)))


def default_upstream(settings: dict) -> Path:
    """Where llama2.c's sources are looked for when --upstream is not given."""
    return (paths.REPO_ROOT / settings["upstream_dir"]).resolve()


def plan_builds(settings: dict, out_dir: Path, upstream: Path | None = None) -> dict[str, Build]:
    """The compiler command of every bench program (nothing is run yet)."""
    up = upstream if upstream is not None else default_upstream(settings)
    link, libs, cc = list(settings["link"]), list(settings["libs"]), str(settings["cc"])
    builds = {}
    for name, item in settings["builds"].items():
        exe = out_dir / "build" / f"bench-{name.replace('.', '-')}"
        if "target" in item:
            flags = [f for f in target_compile_flags(item["target"]) if f not in item.get("drop", [])]
            sources = [str(s) for s in paths.engine_sources()]
            engine = True
        else:
            src = up / item["upstream"]
            if not src.is_file():
                raise ModelError(
                    f"{src}: missing; the benchmark compares with llama2.c's {item['upstream']} "
                    "-- pass --upstream DIR (a llama2.c checkout)"
                )
            flags, sources, engine = list(item["flags"]), [str(src)], False
        command = (cc, *flags, *link, "-o", str(exe), *sources, *libs)
        builds[name] = Build(name, str(item["what"]), command, exe, bool(item.get("mmx", True)), engine,
                             str(item["per_token"]))
    return builds


def compile_build(build: Build) -> Path:
    """Compile one bench program; a clear error when the compiler is missing or fails."""
    if shutil.which(build.command[0]) is None:
        raise CompilerMissing(f"{build.command[0]}: not installed (the benchmark builds 32-bit x87 programs with it)")
    build.exe.parent.mkdir(parents=True, exist_ok=True)
    try:
        proc = subprocess.run(list(build.command), capture_output=True, text=True, timeout=BUILD_TIMEOUT_S,
                              check=False)
    except subprocess.TimeoutExpired:
        raise BuildError(f"{build.command[0]}: building {build.name} took over {BUILD_TIMEOUT_S} s") from None
    if proc.returncode != 0:
        first = (proc.stderr.strip() or "no output").splitlines()[:3]
        raise BuildError(f"bench build {build.name} failed: {' | '.join(first)}")
    return build.exe


# --------------------------------------------------------------------------
# measuring


def _run(cmd: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=RUN_TIMEOUT_S, check=False,
                              env=None if env is None else {**os.environ, **env})
    except subprocess.TimeoutExpired:
        raise BuildError(f"{cmd[0]}: benchmark run took over {RUN_TIMEOUT_S} s") from None
    if proc.returncode != 0:
        tail = proc.stderr.decode(errors="replace").strip().splitlines()[-1:]
        raise BuildError(f"{cmd[0]}: benchmark run failed ({proc.returncode}): {' '.join(tail)}")
    return proc


def program_command(build: Build, case: Case) -> list[str]:
    """The command line of one run."""
    return [str(build.exe), str(case.checkpoint), "-z", str(case.tokenizer), *case.args]


def measure(build: Build, case: Case, cpu: cycles.Cpu, out_dir: Path, model: cycles.Model,
            env: dict[str, str] | None = None) -> Result:
    """One callgrind run with the CPU's caches, collecting inside the build's
    per-token function only, and its cycle estimate."""
    out_file = out_dir / f"callgrind.{build.name}.{case.name}.{cpu.key}.out"
    _run(["valgrind", "--tool=callgrind", "--dump-instr=yes", "--dump-line=no", *cpu.valgrind_args(),
          f"--toggle-collect={build.per_token}", f"--callgrind-out-file={out_file}",
          *program_command(build, case)], env)
    prof = cycles.parse_callgrind(out_file)
    passes = prof.calls.get(build.per_token, 0)
    if passes <= 0:
        raise BuildError(f"{build.exe}: callgrind saw no call to {build.per_token}() "
                         f"(is it inlined? {BENCH_FILE} names it as the per-token function)")
    ir = sum(prof.event(a, "Ir") for a in prof.cost)
    insns = cycles.decode(cycles.elf_segments(build.exe), sorted(prof.cost))
    est = cycles.estimate(prof, insns, model, cpu)
    return Result(build.name, case, cpu.key, passes, ir, est.compute, est.memory, cpu.clock_mhz)


Step = Callable[[str], None]


def run_bench(settings: dict, cases: list[Case], builds: dict[str, Build], out_dir: Path = BENCH_DIR,
              step: Step | None = None) -> list[Result]:
    """Compile the programs, then measure each case with its builds on every CPU
    (MMX programs only on CPUs that have MMX).  ``step`` hears about each run first."""
    if shutil.which("valgrind") is None:
        raise CompilerMissing("valgrind: not installed (the benchmark counts instructions with callgrind)")
    model = cycles.load_model()
    cpus = [model.cpus[k] for k in settings["cpus"]]
    for name in sorted({b for c in cases for b in c.builds}):
        if step:
            step(f"compiling {name}")
        compile_build(builds[name])
    results = []
    for case in cases:
        for cpu in cpus:
            for name in case.builds:
                build = builds[name]
                if build.mmx and case.name.endswith("-q8") and not cpu.mmx:
                    continue
                if step:
                    step(f"callgrind {name} on {case.name}, {cpu.short} caches")
                results.append(measure(build, case, cpu, out_dir, model, settings.get("env")))
    return results


def run_count(settings: dict, cases: list[Case], builds: dict[str, Build]) -> int:
    """How many steps run_bench takes (for the progress bar)."""
    model = cycles.load_model()
    n = len({b for c in cases for b in c.builds})
    for case in cases:
        for key in settings["cpus"]:
            n += sum(1 for b in case.builds
                     if not (builds[b].mmx and case.name.endswith("-q8") and not model.cpus[key].mmx))
    return n


# --------------------------------------------------------------------------
# the report


def _mega(v: float) -> str:
    return f"{v / 1e6:.2f} M"


def report(results: list[Result], settings: dict, model: cycles.Model | None = None) -> list[str]:
    """The lines `invoke bench` prints: per case a table, the targets, the cross-check."""
    model = model or cycles.load_model()
    cpus = [model.cpus[k] for k in settings["cpus"]]
    main = cpus[0]
    lines = [
        "per token = callgrind's count inside forward() (the engine's step()) / its calls; "
        "cycles estimated by docs/cost-model.md",
    ]
    by = {(r.case.name, r.build, r.cpu): r for r in results}
    cases: list[Case] = []
    for r in results:
        if r.case not in cases:
            cases.append(r.case)
    for case in cases:
        head = f"{'':<10} {'instr/token':>12}" + "".join(f" {c.short + ' cyc/tok':>19} {'tok/s':>7}" for c in cpus)
        lines += ["", f"{case.name} ({' '.join(case.args)})", head]
        for build in case.builds:
            row = [by.get((case.name, build, c.key)) for c in cpus]
            ir = next((r.ir_per_token for r in row if r), None)
            cells = "".join(f" {_mega(r.cycles_per_token):>19} {r.tok_per_s:>7.2f}" if r else f" {'n/a':>19} {'':>7}"
                            for r in row)
            lines.append(f"{build:<10} {_mega(ir) if ir else 'n/a':>12}{cells}")
        lines += _targets(case, by, main)
    lines += ["", *cross_check(by, model, settings)]
    return lines


def _verdict(ok: bool) -> str:
    return "met" if ok else "NOT MET"


def _targets(case: Case, by: dict[tuple[str, str, str], Result], main: cycles.Cpu) -> list[str]:
    eng = by.get((case.name, "engine", main.key))
    if eng is None:
        return []
    out = []
    base = by.get((case.name, case.baseline or "", main.key))
    if base is not None and case.target_ratio is not None:
        ratio = eng.cycles_per_token / base.cycles_per_token
        mem = eng.memory_cycles / eng.passes / base.cycles_per_token
        out.append(f"  target: engine <= {case.target_ratio:.2f} x {case.baseline} cycles on {main.short}: "
                   f"{ratio:.2f} x -- {_verdict(ratio <= case.target_ratio)} "
                   f"(the engine's cache misses alone are {mem:.2f} x)")
    if case.target_tok_s is not None:
        out.append(f"  target: >= {case.target_tok_s:.0f} tok/s on {main.short}: {eng.tok_per_s:.1f} -- "
                   f"{_verdict(eng.tok_per_s >= case.target_tok_s)} "
                   f"(compute {eng.compute_cycles / eng.passes / 1e6:.1f} M + memory "
                   f"{eng.memory_cycles / eng.passes / 1e6:.1f} M cycles/token)")
    if case.target_ir_per_token is not None:
        out.append(f"  target: <= {_mega(case.target_ir_per_token)} instructions/token: {_mega(eng.ir_per_token)} -- "
                   f"{_verdict(eng.ir_per_token <= case.target_ir_per_token)}")
    return out


def cross_check(by: dict[tuple[str, str, str], Result], model: cycles.Model, settings: dict) -> list[str]:
    """How far the model's estimate for gcc's run.c lies from the one measured Pentium II point."""
    measured = model.measured
    cpu = model.cpus[measured["cpu"]]
    lines = [f"cross-check: {measured['what']}:"]
    for case, tok_s in measured["tok_per_s"].items():
        r = by.get((case, "run.c", cpu.key))
        if r is None:
            continue
        lines.append(f"  {case}: measured {tok_s:.2f} tok/s, the model says {r.tok_per_s:.2f} for gcc -O2 run.c "
                     f"({r.tok_per_s / tok_s:.2f} x the measurement)")
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
    private_bytes: int = 0  # peak anonymous memory (heap, stack; no C library pages), sampled every ms
    image_bytes: int = 0  # the exe file's size: an upper bound of the pages its own code and data take
    streamed_bytes_per_token: int | None = None  # weights read from disk per token (-b), as the engine counted
    streamed_tok_s: tuple[float, float] | None = None  # estimated on a Pentium II 350 at the assumed disk speeds

    @property
    def own_bytes(self) -> int:
        """What the cap is on: the program's private memory and its own image, not shared libraries."""
        return self.private_bytes + self.image_bytes


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
    """Peak RSS of one run (through the helper) and the engine's -v accounting of the same run; for a run
    whose weights were streamed from disk, the bytes it read per token and the speed that gives on a
    Pentium II 350 with the assumed IDE disk (``fit.plan_streamed``'s sum of compute and reads)."""
    from toolchain.models import fit

    cmd = [str(exe), *cmd_args, "-v"]
    verbose = _run(cmd)
    m = _MEMORY.search(verbose.stderr)
    if m is None:
        raise BuildError(f"{exe}: no memory line in the -v output")
    out = _run([str(helper), "-a", *cmd]).stdout.split()
    if len(out) != 3 or out[1] != b"0":
        raise BuildError(f"{exe}: the peak-memory run failed ({b' '.join(out).decode(errors='replace')})")
    streamed = _STREAMED.search(verbose.stderr)
    per_token = tok_s = None
    if streamed is not None:
        per_token = int(streamed.group(1))
        tok_s = fit.streamed_tok_s(fit.estimate(Path(cmd_args[0])), per_token)
    return MemoryResult(name, build, int(out[0]) * 1024, sum(int(g) for g in m.groups()), int(cap_mb * MB),
                        int(out[2]) * 1024, exe.stat().st_size, per_token, tok_s)


def memory_cases(settings: dict, big: bool = False) -> list[dict]:
    """The memory cases a run measures: the ``big: true`` ones (gigabytes of generated model, minutes) only
    when asked for (``invoke bench --big``)."""
    spec = settings.get("memory") or {}
    return [item for item in spec.get("cases", []) if big or not item.get("big", False)]


def run_memory(settings: dict, out_dir: Path = BENCH_DIR, models_dir: Path = paths.SHARED_MODELS,
               big: bool = False) -> list[MemoryResult]:
    """Every memory case of bench.yaml (the big ones with ``big``), with the memory build."""
    spec = settings.get("memory")
    if not spec:
        return []
    build = spec["build"]
    exe = enginebuild.build_engine(build, out_dir / "build", name=f"run-{build}")
    helper = _maxrss_helper(out_dir)
    results = []
    for item in memory_cases(settings, big):
        ckpt, tok = _files(item, models_dir, out_dir)
        args = [str(ckpt), "-z", str(tok), *item["args"]]
        results.append(measure_memory(helper, exe, item["name"], build, args, float(item["cap_mb"])))
    return results


def memory_report(results: list[MemoryResult]) -> list[str]:
    """The peak-memory lines `invoke bench` prints (MB = 2^20 bytes)."""
    if not results:
        return []
    width = max(12, *(len(r.name) for r in results))
    lines = [f"{'peak memory':<17} {'case':<{width}} {'max RSS':>10} {'private':>10} {'own':>10} {'engine -v':>10} "
             f"{'cap':>7}"]
    for r in results:
        mark = "  ok" if r.own_bytes <= r.cap_bytes else "  OVER CAP"
        lines.append(f"{r.build:<17} {r.name:<{width}} {r.max_rss_bytes / MB:>7.2f} MB {r.private_bytes / MB:>7.2f} MB "
                     f"{r.own_bytes / MB:>7.2f} MB {r.accounted_bytes / MB:>7.2f} MB {r.cap_bytes / MB:>4.0f} MB{mark}")
    lines.append(f"{'':<17} (own = private + the exe's image, what the cap is on; max RSS adds the shared C "
                 "library's pages)")
    for r in results:
        if r.streamed_bytes_per_token is not None and r.streamed_tok_s is not None:
            from toolchain.models import fit

            low, high = fit.cost_model().disk_mb_per_s
            lines.append(f"streamed          {r.name}: {r.streamed_bytes_per_token:,} bytes read per token; "
                         f"~{r.streamed_tok_s[0]:.2g}-{r.streamed_tok_s[1]:.2g} tok/s on a Pentium II 350 "
                         f"at {low:.0f}-{high:.0f} MB/s (assumed IDE disk)")
    return lines
