"""Open Watcom for real: win98-owc, win95-owc and nt4-owc built by `invoke
build` through the rendered MAKEFILE.WAT and wmake, audited, run under Wine
and zipped; the shipped makefile rebuilds RUN.EXE; the exes print what the
native build prints; the engine is clean under Watcom's strict ANSI mode.

The compiler is the real Open Watcom from ../shared/toolchains (fixtures
``watcom_root``/``with_watcom``): missing, these tests fail, never skip.
"""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

import pytest

from cli_util import invoke
from engine_util import PROMPT, run
from llama2_util import RANDOM_MODELS
from toolchain import paths, targets
from toolchain.audit import audit_exe
from toolchain.llama2 import quant
from toolchain.llama2.checkpoint import write_random_checkpoint
from toolchain.targets import load_target
from watcom_util import watcom_environ

pytestmark = pytest.mark.wine

OWC_TARGETS = ("win98-owc", "win95-owc", "nt4-owc")
WINE_TIMEOUT_S = 120
VOCAB32000 = next(m for m in RANDOM_MODELS if m.name == "vocab32000")


@pytest.fixture(scope="module")
def owc_env(watcom_root: Path) -> dict[str, str]:
    """WATCOM/PATH/INCLUDE as the Open Watcom installer sets them."""
    return watcom_environ(watcom_root)


def _build(target: str, out: Path, work: Path, env: dict[str, str]) -> Path:
    proc = invoke("build", "--target", target, "--out", str(out), env={**env, "INVOKE_RETROLLAMA_WORK": str(work)})
    assert proc.returncode == 0, proc.stderr
    assert f"target {target}" in proc.stderr and "audit  PASS" in proc.stderr
    assert "smoke  ran under Wine" in proc.stderr
    return out / f"retrollama-{target}.zip"


@pytest.fixture(scope="module")
def owc_builds(tmp_path_factory: pytest.TempPathFactory, owc_env: dict[str, str]) -> dict[str, tuple[Path, Path]]:
    """target -> (zip, work folder) of one `invoke build` per Watcom target."""
    out = tmp_path_factory.mktemp("owc-dist")
    work = tmp_path_factory.mktemp("owc-work")
    return {t: (_build(t, out, work, owc_env), work / t) for t in OWC_TARGETS}


