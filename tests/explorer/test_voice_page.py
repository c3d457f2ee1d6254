"""The explorer's voice page: the API (upload or held-out sentence -> both conversions, spectrograms, F0
curves; one-line errors) and the page in headless chromium (upload a WAV or record one, hear and see both
conversions)."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("pyworld")

from genlab import train  # noqa: E402
from genlab.audio.wav import wav_bytes, write_wav  # noqa: E402

SR = 16000
from browser_flags import CHROMIUM  # noqa: E402
from browser_flags import FLAGS as BROWSER_FLAGS  # noqa: E402

FLAGS = [
    *BROWSER_FLAGS,
    "--autoplay-policy=no-user-gesture-required",
    "--use-fake-device-for-media-stream",  # a synthetic microphone (beeps) for the recording test
    "--use-fake-ui-for-media-stream",  # the microphone permission granted without a prompt
]
TINY = {
    "model.channels": 4,
    "model.n_blocks": 1,
    "model.ndf": 4,
    "model.patch_layers": 1,
    "model.pool_size": 4,
    "train.batch_size": 4,
    "train.num_samples": 4,
}


def voice(f0, seconds=0.8, seed=0, vowel=1.0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    phase = 2 * np.pi * f0 * (t + 0.002 * np.sin(2 * np.pi * 5 * t))
    x = sum(np.sin(k * phase) * vowel**k / k for k in range(1, int(3000 / f0)))
    return (0.2 * x / np.abs(x).max() + 0.005 * rng.normal(size=t.size)).astype(np.float32)


@pytest.fixture(scope="module")
def voice_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("voices")
    for i in range(3):
        write_wav(root / "trainA" / f"a{i}.wav", voice(100 + 8 * i, seed=i, vowel=0.9))
        write_wav(root / "trainB" / f"b{i}.wav", voice(220 + 10 * i, seed=10 + i, vowel=0.6))
    for i in range(2):
        write_wav(root / "testA" / f"s{i}.wav", voice(105 + 20 * i, seed=20 + i, vowel=0.9))
        write_wav(root / "testB" / f"s{i}.wav", voice(230 + 30 * i, seed=30 + i, vowel=0.6))
    out = tmp_path_factory.mktemp("run") / "voice"
    train("cyclegan-voice", str(root), out, settings=dict(TINY), steps=2, quiet=True)
    return out


@pytest.fixture(scope="module")
def client(voice_run):
    from fastapi.testclient import TestClient

    from genlab.explorer.server import create_app

    return TestClient(create_app([voice_run]))


def median_f0(track):
    voiced = [v for v in track if v > 0]
    return float(np.median(voiced)) if voiced else 0.0


def test_models_list_the_voice_view(client):
    info = client.get("/api/models").json()
    assert info["groups"] == [{"kind": "voice", "runs": [0]}]
    assert client.get("/api/voice/sentences", params={"run": 0}).json() == {"sentences": ["s0.wav", "s1.wav"]}


def test_upload_is_converted_both_ways_with_spectrograms_and_f0(client):
    x = voice(110, seconds=1.0, seed=5, vowel=0.9)
    res = client.post("/api/voice", data={"run": "0"}, files={"file": ("me.wav", wav_bytes(x, SR), "audio/wav")})
    assert res.status_code == 200, res.text
    a = res.json()
    for key in ("input", "AtoB", "BtoA"):
        clip = a[key]
        assert clip["audio"].startswith("data:audio/wav;base64,") and clip["spectrogram"].startswith("data:image/png")
        assert abs(clip["seconds"] - 1.0) < 0.02 and len(clip["f0"]) > 150
    assert abs(median_f0(a["input"]["f0"]) - 110) < 6
    assert median_f0(a["AtoB"]["f0"]) > 1.5 * median_f0(a["input"]["f0"])  # moved to the high voice B


def test_held_out_sentence_and_errors(client):
    a = client.post("/api/voice", data={"run": "0", "sentence": "1", "speaker": "B"}).json()
    assert a["text"] == "s1.wav" and median_f0(a["input"]["f0"]) > 200
    for data, files, message in [
        ({"run": "0", "sentence": "9"}, None, "sentence 9 does not exist"),
        ({"run": "0"}, None, "either a WAV file or a held-out sentence"),
        ({"run": "0"}, {"file": ("notes.wav", b"not audio at all", "audio/wav")}, "'notes.wav' is not a PCM WAV"),
        ({"run": "3"}, None, "run 3 does not exist"),
    ]:
        res = client.post("/api/voice", data=data, files=files)
        assert res.status_code == 400 and message in res.json()["error"] and "\n" not in res.json()["error"]
    long = wav_bytes(np.zeros(21 * SR, np.float32), SR)
    res = client.post("/api/voice", data={"run": "0"}, files={"file": ("long.wav", long, "audio/wav")})
    assert res.status_code == 400 and "at most 20 s" in res.json()["error"]


# ---- in a real browser ----


@pytest.fixture(scope="module")
def page(voice_run, tmp_path_factory):
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            raise AssertionError("CI installs chromium")
        pytest.skip("needs Debian's chromium (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    import uvicorn

    from genlab.explorer.server import bind, create_app

    sock = bind("127.0.0.1", 0)
    srv = uvicorn.Server(uvicorn.Config(create_app([voice_run]), log_level="warning"))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not srv.started and time.time() < deadline:
        time.sleep(0.05)
    with sync_api.sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium")),
            executable_path=CHROMIUM,
            headless=True,
            args=FLAGS,
            viewport={"width": 1200, "height": 900},
        )
        pg = ctx.new_page()
        pg.set_default_timeout(60_000)
        pg.goto(f"http://127.0.0.1:{sock.getsockname()[1]}/")
        pg.wait_for_selector("body[data-ready='1']")
        yield pg
        ctx.close()
    srv.should_exit = True
    thread.join(10)
    sock.close()


def test_page_uploads_a_wav_and_plays_both_conversions(page, tmp_path):
    sec = page.locator("section[data-kind='voice']")
    assert sec.count() == 1
    path = tmp_path / "me.wav"
    write_wav(path, voice(110, seconds=1.0, seed=7, vowel=0.9))
    sec.locator("input.upload").set_input_files(str(path))
    page.wait_for_selector("section[data-kind='voice'][data-converted='1']")
    for key in ("input", "AtoB", "BtoA"):
        fig = sec.locator(f"figure[data-clip='{key}']")
        assert fig.is_visible()
        # the browser decodes the WAV: its duration is the clip's
        seconds = fig.locator("audio").evaluate(
            "a => new Promise(r => a.readyState >= 1 ? r(a.duration) : a.addEventListener('loadedmetadata', "
            "() => r(a.duration)))"
        )
        assert abs(seconds - 1.0) < 0.05
        assert fig.locator("img.spec").evaluate("img => img.naturalHeight") == 80
        assert int(fig.locator("canvas.f0").get_attribute("data-points")) > 100
    medians = {k: float(sec.locator(f"canvas.f0.{k}").get_attribute("data-median")) for k in ("input", "AtoB")}
    assert medians["AtoB"] > 1.5 * medians["input"]
    assert not page.locator("#error").is_visible()


def test_page_converts_a_held_out_sentence_and_shows_a_bad_upload(page, tmp_path):
    sec = page.locator("section[data-kind='voice']")
    n = int(sec.get_attribute("data-converted") or 0)
    sec.locator("select.speaker").select_option("B")
    sec.locator("button[data-action='convert-sentence']").click()
    page.wait_for_selector(f"section[data-kind='voice'][data-converted='{n + 1}']")
    assert "s0.wav" in sec.locator(".note").first.text_content()
    bad = tmp_path / "bad.wav"
    bad.write_text("not audio")
    sec.locator("input.upload").set_input_files(str(bad))
    page.wait_for_selector("#error.shown")
    assert "is not a PCM WAV" in page.locator("#error").text_content()


def test_page_records_from_the_microphone_and_converts_the_recording(page):
    """Record (chromium's fake microphone) -> Stop: the recording goes up as a WAV and comes back converted."""
    sec = page.locator("section[data-kind='voice']")
    n = int(sec.get_attribute("data-converted") or 0)
    button = sec.locator("button[data-action='record']")
    button.click()
    page.wait_for_selector("section[data-kind='voice'][data-recording='1']")
    assert button.text_content() == "Stop"
    page.wait_for_timeout(1500)
    button.click()
    page.wait_for_selector(f"section[data-kind='voice'][data-converted='{n + 1}']")
    assert button.text_content() == "Record" and not page.locator("#error").is_visible()
    seconds = sec.locator("figure[data-clip='input'] audio").get_attribute("data-seconds")
    assert 1.0 < float(seconds) < 4.0  # about the 1.5 s recorded, decoded and sent as a WAV
    assert sec.locator("figure[data-clip='AtoB'] audio").get_attribute("src").startswith("data:audio/wav")
