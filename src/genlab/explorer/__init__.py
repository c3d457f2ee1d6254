"""``genlab explore``: a local web page over trained runs (latent sliders, sampling, translation).

Needs the ``explorer`` extra (fastapi, uvicorn, python-multipart): ``pip install genlab[explorer]``.
"""

from __future__ import annotations

from ..errors import GenlabError


def _server():
    try:
        from . import server
    except ImportError as e:
        raise GenlabError(
            f"genlab explore needs the explorer extra ({e.name} is missing); "
            "install it with: pip install 'genlab[explorer]'"
        ) from None
    return server


def create_app(runs, device: str = "cpu"):
    """The FastAPI app over ``runs`` (run folders or loaded models); see :mod:`genlab.explorer.server`."""
    return _server().create_app(runs, device=device)


def serve(runs, host: str = "127.0.0.1", port: int = 8000, device: str = "cpu") -> None:
    """Serve the explorer at http://host:port/ until interrupted."""
    _server().serve(runs, host=host, port=port, device=device)


__all__ = ["create_app", "serve"]
