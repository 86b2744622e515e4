"""The build pipeline: target -> sources -> makefile -> exe -> audit -> bundle -> zip.

Each stage is a call into its own module with plain values; this module only
puts them in order and tells the user what happens.  When the target's
compiler is not installed here (Borland, Watcom) the result is a source kit:
the same bundle without RUN.EXE, to be built on the old PC with BUILD.BAT,
which is how the 2024 port was built.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from rich.console import Console

from toolchain import compilers, costdata, package, render, settings, sources, targets
from toolchain.dostext import check_dos_text, to_crlf
from toolchain.errors import AuditError, BuildError, ConfigError, ModelError
from toolchain.modelpick import DEMO_DIR, ModelPair, pick_model
from toolchain.package import write_manifest, write_zip
from toolchain.smoke import family_of, smoke_test
from toolchain.targets import Target

MEDIA_KINDS = ("floppy", "iso")
_DEFAULTS = settings.Settings()
_MAIN = re.compile(rb"\bmain\s*\(")


@dataclass(frozen=True)
class BuildOptions:
    target: str
    model: str | None = None
    tokenizer: str | None = None
    out: Path = settings.anchored(_DEFAULTS.out)
    source: Path | None = None
    prompt: str = _DEFAULTS.prompt
    steps: int = _DEFAULTS.steps
    models_dir: str | None = None
    work: Path = settings.anchored(_DEFAULTS.work)
    media: tuple[str, ...] = ()
    temperature: float = 1.0  # RUN.BAT's defaults; the user's own flags on the old PC win
    topp: float = 0.9
    seed: int | None = None
    program: str | None = None


@dataclass
class BuildResult:
    target: Target
    zip_path: Path
    exe_built: bool
    bundle: Path
    notes: list[str] = field(default_factory=list)
    media: list[Path] = field(default_factory=list)
    audit: str = ""  # the audit's verdict line, empty for a source kit
    smoke: str = ""  # what the test run of RUN.EXE showed, empty for a source kit


FLOPPY_BYTES = 1_457_664  # what one 1.44 MB FAT12 disk holds (2847 clusters of 512 bytes)


def _story_time(steps: int, tok_s: float) -> str:
    """'about 4 minutes' for ``steps`` tokens at ``tok_s``: what a user waits for the default story."""
    seconds = steps / tok_s if tok_s > 0 else float("inf")
    if seconds < 90:
        return f"about {max(1, round(seconds))} seconds"
    if seconds < 90 * 60:
        return f"about {round(seconds / 60)} minutes"
    return f"about {seconds / 3600:.1f} hours"


def _runtime_facts(target: Target) -> dict[str, object]:
    """Whether the exe needs a C runtime DLL the target OS does not ship (msvcrt.dll on
    Windows 95 for MinGW), or has its runtime built in where that matters."""
    from toolchain.audit.imports import os_api

    if family_of(target.platform.os) == "dos":
        return {"runtime_dll": None, "runtime_builtin": False}  # DOS: no Win32 DLLs at all
    lacks_msvcrt = os_api(target.platform.os).no_msvcrt
    dll = target.compiler.runtime_dll
    missing = dll if dll is not None and dll.lower() == "msvcrt.dll" and lacks_msvcrt else None
    return {"runtime_dll": missing, "runtime_builtin": lacks_msvcrt and dll is None}


def _model_facts(target: Target, pair: ModelPair, steps: int) -> dict[str, object]:
    """What README.TXT says about the model: size, memory and time for the file actually bundled."""
    from toolchain.cycles import speed_for
    from toolchain.llama2.quant import read_any_config
    from toolchain.models.fit import estimate

    config, group_size = read_any_config(pair.checkpoint)
    seq_len = config.seq_len
    used_steps = min(steps, seq_len) if steps > 0 else seq_len  # as the engine clamps -n
    est = estimate(pair.checkpoint, steps=used_steps, tokenizer=pair.tokenizer,
                   max_file_bytes=target.platform.max_file_bytes)
    if est.problems:
        raise ModelError("; ".join(est.problems))
    cfg = est.config
    model_bytes = pair.checkpoint.stat().st_size
    dos = family_of(target.platform.os) == "dos"
    reserve_mb = _os_reserve_mb(target)[0]
    tok_s, speed_cpu = speed_for(target.platform.cpu, cfg, est.quant, steps=used_steps,
                                 mmx=target.platform.simd == "mmx", group_size=est.group_size)
    return {
        "model_name": pair.checkpoint.name,
        "model_path": str(pair.checkpoint),
        "params": est.params,
        "quant": "int8" if group_size is not None else "fp32",
        "config_lines": [
            f"dim {cfg.dim}, {cfg.n_layers} layers, {cfg.n_heads} heads "
            f"({cfg.n_kv_heads} key/value), context {cfg.seq_len} tokens.",
        ],
        "vocab_size": cfg.vocab_size,
        "ram_mb": max(1, round(est.needed_bytes / (1 << 20))),
        "steps": used_steps,
        "tok_s": f"{tok_s:.3g}",
        "dos": dos,
        "os_reserve_mb": reserve_mb,
        "dos_memory_lines": _dos_memory_lines(used_steps, reserve_mb) if dos else [],
        "speed_cpu": speed_cpu,
        "story_time": _story_time(used_steps, tok_s),
        **_runtime_facts(target),
        "model_bytes": model_bytes,
        "split_on_floppies": model_bytes > FLOPPY_BYTES,
        "join_free_bytes": 2 * model_bytes,
        "estimate": est,
    }


def _int8_advice(target: Target, facts: dict[str, object]) -> str | None:
    """When an fp32 model is too big for the target's typical PC (with the OS's reserve)
    or for a few floppies, say what ``invoke quantize`` would give, in figures."""
    reserve_mb, os_word = _os_reserve_mb(target)
    est = facts["estimate"]
    if facts["quant"] != "fp32":
        return None
    ram = target.platform.ram_mb << 20
    reserve = reserve_mb << 20
    fp32_bytes = est.needed_bytes  # type: ignore[attr-defined]
    too_big_ram = fp32_bytes + reserve > ram
    floppies = -(-int(facts["model_bytes"]) // FLOPPY_BYTES)  # type: ignore[call-overload]
    if not too_big_ram and floppies <= 3:
        return None
    from toolchain.llama2 import quant

    int8_bytes = est.ram_bytes_int8  # type: ignore[attr-defined]
    config = est.config  # type: ignore[attr-defined]
    int8_file = quant.int8_file_bytes(config, quant.default_group_size(config))
    int8_floppies = -(-int8_file // FLOPPY_BYTES)
    disks = "floppy" if int8_floppies == 1 else "floppies"
    why = (f"needs about {facts['ram_mb']} MB + {reserve_mb} MB for {os_word} "
           f"(a typical {target.name} PC has {target.platform.ram_mb} MB)" if too_big_ram
           else f"takes {floppies} floppies")
    fits = "fits" if int8_bytes + reserve <= ram else "still does not fit"
    return (f"hint: this fp32 model {why}; int8 needs about {max(1, round(int8_bytes / (1 << 20)))} MB of RAM "
            f"({fits}) and {int8_floppies} {disks}: invoke quantize {facts['model_path']} "
            f"--out {Path(str(facts['model_name'])).stem}_q80.bin, then build with --model that file")


def _run_bat(target: Target, opts: BuildOptions, steps: int) -> str:
    return render.render_run_bat(target, prompt=opts.prompt, steps=steps, temperature=opts.temperature,
                                 topp=opts.topp, seed=opts.seed)


DOS_RAM_SIZES_MB = (8, 16, 32)


def _dos_memory_lines(steps: int, reserve: int) -> list[str]:
    """README.TXT's table for a DOS PC: which of the registry's models fit
    8 / 16 / 32 MB (``reserve`` MB of it kept by DOS), in fp32 and int8, for
    the steps RUN.BAT asks for.  DOS users pick a model by the RAM they have,
    and have no Task Manager to ask."""
    from toolchain.models import registry
    from toolchain.models.fit import estimate_config

    def cell(nbytes: int) -> str:
        mb = max(1, round(nbytes / (1 << 20)))
        fits = next((f"{size} MB PC" for size in DOS_RAM_SIZES_MB if mb + reserve <= size),
                    f"over {DOS_RAM_SIZES_MB[-1]} MB: -b")
        return f"{mb:>4} MB ({fits})"

    lines = []
    for entry in registry.load().values():
        if entry.kind != "checkpoint" or entry.config is None:
            continue
        est = estimate_config(entry.config.to_config(), steps=steps)
        lines.append(f"{entry.name:<12} fp32 {cell(est.ram_bytes):<23} int8 {cell(est.ram_bytes_int8)}")
    return lines


def _os_reserve_mb(target: Target) -> tuple[int, str]:
    """RAM the OS keeps for itself besides the model, and what to call it
    (toolchain/data/cost_model.yaml: DOS and its extender need far less than Windows)."""
    data = costdata.load()
    if family_of(target.platform.os) == "dos":
        return data.dos_reserve_mb, "DOS and CauseWay"
    return data.os_reserve_mb, "Windows"


def _copy_c_source(src: Path, dst: Path, *, strict: bool, notes: list[str]) -> None:
    """A C file as DOS text (CRLF).  The engine's own sources must also be
    7-bit ASCII within 80 columns (a test keeps them so); a ported tree of
    the user's gets a warning instead, since its lines are theirs."""
    text = to_crlf(src.read_bytes())
    try:
        check_dos_text(f"SRC\\{dst.name}", text)
    except BuildError as exc:
        if strict:
            raise
        notes.append(f"warning: {exc} (DOS editors may show it badly)")
    dst.write_bytes(text.encode("latin-1"))


