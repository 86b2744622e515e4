"""The bundle FTP server, driven by a real client (ftplib) over loopback.

Each test runs a server on 127.0.0.1 with an ephemeral port in a daemon
thread that is stopped (close_all) and joined with a timeout, so a broken
server fails the test instead of hanging the suite.
"""

from __future__ import annotations

import ftplib
import hashlib
import io
import os
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from toolchain import serve
from toolchain.errors import ConfigError

FILES = {
    "RUN.EXE": bytes(range(256)) * 300 + b"\r\n\x1a\n\r",  # bytes ASCII mode would mangle
    "MODEL.BIN": hashlib.sha256(b"seed").digest() * 5000,
    "README.TXT": b"Hello\r\nWorld\r\n",
    "SRC/RUN.C": b"int main(void) { return 0; }\r\n",
}


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    root = tmp_path / "bundle"
    for name, data in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    (tmp_path / "SECRET.TXT").write_bytes(b"outside the bundle")
    return root


@pytest.fixture
def server(bundle: Path) -> Iterator[tuple[str, int]]:
    srv = serve.make_server(bundle, "127.0.0.1", 0)
    thread = threading.Thread(
        target=srv.serve_forever, kwargs={"timeout": 0.1, "blocking": True, "handle_exit": False}, daemon=True
    )
    thread.start()
    try:
        yield srv.address[0], srv.address[1]
    finally:
        srv.close_all()
        thread.join(timeout=5)
        assert not thread.is_alive(), "FTP server thread did not stop"


def _client(addr: tuple[str, int], passive: bool) -> ftplib.FTP:
    ftp = ftplib.FTP(timeout=10)
    ftp.connect(*addr)
    ftp.login()  # anonymous
    ftp.set_pasv(passive)
    return ftp


def _get(ftp: ftplib.FTP, name: str) -> bytes:
    buf = io.BytesIO()
    ftp.retrbinary(f"RETR {name}", buf.write)
    return buf.getvalue()


@pytest.mark.parametrize("passive", [False, True], ids=["active", "passive"])
def test_mget_star_downloads_every_file_byte_for_byte(server: tuple[str, int], passive: bool) -> None:
    with _client(server, passive) as ftp:
        ftp.voidcmd("TYPE I")
        names = ftp.nlst("*")  # what FTP.EXE's "mget *" asks for
        assert names == ["MODEL.BIN", "README.TXT", "RUN.EXE"]  # files only, no SRC folder
        for name in names:
            assert _get(ftp, name) == FILES[name]
        ftp.cwd("/SRC")
        assert ftp.nlst("*.*") == ["RUN.C"]
        assert _get(ftp, "RUN.C") == FILES["SRC/RUN.C"]
        with pytest.raises(ftplib.error_perm, match="550"):
            ftp.nlst("*.XYZ")


@pytest.mark.parametrize(
    "command",
    ["STOR NEW.TXT", "APPE README.TXT", "STOU", "DELE README.TXT", "RNFR README.TXT", "MKD NEWDIR",
     "RMD SRC", "SITE CHMOD 777 RUN.EXE"],
)
def test_writes_are_refused(server: tuple[str, int], bundle: Path, command: str) -> None:
    before = {p: p.read_bytes() for p in bundle.rglob("*") if p.is_file()}
    with _client(server, passive=True) as ftp, pytest.raises(ftplib.error_perm):
        if command.split()[0] in ("STOR", "APPE", "STOU"):
            ftp.storbinary(command, io.BytesIO(b"evil"))
        else:
            ftp.sendcmd(command)
    after = {p: p.read_bytes() for p in bundle.rglob("*") if p.is_file()}
    assert after == before


@pytest.mark.parametrize("path", ["../SECRET.TXT", "/../SECRET.TXT", "SRC/../../SECRET.TXT", "/etc/passwd"])
def test_nothing_outside_the_bundle(server: tuple[str, int], path: str) -> None:
    with _client(server, passive=True) as ftp:
        with pytest.raises(ftplib.error_perm, match="550"):
            _get(ftp, path)
        ftp.cwd("..")  # at the root, ".." stays at the root
        assert ftp.pwd() == "/"


