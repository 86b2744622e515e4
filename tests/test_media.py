"""Floppy and CD images of a bundle: contents round-trip, splitting, reproducibility.

Images are read back with mtools (mcopy) and pycdlib, the same tools a
user could use, and compared byte for byte with the bundle.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
from pathlib import Path

import pycdlib
import pytest

from toolchain import paths
from toolchain.errors import BuildError
from toolchain.media import floppy, iso

@pytest.fixture(autouse=True)
def _mtools_installed() -> None:
    """mtools is a CI dependency (./retro installs it): missing means broken setup, not a skip."""
    if shutil.which("mcopy") is None:
        pytest.fail("mtools is not installed (apt-get install mtools; ./retro does it)")

MTOOLS_ENV = {**os.environ, "MTOOLS_SKIP_CHECK": "1"}


def _blob(n: int, seed: bytes) -> bytes:
    out = bytearray()
    counter = 0
    while len(out) < n:
        out += hashlib.sha256(seed + counter.to_bytes(8, "little")).digest()
        counter += 1
    return bytes(out[:n])


@pytest.fixture
def fake_bundle(tmp_path: Path) -> Path:
    """Small files, a subfolder and one 3.2 MB file that must be split."""
    root = tmp_path / "bundle"
    (root / "SRC").mkdir(parents=True)
    (root / "RUN.EXE").write_bytes(_blob(150_000, b"exe"))
    (root / "RUN.BAT").write_bytes(b"@RUN.EXE MODEL.BIN -z TOKENIZ.BIN\r\n")
    (root / "README.TXT").write_bytes(b"read me\r\n" * 100)
    (root / "MANIFEST.TXT").write_bytes(b"RUN.EXE 150000\r\n")
    (root / "TOKENIZ.BIN").write_bytes(_blob(6227, b"tok"))
    (root / "MODEL.BIN").write_bytes(_blob(3_200_000, b"model"))
    (root / "SRC" / "RUN.C").write_bytes(_blob(40_000, b"c"))
    return root


def _mdir(image: Path) -> list[str]:
    out = subprocess.run(["mdir", "-b", "-/", "-i", str(image), "::"], env=MTOOLS_ENV,
                         capture_output=True, text=True, check=True).stdout
    return sorted(line.strip().removeprefix("::/") for line in out.splitlines() if line.strip())


def _mread(image: Path, name: str) -> bytes:
    return subprocess.run(["mtype", "-i", str(image), f"::/{name}"], env=MTOOLS_ENV,
                          capture_output=True, check=True).stdout


def _unpack_floppies(images: list[Path], dest: Path) -> None:
    """What the user does: copy every disk into one folder (then JOIN.BAT)."""
    dest.mkdir()
    for image in images:
        subprocess.run(["mcopy", "-s", "-n", "-i", str(image), "::/*", str(dest)], env=MTOOLS_ENV,
                       check=True, capture_output=True)


def _run_join_bat(folder: Path) -> None:
    """Execute JOIN.BAT's COPY /B lines the way COMMAND.COM would."""
    for line in (folder / "JOIN.BAT").read_bytes().decode("ascii").split("\r\n"):
        if not line.startswith("COPY /B "):
            continue
        args = line.removeprefix("COPY /B ").removesuffix(" > NUL").split()
        sources = args[0].split("+")
        target = folder / (args[1] if len(args) > 1 else sources[0])
        data = b"".join((folder / s).read_bytes() for s in sources)
        target.write_bytes(data)


def test_big_file_is_split_and_rejoined(fake_bundle: Path, tmp_path: Path) -> None:
    images = floppy.write_floppies(fake_bundle, tmp_path / "out")
    assert [p.name for p in images] == ["DISK1.IMG", "DISK2.IMG", "DISK3.IMG"]
    for image in images:
        assert image.stat().st_size == 1_474_560
    disk1 = _mdir(images[0])
    for name in ("RUN.EXE", "RUN.BAT", "README.TXT", "MANIFEST.TXT", "JOIN.BAT", "DISK1.TXT", "MODEL.001"):
        assert name in disk1
    assert "MODEL.BIN" not in disk1
    for n, image in enumerate(images, 1):
        text = _mread(image, f"DISK{n}.TXT").decode("ascii")
        assert text.startswith(f"retrollama floppy set: disk {n} of 3\r\n")
        assert "\n" not in text.replace("\r\n", "")
    join = _mread(images[0], "JOIN.BAT").decode("ascii")
    assert "COPY /B MODEL.001 MODEL.BIN > NUL\r\n" in join and "COPY /B MODEL.BIN+MODEL.003 > NUL" in join
    assert all(len(line) < 80 for line in join.split("\r\n"))

    folder = tmp_path / "C_RETROLLM"
    _unpack_floppies(images, folder)
    _run_join_bat(folder)
    for path in fake_bundle.rglob("*"):
        if path.is_file():
            rel = path.relative_to(fake_bundle)
            assert (folder / rel).read_bytes() == path.read_bytes(), rel


