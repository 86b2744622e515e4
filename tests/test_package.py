"""Bundle packaging: MANIFEST.TXT, zip format for period tools, reproducibility."""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

import pytest

from toolchain import package, reproducible
from toolchain.errors import BuildError, ConfigError


def _bundle(root: Path) -> Path:
    (root / "SRC").mkdir(parents=True)
    (root / "RUN.EXE").write_bytes(b"MZ" + bytes(range(256)) * 40)
    (root / "MODEL.BIN").write_bytes(b"\0" * 5000)
    (root / "README.TXT").write_bytes(b"hello\r\n")
    (root / "SRC" / "RUN.C").write_bytes(b"int main(void) { return 0; }\r\n")
    return root


def test_manifest_lists_size_and_crc(tmp_path: Path) -> None:
    b = _bundle(tmp_path / "b")
    text = package.write_manifest(b).read_bytes().decode("ascii")
    assert text.endswith("\r\n")
    crc = zlib.crc32((b / "RUN.EXE").read_bytes())
    assert f"RUN.EXE{'':<17}{(b / 'RUN.EXE').stat().st_size:>12}  {crc:08X}" in text
    assert "SRC\\RUN.C" in text
    assert not any(line.startswith("MANIFEST.TXT ") for line in text.splitlines()[1:])


def test_zip_is_for_period_tools(tmp_path: Path) -> None:
    b = _bundle(tmp_path / "b")
    package.write_manifest(b)
    z = package.write_zip(b, tmp_path / "out" / "x.zip")
    with zipfile.ZipFile(z) as zf:
        infos = zf.infolist()
        names = [i.filename for i in infos]
        assert names == sorted(names)
        assert "SRC/RUN.C" in names and "MANIFEST.TXT" in names
        for i in infos:
            assert i.create_system == 0 and i.external_attr == 0x20
            assert i.compress_type == zipfile.ZIP_DEFLATED
            assert i.flag_bits & 0x08 == 0  # no data descriptors
            assert i.date_time == reproducible.dos_date_time()
            assert i.extra == b""  # no zip64 or Unix extra fields
        assert zf.read("RUN.EXE") == (b / "RUN.EXE").read_bytes()
    assert not list((tmp_path / "out").glob("*.part"))


def test_zip_is_reproducible_and_honours_source_date_epoch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    b = _bundle(tmp_path / "b")
    package.write_manifest(b)
    first = package.write_zip(b, tmp_path / "1.zip").read_bytes()
    (b / "RUN.EXE").touch()  # file times must not leak into the zip
    assert package.write_zip(b, tmp_path / "2.zip").read_bytes() == first
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1234567890")
    third = package.write_zip(b, tmp_path / "3.zip")
    with zipfile.ZipFile(third) as zf:
        assert zf.infolist()[0].date_time == (2009, 2, 13, 23, 31, 30)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")
    assert reproducible.source_date_epoch() == reproducible.DOS_MIN_EPOCH
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    with pytest.raises(ConfigError, match="SOURCE_DATE_EPOCH"):
        reproducible.source_date_epoch()


def test_zip_refuses_long_or_lower_case_names(tmp_path: Path) -> None:
    b = _bundle(tmp_path / "b")
    (b / "stories260K.bin").write_bytes(b"x")
    with pytest.raises(BuildError, match="not an upper-case 8.3 name"):
        package.write_zip(b, tmp_path / "x.zip")


def test_a_build_killed_while_zipping_keeps_the_old_zip_and_its_part_is_cleaned(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    b = _bundle(tmp_path / "b")
    (b / "MODEL.BIN").write_bytes(os.urandom(40 << 20))  # big enough to be killed mid-write
    out = tmp_path / "out"
    old = package.write_zip(_bundle(tmp_path / "small"), out / "x.zip")
    old_bytes = old.read_bytes()
    code = ("import sys; from pathlib import Path; from toolchain import package; "
            "package.write_zip(Path(sys.argv[1]), Path(sys.argv[2]))")
    proc = subprocess.Popen([sys.executable, "-c", code, str(b), str(out / "x.zip")],
                            cwd=Path(package.__file__).parents[1])
    part = out / f"x.zip.{proc.pid}.part"
    for _ in range(400):  # wait until the part exists, then kill the build
        if part.exists() or proc.poll() is not None:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    assert part.exists(), "the build finished before it could be killed"
    assert (out / "x.zip").read_bytes() == old_bytes  # the final zip was never touched
    (out / "y.zip.part").write_bytes(b"left by an older version")
    alive = out / f"z.zip.{os.getpid()}.part"  # a build still running: left alone
    alive.write_bytes(b"busy")
    package.write_zip(_bundle(tmp_path / "again"), out / "x.zip")
    assert sorted(p.name for p in out.glob("*.part")) == [alive.name]