def test_symlink_out_of_the_bundle_is_refused(bundle: Path, tmp_path: Path) -> None:
    (bundle / "LINK.TXT").symlink_to(tmp_path / "SECRET.TXT")
    srv = serve.make_server(bundle, "127.0.0.1", 0)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"timeout": 0.1, "handle_exit": False}, daemon=True)
    thread.start()
    try:
        with _client(srv.address[:2], passive=True) as ftp, pytest.raises(ftplib.error_perm, match="550"):
            _get(ftp, "LINK.TXT")
    finally:
        srv.close_all()
        thread.join(timeout=5)


def test_only_anonymous(server: tuple[str, int]) -> None:
    ftp = ftplib.FTP(timeout=10)
    ftp.connect(*server)
    with pytest.raises(ftplib.error_perm, match="530"):
        ftp.login("root", "toor")
    ftp.close()


def test_binds_only_the_given_address(bundle: Path) -> None:
    srv = serve.make_server(bundle, "127.0.0.1", 0)
    try:
        assert srv.address[0] == "127.0.0.1"
    finally:
        srv.close_all()
    with pytest.raises(ConfigError, match="not an IP address"):
        serve.make_server(bundle, "localhost", 0)
    with pytest.raises(ConfigError, match="IPv4 only"):
        serve.make_server(bundle, "::1", 0)


def test_zip_bundles_are_unpacked_and_cleaned_up(tmp_path: Path) -> None:
    archive = tmp_path / "retrollama-win98.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for name, data in FILES.items():
            z.writestr(name, data)
    with serve.bundle_folder(archive) as root:
        assert (root / "SRC" / "RUN.C").read_bytes() == FILES["SRC/RUN.C"]
        kept = root
    assert not kept.exists()
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as z:
        z.writestr("../escape.txt", b"x")
    with pytest.raises(ConfigError, match="outside the bundle"), serve.bundle_folder(evil):
        pass
    with pytest.raises(ConfigError, match="no such bundle"), serve.bundle_folder(tmp_path / "none.zip"):
        pass


def test_instructions_for_windows_98(bundle: Path) -> None:
    lines = serve.instructions(bundle, "192.168.1.20", 2121)
    assert lines[:3] == [r"MD C:\RETROLLM", r"MD C:\RETROLLM\SRC", r"CD C:\RETROLLM"]
    assert lines[3:5] == ["ftp", "open 192.168.1.20 2121"]
    assert lines.index("binary") < lines.index("mget *") and "prompt" in lines and "anonymous" in lines
    assert lines[-4:] == ["cd /SRC", r"lcd C:\RETROLLM\SRC", "mget *", "quit"]
    assert "ftp 10.0.0.5" in serve.instructions(bundle, "10.0.0.5", 21)


def test_announcement_says_what_it_listens_on(bundle: Path) -> None:
    local = serve.announcement(bundle, bundle, "127.0.0.1", 2121)
    assert local[0].endswith("on 127.0.0.1:2121 only.")
    assert "the old PC cannot reach it" in local[1]
    lan = serve.announcement(bundle, bundle, "192.168.1.20", 2121)
    assert not any("cannot reach" in line for line in lan)
    assert "    open 192.168.1.20 2121" in lan and "    binary" in lan


def test_symlinks_out_of_the_bundle_are_not_listed(bundle: Path, tmp_path: Path) -> None:
    (bundle / "LINK.TXT").symlink_to(tmp_path / "SECRET.TXT")
    (tmp_path / "OUTDIR").mkdir()
    (bundle / "OUTDIR").symlink_to(tmp_path / "OUTDIR")
    (bundle / "INLINK.TXT").symlink_to(bundle / "README.TXT")  # inside: fine
    srv = serve.make_server(bundle, "127.0.0.1", 0)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"timeout": 0.1, "handle_exit": False}, daemon=True)
    thread.start()
    try:
        with _client(srv.address[:2], passive=True) as ftp:
            names = ftp.nlst()
            assert "LINK.TXT" not in names and "OUTDIR" not in names and "INLINK.TXT" in names, names
            assert "LINK.TXT" not in ftp.nlst("*")
            lines: list[str] = []
            ftp.retrlines("LIST", lines.append)
            assert not any("LINK.TXT" in line and "INLINK" not in line for line in lines), lines
            assert not any("OUTDIR" in line for line in lines), lines
    finally:
        srv.close_all()
        thread.join(timeout=5)
    text = "\n".join(serve.instructions(bundle, "192.168.1.20", 2121))
    assert "OUTDIR" not in text


