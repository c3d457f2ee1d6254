"""The explorer's API: two routers over the loaded runs, each request's run looked up by a dependency.

    GET  /api/models       the runs (view, latent size, classes, test-set size, directions) and the
                           groups of runs that share one set of controls
    POST /api/decode       {run, z, label?} -> image/png; z in slider units (see :mod:`.runs`)
    POST /api/decode-batch {items: [{run, z, label?}, ...]} -> {images: [PNG data URLs]}: one round
                           trip for all the panels of a group (what the page's sliders use)
    POST /api/sample       {run, seed} -> {z}: a draw of the model's prior, in slider units
    POST /api/encode       {run, index} -> {z, image, clipped}: the code of test image ``index``
    POST /api/interpolate  {run, source, a, b, seed, steps, method, label?} -> {images, method}
    POST /api/translate    multipart: run, direction, and index (a test image) or file (an upload)
                           -> {input, output, cycle?, target?, notes}

Every request is validated (pydantic bounds, then the run's own sizes and capabilities); a bad one
is a :class:`GenlabError`, which the app answers with 400 ``{"error": "<one line>"}``.
"""

from __future__ import annotations

import base64
import io
import time
from pathlib import Path
from typing import Annotated, Literal

import torch
from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from ..data.base import to_float
from ..errors import GenlabError
from ..models.capabilities import Encoder, LatentModel, Translator, supports
from ..viz.grid import to_pil
from .runs import Z_LIMIT, Run, Runs

MAX_UPLOAD = 5 * 1024 * 1024  # bytes of one uploaded image
MAX_STEPS = 16  # interpolation frames
MAX_BATCH = 8  # codes per /api/decode-batch request
MAX_SEED = 2**31 - 1

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


# ---------------------------------------------------------------- dependencies
def loaded_runs(request: Request) -> Runs:
    """The app's runs (``app.state.runs``, set by ``create_app``)."""
    return request.app.state.runs


RunsDep = Annotated[Runs, Depends(loaded_runs)]


def translator_run(run: Annotated[int, Form(ge=0, le=1000)], runs: RunsDep) -> Run:
    """The translation run named by the form field ``run``."""
    return runs.get(run, Translator)


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
        return read_image(_Upload(data, name), tuple(shape), notes), notes  # type: ignore[arg-type]
    except GenlabError:
        raise
    except Exception as e:  # noqa: BLE001 - PIL's decompression-bomb error, truncated files, odd modes
        raise GenlabError(
            f"cannot read the upload '{name}' as an image ({e.__class__.__name__}); choose a PNG or JPEG image"
        ) from None


# ---------------------------------------------------------------- latent runs
latent = APIRouter(prefix="/api")


@latent.get("/models")
def models_info(runs: RunsDep):
    return {
        "runs": [r.info() for r in runs],
        "groups": runs.groups(),
        "limits": {"z": Z_LIMIT, "upload_bytes": MAX_UPLOAD, "steps": MAX_STEPS, "seed": MAX_SEED},
    }


def decode_one(runs: Runs, req: DecodeRequest) -> tuple[torch.Tensor, float]:
    """(C, H, W) image of one request, and the forward pass's time in ms."""
    from ..viz.traverse import decode_latents

    r = runs.get(req.run, LatentModel)
    if len(req.z) != r.latent_dim:
        raise GenlabError(f"z has {len(req.z)} values but run '{r.name}' has {r.latent_dim} latent dimensions")
    label = r.label(req.label)
    t0 = time.perf_counter()
    with torch.inference_mode():
        z = r.to_code(torch.tensor(req.z, dtype=torch.float32)).unsqueeze(0)  # (1, D)
        img = decode_latents(r.model, z, labels=label)[0]
    return img, (time.perf_counter() - t0) * 1e3


@latent.post("/decode")
def decode(req: DecodeRequest, runs: RunsDep):
    img, decode_ms = decode_one(runs, req)
    t1 = time.perf_counter()
    png = png_bytes(img)
    timing = f"decode;dur={decode_ms:.3f}, png;dur={(time.perf_counter() - t1) * 1e3:.3f}"
    return Response(png, media_type="image/png", headers={"Server-Timing": timing, "Cache-Control": "no-store"})


