"""Request limits of the explorer, as one ASGI middleware around the app.

- The body limit is enforced while the body streams in, whatever its framing: a request that
  announces too large a ``Content-Length`` is refused before a byte is read, and any other (chunked)
  is read chunk by chunk and refused as soon as it passes the limit, so at most ``max_body`` bytes
  are ever held and nothing too large reaches the app's parsers.
- The ``Host`` header must name the address the server is bound to, or localhost, when it is bound
  to a loopback address: a web page elsewhere cannot reach the local server by DNS rebinding
  (a name of its own that resolves to 127.0.0.1). Bound to another address, any Host is served.

Each refusal is a JSON ``{"error": one line}`` with status 413 or 400, as the app's own errors.
"""

from __future__ import annotations

import ipaddress
import json

LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}


def allowed_hosts(bound: str) -> set[str] | None:
    """The Host names to accept for a server bound to ``bound`` (None: any, for a non-loopback bind)."""
    name = bound.strip("[]").lower()
    try:
        loopback = ipaddress.ip_address(name).is_loopback
    except ValueError:
        loopback = name == "localhost"
    return LOOPBACK_NAMES | {name} if loopback else None


def _host_name(value: str) -> str:
    """'example.com:8000' -> 'example.com', '[::1]:8000' -> '::1'."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class RequestLimits:
    """ASGI middleware: at most ``max_body`` bytes of body per request; Host checked against ``hosts``."""

    def __init__(self, app, max_body: int, hosts: set[str] | None = None):
        self.app, self.max_body, self.hosts = app, max_body, hosts

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if self.hosts is not None and _host_name(headers.get("host", "")) not in self.hosts:
            return await _refuse(
                send,
                400,
                f"host '{headers.get('host', '')}' is not this server's address; "
                "open the page at http://127.0.0.1 or http://localhost",
            )
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            return await _refuse(send, 413, self._too_large())
        body = bytearray()  # read here, counted chunk by chunk, so no framing can get past the limit
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > self.max_body:
                return await _refuse(send, 413, self._too_large())
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app(scope, replay, send)

    def _too_large(self) -> str:
        return f"request body larger than {self.max_body // (1024 * 1024)} MB; send a smaller image"


async def _refuse(send, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
