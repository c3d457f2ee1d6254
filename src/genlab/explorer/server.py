"""The explorer's server: trained runs behind a small JSON/PNG API, and the one page that drives it.

It loads models once and never trains. Every request is validated (pydantic bounds, then the run's
own sizes); a bad one gets a 4xx answer ``{"error": "<one line>"}`` that the page shows, never a
crash. Endpoints:

    GET  /                 the page (index.html: inline JS and CSS, nothing fetched from elsewhere)
    GET  /api/models       the runs (family, latent size, classes, test-set size, directions) and the
                           groups of runs that share one set of controls (AE and VAE of equal latent size)
    POST /api/decode       {run, z, label?} -> image/png; z in slider units (below)
    POST /api/decode-batch {items: [{run, z, label?}, ...]} -> {images: [PNG data URLs]}: one round
                           trip for all the panels of a group (what the page's sliders use)
    POST /api/sample       {run, seed} -> {z}: a draw of the prior, in slider units
    POST /api/encode       {run, index} -> {z, image, clipped}: the code of test image ``index``
    POST /api/interpolate  {run, source, a, b, seed, steps, method, label?} -> {images, method}
    POST /api/translate    multipart: run, direction, and index (a test image) or file (an upload)
                           -> {input, output, cycle?, target?, notes}

Slider units are the prior's: a VAE's or a GAN's z itself (N(0, I)); an AE has no prior, so its
value v stands for z = mean + v * std of the Gaussian fitted to its training codes (as in
``genlab traverse``), which puts AE and VAE on one scale when they share the sliders. Values are
bounded to [-Z_LIMIT, Z_LIMIT]. Images come back at the model's size; the page enlarges them
with CSS (``image-rendering: pixelated``), not the server.
"""

from __future__ import annotations

import base64
import errno
import io
import socket
import time
from pathlib import Path
from typing import Annotated, Literal

import torch
from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from ..data.base import ImageData, to_float
from ..errors import GenlabError
from ..viz.grid import to_pil

Z_LIMIT = 4.0  # slider values lie in [-Z_LIMIT, Z_LIMIT] (prior units)
MAX_SLIDERS = {"ae": 64, "vae": 64, "gan": 16, "cgan": 16}  # sliders over the first dimensions
MAX_UPLOAD = 5 * 1024 * 1024  # bytes of one uploaded image
MAX_STEPS = 16  # interpolation frames
MAX_BATCH = 8  # codes per /api/decode-batch request
MAX_SEED = 2**31 - 1
SERVE_THREADS = 1  # torch intra-op threads while serving (see serve)
LATENT_FAMILIES = ("ae", "vae", "gan", "cgan")
TRANSLATION_FAMILIES = ("pix2pix", "cyclegan")
PAGE = Path(__file__).with_name("index.html")

Value = Annotated[float, Field(ge=-Z_LIMIT, le=Z_LIMIT)]
RunId = Annotated[int, Field(ge=0, le=1000)]
Seed = Annotated[int, Field(ge=0, le=MAX_SEED)]


# ---------------------------------------------------------------- requests
class DecodeRequest(BaseModel):
    run: RunId
    z: list[Value] = Field(max_length=4096)
    label: Annotated[int, Field(ge=0)] | None = None


class DecodeBatchRequest(BaseModel):
    items: list[DecodeRequest] = Field(min_length=1, max_length=MAX_BATCH)


class SampleRequest(BaseModel):
    run: RunId
    seed: Seed = 0


class EncodeRequest(BaseModel):
    run: RunId
    index: Annotated[int, Field(ge=0)]


class InterpolateRequest(BaseModel):
    run: RunId
    source: Literal["images", "prior"] = "images"
    a: Annotated[int, Field(ge=0)] = 0  # test indices of the endpoints (source 'images')
    b: Annotated[int, Field(ge=0)] = 1
    seed: Seed = 0  # the two endpoints' draw (source 'prior')
    steps: Annotated[int, Field(ge=2, le=MAX_STEPS)] = 8
    method: Literal["auto", "linear", "slerp"] = "auto"
    label: Annotated[int, Field(ge=0)] | None = None