def _stage_bundle(
    target: Target, bundle: Path, src_dir: Path, exe: Path | None, pair: ModelPair, facts: dict[str, object],
    opts: BuildOptions, *, strict_sources: bool, notes: list[str],
) -> None:
    prompt = opts.prompt
    if bundle.exists():
        shutil.rmtree(bundle)
    (bundle / "SRC").mkdir(parents=True)
    for f in sorted(src_dir.iterdir()):
        if f.suffix.lower() in (".c", ".h"):
            _copy_c_source(f, bundle / "SRC" / f.name.upper(), strict=strict_sources, notes=notes)
        elif f.name in (target.make.makefile, "BUILD.BAT"):
            shutil.copyfile(f, bundle / "SRC" / f.name.upper())
    if exe is not None:
        shutil.copyfile(exe, bundle / target.names.exe)
    shutil.copyfile(pair.checkpoint, bundle / target.names.model)
    shutil.copyfile(pair.tokenizer, bundle / target.names.tokenizer)
    render.write_dos_text(bundle / "RUN.BAT", _run_bat(target, opts, int(facts["steps"])))  # type: ignore[call-overload]
    readme = render.render_readme(target, prompt=prompt, source_kit=exe is None, **facts)
    render.write_dos_text(bundle / "README.TXT", readme)


