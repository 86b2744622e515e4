"""The build pipeline: target -> sources -> makefile -> exe -> audit -> bundle -> zip.

Each stage is a call into its own module with plain values; this module only
puts them in order and tells the user what happens.  When the target's
compiler is not installed here (Borland, Watcom) the result is a source kit:
the same bundle without RUN.EXE, to be built on the old PC with BUILD.BAT,
which is how the 2024 port was built.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from toolchain import compilers, paths, render, sources
from toolchain.errors import AuditError, BuildError, ConfigError, ModelError
from toolchain.modelpick import DEMO_DIR, ModelPair, pick_model
from toolchain.package import write_manifest, write_zip
from toolchain.smoke import smoke_test
from toolchain.targets import Target, aliases, load_target


@dataclass(frozen=True)
class BuildOptions:
    target: str
    model: str | None = None
    tokenizer: str | None = None
    out: Path = Path("dist")
    source: Path | None = None
    prompt: str = "Once upon a time"
    steps: int = 256
    models_dir: str | None = None
    work: Path = paths.REPO_ROOT / "build"
    media: tuple[str, ...] = ()
    temperature: float = 1.0  # RUN.BAT's defaults; the user's own flags on the old PC win
    topp: float = 0.9
    seed: int | None = None


@dataclass
class BuildResult:
    target: Target
    zip_path: Path
    exe_built: bool
    bundle: Path
    notes: list[str] = field(default_factory=list)
    media: list[Path] = field(default_factory=list)


def resolve_target(name: str) -> tuple[Target, compilers.Discovery, str]:
    """A target name or alias -> (target, its compiler discovery, why chosen)."""
    table = aliases()
    if name not in table:
        target = load_target(name)
        return target, compilers.discover(target), f"target {name}"
    skipped = []
    candidates = [load_target(n) for n in table[name]]
    for target in candidates:
        found = compilers.discover(target)
        if found.found:
            why = f"{name} -> {target.name}: {target.compiler.name} found at {found.where}"
            if skipped:
                why += " (" + "; ".join(skipped) + ")"
            return target, found, why
        skipped.append(f"{target.compiler.name}: {found.where}")
    first = candidates[0]
    return first, compilers.discover(first), f"{name} -> {first.name}: no compiler found (" + "; ".join(skipped) + ")"


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

    lacks_msvcrt = os_api(target.platform.os).no_msvcrt
    dll = target.compiler.runtime_dll
    missing = dll if dll is not None and dll.lower() == "msvcrt.dll" and lacks_msvcrt else None
    return {"runtime_dll": missing, "runtime_builtin": lacks_msvcrt and dll is None}


def _model_facts(target: Target, pair: ModelPair, steps: int) -> dict[str, object]:
    """What README.TXT says about the model: size, memory and time for the file actually bundled."""
    from toolchain.llama2.quant import read_any_config
    from toolchain.models.inspect import estimate

    config, group_size = read_any_config(pair.checkpoint)
    seq_len = config.seq_len
    used_steps = min(steps, seq_len) if steps > 0 else seq_len  # as the engine clamps -n
    est = estimate(pair.checkpoint, steps=used_steps, tokenizer=pair.tokenizer,
                   max_file_bytes=target.platform.max_file_bytes)
    if est.problems:
        raise ModelError("; ".join(est.problems))
    cfg = est.config
    model_bytes = pair.checkpoint.stat().st_size
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
        "tok_s": f"{est.tok_per_s_p2_350:.3g}",
        "story_time": _story_time(used_steps, est.tok_per_s_p2_350),
        **_runtime_facts(target),
        "model_bytes": model_bytes,
        "split_on_floppies": model_bytes > FLOPPY_BYTES,
        "join_free_bytes": 2 * model_bytes,
        "estimate": est,
    }


def _int8_advice(target: Target, facts: dict[str, object]) -> str | None:
    """When an fp32 model is too big for the target's typical PC or for a few floppies, say what
    ``invoke quantize`` would give, in figures."""
    est = facts["estimate"]
    if facts["quant"] != "fp32":
        return None
    ram = target.platform.ram_mb << 20
    too_big_ram = not est.fits(ram)  # type: ignore[attr-defined]
    floppies = -(-int(facts["model_bytes"]) // FLOPPY_BYTES)  # type: ignore[call-overload]
    if not too_big_ram and floppies <= 3:
        return None
    from toolchain.llama2 import quant

    int8_bytes = est.ram_bytes_int8  # type: ignore[attr-defined]
    config = est.config  # type: ignore[attr-defined]
    int8_file = quant.expected_file_size(config, quant.default_group_size(config))
    int8_floppies = -(-int8_file // FLOPPY_BYTES)
    disks = "floppy" if int8_floppies == 1 else "floppies"
    why = (f"needs about {facts['ram_mb']} MB + {est.os_reserve_bytes >> 20} MB for Windows "  # type: ignore[attr-defined]
           f"(a typical {target.name} PC has {target.platform.ram_mb} MB)" if too_big_ram
           else f"takes {floppies} floppies")
    fits = "fits" if est.fits(ram) or int8_bytes + est.os_reserve_bytes <= ram else "still does not fit"  # type: ignore[attr-defined]
    return (f"hint: this fp32 model {why}; int8 needs about {max(1, round(int8_bytes / (1 << 20)))} MB of RAM "
            f"({fits}) and {int8_floppies} {disks}: invoke quantize {facts['model_path']} "
            f"--out {Path(str(facts['model_name'])).stem}_q80.bin, then build with --model that file")


def _run_bat(target: Target, opts: BuildOptions, steps: int) -> str:
    return render.render_run_bat(target, prompt=opts.prompt, steps=steps, temperature=opts.temperature,
                                 topp=opts.topp, seed=opts.seed)


def _copy_c_source(src: Path, dst: Path, *, strict: bool, notes: list[str]) -> None:
    """A C file as DOS text (CRLF).  The engine's own sources must also be
    7-bit ASCII within 80 columns (a test keeps them so); a ported tree of
    the user's gets a warning instead, since its lines are theirs."""
    text = src.read_bytes().decode("latin-1").replace("\r\n", "\n").replace("\n", "\r\n")
    try:
        render.check_dos_text(f"SRC\\{dst.name}", text)
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
    render.write_dos_text(bundle / "RUN.BAT", _run_bat(target, opts, facts["steps"]))
    readme = render.render_readme(target, prompt=prompt, source_kit=exe is None, **facts)
    render.write_dos_text(bundle / "README.TXT", readme)