# ---------------------------------------------------------------- runs
class Run:
    """One loaded model, its test images, and the map between slider values and its latent codes."""

    def __init__(self, ident: int, name: str, model):
        self.id, self.name, self.model = ident, name, model
        self.family = model.family
        meta = getattr(model, "meta", None) or {}
        self.data_name = meta.get("data")
        self.path = meta.get("run")
        cfg = model.config
        self.latent_dim = int(cfg.latent_dim) if self.family in LATENT_FAMILIES else 0
        self.num_classes = int(getattr(cfg, "num_classes", 0) or 0) if self.family == "cgan" else 0
        classes = meta.get("classes")
        self.classes = ([str(c) for c in classes] if classes and len(classes) == self.num_classes
                        else [str(i) for i in range(self.num_classes)])
        self.center, self.scale = self._units()
        self.test, self.test_note = self._test_data()

    def _units(self) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """AE: z = center + v * scale (its fitted Gaussian's mean and per-dimension std); others: z = v."""
        m = self.model
        if self.family != "ae" or getattr(m.config, "prior", "fitted") != "fitted":
            return None, None
        std = m.latent_chol.detach().float().cpu().pow(2).sum(1).sqrt().clamp_min(1e-6)  # sqrt(diag(L L^T))
        return m.latent_mean.detach().float().cpu(), std

    def _test_data(self) -> tuple[ImageData | None, str]:
        if not self.data_name:
            return None, "no dataset recorded for this run"
        try:
            from ..viz.traverse import test_data

            if self.family in TRANSLATION_FAMILIES:
                from ..data import load_run_data

                return load_run_data(self.model.meta, "test"), ""
            return test_data(self.model), ""
        except GenlabError as e:
            return None, str(e)

    # ---- slider units
    def to_code(self, v: torch.Tensor) -> torch.Tensor:
        return v if self.center is None else self.center + v * self.scale

    def to_values(self, z: torch.Tensor) -> tuple[list[float], bool]:
        v = z if self.center is None else (z - self.center) / self.scale
        clipped = bool((v.abs() > Z_LIMIT).any())
        return [round(float(x), 4) for x in v.clamp(-Z_LIMIT, Z_LIMIT)], clipped

    # ---- description for the page
    def directions(self) -> list[str]:
        if self.family == "pix2pix":
            return [self.model.config.direction]
        return ["AtoB", "BtoA"] if self.family == "cyclegan" else []

    def info(self) -> dict:
        return {"id": self.id, "name": self.name, "path": self.path, "family": self.family, "data": self.data_name,
                "image_shape": list(self.model.config.image_shape), "latent_dim": self.latent_dim,
                "sliders": min(self.latent_dim, MAX_SLIDERS.get(self.family, 0)), "num_classes": self.num_classes,
                "classes": self.classes, "has_encoder": self.family in ("ae", "vae"),
                "test_count": len(self.test) if self.test is not None else 0, "test_note": self.test_note,
                "directions": self.directions(), "z_limit": Z_LIMIT,
                "units": "std of its fitted code Gaussian" if self.center is not None else "prior (N(0, I))"}


def groups_of(runs: list[Run]) -> list[dict]:
    """Runs that share one set of controls: AE/VAE runs of equal latent size together; every other run alone."""
    groups: list[dict] = []
    shared: dict[int, dict] = {}
    for r in runs:
        if r.family in ("ae", "vae"):
            if r.latent_dim in shared:
                shared[r.latent_dim]["runs"].append(r.id)
                continue
            g = shared[r.latent_dim] = {"kind": "latent", "runs": [r.id]}
        else:
            g = {"kind": "gan" if r.family in ("gan", "cgan") else "translate", "runs": [r.id]}
        groups.append(g)
    return groups


