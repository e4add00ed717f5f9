"""The real download code against a real HTTP server on 127.0.0.1 that injects faults
(support.serve_http)."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import ssl
import time

import pytest
from support import Reply, free_port, run, serve_http

from pipeline.lib.download import ChecksumMismatch, DownloadError, download

BODY = b"PK\x03\x04" + bytes(range(256)) * 4096  # ~1 MB, looks like a zip to nobody in particular
PATH = "/online+retail.zip"
FAULTS = {
    "ok": Reply(200, BODY),
    "503": Reply(503, b"busy"),
    "500": Reply(500, b"oops"),
    "408": Reply(408, b"too slow"),
    "403": Reply(403, b"forbidden"),
    "429": Reply(429, b"slow down", {"Retry-After": "1"}),
    "404": Reply(404, b"gone"),
    "short": Reply(200, BODY[: len(BODY) // 3], length=len(BODY)),  # the connection closes early
    "reset": Reply(200, BODY[:1000], length=len(BODY), reset=True),  # then a TCP RST
    "other": Reply(200, BODY[::-1]),
}


def fetch(server, dest, **kwargs):
    return download(server.url + PATH, dest, backoff=0.01, show_progress=False, **kwargs)


@pytest.mark.parametrize("fault", ["503", "500", "408", "429", "short", "reset"])
def test_transient_fault_is_retried_and_the_file_is_whole(tmp_path, fault):
    dest = tmp_path / "online+retail.zip"
    with serve_http(FAULTS[fault], FAULTS[fault], FAULTS["ok"]) as server:
        got = fetch(server, dest)
    assert got.attempts == 3 and server.requests == [PATH] * 3
    assert dest.read_bytes() == BODY
    assert got.sha256 == hashlib.sha256(BODY).hexdigest()
    assert list(tmp_path.iterdir()) == [dest]  # no partial file left behind


def test_a_redirect_is_followed_to_the_file(tmp_path):
    dest = tmp_path / "online+retail.zip"
    moved = {PATH: Reply(302, headers={"Location": "/static/online+retail.zip"})}
    with serve_http(FAULTS["ok"], routes=moved) as server:
        got = fetch(server, dest)
    assert server.requests == [PATH, "/static/online+retail.zip"]
    assert got.attempts == 1 and dest.read_bytes() == BODY


def test_gives_up_after_bounded_attempts_and_says_how_to_supply_a_file(tmp_path):
    dest = tmp_path / "online+retail.zip"
    with serve_http(FAULTS["503"]) as server, pytest.raises(DownloadError, match="--source") as err:
        fetch(server, dest, attempts=3)
    assert server.requests == [PATH] * 3
    assert "HTTP 503" in str(err.value)
    assert not dest.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("status", ["404", "403"])
def test_client_error_is_not_retried(tmp_path, status):
    with serve_http(FAULTS[status]) as server, pytest.raises(DownloadError, match=f"HTTP {status}") as err:
        fetch(server, tmp_path / "x.zip", attempts=5)
    assert server.requests == [PATH]
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
    openssl = [shutil.which("openssl"), "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
               "-subj", "/CN=127.0.0.1", "-keyout", key, "-out", cert]  # fmt: skip
    run(openssl, env=os.environ, cwd=tmp_path, check=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with serve_http(FAULTS["ok"], tls=context) as server:
        assert server.url.startswith("https://")
        with pytest.raises(DownloadError, match="TLS error") as err:
            download(server.url + PATH, tmp_path / "x.zip", attempts=5, backoff=1.0, show_progress=False)
    assert server.connections == 1  # one connection, no second try
    assert server.requests == []  # the handshake failed before any request
    assert "CERTIFICATE_VERIFY_FAILED" in str(err.value)


def test_checksum_mismatch_keeps_the_previous_good_file(tmp_path):
    dest = tmp_path / "online+retail.zip"
    good_sha = hashlib.sha256(BODY).hexdigest()
    with serve_http(FAULTS["ok"], FAULTS["other"]) as server:
        fetch(server, dest, expected_sha256=good_sha)
        with pytest.raises(ChecksumMismatch) as err:
            fetch(server, dest, expected_sha256=good_sha)
    assert f"expected {good_sha}" in str(err.value)
    assert hashlib.sha256(BODY[::-1]).hexdigest() in str(err.value)
    assert dest.read_bytes() == BODY


def test_unreachable_host_names_the_way_out(tmp_path):
    port = free_port()  # nothing listens there
    with pytest.raises(DownloadError, match="PIPELINE_SOURCE"):
        download(f"http://127.0.0.1:{port}/x.zip", tmp_path / "x.zip", attempts=2, backoff=0.01,
                 show_progress=False)  # fmt: skip


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full here (Linux has it)")
def test_a_full_disk_is_not_retried_and_says_where(tmp_path):
    # Writes to /dev/full fail with ENOSPC, as on a full disk; the download's partial file is a
    # symlink to it (download() names it after its process).
    dest = tmp_path / "online+retail.zip"
    (tmp_path / f".{dest.name}.part-{os.getpid()}").symlink_to("/dev/full")
    with serve_http(FAULTS["ok"], FAULTS["ok"]) as server, pytest.raises(DownloadError) as err:
        fetch(server, dest)
    assert server.requests == [PATH]  # no retry: another try would fill the same disk
    assert "No space left on device" in str(err.value) and str(tmp_path) in str(err.value)
    assert not dest.exists()
