"""The real download code against a real HTTP server on 127.0.0.1 that injects faults."""

from __future__ import annotations

import hashlib
import http.server
import socket
import threading
from collections.abc import Callable

import pytest

from pipeline.lib.download import ChecksumMismatch, DownloadError, download

BODY = b"PK\x03\x04" + bytes(range(256)) * 4096  # ~1 MB, looks like a zip to nobody in particular


class FaultyServer:
    """Serves BODY; each request pops the next fault from a script ('ok' once the script is empty)."""

    def __init__(self, faults: list[str]):
        self.faults = list(faults)
        self.requests = 0
        handler = self._handler()
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/online+retail.zip"

    def _handler(self) -> type:
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):  # noqa: N802 - http.server's naming
                server.requests += 1
                fault = server.faults.pop(0) if server.faults else "ok"
                actions: dict[str, Callable[[], None]] = {
                    "ok": lambda: self._send(200, BODY),
                    "503": lambda: self._send(503, b"busy"),
                    "429": lambda: self._send(429, b"slow down", {"Retry-After": "1"}),
                    "404": lambda: self._send(404, b"gone"),
                    "short": lambda: self._send(200, BODY[: len(BODY) // 3], length=len(BODY)),
                    "reset": self._reset,
                    "other": lambda: self._send(200, BODY[::-1]),
                }
                actions[fault]()

            def _send(self, status, body, headers=None, length=None):
                self.send_response(status)
                self.send_header("Content-Length", str(length or len(body)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)
                self.wfile.flush()
                if length and length != len(body):
                    self.close_connection = True

            def _reset(self):
                self.send_response(200)
                self.send_header("Content-Length", str(len(BODY)))
                self.end_headers()
                self.wfile.write(BODY[:1000])
                self.wfile.flush()
                # SO_LINGER 0: the kernel sends RST instead of FIN.
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                )
                self.connection.close()

        return Handler

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def fetch(server, dest, **kwargs):
    return download(server.url, dest, backoff=0.01, show_progress=False, **kwargs)


@pytest.mark.parametrize("fault", ["503", "429", "short", "reset"])
def test_transient_fault_is_retried_and_the_file_is_whole(tmp_path, fault):
    dest = tmp_path / "online+retail.zip"
    with FaultyServer([fault, fault]) as server:
        got = fetch(server, dest)
    assert got.attempts == 3 and server.requests == 3
    assert dest.read_bytes() == BODY
    assert got.sha256 == hashlib.sha256(BODY).hexdigest()
    assert list(tmp_path.iterdir()) == [dest]  # no partial file left behind


def test_gives_up_after_bounded_attempts_and_says_how_to_supply_a_file(tmp_path):
    dest = tmp_path / "online+retail.zip"
    with FaultyServer(["503"] * 10) as server, pytest.raises(DownloadError, match="--source") as err:
        fetch(server, dest, attempts=3)
    assert server.requests == 3
    assert "HTTP 503" in str(err.value)
    assert not dest.exists() and list(tmp_path.iterdir()) == []


def test_client_error_is_not_retried(tmp_path):
    with FaultyServer(["404"]) as server, pytest.raises(DownloadError, match="HTTP 404"):
        fetch(server, tmp_path / "x.zip")
    assert server.requests == 1


def test_checksum_mismatch_keeps_the_previous_good_file(tmp_path):
    dest = tmp_path / "online+retail.zip"
    good_sha = hashlib.sha256(BODY).hexdigest()
    with FaultyServer(["ok", "other"]) as server:
        fetch(server, dest, expected_sha256=good_sha)
        with pytest.raises(ChecksumMismatch) as err:
            fetch(server, dest, expected_sha256=good_sha)
    assert f"expected {good_sha}" in str(err.value)
    assert hashlib.sha256(BODY[::-1]).hexdigest() in str(err.value)
    assert dest.read_bytes() == BODY


def test_unreachable_host_names_the_way_out(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again below: nothing listens there
    with pytest.raises(DownloadError, match="PIPELINE_SOURCE"):
        download(f"http://127.0.0.1:{port}/x.zip", tmp_path / "x.zip", attempts=2, backoff=0.01,
                 show_progress=False)  # fmt: skip
