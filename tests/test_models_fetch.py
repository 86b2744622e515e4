"""Fetching into the cache, against a local HTTP server on 127.0.0.1.

The server can honour or ignore Range and cut a transfer short, which is
what resuming, restarting and "never leave a bad file" are about.
"""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from toolchain.errors import ModelError
from toolchain.models import fetch
from toolchain.models.registry import Entry

PAYLOAD = bytes((i * 7 + i // 251) % 256 for i in range(300_000))


class _Server:
    """What the handler does; tests change these between requests."""

    def __init__(self) -> None:
        self.payload = PAYLOAD
        self.honour_range = True
        self.cut_after: int | None = None  # bytes of body to send before hanging up
        self.ranges: list[str | None] = []


def _handler(state: _Server) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep pytest output clean
            pass

        def do_GET(self) -> None:
            if self.path != "/model.bin":
                self.send_error(404)
                return
            rng = self.headers.get("Range")
            state.ranges.append(rng)
            data, start = state.payload, 0
            if rng and state.honour_range:
                start = int(rng.removeprefix("bytes=").rstrip("-"))
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            body = data[start:]
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if state.cut_after is not None:
                body = body[: state.cut_after]
            self.wfile.write(body)

    return Handler


@pytest.fixture
def server() -> Iterator[tuple[_Server, str]]:
    state = _Server()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def _entry(url: str, data: bytes = PAYLOAD, **kw: object) -> Entry:
    fields = dict(name="m", kind="tokenizer", file="model.bin", url=url + "/model.bin",
                  size=len(data), sha256=hashlib.sha256(data).hexdigest())
    fields.update(kw)
    return Entry(**fields)  # type: ignore[arg-type]


def test_fetch_downloads_and_verifies(server: tuple[_Server, str], tmp_path: Path) -> None:
    state, url = server
    path = fetch.fetch(_entry(url), tmp_path, progress=False)
    assert path == tmp_path / "model.bin"
    assert path.read_bytes() == PAYLOAD
    assert not (tmp_path / "model.bin.part").exists()
    fetch.fetch(_entry(url), tmp_path, progress=False)  # a verified cache hit: no request
    assert state.ranges == [None]


def test_interrupted_download_resumes_with_range(server: tuple[_Server, str], tmp_path: Path) -> None:
    state, url = server
    state.cut_after = 100_000
    with pytest.raises(ModelError) as exc:
        fetch.fetch(_entry(url), tmp_path, progress=False)
    message = str(exc.value)
    assert "\n" not in message and "by hand" in message and str(tmp_path / "model.bin") in message
    part = tmp_path / "model.bin.part"
    assert part.stat().st_size == 100_000
    assert not (tmp_path / "model.bin").exists()  # nothing half-done under the real name
    state.cut_after = None
    path = fetch.fetch(_entry(url), tmp_path, progress=False)
    assert state.ranges[-1] == "bytes=100000-"
    assert path.read_bytes() == PAYLOAD and not part.exists()


def test_server_ignoring_range_restarts_cleanly(server: tuple[_Server, str], tmp_path: Path) -> None:
    state, url = server
    state.honour_range = False
    (tmp_path / "model.bin.part").write_bytes(PAYLOAD[:5000])
    path = fetch.fetch(_entry(url), tmp_path, progress=False)
    assert state.ranges == ["bytes=5000-"]
    assert path.read_bytes() == PAYLOAD


def test_bad_part_is_retried_from_zero_once(server: tuple[_Server, str], tmp_path: Path) -> None:
    state, url = server
    (tmp_path / "model.bin.part").write_bytes(b"\xff" * 5000)  # garbage from an earlier try
    path = fetch.fetch(_entry(url), tmp_path, progress=False)
    assert state.ranges == ["bytes=5000-", None]
    assert path.read_bytes() == PAYLOAD


def test_bad_hash_leaves_nothing_behind(server: tuple[_Server, str], tmp_path: Path) -> None:
    _, url = server
    entry = _entry(url, sha256="0" * 64)
    with pytest.raises(ModelError, match=r"has sha256 [0-9a-f]{64}, expected 0{64}; the download was deleted"):
        fetch.fetch(entry, tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_wrong_cached_file_is_replaced(server: tuple[_Server, str], tmp_path: Path) -> None:
    _, url = server
    (tmp_path / "model.bin").write_bytes(b"not the model")
    path = fetch.fetch(_entry(url), tmp_path, progress=False)
    assert path.read_bytes() == PAYLOAD


def test_http_error_names_the_url_and_the_manual_route(server: tuple[_Server, str], tmp_path: Path) -> None:
    _, url = server
    entry = _entry(url).model_copy(update={"url": url + "/gone.bin"})
    with pytest.raises(ModelError, match=r"gone.bin: HTTP 404 .*by hand and put it at "):
        fetch.fetch(entry, tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_offline_is_one_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ModelError) as exc:
        fetch.fetch(_entry(f"http://127.0.0.1:{port}"), tmp_path, progress=False, timeout=5)
    message = str(exc.value)
    assert "offline?" in message and "by hand" in message and "\n" not in message
    assert not (tmp_path / "model.bin").exists()


def test_unknown_digest_is_reported_as_unverified(server: tuple[_Server, str], tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    _, url = server
    path = fetch.fetch(_entry(url, sha256=None, size=None), tmp_path, progress=False)
    assert path.read_bytes() == PAYLOAD
    assert "unverified" in capsys.readouterr().err