def build(opts: BuildOptions, console: Console) -> BuildResult:
    """Run the whole pipeline for one target; raise RetroError on any failure."""
    if opts.steps < 0:
        raise ConfigError(f"--steps {opts.steps}: must be 0 (the model's context) or more")
    if opts.temperature < 0:
        raise ConfigError(f"--temperature {opts.temperature:g}: must be 0 (always the likeliest word) or more")
    if not 0 <= opts.topp <= 1:
        raise ConfigError(f"--topp {opts.topp:g}: must be between 0 and 1")
    target, found, why = resolve_target(opts.target)
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
    if not est.fits(target.platform.ram_mb << 20):  # type: ignore[attr-defined]
        notes.append(
            f"warning: the model needs about {facts['ram_mb']} MB plus about "
            f"{est.os_reserve_bytes >> 20} MB for Windows; a typical PC for {target.name} "  # type: ignore[attr-defined]
            f"has {target.platform.ram_mb} MB"
        )
    advice = _int8_advice(target, facts)
    if advice:
        notes.append(advice)

    work = opts.work / target.name
    src_dir = work / "src"
    if opts.source is not None:
        from toolchain.porting import port_tree

        if src_dir.exists():
            shutil.rmtree(src_dir)
        result = port_tree(opts.source, src_dir, compiler=target.compiler.family)
        srcset = render.SourceSet(
            tuple(sorted(p.name for p in result.files if p.suffix == ".c")),
            tuple(sorted(p.name for p in result.files if p.suffix == ".h")),
        )
        console.print(f"[bold]port[/bold]   {opts.source}: {len(result.changes)} changes -> {src_dir}")
    else:
        srcset = sources.lay_sources(sources.engine_files(target), src_dir)
    render.write_dos_text(src_dir / target.make.makefile, render.render_makefile(target, srcset))
    render.write_dos_text(src_dir / "BUILD.BAT", render.render_build_bat(target))

    exe: Path | None = None
    if found.found:
        with console.status(f"compiling with {target.compiler.name}"):
            unstripped = compilers.toolchain_for(target).build(target, src_dir, target.make.makefile, found)
        exe = work / target.names.exe
        _strip(target, unstripped, exe)
        console.print(f"[bold]built[/bold]  {exe} ({exe.stat().st_size} bytes)")
        _audit(target, exe, unstripped, console)
        if opts.source is None and target.compiler.family == "mingw":
            _link_surface(target, src_dir, console)
    else:
        notes.append(
            f"{target.compiler.name} is not installed here ({found.where}); "
            f"wrote a source kit: build RUN.EXE on the old PC with SRC\\BUILD.BAT"
        )

    bundle = work / "bundle"
    _stage_bundle(target, bundle, src_dir, exe, pair, facts, opts,
                  strict_sources=opts.source is None, notes=notes)
    if exe is not None:
        with console.status("test-running RUN.EXE under Wine"):
            smoke = smoke_test(bundle, target.names.exe, target.names.model, target.names.tokenizer)
        console.print(f"[bold]smoke[/bold]  {smoke.detail}")
    write_manifest(bundle)
    zip_path = write_zip(bundle, opts.out / f"retrollama-{target.name}.zip")
    result = BuildResult(target, zip_path, exe is not None, bundle, notes)
    for kind in opts.media:
        result.media += _write_media(kind, bundle, opts.out, target)
    return result