def run_names(paths: list[str]) -> list[str]:
    """Short unique names: the run folder's name, or its last two parts when names repeat."""
    names = [Path(p).name or str(p) for p in paths]
    return [str(Path(*Path(p).parts[-2:])) if names.count(n) > 1 else n for p, n in zip(paths, names)]


# ---------------------------------------------------------------- images
def png_bytes(image: torch.Tensor) -> bytes:
    """(C, H, W) in [0, 1] -> PNG bytes (fast compression: the images are tiny)."""
    buf = io.BytesIO()
    to_pil(image).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def data_url(image: torch.Tensor) -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes(image)).decode("ascii")


class _Upload(io.BytesIO):
    """Upload bytes that ``translate.read_image`` can open and name in its notes and errors."""

    def __init__(self, data: bytes, name: str):
        super().__init__(data)
        self.name = name

    def __str__(self) -> str:
        return self.name


def read_upload(data: bytes, filename: str, shape) -> tuple[torch.Tensor, list[str]]:
    """An uploaded image file -> float (C, H, W) in [0, 1] at ``shape``, with notes on conversions."""
    from ..translate import read_image

    name = Path(filename or "upload").name[:100] or "upload"
    notes: list[str] = []
    if not data:
        raise GenlabError(f"the upload '{name}' is empty; choose a PNG or JPEG image")
    try:
        return read_image(_Upload(data, name), tuple(shape), notes), notes
    except GenlabError:
        raise
    except Exception as e:  # noqa: BLE001 - PIL's decompression-bomb error, truncated files, odd modes
        raise GenlabError(f"cannot read the upload '{name}' as an image ({e.__class__.__name__}); "
                          "choose a PNG or JPEG image") from None


# ---------------------------------------------------------------- the app
def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "form")]
        where = loc[0] + "".join(f"[{p}]" for p in loc[1:]) if loc else "request"
        parts.append(f"{where}: {err.get('msg', 'invalid value')}")
    return "invalid request: " + "; ".join(parts)


