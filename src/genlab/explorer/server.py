"""The explorer's server: trained runs behind a small JSON/PNG API, and the one page that drives it.

It loads models once and never trains. ``create_app`` loads the runs (:mod:`.runs`), includes the
API's routers (:mod:`.routes`) and serves the page (index.html: inline JS and CSS, nothing fetched
from elsewhere). A bad request gets a 4xx answer ``{"error": "<one line>"}`` that the page shows,
never a crash. Images come back at the model's size; the page enlarges them with CSS
(``image-rendering: pixelated``), not the server.
"""

from __future__ import annotations

import errno
import socket
from pathlib import Path

import torch
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.exceptions import HTTPException

from ..errors import GenlabError
from .limits import RequestLimits, allowed_hosts
from .routes import MAX_UPLOAD, latent, png_bytes, translation
from .runs import Z_LIMIT, Run, Runs, run_names
from .voice import voice

SERVE_THREADS = 1  # torch intra-op threads while serving (see serve)
PAGE = Path(__file__).with_name("index.html")


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "form")]
        where = loc[0] + "".join(f"[{p}]" for p in loc[1:]) if loc else "request"
        parts.append(f"{where}: {err.get('msg', 'invalid value')}")
    return "invalid request: " + "; ".join(parts)


def load_runs(runs, device: str = "cpu") -> Runs:
    """Run folders (or models already loaded with ``genlab.load``) as the explorer's :class:`Runs`."""
    from ..training import load

    runs = list(runs)
    if not runs:
        raise GenlabError("genlab explore needs at least one run directory")
    models = [r if isinstance(r, torch.nn.Module) else load(r, device=device) for r in runs]
    paths = [str((getattr(m, "meta", None) or {}).get("run") or f"run{i}") for i, m in enumerate(models)]
    return Runs([Run(i, name, m) for i, (name, m) in enumerate(zip(run_names(paths), models))])


def create_app(runs, device: str = "cpu") -> FastAPI:
    """The explorer's FastAPI app over ``runs``: run folders, or models already loaded with ``genlab.load``."""
    app = FastAPI(title="genlab explore", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.runs = load_runs(runs, device)
    app.include_router(latent)
    app.include_router(translation)
    app.include_router(voice)
    app.add_exception_handler(RequestValidationError, lambda request, exc: _error(422, _validation_message(exc)))
    app.add_exception_handler(GenlabError, lambda request, exc: _error(400, str(exc)))
    app.add_exception_handler(HTTPException, lambda request, exc: _error(exc.status_code, str(exc.detail)))
    # a bug, not the user's fault: answer it, keep serving
    app.add_exception_handler(
        Exception,
        lambda request, exc: _error(500, f"internal error ({exc.__class__.__name__}: {exc}); the server keeps running"),
    )
    app.middleware("http")(_limit_size)
    app.get("/", response_class=HTMLResponse)(page)
    return app


async def _limit_size(request: Request, call_next):
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_UPLOAD + 65536):
        return _error(
            413, f"request too large ({length} bytes); uploads are limited to {MAX_UPLOAD // (1024 * 1024)} MB"
        )
    return await call_next(request)


def page():
    return HTMLResponse(PAGE.read_text(encoding="utf-8"), headers={"Cache-Control": "no-store"})


# ---------------------------------------------------------------- serving
def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port, or a GenlabError naming the port when it is taken."""
    if not 0 <= port < 65536:
        raise GenlabError(f"--port must be in 0..65535 (0: any free port), got {port}")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise GenlabError(
            f"cannot resolve --host '{host}' ({e.strerror}); use 127.0.0.1 or an address of this machine"
        ) from None
    family, kind, proto, _, address = infos[0]
    # proto IPPROTO_TCP, not 0: asyncio turns Nagle off (TCP_NODELAY) only on sockets that say TCP, and
    # with Nagle on, every small response waited ~40 ms for the client's delayed ACK
    sock = socket.socket(family, kind, proto or socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind(address)
        sock.listen(128)
    except OSError as e:
        sock.close()
        if e.errno == errno.EADDRINUSE:
            raise GenlabError(
                f"port {port} on {host} is already in use; choose another with --port (e.g. --port {port + 1})"
            ) from None
        raise GenlabError(f"cannot listen on {host}:{port} ({e.strerror}); choose another --host or --port") from None
    return sock


def serve(runs, host: str = "127.0.0.1", port: int = 8000, device: str = "cpu", quiet: bool = False) -> None:
    """Load ``runs`` and serve the explorer at http://host:port/ until interrupted.

    Torch runs on one intra-op thread: a request decodes one image, where extra threads only add
    wake-up latency (on a busy 2-core machine a tiny decoder took 21 ms with 2 threads, 0.2 ms with
    one); concurrent requests (AE and VAE panels) still run in parallel on the server's thread pool.
    """
    import uvicorn

    sock = bind(host, port)  # the port first: a taken one fails before minutes of loading
    torch.set_num_threads(SERVE_THREADS)
    try:
        app = create_app(runs, device=device)
        url_host = f"[{host}]" if ":" in host else host
        if not quiet:
            print(
                f"genlab explore: {len(app.state.runs)} run(s) at http://{url_host}:{sock.getsockname()[1]}/ "
                "(Ctrl+C stops)",
                flush=True,
            )
            if host not in ("127.0.0.1", "localhost", "::1"):
                print(f"note: bound to {host}: other machines on the network can reach this page", flush=True)
        limited = RequestLimits(app, MAX_UPLOAD + 65536, allowed_hosts(host))  # body read while streaming; Host checked
        server = uvicorn.Server(uvicorn.Config(limited, log_level="warning", access_log=False))
        server.run(sockets=[sock])
    finally:
        sock.close()


__all__ = ["MAX_UPLOAD", "Z_LIMIT", "bind", "create_app", "png_bytes", "serve"]