def test_disks_are_filled_not_wasted(fake_bundle: Path, tmp_path: Path) -> None:
    disks = floppy.plan(fake_bundle)
    middle = disks[1]
    used = sum(-(-p.length // 512) for p in middle.pieces)
    assert used > floppy.DATA_CLUSTERS - 10  # the part fills the disk to a few clusters


def test_floppies_are_reproducible(fake_bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a = floppy.write_floppies(fake_bundle, tmp_path / "a")
    os.utime(fake_bundle / "RUN.EXE", (1_600_000_000, 1_600_000_000))  # source mtimes must not matter
    b = floppy.write_floppies(fake_bundle, tmp_path / "b")
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1000000000")
    c = floppy.write_floppies(fake_bundle, tmp_path / "c")
    assert c[0].read_bytes() != a[0].read_bytes()  # the timestamp is really in the image


def test_stories260k_bundle_fits_one_floppy(stories260k: tuple[Path, Path], tmp_path: Path) -> None:
    model, tok = stories260k
    root = tmp_path / "bundle"
    (root / "SRC").mkdir(parents=True)
    shutil.copyfile(model, root / "MODEL.BIN")
    shutil.copyfile(tok, root / "TOKENIZ.BIN")
    # A generous RUN.EXE: twice the size of the engine's MinGW and Watcom builds (~80 KB).
    (root / "RUN.EXE").write_bytes(_blob(160 * 1024, b"exe"))
    for name in ("RUN.BAT", "README.TXT", "MANIFEST.TXT"):
        (root / name).write_bytes(b"text\r\n" * 200)
    for src in paths.engine_sources() + paths.engine_headers():
        (root / "SRC" / src.name.upper()).write_bytes(src.read_bytes())
    images = floppy.write_floppies(root, tmp_path / "out")
    assert len(images) == 1
    assert "JOIN.BAT" not in _mdir(images[0])
    assert _mread(images[0], "MODEL.BIN") == model.read_bytes()


def test_floppy_refuses_long_names(tmp_path: Path) -> None:
    root = tmp_path / "bundle"
    root.mkdir()
    (root / "stories260K.bin").write_bytes(b"x")
    with pytest.raises(BuildError, match="'stories260K.bin' is not an upper-case 8.3 name"):
        floppy.write_floppies(root, tmp_path / "out")


def _iso_files(image: Path, joliet: bool) -> dict[str, bytes]:
    cd = pycdlib.PyCdlib()
    cd.open(str(image))
    out: dict[str, bytes] = {}
    kw = "joliet_path" if joliet else "iso_path"
    for dirpath, _, names in cd.walk(**{kw: "/"}):
        for name in names:
            full = f"{dirpath.rstrip('/')}/{name}"
            buf = io.BytesIO()
            cd.get_file_from_iso_fp(buf, **{kw: full})
            out[full] = buf.getvalue()
    cd.close()
    return out


def test_iso_holds_the_bundle_under_both_name_sets(fake_bundle: Path, tmp_path: Path) -> None:
    image = iso.write_iso(fake_bundle, tmp_path / "RETROLLM.ISO")
    expected = {f"/{p.relative_to(fake_bundle).as_posix()}": p.read_bytes()
                for p in fake_bundle.rglob("*") if p.is_file()}
    assert _iso_files(image, joliet=True) == expected
    assert _iso_files(image, joliet=False) == {f"{k};1": v for k, v in expected.items()}
    cd = pycdlib.PyCdlib()
    cd.open(str(image))
    assert cd.has_joliet() and cd.pvd.volume_identifier.rstrip() == b"RETROLLM"
    cd.close()


def test_iso_is_reproducible(fake_bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a = iso.write_iso(fake_bundle, tmp_path / "a.iso").read_bytes()
    monkeypatch.setenv("TZ", "America/New_York")  # the local zone must not leak into the image
    b = iso.write_iso(fake_bundle, tmp_path / "b.iso").read_bytes()
    assert a == b
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1000000000")
    assert iso.write_iso(fake_bundle, tmp_path / "c.iso").read_bytes() != a


def test_iso_refuses_names_level_1_cannot_hold(tmp_path: Path) -> None:
    root = tmp_path / "bundle"
    root.mkdir()
    (root / "RUN-2.EXE").write_bytes(b"x")
    with pytest.raises(BuildError, match="'RUN-2.EXE' is not an ISO 9660 level 1 name"):
        iso.write_iso(root, tmp_path / "x.iso")
    assert not (tmp_path / "x.iso").exists()


def test_floppy_refuses_names_it_writes_itself(fake_bundle: Path, tmp_path: Path) -> None:
    (fake_bundle / "JOIN.BAT").write_bytes(b"@ECHO OFF\r\n")
    with pytest.raises(BuildError, match="JOIN.BAT is a name the floppy set writes itself"):
        floppy.write_floppies(fake_bundle, tmp_path / "out")
