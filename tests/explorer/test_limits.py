"""The explorer's request limits: a body limit enforced while streaming (chunked included) and the Host check."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time

import pytest

pytest.importorskip("fastapi")
from genlab.explorer.limits import RequestLimits, allowed_hosts  # noqa: E402
from genlab.explorer.server import MAX_UPLOAD, bind  # noqa: E402

MB = 1024 * 1024


def _call(headers, chunks, max_body=5 * MB):
    """One request through RequestLimits around an echo app; returns (status, body, bytes sent, app reached)."""
    sent = {"bytes": 0}
    it = iter(chunks)
    out = {"status": None, "body": b"", "app": False}

    async def receive():
        chunk = next(it, None)
        if chunk is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        sent["bytes"] += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message):
        if message["type"] == "http.response.start":
            out["status"] = message["status"]
        else:
            out["body"] += message.get("body", b"")

    async def app(scope, receive, send):
        out["app"] = True
        body = b""
        while True:
            m = await receive()
            body += m.get("body", b"")
            if not m.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(len(body)).encode()})

    scope = {"type": "http", "headers": [(k.encode(), v.encode()) for k, v in headers.items()]}
    asyncio.run(RequestLimits(app, max_body, allowed_hosts("127.0.0.1"))(scope, receive, send))
    return out["status"], out["body"], sent["bytes"], out["app"]


def test_a_chunked_body_is_cut_off_at_the_limit_while_streaming():
    endless = (b"x" * MB for _ in range(200))  # 200 MB, no Content-Length: chunked
    status, body, consumed, called = _call({"host": "127.0.0.1:8000", "transfer-encoding": "chunked"}, endless)
    assert status == 413 and "larger than 5 MB" in json.loads(body)["error"] and not called
    assert consumed <= 6 * MB  # read up to the limit, not the 200 MB


def test_a_body_within_the_limit_reaches_the_app_whole():
    status, body, _, called = _call({"host": "localhost:8000"}, [b"a" * MB, b"b" * MB])
    assert status == 200 and called and body == str(2 * MB).encode()


def test_a_too_large_content_length_is_refused_before_reading():
    status, body, consumed, called = _call({"host": "localhost", "content-length": str(6 * MB)}, [b"x" * MB] * 6)
    assert status == 413 and consumed == 0 and not called


@pytest.mark.parametrize(
    "host, ok",
    [
        ("127.0.0.1:8000", True),
        ("localhost:8000", True),
        ("[::1]:8000", True),
        ("localhost", True),
        ("evil.example:8000", False),
        ("", False),
        ("127.0.0.1.evil.example", False),
    ],
)
def test_host_must_be_the_loopback_address(host, ok):
    status, body, _, called = _call({"host": host} if host else {}, [])
    assert (status == 200) == ok and called == ok
    if not ok:
        assert status == 400 and "not this server's address" in json.loads(body)["error"]


def test_a_server_bound_elsewhere_takes_any_host():
    assert allowed_hosts("0.0.0.0") is None and allowed_hosts("192.168.1.5") is None
    assert "localhost" in allowed_hosts("::1") and "localhost" in allowed_hosts("localhost")


# ---------------------------------------------------------------- through the real server (genlab explore)
def _request(port, head: bytes, body_chunks=()) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
        s.sendall(head)
        try:
            for chunk in body_chunks:
                s.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed while the body was still coming: what we want
        data = b""
        while True:
            try:
                part = s.recv(65536)
            except ConnectionResetError:
                break
            if not part:
                break
            data += part
    return data


def test_genlab_explore_refuses_chunked_bodies_and_foreign_hosts(runs):
    sock = bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    sock.close()
    proc = subprocess.Popen(
        [sys.executable, "-m", "genlab", "explore", str(runs["pix2pix"]), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert "http://127.0.0.1" in proc.stdout.readline()
        chunk = b"x" * 65536
        chunks = (b"%x\r\n" % len(chunk) + chunk + b"\r\n" for _ in range(200 * MB // len(chunk)))
        t0 = time.perf_counter()
        answer = _request(
            port,
            b"POST /api/translate HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
            b"Transfer-Encoding: chunked\r\nContent-Type: multipart/form-data; boundary=b\r\n\r\n" % port,
            chunks,
        )
        assert answer.startswith(b"HTTP/1.1 413") and b"larger than" in answer
        assert time.perf_counter() - t0 < 30
        answer = _request(
            port, b"GET /api/models HTTP/1.1\r\nHost: rebind.evil.example:%d\r\nConnection: close\r\n\r\n" % port
        )
        assert answer.startswith(b"HTTP/1.1 400") and b"not this server's address" in answer
        answer = _request(port, b"GET /api/models HTTP/1.1\r\nHost: localhost:%d\r\nConnection: close\r\n\r\n" % port)
        assert answer.startswith(b"HTTP/1.1 200")
        assert MAX_UPLOAD == 5 * MB
    finally:
        proc.terminate()
        proc.wait(timeout=20)
