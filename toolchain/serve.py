"""An FTP server that hands a bundle to the old PC: anonymous and read-only.

Windows 9x ships ``FTP.EXE``, which speaks only active mode (the server
connects back for every transfer, ``PORT``) and starts in ASCII mode, which
corrupts RUN.EXE and the model unless ``binary`` is typed first
(docs/platform.md §9).  So the server takes both active and passive
transfers, allows nothing but change-dir, list and retrieve (``elr``), is
confined to the bundle folder, and prints the exact commands to type.

It listens on one address only -- ``127.0.0.1`` unless told otherwise -- so
that nothing is exposed to a network by accident: to reach the old PC, give
``--bind`` this machine's address on the network the old PC is on.

The served folder never shows what is not inside it: a symlink whose
target lies outside the bundle is left out of ``LIST``/``NLST`` and of the
printed instructions (pyftpdlib already refuses to send it).  A zip is
checked before it is unpacked -- declared sizes against a cap and the free
space, and a compression ratio no real bundle has (a "zip bomb") -- and
unpacked into a temporary folder that is removed on Ctrl-C, SIGTERM and
SIGHUP; one left by a killed (SIGKILL) server is removed by the next one.

pyftpdlib does not expand wildcards in ``NLST``, but ``mget *`` in the
Windows client sends ``NLST *`` and relies on the server to match; the
handler here matches the last path component (case-insensitively, as DOS
users type ``*.*``) so that ``mget *`` really fetches the files.
"""

from __future__ import annotations

import contextlib
import fnmatch
import ipaddress
import os
import shutil
import signal
import socket
import tempfile
import threading
import warnings
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType

with warnings.catch_warnings():
    # On Python 3.11 pyftpdlib imports the deprecated asyncore/asynchat.
    warnings.simplefilter("ignore", DeprecationWarning)
    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.filesystems import AbstractedFS
    from pyftpdlib.handlers import FTPHandler
    from pyftpdlib.servers import FTPServer

from toolchain.errors import ConfigError

DEFAULT_BIND = "127.0.0.1"
DEFAULT_PORT = 2121  # 21 needs root on Linux; FTP.EXE reaches any port with "open ADDR PORT"
MAX_CONNECTIONS = 8
LOCAL_DIR = r"C:\RETROLLM"
_WILDCARDS = "*?["
MAX_UNPACKED = 2 << 30  # 2 GB: more than any bundle (a 110M fp32 model is 438 MB)
MAX_RATIO = 200  # deflate on model weights gives ~1.1x, on text ~5x; zeros give ~1000x
RATIO_MIN_BYTES = 1 << 20  # small files may compress well; the ratio matters for big ones
TEMP_PREFIX = "retrollama-serve-"


def inside(root: Path, path: Path) -> bool:
    """True when ``path``, symlinks resolved, is ``root`` or below it."""
    try:
        Path(os.path.realpath(path)).relative_to(os.path.realpath(root))
    except ValueError:
        return False
    return True


class BundleFS(AbstractedFS):
    """The file system view: listings leave out anything that resolves outside the root."""

    def listdir(self, path: str) -> list[str]:
        names = super().listdir(path)
        return [n for n in names if inside(Path(self.root), Path(path) / n)]

    def listdirinfo(self, path: str) -> list[str]:
        return self.listdir(path)


class BundleHandler(FTPHandler):
    """FTPHandler with wildcard NLST (for ``mget *``) and safe defaults."""

    banner = "retrollama bundle server (read-only). Type 'binary' before any get."
    permit_foreign_addresses = False  # active mode connects back only to the client's own IP
    permit_privileged_ports = False
    use_sendfile = False  # docs/libraries.md: safer on unusual file systems
    timeout = 600

    def ftp_NLST(self, path: str) -> str | None:  # pyftpdlib's signature
        head, pattern = os.path.split(path)
        if not any(ch in pattern for ch in _WILDCARDS) or self.fs.lexists(path):
            return super().ftp_NLST(path)
        try:
            names = self.run_as_current_user(self.fs.listdir, head)
        except OSError as err:
            self.respond(f"550 {err.strerror or err}.")
            return None
        wanted = pattern.upper()
        matches = sorted(
            n for n in names if fnmatch.fnmatchcase(n.upper(), wanted) and self.fs.isfile(os.path.join(head, n))
        )
        if not matches:
            self.respond("550 No files found.")
            return None
        self.push_dtp_data(("\r\n".join(matches) + "\r\n").encode(self.encoding), cmd="NLST")
        return path


