"""The real download code against a real HTTP server on 127.0.0.1 that injects faults."""

from __future__ import annotations

import hashlib
import http.server
import shutil
import socket
import ssl
import subprocess
import threading
import time
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
                    "500": lambda: self._send(500, b"oops"),
                    "408": lambda: self._send(408, b"too slow"),
                    "403": lambda: self._send(403, b"forbidden"),
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


@pytest.mark.parametrize("fault", ["503", "500", "408", "429", "short", "reset"])
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


@pytest.mark.parametrize("status", ["404", "403"])
def test_client_error_is_not_retried(tmp_path, status):
    with FaultyServer([status] * 5) as server, pytest.raises(DownloadError, match=f"HTTP {status}") as err:
        fetch(server, tmp_path / "x.zip", attempts=5)
    assert server.requests == 1
    assert "make run SOURCE=" in str(err.value) and "--source PATH" in str(err.value)
    assert list(tmp_path.iterdir()) == []


UNRESOLVABLE = "online-retail-pipeline-test.invalid"  # RFC 2606: .invalid never resolves


def test_host_that_does_not_resolve_fails_at_once(tmp_path):
    try:
        socket.getaddrinfo(UNRESOLVABLE, 80)
    except socket.gaierror:
        pass
    else:
        pytest.skip(f"this machine's resolver answers for {UNRESOLVABLE} (a DNS that hijacks NXDOMAIN)")
    started = time.monotonic()
    # With a 1 s backoff, five tries would wait 1 + 2 + 4 + 8 = 15 s between them.
    with pytest.raises(DownloadError, match="cannot resolve the host name") as err:
        download(f"http://{UNRESOLVABLE}/x.zip", tmp_path / "x.zip", attempts=5, backoff=1.0,
                 show_progress=False)  # fmt: skip
    assert time.monotonic() - started < 1.0
    assert UNRESOLVABLE in str(err.value)
    assert "make run SOURCE=" in str(err.value) and "--source PATH" in str(err.value)


@pytest.mark.skipif(
    shutil.which("openssl") is None, reason="openssl is needed to make a self-signed certificate"
)
def test_certificate_that_does_not_verify_is_not_retried(tmp_path):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    with FaultyServer([]) as server:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        handshakes = []
        plain_get_request = server.httpd.get_request

        def get_request():
            sock, addr = plain_get_request()
            handshakes.append(addr)
            return context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

        server.httpd.get_request = get_request
        url = server.url.replace("http://", "https://")
        with pytest.raises(DownloadError, match="TLS error") as err:
            download(url, tmp_path / "x.zip", attempts=5, backoff=1.0, show_progress=False)
    assert len(handshakes) == 1  # one connection, no second try
    assert "CERTIFICATE_VERIFY_FAILED" in str(err.value)


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