def _strip(target: Target, unstripped: Path, exe: Path) -> None:
    """Copy the exe without symbols; the unstripped twin stays for the audit.

    binutils' strip stamps the PE header with the current time unless
    SOURCE_DATE_EPOCH is set; 0 matches the linker's --no-insert-timestamp.
    """
    import os
    import subprocess


    if target.compiler.strip:
        proc = subprocess.run(
            [target.compiler.strip, "-o", str(exe), str(unstripped)],
            capture_output=True, text=True, env={**os.environ, "SOURCE_DATE_EPOCH": "0"},
        )
        if proc.returncode != 0:
            raise BuildError(f"{unstripped}: strip failed: {proc.stderr.strip()}")
    else:
        shutil.copyfile(unstripped, exe)


def _audit(target: Target, exe: Path, unstripped: Path, console: Console) -> None:
    from toolchain.audit import audit_exe

    report = audit_exe(exe, os=target.platform.os, cpu=target.platform.cpu, symbols_exe=unstripped)
    if not report.ok:
        report.render(console)
        raise AuditError(f"{exe}: {report.verdict}")
    console.print(f"[bold]audit[/bold]  {report.verdict}")
    for finding in report.findings:
        if finding.severity == "warn":  # the verdict counts them: say what they are
            console.print(f"[yellow]warning[/yellow] {finding.message}", markup=True)


def _link_surface(target: Target, src_dir: Path, console: Console) -> None:
    """The engine's objects may call only C89 and the target OS's API: a C99
    call would build here (libmingwex has it) and fail on Borland/Watcom.

    The objects are compiled again with -fno-builtin, so that they call what
    the source says, not what GCC's optimiser substitutes (sincos, sqrtf).
    """
    import subprocess

    from toolchain.audit import check_link_surface

    out = src_dir.parent / "c89check"
    out.mkdir(exist_ok=True)
    c = target.compiler
    objects = []
    for src in paths.engine_sources():
        obj = out / (src.stem + ".o")
        cmd = [c.cc, *c.std, *(f"-D{d}" for d in c.defines), "-fno-builtin", "-c", str(src_dir / src.name),
               "-o", str(obj)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise BuildError(f"{src.name}: compiling for the C89 check failed: {proc.stderr.strip()[-300:]}")
        objects.append(obj)
    findings = check_link_surface(objects, os=target.platform.os)
    fails = [f for f in findings if f.severity == "fail"]
    if fails:
        raise AuditError(f"{src_dir}: not C89: " + "; ".join(f"{f.where} {f.message}".strip() for f in fails))
    console.print(f"[bold]link[/bold]   the engine calls only C89 and {target.platform.os_name} APIs")


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
    raise ConfigError(f"--media {kind!r}: must be 'floppy' or 'iso'")