def _wine(exe: Path, *args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    return run(exe, *args, wrapper=["wine"], timeout=WINE_TIMEOUT_S, cwd=cwd)


@pytest.mark.parametrize("target", OWC_TARGETS)
def test_watcom_bundle_has_the_exe_and_the_makefile(owc_builds: dict[str, tuple[Path, Path]], target: str) -> None:
    zip_path, _ = owc_builds[target]
    with zipfile.ZipFile(zip_path) as zf:
        names = set(zf.namelist())
    assert {"RUN.EXE", "MODEL.BIN", "TOKENIZ.BIN", "SRC/MAKEFILE.WAT", "SRC/BUILD.BAT", "SRC/RUN.C"} <= names


@pytest.mark.parametrize("target", OWC_TARGETS)
def test_audit_verdict_of_each_watcom_exe(owc_builds: dict[str, tuple[Path, Path]], target: str) -> None:
    """PASS, no msvcrt.dll (Watcom's static C library), no instruction beyond
    the CPU: the switch tables in .text are not read as hlt any more.  The
    runtime's W imports stay warnings (see docs/watcom.md: the runtime calls
    GetModuleFileNameW only on NT and converts with MultiByteToWideChar on 9x)."""
    t = load_target(target)
    exe = owc_builds[target][1] / "RUN.EXE"
    report = audit_exe(exe, os=t.platform.os, cpu=t.platform.cpu)
    assert report.ok, report.verdict
    dlls = {dll.lower() for dll, _, _ in report.imports}
    assert dlls <= {"kernel32.dll", "user32.dll"}, dlls
    assert not [h for h in report.cpu_hits if h.severity == "fail"]
    assert not any(h.mnemonic == "hlt" for h in report.cpu_hits)
    if t.platform.os == "win95":
        warned = {f.where for f in report.findings if f.severity == "warn"}
        assert "KERNEL32.DLL!GetModuleFileNameW" in warned  # still reported, never silenced
    stamp = [f for f in report.findings if f.where == "FILE_HEADER.TimeDateStamp"]
    assert not stamp, stamp  # the link time is zeroed


def test_win98_owc_uses_the_mmx_kernel_and_its_audit_allows_it(owc_builds: dict[str, tuple[Path, Path]]) -> None:
    makefile = (owc_builds["win98-owc"][1] / "src" / "MAKEFILE.WAT").read_text(encoding="ascii")
    assert "-dRL_MMX" in makefile
    report = audit_exe(owc_builds["win98-owc"][1] / "RUN.EXE", os="win98", cpu="pentium2")
    assert report.ok
    assert any(h.mnemonic == "pmaddwd" for h in audit_exe(
        owc_builds["win98-owc"][1] / "RUN.EXE", os="win95", cpu="pentium").cpu_hits)  # MMX really is in there
    assert "-dRL_MMX" not in (owc_builds["win95-owc"][1] / "src" / "MAKEFILE.WAT").read_text(encoding="ascii")


def test_watcom_zip_is_reproducible(owc_builds: dict[str, tuple[Path, Path]], owc_env: dict[str, str],
                                    tmp_path: Path) -> None:
    again = _build("win95-owc", tmp_path / "dist", tmp_path / "work", owc_env)
    assert again.read_bytes() == owc_builds["win95-owc"][0].read_bytes()


def test_shipped_makefile_rebuilds_run_exe_with_wmake(owc_builds: dict[str, tuple[Path, Path]],
                                                      owc_env: dict[str, str], watcom_root: Path,
                                                      tmp_path: Path) -> None:
    """The bundle's SRC folder as the old PC sees it.  FAT ignores case and
    Linux does not, so the files are unpacked under lower-case names, as
    the makefile (like DOS) spells them."""
    with zipfile.ZipFile(owc_builds["win95-owc"][0]) as zf:
        zf.extractall(tmp_path)
    src = tmp_path / "SRC"
    for f in src.iterdir():
        if f.name != "MAKEFILE.WAT":
            f.rename(src / f.name.lower())
    proc = subprocess.run([str(watcom_root / "binl64" / "wmake"), "-h", "-f", "MAKEFILE.WAT"], cwd=src,
                          capture_output=True, text=True, env={**owc_env}, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rebuilt = src / "run.exe"
    args = ["MODEL.BIN", "-z", "TOKENIZ.BIN", "-t", "0", "-n", "40", "-i", PROMPT]
    got = _wine(rebuilt, *args, cwd=tmp_path)
    want = _wine(tmp_path / "RUN.EXE", *args, cwd=tmp_path)
    assert got.returncode == 0 and got.stdout == want.stdout and got.stdout.strip()


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory, stories260k: tuple[Path, Path],
           models_dir: Path) -> dict[str, tuple[Path, Path]]:
    """fp32 stories260K, a random 32000-vocabulary model, and both in int8 (group size 32 for the latter)."""
    folder = tmp_path_factory.mktemp("owc-models")
    ckpt, tok = stories260k
    big = folder / "vocab32000.bin"
    write_random_checkpoint(big, VOCAB32000.config, seed=VOCAB32000.seed)
    quant.quantize_checkpoint(ckpt, folder / "s260k_q8.bin")
    quant.quantize_checkpoint(big, folder / "v32k_q8.bin")
    assert quant.read_header(folder / "v32k_q8.bin")[1] == 32
    big_tok = models_dir / VOCAB32000.tokenizer
    return {"stories260K": (ckpt, tok), "vocab32000": (big, big_tok),
            "stories260K_q8": (folder / "s260k_q8.bin", tok), "vocab32000_q8": (folder / "v32k_q8.bin", big_tok)}


@pytest.mark.parametrize("target", ["win98-owc", "win95-owc"])  # MMX kernel and portable kernel
@pytest.mark.parametrize("model", ["stories260K", "vocab32000", "stories260K_q8", "vocab32000_q8"])
@pytest.mark.parametrize("flags", [("-t", "0", "-n", "60"), ("-t", "0.9", "-p", "0.9", "-s", "77", "-n", "60")])
def test_watcom_exe_prints_the_native_bytes(owc_builds: dict[str, tuple[Path, Path]], native_engine: Path,
                                            models: dict[str, tuple[Path, Path]], target: str, model: str,
                                            flags: tuple[str, ...]) -> None:
    ckpt, tok = models[model]
    exe = owc_builds[target][1] / "RUN.EXE"
    win = _wine(exe, ckpt, "-z", tok, "-i", PROMPT, *flags)
    nat = run(native_engine, ckpt, "-z", tok, "-i", PROMPT, *flags)
    assert win.returncode == 0, win.stderr[-500:]
    assert nat.returncode == 0 and nat.stdout.strip()
    assert win.stdout.replace(b"\r\n", b"\n") == nat.stdout


def test_mmx_kernel_is_the_one_win98_owc_runs(owc_builds: dict[str, tuple[Path, Path]],
                                              models: dict[str, tuple[Path, Path]]) -> None:
    ckpt, tok = models["vocab32000_q8"]
    for target, kernel in (("win98-owc", b"mmx kernel"), ("win95-owc", b"portable kernel")):
        proc = _wine(owc_builds[target][1] / "RUN.EXE", ckpt, "-z", tok, "-n", "4", "-v")
        assert proc.returncode == 0 and kernel in proc.stderr, proc.stderr[-400:]


def _includes_windows_h(src: Path) -> bool:
    return b"<windows.h>" in src.read_bytes()


def test_engine_is_clean_under_watcom_strict_ansi(owc_env: dict[str, str], watcom_root: Path, tmp_path: Path) -> None:
    """-za (ISO C only) -wx (every warning) -we (warnings are errors) for
    every engine file but the one that includes windows.h."""
    files = [p for p in paths.engine_sources() if not _includes_windows_h(p)]
    assert {p.name for p in files} >= {"run.c", "q8.c"}
    for src in files:
        proc = subprocess.run([str(watcom_root / "binl64" / "wcc386"), "-za", "-wx", "-we", "-zq", "-bt=nt",
                               f"-fo={tmp_path / (src.stem + '.obj')}", str(src)],
                              capture_output=True, text=True, env={**owc_env}, timeout=120)
        assert proc.returncode == 0 and not proc.stdout.strip(), f"{src.name}: {proc.stdout}{proc.stderr}"


def test_win98_alias_picks_watcom_when_watcom_is_set(with_watcom: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BCC_ROOT", raising=False)
    target, found, why = targets.resolve("win98")
    assert target.name == "win98-owc" and found.found
    assert why.startswith("win98 -> win98-owc: Open Watcom C found at ") and "$BCC_ROOT is not set" in why
    monkeypatch.delenv("WATCOM")
    target, found, why = targets.resolve("win98")
    assert target.name == "win98-mingw" and "$WATCOM is not set" in why
