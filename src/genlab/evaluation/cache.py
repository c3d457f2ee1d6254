"""The user cache: converted Inception weights and the features of reference image sets.

Everything lives under ``$GENLAB_CACHE`` (default ``~/.cache/genlab``). Reference features (those of
``fashion-mnist:test``, of a folder, ...) are stored once per (data, extractor, preprocessing) in
``features/<key>.safetensors``, where ``key`` is the sha256 of a JSON description of what was
measured: what the data is (its name, split, image size, and the sha256 of the image bytes
themselves), the extractor (name and the sha256 of its weights) and its preprocessing. The file
holds the features and, as metadata, that description and the sha256 of the feature bytes; a file
whose description differs (stale), whose bytes do not match (truncated, edited) or that is not
genlab's (foreign) is ignored with a one-line note, and the features are computed again.

FID needs only the mean and covariance, but KID and precision/recall need the features themselves,
so those are what is kept (10,000 Inception features: 82 MB).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.numpy import load_file, save

FORMAT = "genlab-features/1"


def cache_root() -> Path:
    """``$GENLAB_CACHE``, else ``~/.cache/genlab``."""
    env = os.environ.get("GENLAB_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "genlab"


def note(msg: str) -> None:
    """A one-line note on stderr (what the cache did and why)."""
    print(f"note: {msg}", file=sys.stderr, flush=True)


def images_digest(images: torch.Tensor) -> str:
    """sha256 of the image tensor's dtype, shape and bytes."""
    t = images.detach().cpu().contiguous()
    h = hashlib.sha256(f"{t.dtype}{tuple(t.shape)}".encode())
    h.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.view(torch.int16).numpy().tobytes())
    return h.hexdigest()


def describe(data: dict, extractor_info: dict) -> dict:
    """The cache key's content: the data (with its ``images_sha256``) and the extractor, paths left out
    (the same weights in another folder are the same extractor)."""
    ext = {k: v for k, v in extractor_info.items() if k not in ("weights", "file")}
    return {"format": FORMAT, "data": data, "extractor": ext}


def key_of(description: dict) -> str:
    return hashlib.sha256(json.dumps(description, sort_keys=True).encode()).hexdigest()


def feature_path(description: dict) -> Path:
    return cache_root() / "features" / f"{key_of(description)[:32]}.safetensors"


def load_features(description: dict) -> np.ndarray | None:
    """The cached features for ``description``, or None (with a note when a file was there but not trusted)."""
    path = feature_path(description)
    if not path.is_file():
        return None
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="numpy") as f:
            meta = f.metadata() or {}
        if meta.get("format") != FORMAT:
            note(f"ignoring {path}: not a genlab feature cache; computing the features again")
            return None
        if json.loads(meta.get("description", "null")) != description:
            note(f"ignoring {path}: stale (made for other data or another extractor); computing the features again")
            return None
        feats = load_file(str(path))["features"]
    except (SafetensorError, OSError, ValueError, KeyError) as e:
        note(f"ignoring {path}: unreadable ({type(e).__name__}); computing the features again")
        return None
    if hashlib.sha256(feats.tobytes()).hexdigest() != meta.get("features_sha256"):
        note(f"ignoring {path}: its features do not match their sha256; computing them again")
        return None
    return feats


def save_features(description: dict, feats: np.ndarray) -> Path | None:
    """Store ``feats`` (float32) for ``description``; a cache that cannot be written is a note, not an error."""
    from genlab.atomic import atomic_write
    from genlab.errors import GenlabError

    feats = np.ascontiguousarray(feats, dtype=np.float32)
    path = feature_path(description)
    meta = {
        "format": FORMAT,
        "description": json.dumps(description, sort_keys=True),
        "features_sha256": hashlib.sha256(feats.tobytes()).hexdigest(),
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda f: f.write(save({"features": feats}, metadata=meta)))
    except (OSError, GenlabError) as e:
        note(f"could not cache the features in {path.parent} ({e}); set GENLAB_CACHE to a writable folder")
        return None
    return path


def cached_features(
    compute, data: dict, images: torch.Tensor, extractor_info: dict, quiet: bool = False
) -> tuple[np.ndarray, dict]:
    """Features of ``images`` from the cache, else ``compute(images)`` stored there.

    ``data``: what the images are (``{"dataset": ..., "split": ..., "image_size": ...}``); the sha256 of
    the images is added to it. Returns ``(features (N, d) float32, {"cache": "hit"|"stored"|..., "file"})``.
    """
    description = describe(
        {**data, "images": int(images.shape[0]), "images_sha256": images_digest(images)}, extractor_info
    )
    feats = load_features(description)
    if feats is not None:
        if not quiet:
            note(f"reference features of {data.get('name', 'the images')} from the cache ({feature_path(description)})")
        return feats, {"cache": "reused", "file": str(feature_path(description))}
    feats = np.asarray(compute(images), dtype=np.float32)
    path = save_features(description, feats)
    return feats, {"cache": "stored" if path else "not stored", "file": str(path) if path else None}


__all__ = [
    "cache_root",
    "cached_features",
    "describe",
    "feature_path",
    "images_digest",
    "load_features",
    "save_features",
]