def check_bind(address: str) -> str:
    """An IPv4 literal (FTP.EXE is IPv4-only); ConfigError otherwise."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise ConfigError(f"--bind {address!r}: not an IP address (give this PC's IPv4 address)") from None
    if ip.version != 4:
        raise ConfigError(f"--bind {address}: Windows 9x FTP.EXE speaks IPv4 only")
    return address


def make_server(root: Path, bind: str = DEFAULT_BIND, port: int = DEFAULT_PORT) -> FTPServer:
    """A server for ``root``, not yet serving: anonymous, ``elr`` only, on ``bind:port``.

    ``port`` 0 picks a free port (tests read it from ``server.address``).
    """
    check_bind(bind)
    if not 0 <= port <= 65535:
        raise ConfigError(f"--port {port}: must be 1-65535")
    root = root.resolve()
    if not root.is_dir():
        raise ConfigError(f"{root}: not a folder to serve")
    authorizer = DummyAuthorizer()
    authorizer.add_anonymous(str(root), perm="elr")
    handler = type("Handler", (BundleHandler,), {"authorizer": authorizer, "abstracted_fs": BundleFS})
    try:
        server = FTPServer((bind, port), handler)
    except OSError as exc:
        hint = " (ports below 1024 need root; try --port 2121)" if port and port < 1024 else ""
        raise ConfigError(f"cannot listen on {bind}:{port}: {exc.strerror or exc}{hint}") from None
    server.max_cons = MAX_CONNECTIONS
    server.max_cons_per_ip = MAX_CONNECTIONS
    return server


def check_zip(source: Path, archive: zipfile.ZipFile, free_bytes: int, cap: int = MAX_UNPACKED) -> int:
    """Refuse a zip before unpacking it; return its declared unpacked size."""
    total = 0
    for info in archive.infolist():
        name = Path(info.filename)
        if name.is_absolute() or ".." in name.parts or "\\" in info.filename:
            raise ConfigError(f"{source}: refusing member {info.filename!r} outside the bundle")
        if (info.file_size >= RATIO_MIN_BYTES
                and info.file_size > MAX_RATIO * max(info.compress_size, 1)):
            raise ConfigError(
                f"{source}: member {info.filename!r} would unpack {info.compress_size} bytes into "
                f"{info.file_size} (over {MAX_RATIO}x): not a bundle retrollama made"
            )
        total += info.file_size
    if total > cap:
        raise ConfigError(f"{source}: would unpack to {total} bytes, over the {cap} a bundle may have")
    if total > free_bytes:
        raise ConfigError(f"{source}: needs {total} bytes to unpack but {free_bytes} are free in {tempfile.gettempdir()}")
    return total


def _extract(archive: zipfile.ZipFile, dest: Path, source: Path) -> None:
    """Unpack member by member, never writing more than each member declares."""
    for info in archive.infolist():
        target = dest / info.filename
        if info.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        written = 0
        with archive.open(info) as src, target.open("wb") as dst:
            for chunk in iter(lambda: src.read(1 << 20), b""):
                written += len(chunk)
                if written > info.file_size:
                    raise ConfigError(f"{source}: member {info.filename!r} is larger than its header says")
                dst.write(chunk)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_folders(tmp: Path | None = None) -> list[Path]:
    """Remove unpacked bundles of servers that were killed (SIGKILL cannot be caught)."""
    removed = []
    for folder in Path(tmp or tempfile.gettempdir()).glob(f"{TEMP_PREFIX}*-*"):
        pid_text = folder.name[len(TEMP_PREFIX):].split("-", 1)[0]
        if folder.is_dir() and pid_text.isdigit() and not _pid_alive(int(pid_text)):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


@contextlib.contextmanager
def bundle_folder(source: Path) -> Iterator[Path]:
    """The folder to serve: ``source`` itself, or a zip unpacked to a temporary folder."""
    if source.is_dir():
        yield source
        return
    if not source.is_file():
        raise ConfigError(f"{source}: no such bundle folder or zip (run 'invoke build' first?)")
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ConfigError(f"{source}: not a readable zip: {exc}") from None
    remove_stale_folders()
    with archive, tempfile.TemporaryDirectory(prefix=f"{TEMP_PREFIX}{os.getpid()}-") as tmp:
        check_zip(source, archive, shutil.disk_usage(tmp).free)
        try:
            _extract(archive, Path(tmp), source)
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise ConfigError(f"{source}: cannot unpack: {exc}") from None
        yield Path(tmp)


class _Stop(Exception):
    """Raised by the signal handler so that every ``finally`` and ``with`` runs."""


@contextlib.contextmanager
def _signals_stop() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into a clean stop, as Ctrl-C already is."""
    def handler(signum: int, frame: FrameType | None) -> None:
        raise _Stop(signal.Signals(signum).name)

    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers; a caller's thread stops its own way
        return
    wanted = [signal.SIGTERM, signal.SIGHUP]
    old = {sig: signal.signal(sig, handler) for sig in wanted}
    try:
        yield
    finally:
        for sig, previous in old.items():
            signal.signal(sig, previous)


