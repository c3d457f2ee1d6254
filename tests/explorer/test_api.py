"""The explorer's API through FastAPI's TestClient: every endpoint, and every kind of bad request."""

from __future__ import annotations

import io
import socket

import numpy as np
import pytest
import torch
from PIL import Image

import genlab
from genlab.errors import GenlabError

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

from genlab.explorer import create_app
from genlab.explorer.server import MAX_UPLOAD, Z_LIMIT, bind

ORDER = ("ae", "vae", "gan", "cgan", "pix2pix", "cyclegan")  # run ids 0..5


@pytest.fixture(scope="module")
def client(runs):
    return TestClient(create_app([runs[k] for k in ORDER]))


def png(response) -> np.ndarray:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    return np.asarray(Image.open(io.BytesIO(response.content)))


def data_png(url: str) -> np.ndarray:
    import base64

    assert url.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))


def error(response, status) -> str:
    assert response.status_code == status, response.text
    return response.json()["error"]


def test_models_and_groups(client):
    info = client.get("/api/models").json()
    assert [r["family"] for r in info["runs"]] == list(ORDER)
    assert info["groups"][0] == {"kind": "latent", "runs": [0, 1]}  # AE and VAE share the sliders
    assert [g["kind"] for g in info["groups"][1:]] == ["noise", "noise", "translate", "translate"]
    cgan = info["runs"][3]
    assert cgan["num_classes"] == 10 and cgan["classes"][:2] == ["0", "1"]
    assert info["runs"][5]["directions"] == ["AtoB", "BtoA"] and info["runs"][4]["directions"] == ["AtoB"]
    page = client.get("/")
    assert page.status_code == 200 and "genlab explore" in page.text and "http" not in page.text.split("<script>")[1]


def test_decode_matches_the_model(client, runs):
    z = [0.5, -1.0, 2.0, 0.0]
    img = png(client.post("/api/decode", json={"run": 1, "z": z}))
    vae = genlab.load(runs["vae"])
    expected = vae.decode(torch.tensor([z]))[0, 0].mul(255).round().byte().numpy()
    assert img.shape == (8, 8) and np.abs(img.astype(int) - expected).max() <= 1
    moved = png(client.post("/api/decode", json={"run": 1, "z": [3.5, -1.0, 2.0, 0.0]}))
    assert (moved != img).any()


def test_gan_decode_uses_noise_and_label(client, runs):
    z = [0.3] * 8
    a = png(client.post("/api/decode", json={"run": 3, "z": z, "label": 1}))
    b = png(client.post("/api/decode", json={"run": 3, "z": z, "label": 7}))
    cgan = genlab.load(runs["cgan"])
    expected = cgan.decode(torch.tensor([z]), labels=1)[0, 0].mul(255).round().byte().numpy()
    assert np.abs(a.astype(int) - expected).max() <= 1 and (a != b).any()
    g = png(client.post("/api/decode", json={"run": 2, "z": z}))
    assert g.shape == (8, 8)


def test_decode_matches_sample(runs):
    gan = genlab.load(runs["cgan"])
    gen = torch.Generator().manual_seed(3)
    z = torch.randn(4, gan.config.latent_dim, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(gan.decode(z, labels=2), gan.sample(4, generator=gen, labels=2))
    with pytest.raises(GenlabError, match="outside"):
        gan.decode(z, labels=10)


def test_sample_encode_interpolate(client):
    a = client.post("/api/sample", json={"run": 0, "seed": 4}).json()["z"]
    assert a == client.post("/api/sample", json={"run": 0, "seed": 4}).json()["z"] and len(a) == 4
    assert all(abs(v) <= Z_LIMIT for v in a)
    enc = client.post("/api/encode", json={"run": 1, "index": 5}).json()
    assert len(enc["z"]) == 4 and data_png(enc["image"]).shape == (8, 8) and enc["label"] is not None
    out = client.post("/api/interpolate", json={"run": 0, "source": "images", "a": 0, "b": 3, "steps": 5}).json()
    assert len(out["images"]) == 5 and out["method"] == "linear"
    out = client.post("/api/interpolate", json={"run": 3, "source": "prior", "seed": 1, "steps": 3, "label": 2}).json()
    assert len(out["images"]) == 3 and out["method"] == "slerp"


def test_translate_test_image_and_upload(client):
    out = client.post("/api/translate", data={"run": 4, "index": 1}).json()
    assert data_png(out["output"]).shape == (16, 16) and out["target"] and out["cycle"] is None
    out = client.post("/api/translate", data={"run": 5, "index": 0, "direction": "BtoA"}).json()
    assert data_png(out["output"]).shape == (28, 28) and out["cycle"] and out["direction"] == "BtoA"
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 10, 10)).save(buf, format="PNG")
    out = client.post(
        "/api/translate", data={"run": 5, "direction": "AtoB"}, files={"file": ("red.png", buf.getvalue(), "image/png")}
    ).json()
    assert data_png(out["output"]).shape == (28, 28) and data_png(out["cycle"]).shape == (28, 28)
    assert any("grayscale" in n for n in out["notes"]) and any("resized" in n for n in out["notes"])


