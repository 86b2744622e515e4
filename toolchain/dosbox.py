"""Run a DOS program in DOSBox, headless, and collect what it left behind.

DOSBox is the one target OS this machine can actually boot, so DOS builds
are run for real: the smoke test of ``invoke build`` and the tests.  Two
DOS limits shape the interface.  COMMAND.COM redirects only stdout, so the
program's stdout is the file OUT.TXT and anything else (stderr written by a
helper, CauseWay's crash report CW.ERR) comes back as the files the run
created.  There is no exit code to read from outside the emulator, so the
run's batch file turns ERRORLEVEL into a file with an ``IF ERRORLEVEL``
ladder (``IF ERRORLEVEL n`` means "at least n", so the last SET that fires
wins); the ladder lives in a batch file on D: because DOSBox caps the size
of its autoexec.

The program's own folder is mounted as C: and is never written to; the run
happens on D:, a fresh temporary folder, so a bundle stays as it was built.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import Field

from toolchain import paths, yamlfile
from toolchain.errors import BuildError

SETTINGS = paths.DATA_DIR / "dosbox.yaml"
OUT_NAME = "OUT.TXT"
_LEVEL_NAME = "RL_LEVEL.TXT"
_BATCH_NAME = "RL_RUN.BAT"


@dataclass(frozen=True)
class DosRun:
    """What one DOSBox run produced."""

    stdout: bytes  # the program's stdout, as COMMAND.COM redirected it (CRLF)
    errorlevel: int
    files: dict[str, bytes] = field(default_factory=dict)  # other files created on D:, by DOS name
    cycles: int = 0


class DosboxSettings(yamlfile.Strict):
    """dosbox.yaml: how a DOS program is run (the file's comments say why each value)."""

    cycles: int = Field(gt=0, description="emulated instructions per emulated millisecond")
    core: Literal["normal", "simple", "dynamic", "auto"]
    cputype: dict[str, str] = Field(description="target CPU baseline -> DOSBox cputype")
    memsize: int = Field(ge=1, le=63, description="emulated RAM in MB when the caller names none")
    timeout_s: float = Field(gt=0, description="real seconds before a run is abandoned as hung")
    mmx_cpus: list[str] = Field(description="baselines whose MMX kernel DOSBox cannot run")


@functools.cache
def settings(path: Path = SETTINGS) -> DosboxSettings:
    """The data file, validated (a bad value is one file:LINE:COL line)."""
    result: DosboxSettings = yamlfile.load_model(path, DosboxSettings)
    return result


def available() -> bool:
    """True when the dosbox program is on PATH."""
    return shutil.which("dosbox") is not None


def cputype_for(cpu: str) -> str:
    """The DOSBox CPU type that comes closest to a target's CPU baseline."""
    table = settings().cputype
    if cpu not in table:
        raise BuildError(f"{SETTINGS}: no DOSBox cputype for CPU baseline {cpu!r}")
    return table[cpu]


def _mount_path(folder: Path) -> str:
    text = str(folder.resolve())
    if '"' in text:
        raise BuildError(f"{folder}: DOSBox cannot mount a folder whose name has a double quote")
    return text


def batch_text(command: str, drive: str = "D") -> str:
    """The batch file that runs ``command`` on ``drive`` (its root) and
    writes the program's stdout and ERRORLEVEL to D: (CRLF lines)."""
    ladder = [f"IF ERRORLEVEL {n} SET RL_LEVEL={n}" for n in range(1, 256)]
    lines = ["@ECHO OFF", "SET RL_LEVEL=0", f"{drive}:", f"{command} > D:\\{OUT_NAME}", *ladder,
             "D:", f"ECHO %RL_LEVEL%> D:\\{_LEVEL_NAME}"]
    return "\r\n".join(lines) + "\r\n"


def config_text(program_dir: Path, work_dir: Path, *, cpu: str, ram_mb: int, cycles: int) -> str:
    """The DOSBox configuration: the machine, then an autoexec that mounts
    the folders and calls the run's batch file on D:."""
    s = settings()
    lines = [
        "[sdl]", "fullscreen=false", "output=surface",
        "[dosbox]", f"memsize={ram_mb}",
        "[cpu]", f"core={s.core}", f"cputype={cputype_for(cpu)}", f"cycles=fixed {cycles}",
        "[mixer]", "nosound=true",
        "[speaker]", "pcspeaker=false", "tandy=off",
        "[sblaster]", "sbtype=none",
        "[gus]", "gus=false",
        "[midi]", "mpu401=none",
        "[autoexec]",
        f'mount c "{_mount_path(program_dir)}"',
        f'mount d "{_mount_path(work_dir)}"',
        "d:",
        f"CALL {_BATCH_NAME}",
        "exit",
    ]
    return "\n".join(lines) + "\n"


def run(program_dir: Path, command: str, *, cpu: str = "pentium", ram_mb: int | None = None,
        cycles: int | None = None, timeout: float | None = None, drive: str = "D") -> DosRun:
    """Run a DOS ``command`` line with ``program_dir`` as C: (not written to
    unless ``drive`` is "C", the drive the command runs on) and a fresh D:;
    raise BuildError when DOSBox is missing, hangs past the time limit or
    never finishes the run."""
    if drive not in ("C", "D"):
        raise BuildError(f"DOSBox run: drive {drive!r} must be C or D")
    if not available():
        raise BuildError("dosbox is not installed (Debian package dosbox; ./retro installs it)")
    s = settings()
    ram_mb = s.memsize if ram_mb is None else ram_mb
    cycles = s.cycles if cycles is None else cycles
    timeout = s.timeout_s if timeout is None else timeout
    if not 1 <= ram_mb <= 63:
        raise BuildError(f"DOSBox memory {ram_mb} MB: must be 1 to 63")
    with tempfile.TemporaryDirectory(prefix="rl-dosbox-") as tmp:
        home, work = Path(tmp) / "home", Path(tmp) / "d"
        home.mkdir()
        work.mkdir()
        conf = Path(tmp) / "dosbox.conf"
        conf.write_text(config_text(program_dir, work, cpu=cpu, ram_mb=ram_mb, cycles=cycles), encoding="utf-8")
        try:  # a batch file is in the OEM code page, as COMMAND.COM reads it
            batch = batch_text(command, drive).encode("cp437")
        except UnicodeEncodeError as exc:
            raise BuildError(f"DOSBox run: {command!r} has {exc.object[exc.start]!r}, which code page 437 "
                             "lacks") from None
        (work / _BATCH_NAME).write_bytes(batch)
        # HOME elsewhere: DOSBox writes a default config into ~/.dosbox.
        env = {**os.environ, "SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy", "HOME": str(home)}
        env.pop("DISPLAY", None)
        try:
            proc = subprocess.run(["dosbox", "-conf", str(conf), "-noconsole", "-exit"],
                                  capture_output=True, timeout=timeout, env=env, cwd=tmp, check=False)
        except subprocess.TimeoutExpired:
            raise BuildError(f"DOSBox: {command!r} did not finish within {timeout:.0f} s") from None
        files = {p.name.upper(): p.read_bytes() for p in work.iterdir() if p.is_file() and p.name != _BATCH_NAME}
    level = files.pop(_LEVEL_NAME, None)
    if level is None or not level.strip().isdigit():
        tail = proc.stderr.decode("latin-1", "replace").strip().splitlines()[-3:]
        raise BuildError(f"DOSBox: {command!r} did not run to the end (exit {proc.returncode}"
                         + (f": {' / '.join(tail)}" if tail else "") + ")")
    stdout = files.pop(OUT_NAME, b"")
    return DosRun(stdout, int(level.strip()), files, cycles)