def create_app(runs, device: str = "cpu") -> FastAPI:
    """The explorer's FastAPI app over ``runs``: run folders, or models already loaded with ``genlab.load``."""
    from ..training import load

    runs = list(runs)
    if not runs:
        raise GenlabError("genlab explore needs at least one run directory")
    models = [r if isinstance(r, torch.nn.Module) else load(r, device=device) for r in runs]
    paths = [str((getattr(m, "meta", None) or {}).get("run") or f"run{i}") for i, m in enumerate(models)]
    loaded = [Run(i, name, m) for i, (name, m) in enumerate(zip(run_names(paths), models))]
    groups = groups_of(loaded)
    app = FastAPI(title="genlab explore", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.runs = loaded

    @app.exception_handler(RequestValidationError)
    async def _invalid(request, exc):
        return _error(422, _validation_message(exc))

    @app.exception_handler(GenlabError)
    async def _genlab(request, exc):
        return _error(400, str(exc))

    @app.exception_handler(HTTPException)
    async def _http(request, exc):
        return _error(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _crash(request, exc):  # a bug, not the user's fault: answer it, keep serving
        return _error(500, f"internal error ({exc.__class__.__name__}: {exc}); the server keeps running")

    @app.middleware("http")
    async def _limit_size(request: Request, call_next):
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_UPLOAD + 65536):
            return _error(413, f"request too large ({length} bytes); uploads are limited to "
                               f"{MAX_UPLOAD // (1024 * 1024)} MB")
        return await call_next(request)

    def get_run(ident: int, kinds=None) -> Run:
        if ident >= len(loaded):
            raise GenlabError(f"run {ident} does not exist; this explorer has runs 0..{len(loaded) - 1}")
        r = loaded[ident]
        if kinds is not None and r.family not in kinds:
            raise GenlabError(f"run {ident} ('{r.name}') is a {r.family} model; this needs one of: {', '.join(kinds)}")
        return r

    def check_label(r: Run, label: int | None) -> int | None:
        if r.num_classes:
            label = 0 if label is None else label
            if label >= r.num_classes:
                raise GenlabError(f"label {label} is outside [0, {r.num_classes}) of run '{r.name}'")
            return label
        if label is not None:
            raise GenlabError(f"run '{r.name}' is unconditional ({r.family}); it takes no label")
        return None

    def check_index(r: Run, index: int) -> int:
        if r.test is None:
            raise GenlabError(f"run '{r.name}' has no test images here ({r.test_note})")
        if index >= len(r.test):
            raise GenlabError(f"test image {index} does not exist; run '{r.name}' has test images 0..{len(r.test) - 1}")
        return index

    @app.get("/", response_class=HTMLResponse)
    def page():
        return HTMLResponse(PAGE.read_text(encoding="utf-8"), headers={"Cache-Control": "no-store"})

    @app.get("/api/models")
    def models_info():
        return {"runs": [r.info() for r in loaded], "groups": groups, "limits": {
            "z": Z_LIMIT, "upload_bytes": MAX_UPLOAD, "steps": MAX_STEPS, "seed": MAX_SEED}}

    def decode_one(req: DecodeRequest) -> tuple[torch.Tensor, float]:
        """(C, H, W) image of one request, and the forward pass's time in ms."""
        r = get_run(req.run, LATENT_FAMILIES)
        if len(req.z) != r.latent_dim:
            raise GenlabError(f"z has {len(req.z)} values but run '{r.name}' has {r.latent_dim} latent dimensions")
        label = check_label(r, req.label)
        t0 = time.perf_counter()
        with torch.inference_mode():
            z = r.to_code(torch.tensor(req.z, dtype=torch.float32)).unsqueeze(0)  # (1, D)
            if r.family in ("gan", "cgan"):
                img = r.model.generate(z, labels=label)[0]
            else:
                img = r.model.decode(z.to(r.model.device))[0].clamp(0, 1)
        return img, (time.perf_counter() - t0) * 1e3

    @app.post("/api/decode")
    def decode(req: DecodeRequest):
        img, decode_ms = decode_one(req)
        t1 = time.perf_counter()
        png = png_bytes(img)
        timing = f"decode;dur={decode_ms:.3f}, png;dur={(time.perf_counter() - t1) * 1e3:.3f}"
        return Response(png, media_type="image/png", headers={"Server-Timing": timing, "Cache-Control": "no-store"})

    @app.post("/api/decode-batch")
    def decode_batch(req: DecodeBatchRequest):
        """Several codes (the panels of one group) in one round trip, as PNG data URLs."""
        images = [decode_one(item)[0] for item in req.items]  # all validated before any is encoded
        return {"images": [data_url(img) for img in images]}

    @app.post("/api/sample")
    def sample(req: SampleRequest):
        r = get_run(req.run, LATENT_FAMILIES)
        v = torch.randn(r.latent_dim, generator=torch.Generator().manual_seed(req.seed))  # N(0, I) in slider units
        return {"z": [round(float(x), 4) for x in v.clamp(-Z_LIMIT, Z_LIMIT)], "seed": req.seed}

    @app.post("/api/encode")
    def encode(req: EncodeRequest):
        r = get_run(req.run, ("ae", "vae"))
        x = to_float(r.test.images[check_index(r, req.index)].unsqueeze(0))  # (1, C, H, W)
        with torch.inference_mode():
            z = r.model.encode(x.to(r.model.device))[0].float().cpu()
        values, clipped = r.to_values(z)
        label = None
        if r.test.labels is not None:
            y = int(r.test.labels[req.index])
            label = r.test.classes[y] if r.test.classes and y < len(r.test.classes) else str(y)
        return {"z": values, "clipped": clipped, "image": data_url(x[0]), "index": req.index, "label": label}

    @app.post("/api/interpolate")
    def interpolate(req: InterpolateRequest):
        from ..viz.interpolate import interpolate as interpolate_path

        r = get_run(req.run, LATENT_FAMILIES)
        label = check_label(r, req.label)
        if req.source == "images":
            if r.family not in ("ae", "vae"):
                raise GenlabError(f"run '{r.name}' ({r.family}) has no encoder; interpolate between prior samples")
            check_index(r, req.a), check_index(r, req.b)
            images, info = interpolate_path(r.model, pairs=1, steps=req.steps, source="images", images=[req.a, req.b],
                                            method=req.method, data=r.test, return_info=True)
        else:
            images, info = interpolate_path(r.model, pairs=1, steps=req.steps, source="prior", seed=req.seed,
                                            method=req.method, label=label, return_info=True)
        return {"images": [data_url(im) for im in images], "method": info["method"]}

    @app.post("/api/translate")
    async def translate(run: Annotated[int, Form(ge=0, le=1000)],
                        direction: Annotated[Literal["AtoB", "BtoA"] | None, Form()] = None,
                        index: Annotated[int | None, Form(ge=0)] = None,
                        file: Annotated[UploadFile | None, File()] = None):
        from ..translate import input_shape

        r = get_run(run, TRANSLATION_FAMILIES)
        direction = direction or r.directions()[0]
        if direction not in r.directions():
            raise GenlabError(f"run '{r.name}' (pix2pix) translates {r.directions()[0]} only, not {direction}")
        if (index is None) == (file is None):
            raise GenlabError("give either a test image index or an uploaded file, not both or neither")
        shape = input_shape(r.model, direction)
        notes: list[str] = []
        target = None
        if file is not None:
            data = await file.read(MAX_UPLOAD + 1)
            if len(data) > MAX_UPLOAD:
                return _error(413, f"the upload is larger than {MAX_UPLOAD // (1024 * 1024)} MB; choose a smaller image")
            x, notes = read_upload(data, file.filename or "upload", shape)
        else:
            check_index(r, index)
            a, b = r.test.images[index], r.test.pair[index] if r.test.pair is not None else None
            src, other = (a, b) if direction == "AtoB" else (b, a)
            if src is None:
                raise GenlabError(f"run '{r.name}' has no domain-B test images; upload an image instead")
            x = to_float(src)
            if r.family == "pix2pix" and other is not None:
                target = to_float(other)
        with torch.inference_mode():
            y = r.model.translate(x.unsqueeze(0), direction=direction)
            cycle = None
            if r.family == "cyclegan":
                cycle = r.model.translate(y, direction="BtoA" if direction == "AtoB" else "AtoB")[0]
        return {"direction": direction, "input": data_url(x), "output": data_url(y[0]),
                "cycle": data_url(cycle) if cycle is not None else None,
                "target": data_url(target) if target is not None else None, "notes": notes}

    return app


# ---------------------------------------------------------------- serving
def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port, or a GenlabError naming the port when it is taken."""
    if not 0 <= port < 65536:
        raise GenlabError(f"--port must be in 0..65535 (0: any free port), got {port}")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise GenlabError(f"cannot resolve --host '{host}' ({e.strerror}); use 127.0.0.1 or an address of this machine") from None
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
            raise GenlabError(f"port {port} on {host} is already in use; choose another with --port "
                              f"(e.g. --port {port + 1})") from None
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
            print(f"genlab explore: {len(app.state.runs)} run(s) at http://{url_host}:{sock.getsockname()[1]}/ "
                  "(Ctrl+C stops)", flush=True)
            if host not in ("127.0.0.1", "localhost", "::1"):
                print(f"note: bound to {host}: other machines on the network can reach this page", flush=True)
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
        server.run(sockets=[sock])
    finally:
        sock.close()


__all__ = ["MAX_UPLOAD", "Z_LIMIT", "bind", "create_app", "serve"]