def check_options(opts: BuildOptions) -> None:
    """Refuse bad options in one line before anything is built."""
    if opts.steps < 0:
        raise ConfigError(f"--steps {opts.steps}: must be 0 (the model's context) or more")
    if opts.temperature < 0:
        raise ConfigError(f"--temperature {opts.temperature:g}: must be 0 (always the likeliest word) or more")
    if not 0 <= opts.topp <= 1:
        raise ConfigError(f"--topp {opts.topp:g}: must be between 0 and 1")
    for kind in opts.media:
        if kind not in MEDIA_KINDS:
            raise ConfigError(f"--media {kind!r}: must be {' or '.join(repr(k) for k in MEDIA_KINDS)}")
    out = opts.out
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: is a file, not a folder")
    probe = out if out.exists() else next((p for p in out.parents if p.exists()), Path("."))
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ConfigError(f"--out {out}: {probe} is not writable")


@contextmanager
def _build_lock(work: Path, target: str) -> Iterator[None]:
    """One build of a target at a time in one work folder: a second one would
    delete the first one's sources under it."""
    work.mkdir(parents=True, exist_ok=True)
    with open(work / f".{target}.lock", "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise BuildError(f"another build of {target} is running in {work}; wait for it to finish") from None
        yield


def pick_program(files: list[Path], program: str | None) -> tuple[list[Path], str]:
    """The C files of one program from a tree that may hold several.

    A llama2.c tree has run.c, runq.c and test files, each with its own
    ``main``: one program is built, by default run.c when there is one.
    Returns the files to compile and a line saying which program it is.
    """
    c_files = [f for f in files if f.suffix == ".c"]
    mains = [f for f in c_files if _MAIN.search(f.read_bytes())]
    names = sorted(f.name for f in mains)
    if program is None:
        if len(mains) <= 1:
            return files, f"program {names[0] if names else '(no main found)'}"
        if "run.c" not in names:
            raise ConfigError(f"the tree has several programs ({', '.join(names)}): choose one with --program")
        program = "run.c"
    if program not in names:
        raise ConfigError(f"--program {program}: not a C file with a main in the tree "
                          f"(programs: {', '.join(names) or 'none'})")
    others = {f.name for f in mains} - {program}
    left_out = f" (left out: {', '.join(sorted(others))})" if others else ""
    return [f for f in files if f.name not in others], f"program {program}{left_out}"


def build(opts: BuildOptions, console: Console) -> BuildResult:
    """Run the whole pipeline for one target; raise RetroError on any failure."""
    check_options(opts)
    target, found, why = targets.resolve(opts.target)
    console.print(f"[bold]target[/bold] {why}")
    _run_bat(target, opts, opts.steps)  # a prompt RUN.BAT cannot hold is refused before any work
    pair = pick_model(opts.model, opts.tokenizer, opts.models_dir)
    console.print(f"[bold]model[/bold]  {pair.checkpoint} + {pair.tokenizer}")
    if pair.checkpoint.parent.resolve() == DEMO_DIR.resolve() and not opts.model:
        console.print("[yellow]note[/yellow]   no model given or found elsewhere: using the project's demo model "
                      "(models/demo); pass --model FILE for a real one (see `invoke models`)")
    facts = _model_facts(target, pair, opts.steps)
    est = facts["estimate"]
    notes: list[str] = []
    reserve_mb, os_word = _os_reserve_mb(target)
    if est.needed_bytes + (reserve_mb << 20) > target.platform.ram_mb << 20:  # type: ignore[attr-defined]
        notes.append(
            f"warning: the model needs about {facts['ram_mb']} MB plus about "
            f"{reserve_mb} MB for {os_word}; a typical PC for {target.name} "
            f"has {target.platform.ram_mb} MB"
        )
    advice = _int8_advice(target, facts)
    if advice:
        notes.append(advice)
    with _build_lock(opts.work, target.name):
        return _build_locked(opts, console, target, found, pair, facts, notes)


def _build_locked(opts: BuildOptions, console: Console, target: Target, found: compilers.Discovery,
                  pair: ModelPair, facts: dict[str, object], notes: list[str]) -> BuildResult:
    work = opts.work / target.name
    src_dir = work / "src"
    if opts.source is not None:
        from toolchain.porting import port_tree

        if src_dir.exists():
            shutil.rmtree(src_dir)
        result = port_tree(opts.source, src_dir, compiler=target.compiler.family)
        files, which = pick_program([src_dir / p.name for p in result.files], opts.program)
        for f in sorted(set(src_dir.glob("*.c")) - set(files)):
            f.unlink()
        files = sources.add_startup(target, files, src_dir)
        srcset = render.SourceSet(
            tuple(sorted(p.name for p in files if p.suffix == ".c")),
            tuple(sorted(p.name for p in files if p.suffix == ".h")),
        )
        console.print(f"[bold]port[/bold]   {opts.source}: {len(result.changes)} changes -> {src_dir}; {which}")
    else:
        srcset = sources.lay_sources(sources.engine_files(target), src_dir)
    render.write_dos_text(src_dir / target.make.makefile, render.render_makefile(target, srcset))
    render.write_dos_text(src_dir / "BUILD.BAT", render.render_build_bat(target))

    exe: Path | None = None
    verdict = smoke_detail = ""
    if found.found:
        with console.status(f"compiling with {target.compiler.name}"):
            built = compilers.toolchain_for(target).build(target, src_dir, target.make.makefile, found)
        finish = compilers.hook(target, "finish")
        if finish is not None:
            finish(target, built.exe)
        exe = work / target.names.exe
        _strip(target, built.exe, exe)
        console.print(f"[bold]built[/bold]  {exe} ({exe.stat().st_size} bytes)")
        with console.status("auditing RUN.EXE"):
            verdict = _audit(target, exe, built, console)
        surface = compilers.hook(target, "check_link_surface")
        if opts.source is None and surface is not None:
            with console.status("checking the link surface"):
                console.print(f"[bold]link[/bold]   {surface(target, src_dir)}")
    else:
        notes.append(
            f"{target.compiler.name} is not installed here ({found.problem}); "
            f"wrote a source kit: build RUN.EXE on the old PC with SRC\\BUILD.BAT"
        )

    bundle = work / "bundle"
    _stage_bundle(target, bundle, src_dir, exe, pair, facts, opts,
                  strict_sources=opts.source is None, notes=notes)
    if exe is not None:
        # The emulated PC (DOSBox) gets the target's typical RAM, or what the model needs.
        ram_mb = max(target.platform.ram_mb, int(facts["ram_mb"]) + _os_reserve_mb(target)[0])  # type: ignore[call-overload]
        with console.status("test-running RUN.EXE"):
            smoke = smoke_test(bundle, target.names.exe, target.names.model, target.names.tokenizer,
                               family=family_of(target.platform.os), cpu=target.platform.cpu, ram_mb=ram_mb)
        console.print(f"[bold]smoke[/bold]  {smoke.detail}")
        smoke_detail = smoke.detail
    write_manifest(bundle)
    zip_path = write_zip(bundle, package.zip_path(opts.out, target.name))
    out = BuildResult(target, zip_path, exe is not None, bundle, notes, audit=verdict, smoke=smoke_detail)
    for kind in opts.media:
        out.media += _write_media(kind, bundle, opts.out, target)
    return out


def _strip(target: Target, unstripped: Path, exe: Path) -> None:
    """Copy the exe without symbols; the unstripped twin stays for the audit.

    binutils' strip stamps the PE header with the current time unless
    SOURCE_DATE_EPOCH is set; 0 matches the linker's --no-insert-timestamp.
    """
    if target.compiler.strip:
        proc = subprocess.run(
            [target.compiler.strip, "-o", str(exe), str(unstripped)],
            capture_output=True, text=True, env={**os.environ, "SOURCE_DATE_EPOCH": "0"},
        )
        if proc.returncode != 0:
            raise BuildError(f"{unstripped}: strip failed: {proc.stderr.strip()}")
    else:
        shutil.copyfile(unstripped, exe)


def _audit(target: Target, exe: Path, built: compilers.Built, console: Console) -> str:
    """Audit the exe; a failing verdict stops the build, a passing one is returned."""
    from toolchain.audit import audit_exe

    report = audit_exe(exe, os=target.platform.os, cpu=target.platform.cpu, symbols_exe=built.exe,
                       map_file=built.map_file)
    if not report.ok:
        report.render(console)
        raise AuditError(f"{exe}: {report.verdict}")
    console.print(f"[bold]audit[/bold]  {report.verdict}")
    for finding in report.findings:
        if finding.severity == "warn":  # the verdict counts them: say what they are
            console.print(f"[yellow]warning[/yellow] {finding.message}")
    return report.verdict


def _write_media(kind: str, bundle: Path, out: Path, target: Target) -> list[Path]:
    from toolchain.progress import progress_bar

    if kind == "floppy":
        from toolchain.media.floppy import write_floppies

        with progress_bar("writing floppy images") as advance:
            return write_floppies(bundle, out / f"retrollama-{target.name}-floppy", progress=advance)
    if kind == "iso":
        from toolchain.media.iso import write_iso

        with progress_bar("writing the CD image") as advance:
            return [write_iso(bundle, out / f"retrollama-{target.name}.iso", progress=advance)]
    raise ConfigError(f"--media {kind!r}: must be {' or '.join(repr(k) for k in MEDIA_KINDS)}")