def test_zip_bomb_is_refused_before_unpacking(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z, z.open("MODEL.BIN", "w") as f:
        for _ in range(300):
            f.write(bytes(1 << 20))  # 300 MB of zeros, about 300 KB deflated
    assert bomb.stat().st_size < 1 << 20
    seen_before = set(Path(serve.tempfile.gettempdir()).glob(f"{serve.TEMP_PREFIX}*"))
    with pytest.raises(ConfigError, match=r"bomb.zip: member 'MODEL.BIN' would unpack \d+ bytes into 314572800"), \
            serve.bundle_folder(bomb):
        pass
    assert set(Path(serve.tempfile.gettempdir()).glob(f"{serve.TEMP_PREFIX}*")) == seen_before


def test_zip_over_the_cap_or_the_free_space_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "b.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for name, data in FILES.items():
            z.writestr(name, data)
    with zipfile.ZipFile(archive) as z:
        size = serve.check_zip(archive, z, free_bytes=1 << 40)
        assert size == sum(len(v) for v in FILES.values())
        with pytest.raises(ConfigError, match="over the 1000 a bundle may have"):
            serve.check_zip(archive, z, free_bytes=1 << 40, cap=1000)
        with pytest.raises(ConfigError, match="bytes to unpack but 10 are free"):
            serve.check_zip(archive, z, free_bytes=10)


def test_a_member_larger_than_its_header_is_stopped(tmp_path: Path) -> None:
    archive = tmp_path / "liar.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as z:
        z.writestr("README.TXT", b"x" * 5000)
    data = bytearray(archive.read_bytes())
    # Patch the central directory's uncompressed size (offset 24 in the entry) down to 10.
    cd = data.rfind(b"PK\x01\x02")
    data[cd + 24:cd + 28] = (10).to_bytes(4, "little")
    archive.write_bytes(bytes(data))
    with pytest.raises(ConfigError, match="liar.zip: (member 'README.TXT' is larger than its header says|cannot unpack)"), \
            serve.bundle_folder(archive):
        pass


def _serve_in_child(archive: Path, tmp: Path) -> subprocess.Popen[str]:
    code = ("import sys; from pathlib import Path; from toolchain import serve; "
            "print(serve.serve(Path(sys.argv[1]), '127.0.0.1', 0, say=lambda l: print(l, flush=True)), flush=True)")
    env = {**os.environ, "TMPDIR": str(tmp)}
    return subprocess.Popen([sys.executable, "-c", code, str(archive)], stdout=subprocess.PIPE, text=True,
                            env=env, cwd=Path(serve.__file__).parents[1])


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGHUP", "SIGINT"])
def test_signals_remove_the_unpacked_copy(tmp_path: Path, sig: str) -> None:
    import signal

    archive = tmp_path / "retrollama-win98.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for name, data in FILES.items():
            z.writestr(name, data)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    proc = _serve_in_child(archive, tmp)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("Serving"), first
        assert len(list(tmp.glob(f"{serve.TEMP_PREFIX}*"))) == 1
        proc.send_signal(getattr(signal, sig))
        out, _ = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == 0
    assert out.strip().splitlines()[-1] in (f"stopped by {sig}", "stopped by Ctrl-C"), out
    assert list(tmp.iterdir()) == []


def test_a_killed_servers_folder_is_removed_by_the_next(tmp_path: Path) -> None:
    import signal

    archive = tmp_path / "retrollama-win98.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("README.TXT", b"hi\r\n")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    proc = _serve_in_child(archive, tmp)
    assert proc.stdout is not None and proc.stdout.readline().startswith("Serving")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    left = list(tmp.glob(f"{serve.TEMP_PREFIX}*"))
    assert len(left) == 1  # SIGKILL cannot be caught ...
    assert serve.remove_stale_folders(tmp) == left  # ... so the next server removes it
    assert not left[0].exists()