@latent.post("/decode-batch")
def decode_batch(req: DecodeBatchRequest, runs: RunsDep):
    """Several codes (the panels of one group) in one round trip, as PNG data URLs."""
    images = [decode_one(runs, item)[0] for item in req.items]  # all validated before any is encoded
    return {"images": [data_url(img) for img in images]}


@latent.post("/sample")
def sample(req: SampleRequest, runs: RunsDep):
    r = runs.get(req.run, LatentModel)
    with torch.inference_mode():
        z = r.model.sample_latent(1, torch.Generator().manual_seed(req.seed))[0].float().cpu()  # the model's prior
    return {"z": r.to_values(z)[0], "seed": req.seed}


@latent.post("/encode")
def encode(req: EncodeRequest, runs: RunsDep):
    r = runs.get(req.run, Encoder)
    test = r.test_set(req.index)
    x = to_float(test.images[req.index].unsqueeze(0))  # (1, C, H, W)
    with torch.inference_mode():
        z = r.model.encode(x)[0].float().cpu()
    values, clipped = r.to_values(z)
    label = None
    if test.labels is not None:
        y = int(test.labels[req.index])
        label = test.classes[y] if test.classes and y < len(test.classes) else str(y)
    return {"z": values, "clipped": clipped, "image": data_url(x[0]), "index": req.index, "label": label}


@latent.post("/interpolate")
def interpolate(req: InterpolateRequest, runs: RunsDep):
    from ..viz.interpolate import interpolate as interpolate_path

    r = runs.get(req.run, LatentModel)
    label = r.label(req.label)
    if req.source == "images":
        if not supports(r.model, Encoder):
            raise GenlabError(f"run '{r.name}' ({r.family}) has no encoder; interpolate between prior samples")
        r.test_set(req.a), r.test_set(req.b)
        images, info = interpolate_path(
            r.model,
            pairs=1,
            steps=req.steps,
            source="images",
            images=[req.a, req.b],
            method=req.method,
            data=r.test,
            return_info=True,
        )
    else:
        images, info = interpolate_path(
            r.model,
            pairs=1,
            steps=req.steps,
            source="prior",
            seed=req.seed,
            method=req.method,
            label=label,
            return_info=True,
        )
    return {"images": [data_url(im) for im in images], "method": info["method"]}


# ---------------------------------------------------------------- translation runs
translation = APIRouter(prefix="/api")


@translation.post("/translate")
async def translate(
    r: Annotated[Run, Depends(translator_run)],
    direction: Annotated[Literal["AtoB", "BtoA"] | None, Form()] = None,
    index: Annotated[int | None, Form(ge=0)] = None,
    file: Annotated[UploadFile | None, File()] = None,
):
    """One test image (with its true target, for a one-way translator) or an upload, translated; a two-way
    translator also sends the result back (the cycle)."""
    directions = r.directions()
    way = direction or directions[0]
    if way not in directions:
        raise GenlabError(f"run '{r.name}' ({r.family}) translates {directions[0]} only, not {way}")
    if (index is None) == (file is None):
        raise GenlabError("give either a test image index or an uploaded file, not both or neither")
    shape = r.model.input_shape(way)
    notes: list[str] = []
    target = None
    if file is not None:
        data = await file.read(MAX_UPLOAD + 1)
        if len(data) > MAX_UPLOAD:
            return JSONResponse(
                {"error": f"the upload is larger than {MAX_UPLOAD // (1024 * 1024)} MB; choose a smaller image"},
                status_code=413,
            )
        x, notes = read_upload(data, file.filename or "upload", shape)
    elif index is not None:
        test = r.test_set(index)
        a, b = test.images[index], test.pair[index] if test.pair is not None else None
        src, other = (a, b) if way == "AtoB" else (b, a)
        if src is None:
            raise GenlabError(f"run '{r.name}' has no domain-B test images; upload an image instead")
        x = to_float(src)
        if len(directions) == 1 and other is not None:  # paired data: the true target beside the output
            target = to_float(other)
    with torch.inference_mode():
        y = r.model.translate(x.unsqueeze(0), direction=way)
        cycle = None
        if len(directions) == 2:
            cycle = r.model.translate(y, direction="BtoA" if way == "AtoB" else "AtoB")[0]
    return {
        "direction": way,
        "input": data_url(x),
        "output": data_url(y[0]),
        "cycle": data_url(cycle) if cycle is not None else None,
        "target": data_url(target) if target is not None else None,
        "notes": notes,
    }