@pytest.mark.parametrize(
    "path, body, status, words",
    [
        ("/api/decode", {"run": 1, "z": [9, 0, 0, 0]}, 422, "z[0]"),
        ("/api/decode", {"run": 1, "z": [0, 0]}, 400, "4 latent dimensions"),
        ("/api/decode", {"run": 1, "z": "abc"}, 422, "z"),
        ("/api/decode", {"run": 9, "z": [0]}, 400, "does not exist"),
        ("/api/decode", {"run": 4, "z": [0]}, 400, "pix2pix"),
        ("/api/decode", {"run": 3, "z": [0] * 8, "label": 10}, 400, "outside the valid range [0, 10)"),
        ("/api/decode", {"run": 3, "z": [0] * 8, "label": -1}, 422, "label"),
        ("/api/decode", {"run": 2, "z": [0] * 8, "label": 1}, 400, "unconditional"),
        ("/api/encode", {"run": 0, "index": 10**6}, 400, "0..296"),
        ("/api/encode", {"run": 2, "index": 0}, 400, "needs one of"),
        ("/api/sample", {"run": 0, "seed": -1}, 422, "seed"),
        ("/api/interpolate", {"run": 0, "steps": 99}, 422, "steps"),
        ("/api/interpolate", {"run": 2, "source": "images"}, 400, "no encoder"),
    ],
)
def test_bad_json_requests(client, path, body, status, words):
    assert words in error(client.post(path, json=body), status)


def test_bad_json_body(client):
    r = client.post("/api/decode", content=b"{not json", headers={"content-type": "application/json"})
    assert "invalid request" in error(r, 422)


def test_bad_uploads(client):
    assert "cannot read 'notes.txt' as an image" in error(
        client.post("/api/translate", data={"run": 5}, files={"file": ("notes.txt", b"hello", "text/plain")}), 400
    )
    assert "empty" in error(
        client.post("/api/translate", data={"run": 5}, files={"file": ("a.png", b"", "image/png")}), 400
    )
    assert "either" in error(client.post("/api/translate", data={"run": 5}), 400)
    assert "AtoB only" in error(client.post("/api/translate", data={"run": 4, "index": 0, "direction": "BtoA"}), 400)
    assert "direction" in error(client.post("/api/translate", data={"run": 5, "index": 0, "direction": "up"}), 422)
    big = b"\x89PNG" + bytes(MAX_UPLOAD + 100_000)
    assert "5 MB" in error(
        client.post("/api/translate", data={"run": 5}, files={"file": ("big.png", big, "image/png")}), 413
    )


def test_port_in_use_is_a_clear_error():
    sock = bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    # a TCP socket with Nagle off: asyncio's connections inherit it (else ~40 ms per small response)
    assert sock.proto == socket.IPPROTO_TCP and sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    try:
        with pytest.raises(GenlabError, match=f"port {port} .*already in use.*--port"):
            bind("127.0.0.1", port)
    finally:
        sock.close()
    with pytest.raises(GenlabError, match="--port"):
        bind("127.0.0.1", 70000)


def test_decode_batch_is_one_round_trip_for_a_group(client):
    items = [{"run": 0, "z": [1.0, 0, 0, 0]}, {"run": 1, "z": [1.0, 0, 0, 0]}, {"run": 3, "z": [0] * 8, "label": 4}]
    out = client.post("/api/decode-batch", json={"items": items}).json()["images"]
    assert [data_png(u).shape for u in out] == [(8, 8), (8, 8), (8, 8)]
    single = png(client.post("/api/decode", json=items[1]))
    assert (data_png(out[1]) == single).all()
    assert "items" in error(client.post("/api/decode-batch", json={"items": []}), 422)
    bad = items[:1] + [{"run": 1, "z": [0, 0]}]
    assert "latent dimensions" in error(client.post("/api/decode-batch", json={"items": bad}), 400)
