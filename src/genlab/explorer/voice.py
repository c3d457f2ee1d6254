"""The explorer's voice page API: a clip converted into both voices, with spectrograms and F0 curves.

    GET  /api/voice/sentences?run=N  the held-out sentences read by both voices of the run's data
    POST /api/voice                  multipart: run, and file (a WAV upload) or sentence (an index into
                                     the held-out sentences) + speaker ('A' or 'B', who reads it)
                                     -> {input, AtoB, BtoA, text?, frame_ms, notes}; each clip is
                                     {audio: WAV data URL, spectrogram: PNG data URL, f0: [Hz per frame,
                                     0 = unvoiced], seconds}

A clip longer than ``MAX_SECONDS`` is refused (conversion runs on this machine's CPU while the page waits).
Spectrograms: an 80-band log-mel (:mod:`genlab.audio.features`), 80 dB of range, low frequencies at the
bottom, in matplotlib's magma colours. F0: WORLD's Harvest at 5 ms frames.
"""

from __future__ import annotations

import base64
import io
import tempfile
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from fastapi import APIRouter, Depends, File, Form, Query, UploadFile
from fastapi.responses import JSONResponse

from ..errors import GenlabError
from ..models.capabilities import DIRECTIONS, VoiceConverter
from .routes import MAX_UPLOAD, RunsDep
from .runs import Run

MAX_SECONDS = 20.0
FRAME_MS = 5.0
DB_RANGE = 80.0

voice = APIRouter(prefix="/api")
_HELD_OUT: dict[int, tuple] = {}  # run id -> (A clips, B clips, names, texts), read once


def voice_run(run: Annotated[int, Form(ge=0, le=1000)], runs: RunsDep) -> Run:
    """The voice-conversion run named by the form field ``run``."""
    return runs.get(run, VoiceConverter)


def held_out(r: Run) -> tuple:
    if r.id not in _HELD_OUT:
        from ..data.voices import paired_test_clips

        if not r.data_name:
            raise GenlabError(f"run '{r.name}' records no dataset; upload a WAV file instead")
        _HELD_OUT[r.id] = paired_test_clips(r.data_name)
    return _HELD_OUT[r.id]


# ---------------------------------------------------------------- one clip for the page
def spectrogram_png(x: np.ndarray, sample_rate: int) -> bytes:
    """PNG of the log-mel of ``x`` (80 bands x frames of 8 ms), low frequencies at the bottom."""
    from matplotlib import colormaps
    from PIL import Image

    from ..audio.features import log_mel
    from ..audio.wav import resample

    lm = log_mel(resample(x, sample_rate, 16000)).numpy()  # natural log of magnitudes
    db = 20 / np.log(10) * (lm - lm.max())
    unit = np.clip(1 + db / DB_RANGE, 0, 1)[::-1]  # (80, T), 1 = loudest
    rgb = (colormaps["magma"](unit)[..., :3] * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def f0_curve(x: np.ndarray, sample_rate: int) -> list[float]:
    import pyworld

    f0, _ = pyworld.harvest(np.ascontiguousarray(x, dtype=np.float64), sample_rate, frame_period=FRAME_MS)
    return [round(float(v), 1) for v in f0]


def clip_view(x: np.ndarray, sample_rate: int) -> dict:
    from ..audio.wav import wav_bytes

    def url(kind: str, data: bytes) -> str:
        return f"data:{kind};base64," + base64.b64encode(data).decode()

    return {
        "audio": url("audio/wav", wav_bytes(x, sample_rate)),
        "spectrogram": url("image/png", spectrogram_png(x, sample_rate)),
        "f0": f0_curve(x, sample_rate),
        "seconds": round(len(x) / sample_rate, 3),
    }


def read_upload(data: bytes, name: str) -> tuple[np.ndarray, int]:
    """An uploaded WAV as (mono float32, rate); its one-line errors name the upload, not a temporary file."""
    from ..audio.wav import read_wav

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "upload.wav"
        path.write_bytes(data)
        try:
            return read_wav(path)
        except GenlabError as e:
            raise GenlabError(str(e).replace(str(path), name)) from None


# ---------------------------------------------------------------- routes
@voice.get("/voice/sentences")
def sentences(run: Annotated[int, Query(ge=0, le=1000)], runs: RunsDep):
    r = runs.get(run, VoiceConverter)
    _, _, names, texts = held_out(r)
    return {"sentences": texts or names}


@voice.post("/voice")
async def convert(
    r: Annotated[Run, Depends(voice_run)],
    file: Annotated[UploadFile | None, File()] = None,
    sentence: Annotated[int | None, Form(ge=0)] = None,
    speaker: Annotated[Literal["A", "B"], Form()] = "A",
):
    """A clip (an upload, or a held-out sentence read by one voice) converted both ways."""
    if (file is None) == (sentence is None):
        raise GenlabError("give either a WAV file or a held-out sentence index, not both or neither")
    text = None
    if file is not None:
        data = await file.read(MAX_UPLOAD + 1)
        if len(data) > MAX_UPLOAD:
            return JSONResponse(
                {
                    "error": f"the upload is larger than {MAX_UPLOAD // (1024 * 1024)} MB; upload a "
                    f"clip of at most {MAX_SECONDS:.0f} s"
                },
                status_code=413,
            )
        x, sr = read_upload(data, file.filename or "the upload")
    else:
        clips_a, clips_b, names, texts = held_out(r)
        if sentence is None or sentence >= len(names):
            raise GenlabError(
                f"held-out sentence {sentence} does not exist; run '{r.name}' has sentences 0..{len(names) - 1}"
            )
        x, sr = (clips_a if speaker == "A" else clips_b)[sentence], 16000
        text = (texts or names)[sentence]
    if len(x) > MAX_SECONDS * sr:
        raise GenlabError(
            f"the clip is {len(x) / sr:.1f} s long; the voice page converts clips of at most "
            f"{MAX_SECONDS:.0f} s (genlab convert-voice takes longer ones)"
        )
    out: dict = {"input": clip_view(x, sr), "text": text, "frame_ms": FRAME_MS, "notes": []}
    for direction in DIRECTIONS:
        y, rate = r.model.convert(x, sr, direction)
        out[direction] = clip_view(y, rate)
    return out