def local_addresses() -> list[str]:
    """This machine's non-loopback IPv4 addresses, as far as the resolver knows (best effort)."""
    found: set[str] = set()
    with contextlib.suppress(OSError):
        for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            found.add(str(info[4][0]))
    return sorted(a for a in found if not a.startswith("127."))


def instructions(root: Path, address: str, port: int) -> list[str]:
    """The lines to type on the Windows 98 PC, from an MS-DOS Prompt.

    Local folders are made first (DOS ``MD``), then each remote folder is
    fetched with ``mget *`` after ``cd``/``lcd`` into it, since FTP.EXE does
    not recurse.
    """
    folders = sorted(p.relative_to(root) for p in root.rglob("*") if p.is_dir() and inside(root, p))
    lines = [f"MD {LOCAL_DIR}"] + [f"MD {LOCAL_DIR}\\{str(d).replace('/', chr(92))}" for d in folders]
    lines.append(f"CD {LOCAL_DIR}")
    if port == 21:
        lines.append(f"ftp {address}")
    else:
        lines += ["ftp", f"open {address} {port}"]
    lines += ["anonymous", "(password: just press Enter)", "binary", "prompt", "mget *"]
    for d in folders:
        posix, dos = d.as_posix(), str(d).replace("/", "\\")
        lines += [f"cd /{posix}", f"lcd {LOCAL_DIR}\\{dos}", "mget *"]
    lines.append("quit")
    return lines


def announcement(source: Path, root: Path, host: str, port: int) -> list[str]:
    """What ``serve`` prints: where it listens, who can reach it, what to type on the old PC."""
    lines = [f"Serving {source} read-only (anonymous FTP) on {host}:{port} only."]
    if host.startswith("127."):
        others = ", ".join(local_addresses()) or "your LAN address"
        lines.append(f"{host} is this PC alone: the old PC cannot reach it. Use --bind ADDR ({others}).")
    elif host == "0.0.0.0":
        lines.append("0.0.0.0: listening on EVERY network interface of this PC.")
    shown = host if host != "0.0.0.0" else (local_addresses() or ["THIS-PC"])[0]
    lines.append("On the Windows 98 PC, open an MS-DOS Prompt and type:")
    lines += [f"    {line}" for line in instructions(root, shown, port)]
    lines.append(f"This PC's firewall must let TCP port {port} in. Ctrl-C stops the server.")
    return lines


def serve(
    source: Path, bind: str = DEFAULT_BIND, port: int = DEFAULT_PORT, say: Callable[[str], object] = print
) -> str:
    """Serve a bundle folder or zip until Ctrl-C, SIGTERM or SIGHUP, after printing what to type.

    Returns why it stopped; the unpacked copy of a zip is gone by then.
    """
    check_bind(bind)
    why = "stopped"
    with _signals_stop():
        try:
            with bundle_folder(source) as root:
                server = make_server(root, bind, port)
                host, real_port = server.address[:2]
                try:
                    for line in announcement(source, root, host, real_port):
                        say(line)
                    server.serve_forever(timeout=0.5, blocking=True, handle_exit=False)
                finally:
                    server.close_all()
        except _Stop as stop:
            why = f"stopped by {stop}"
        except KeyboardInterrupt:
            why = "stopped by Ctrl-C"
    return why
