"""cyclegan-voice: the GLU generator, voice data (folders, espeak-ng, festival), training steps, save/load with
the speaker statistics, WORLD conversion with the F0 mapping, the Griffin-Lim fallback, resume, convert-voice
CLI and evaluate_voice in both directions."""

import math
import os
import shutil

import numpy as np
import pytest
import torch

from genlab import TrainConfig, load, train
from genlab.audio import metrics
from genlab.audio.wav import read_wav, write_wav
from genlab.cli import main
from genlab.data import load_dataset
from genlab.data.base import ImageData
from genlab.errors import GenlabError
from genlab.models import build_model
from genlab.models.cyclegan_voice import VoiceGenerator
from genlab.training import checkpoint
from genlab.training.batches import Batches

SR = 16000
TINY = {
    "model.channels": 4,
    "model.n_blocks": 1,
    "model.ndf": 4,
    "model.patch_layers": 1,
    "model.pool_size": 4,
    "model.griffin_lim_iters": 4,
    "train.batch_size": 4,
    "train.num_samples": 4,
}


def voice(f0, seconds=0.6, seed=0, vowel=1.0, sr=SR):
    """A crude voice: harmonics of f0 with a spectral tilt (the 'timbre') and a little vibrato, plus noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    phase = 2 * np.pi * f0 * (t + 0.002 * np.sin(2 * np.pi * 5 * t))
    x = sum(np.sin(k * phase) * vowel**k / k for k in range(1, int(3000 / f0)))
    return (0.2 * x / np.abs(x).max() + 0.005 * rng.normal(size=t.size)).astype(np.float32)


@pytest.fixture(scope="module")
def voice_dir(tmp_path_factory):
    """trainA/ (low voice) and trainB/ (high voice) WAVs, and testA/ testB/ with the same file names."""
    root = tmp_path_factory.mktemp("voices")
    for i in range(3):
        write_wav(root / "trainA" / f"a{i}.wav", voice(100 + 8 * i, seed=i, vowel=0.9))
        write_wav(root / "trainB" / f"b{i}.wav", voice(220 + 10 * i, seed=10 + i, vowel=0.6, sr=22050), 22050)
    for i in range(2):
        write_wav(root / "testA" / f"s{i}.wav", voice(105 + 20 * i, seed=20 + i, vowel=0.9))
        write_wav(root / "testB" / f"s{i}.wav", voice(230 + 30 * i, seed=30 + i, vowel=0.6))
    return root


@pytest.fixture(scope="module")
def tiny_run(voice_dir, tmp_path_factory):
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("run") / "run"
    train("cyclegan-voice", str(voice_dir), out, settings=dict(TINY), steps=3, quiet=True)
    return out


# ---- networks ----

pytest.importorskip("pyworld")  # the WORLD vocoder (the Griffin-Lim fallback is tested by forcing it)


@pytest.mark.parametrize("frames", [64, 37, 16])
def test_generator_keeps_the_shape_for_any_length(frames):
    g = VoiceGenerator(20, c=4, n_blocks=1)
    x = torch.randn(2, 1, 20, frames)
    assert g(x).shape == x.shape


def test_residual_generator_starts_as_the_identity():
    g = VoiceGenerator(12, c=4, n_blocks=1, residual=True)
    x = torch.randn(2, 1, 12, 40)
    assert torch.equal(g(x), x)
    loss = (g(x) - x.flip(-1)).pow(2).mean()
    loss.backward()
    assert g.net[-1].weight.grad.abs().sum() > 0  # and it learns from there


def test_bounded_correction_is_bound_times_tanh():
    torch.manual_seed(0)
    free = VoiceGenerator(12, c=4, n_blocks=1, residual=True)
    bounded = VoiceGenerator(12, c=4, n_blocks=1, residual=True, bound=0.5)
    bounded.load_state_dict(free.state_dict())
    x = torch.randn(2, 1, 12, 40)
    assert torch.equal(bounded(x), x)  # still starts as the identity
    torch.nn.init.normal_(free.net[-1].weight, std=1.0)  # a trained-looking last layer, the same in both
    bounded.load_state_dict(free.state_dict())
    with torch.no_grad():
        raw = free(x) - x
        corr = bounded(x) - x
    assert raw.abs().max() > 1  # the unbounded correction goes beyond the bound here
    assert torch.allclose(corr, 0.5 * torch.tanh(raw / 0.5), atol=1e-6)
    assert corr.abs().max() <= 0.5 + 1e-6


def test_cycle_distance_reaches_the_losses(voice_dir, monkeypatch):
    """With generators that output zeros, the cycle and identity terms are the chosen distance of the
    inputs (l1: mean |x|, l2: mean x^2), computed here by hand; train_step passes the config's choice."""
    from genlab.models import cyclegan_voice

    torch.manual_seed(0)
    a, b = torch.randn(2, 1, 8, 16), torch.randn(2, 1, 8, 16)
    for kind, norm in (("l1", lambda z: z.abs().mean()), ("l2", lambda z: z.pow(2).mean())):
        model = build_model(
            "cyclegan-voice",
            image_shape=(1, 8, 16),
            channels=2,
            n_blocks=0,
            ndf=2,
            patch_layers=0,
            pool_size=0,
            residual=False,
            cycle_distance=kind,
        )
        for g in (model.g_ab, model.g_ba):
            torch.nn.init.zeros_(g.net[-1].weight)
            torch.nn.init.zeros_(g.net[-1].bias)
        opt = model.configure_optimizers(TrainConfig(lr=1e-4))
        out = cyclegan_voice.cycle_update(model, a, b, opt, "lsgan", kind)
        want = norm(a) + norm(b)  # |0 - a| and |0 - b| for the two cycles, and for the two identities
        assert torch.isclose(out["cycle"], want, rtol=1e-5), kind
        assert torch.isclose(out["identity"], want, rtol=1e-5), kind
    seen = {}
    monkeypatch.setattr(cyclegan_voice, "cycle_update", lambda *args: seen.setdefault("args", args[4:]))
    model = build_model(
        "cyclegan-voice", channels=2, n_blocks=0, ndf=2, patch_layers=0, cycle_distance="smooth-l1", cycle_beta=0.3
    )
    model.train_step(Batches(load_dataset(str(voice_dir), "train"), 2, 0), {}, 0)
    assert seen["args"] == ("lsgan", "smooth-l1", 0.3)


def test_config_errors_are_one_line():
    with pytest.raises(GenlabError, match="multiple of 4"):
        build_model("cyclegan-voice", image_shape=(1, 80, 30))
    with pytest.raises(GenlabError, match=r"\(1, features, frames\)"):
        build_model("cyclegan-voice", image_shape=(3, 80, 64))
    with pytest.raises(GenlabError, match="vocoder must be one of"):
        build_model("cyclegan-voice", vocoder="wavenet")
    with pytest.raises(GenlabError, match="cycle_distance must be one of"):
        build_model("cyclegan-voice", cycle_distance="l3")
    with pytest.raises(GenlabError, match="residual=true"):
        build_model("cyclegan-voice", residual=False, correction_bound=1.0)


# ---- data ----


def test_voice_folder_loads_as_unpaired_segments(voice_dir):
    data = load_dataset(str(voice_dir), "train")
    # float WORLD features (36 coded envelope coefficients x 128 frames of 5 ms), not quantised images
    assert data.images.dtype == torch.float32 and data.images.shape[1:] == (1, 36, 128)
    assert data.pair.shape == data.images.shape
    v = data.meta["voice"]
    assert v["vocoder"]["name"] == "world"
    assert math.exp(v["A"]["logf0"][0]) == pytest.approx(108, rel=0.05)  # 100, 108, 116 Hz
    assert math.exp(v["B"]["logf0"][0]) == pytest.approx(230, rel=0.05)  # 22.05 kHz files resampled
    test = load_dataset(str(voice_dir), "test")
    assert test.meta["voice"]["A"] == v["A"]  # test clips use the training statistics
    # z-scores by each speaker's own statistics: mean ~0 and std ~1 per coefficient
    assert abs(float(data.images.mean())) < 0.3 and 0.5 < float(data.images.std()) < 1.5


def test_voices_dataset_from_espeak(tmp_path, monkeypatch):
    if shutil.which("espeak-ng") is None and not os.environ.get("CI"):  # CI installs it: never skipped there
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    from genlab.data import voices

    monkeypatch.setenv("GENLAB_DATA", str(tmp_path))
    monkeypatch.setattr(voices, "TRAIN_A", voices.TRAIN_A[:2])
    monkeypatch.setattr(voices, "TRAIN_B", voices.TRAIN_B[:2])
    monkeypatch.setattr(voices, "HELD_OUT", voices.HELD_OUT[:2])
    voices._builtin_stats.cache_clear()
    try:
        data = load_dataset("voices", "train")
        test = load_dataset("voices", "test")
    finally:
        voices._builtin_stats.cache_clear()
    assert not set(voices.TRAIN_A) & set(voices.TRAIN_B)  # no sentence is read by both for training
    assert set(data.meta["texts_A"]).isdisjoint(data.meta["texts_B"])
    assert test.meta["texts_A"] == test.meta["texts_B"]  # the held-out sentences are read by both
    f0_a, f0_b = (math.exp(data.meta["voice"][v]["logf0"][0]) for v in "AB")
    assert f0_a < 130 and f0_b > 180  # a low and a high voice
    assert data.images.shape[1:] == (1, 36, 128) and len(list(tmp_path.glob("voices/*.wav"))) == 2 * (2 * 2 + 2)


def test_recorded_voices_from_festival(tmp_path, monkeypatch):
    from genlab.data import voices

    if not voices.festival_available():
        if os.environ.get("CI"):  # CI installs festival: never skipped there
            raise AssertionError("festival and its voices are not installed")
        pytest.skip("festival is not installed (apt-get install festival festvox-kallpc16k festvox-us-slt-hts)")
    monkeypatch.setenv("GENLAB_DATA", str(tmp_path))
    monkeypatch.setattr(
        voices,
        "RECORDED",
        {"A": voices.RECORDED["A"][:2], "B": voices.RECORDED["B"][:2], "test": voices.RECORDED["test"][:1]},
    )
    voices._builtin_stats.cache_clear()
    try:
        data = load_dataset("recorded-voices", "train")
        test = load_dataset("recorded-voices", "test")
    finally:
        voices._builtin_stats.cache_clear()
    assert not set(voices.RECORDED["A"]) & set(voices.RECORDED["B"])
    assert not set(voices.RECORDED["test"]) & (set(voices.RECORDED["A"]) | set(voices.RECORDED["B"]))
    assert test.meta["texts_A"] == test.meta["texts_B"]
    f0_a, f0_b = (math.exp(data.meta["voice"][v]["logf0"][0]) for v in "AB")
    assert 80 < f0_a < 140 and 150 < f0_b < 250  # kal (male) and SLT (female)
    assert len(list(tmp_path.glob("recorded-voices/*.wav"))) == 2 * (2 + 1)


def test_griffin_lim_fallback_without_world(voice_dir, tmp_path, monkeypatch):
    """Without pyworld the data, the model and its config use the log-mel + Griffin-Lim vocoder."""
    from genlab.audio import world

    monkeypatch.setattr(world, "world_available", lambda: False)
    data = load_dataset(str(voice_dir), "train")
    assert data.meta["voice"]["vocoder"]["name"] == "griffin-lim" and data.images.shape[1:] == (1, 80, 64)
    out = tmp_path / "gl"
    train("cyclegan-voice", str(voice_dir), out, settings=dict(TINY), steps=1, quiet=True)
    model = load(out)
    assert model.config.vocoder == "griffin-lim"
    y, sr = model.convert(voice(120, seconds=0.5), SR)
    assert sr == SR and np.isfinite(y).all() and len(y) > SR // 4
    monkeypatch.setattr(world, "world_available", lambda: True)  # a WORLD model refuses log-mel data
    with pytest.raises(GenlabError, match="other vocoder settings"):
        build_model("cyclegan-voice", image_shape=(1, 80, 64), vocoder="world").stats.set_from(
            data.meta, build_model("cyclegan-voice", image_shape=(1, 80, 64), vocoder="world").config
        )


# ---- training, save/load, resume ----


def test_steps_are_finite_and_set_the_statistics(voice_dir):
    data = load_dataset(str(voice_dir), "train")
    torch.manual_seed(0)
    model = build_model("cyclegan-voice", channels=4, n_blocks=1, ndf=4, patch_layers=1, pool_size=4)
    assert not bool(model.stats.ready)
    opt = model.configure_optimizers(TrainConfig())
    batches = Batches(data, 4, 0)
    for step in range(3):
        out = model.train_step(batches, opt, step)
        assert all(torch.isfinite(v) for v in out.values())
        assert set(out) == {"d_a", "d_b", "g_loss", "g_adv", "cycle", "identity"}
    assert bool(model.stats.ready)
    assert model.stats.mean[1].tolist() == pytest.approx(data.meta["voice"]["B"]["mean"])


def test_training_needs_voice_data():
    model = build_model("cyclegan-voice", image_shape=(1, 8, 16), channels=2, n_blocks=0, ndf=2, patch_layers=0)
    images = torch.zeros(4, 1, 8, 16, dtype=torch.uint8)
    with pytest.raises(GenlabError, match="voice data"):
        model.train_step(
            Batches(ImageData("x", images, pair=images), 2, 0), model.configure_optimizers(TrainConfig()), 0
        )


def test_identity_mapping_lowers_a_spectral_loss():
    """A few steps on identity alone (no adversary) bring G close to the identity: the loss falls."""
    torch.manual_seed(0)
    g = VoiceGenerator(16, c=8, n_blocks=1)
    opt = torch.optim.Adam(g.parameters(), lr=3e-3)
    t = torch.linspace(0, 6, 32)
    x = torch.sin(t[None, None, None, :] * torch.rand(8, 1, 16, 1) + torch.rand(8, 1, 16, 1) * 6)  # smooth "spectra"
    first = None
    for _ in range(60):
        loss = (g(x) - x).abs().mean()
        first = first if first is not None else float(loss.detach())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.6 * first


def test_untrained_residual_conversion_is_the_statistics_map(tiny_run):
    """At zero correction: 'speaker' variance is the mean/variance conversion, 'shared' a mean shift."""
    model = load(tiny_run)
    for g in (model.g_ab, model.g_ba):
        torch.nn.init.zeros_(g.net[-1].weight)
        torch.nn.init.zeros_(g.net[-1].bias)
    f = torch.randn(36, 20)
    s = model.stats
    expected = (f - s.mean[0, :, None]) / s.std[0, :, None] * s.std[1, :, None] + s.mean[1, :, None]
    assert torch.allclose(model.convert_features(f), expected, atol=1e-5)
    model.config.variance = "shared"
    assert torch.allclose(model.convert_features(f, "BtoA"), f - s.mean[1, :, None] + s.mean[0, :, None], atol=1e-5)


def test_run_saves_statistics_and_loads_equal(tiny_run, voice_dir):
    assert (checkpoint.latest(tiny_run) / "stats.safetensors").exists()
    model = load(tiny_run)
    assert bool(model.stats.ready) and model.family == "cyclegan-voice"
    features = torch.randn(36, 50)
    again = load(tiny_run)
    assert torch.equal(model.convert_features(features), again.convert_features(features))
    data = load_dataset(str(voice_dir), "train")
    assert model.stats.logf0[0].tolist() == pytest.approx(data.meta["voice"]["A"]["logf0"])


def test_resume_continues_to_the_same_weights(voice_dir, tmp_path):
    from genlab.training import resume

    settings = {**TINY, "model.decay_start": 1.0}  # constant lr: a 2-step run is the first half of a 4-step one
    full, half = tmp_path / "full", tmp_path / "half"
    train("cyclegan-voice", str(voice_dir), full, settings=settings, steps=4, quiet=True)
    train("cyclegan-voice", str(voice_dir), half, settings=settings, steps=2, quiet=True)
    resume(half, steps=4, quiet=True)  # history pools, RNG and data order come back from the state
    a, b = load(full), load(half)
    for name in ("g_ab", "g_ba", "d_a", "d_b"):
        for (k, v), (_, w) in zip(a.networks()[name].state_dict().items(), b.networks()[name].state_dict().items()):
            assert torch.allclose(v, w, atol=1e-6), f"{name}.{k}"


# ---- conversion ----


def test_convert_gives_audio_at_the_mapped_pitch(tiny_run):
    model = load(tiny_run)
    x = voice(110, seconds=0.8, seed=5, vowel=0.9)
    y, sr = model.convert(x, SR)
    assert sr == SR and y.dtype == np.float32 and abs(len(y) - len(x)) < 0.01 * SR
    lf = model.stats.logf0.double().numpy()
    f0_in, _ = metrics.clip_mcep(x, SR)
    predicted = np.exp((np.log(f0_in[f0_in > 0]) - lf[0, 0]) / lf[0, 1] * lf[1, 1] + lf[1, 0])
    f0_out, _ = metrics.clip_mcep(y, SR)
    assert abs(np.median(f0_out[f0_out > 0]) - np.median(predicted)) < 0.05 * np.median(predicted)
    y2, _ = model.convert(torch.from_numpy(x), SR, "BtoA", pitch=False)  # torch input, other direction
    f0_2, _ = metrics.clip_mcep(y2, SR)
    assert np.isfinite(y2).all() and abs(np.median(f0_2[f0_2 > 0]) - 110) < 8  # pitch kept


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.zeros(0, np.float32), "no samples"),
        (np.zeros(100, np.float32), "at least 250 ms"),
        (np.zeros((2, 8000), np.float32), "mono"),
    ],
)
def test_convert_refuses_bad_audio(tiny_run, bad, message):
    with pytest.raises(GenlabError, match=message):
        load(tiny_run).convert(bad, SR)


def test_convert_voice_cli_file_and_folder(tiny_run, voice_dir, tmp_path, capsys):
    out = tmp_path / "out.wav"
    assert main(["convert-voice", str(tiny_run), str(voice_dir / "testA" / "s0.wav"), "--out", str(out)]) == 0
    y, sr = read_wav(out)
    assert sr == SR and len(y) > SR // 4
    folder = tmp_path / "converted"
    assert (
        main(["convert-voice", str(tiny_run), str(voice_dir / "testB"), "--out", str(folder), "--direction", "BtoA"])
        == 0
    )
    assert sorted(p.name for p in folder.iterdir()) == ["s0.wav", "s1.wav"]
    bad = tmp_path / "notes.txt"
    bad.write_text("not audio")
    assert main(["convert-voice", str(tiny_run), str(bad), "--out", str(tmp_path / "x.wav")]) == 2
    assert "not a PCM WAV" in capsys.readouterr().err


# ---- evaluation ----


def test_evaluate_voice_both_directions_and_references(tiny_run, voice_dir):
    from genlab.evaluation.voice import evaluate_voice

    model = load(tiny_run)
    values, how = evaluate_voice(model)
    for d in ("AtoB", "BtoA"):
        for key in (
            "mcd",
            "mcd_source",
            "mcd_baseline",
            "speaker_similarity",
            "speaker_similarity_baseline",
            "speaker_similarity_target",
            "f0_corr",
            "f0_rmse",
        ):
            assert f"{key}_{d}" in values and key in values
    assert {"mcd", "f0_corr", "f0_rmse", "speaker_similarity", "wer"} <= set(how)
    assert "wer" not in values and "skipped" in how["wer"]  # no transcripts in this folder
    a = [read_wav(voice_dir / "testA" / f"s{i}.wav")[0] for i in range(2)]
    b = [read_wav(voice_dir / "testB" / f"s{i}.wav")[0] for i in range(2)]
    from genlab.audio.features import trim_silence

    expected = np.mean([metrics.compare(trim_silence(x), trim_silence(t), SR)["mcd"] for x, t in zip(a, b)])
    assert values["mcd_source_AtoB"] == pytest.approx(expected, rel=1e-6)
    assert values["speaker_similarity_target"] == 1.0 and values["speaker_similarity_source_AtoB"] == 0.0
    assert values["mcd"] > 0


def test_evaluate_voice_known_answer_when_conversion_returns_the_target(tiny_run, voice_dir, tmp_path):
    """A 'model' whose conversion is the target's own reading scores MCD 0, similarity 1, F0 correlation 1,
    and the recogniser's WER of the target itself."""
    from genlab.audio.features import trim_silence
    from genlab.evaluation.voice import evaluate_voice

    pytest.importorskip("pocketsphinx")
    folder = tmp_path / "v"
    shutil.copytree(voice_dir, folder)
    for i in range(2):
        (folder / "testA" / f"s{i}.txt").write_text("a low hum")
    model = load(tiny_run)
    model.meta["data"] = str(folder)
    clips = {v: [trim_silence(read_wav(folder / f"test{v}" / f"s{i}.wav")[0]) for i in range(2)] for v in "AB"}
    lookup = {x.tobytes(): t for x, t in zip(clips["A"], clips["B"])}
    lookup.update({x.tobytes(): t for x, t in zip(clips["B"], clips["A"])})
    model.convert = lambda x, sr, direction="AtoB", pitch=True: (lookup[x.tobytes()], sr)
    values, how = evaluate_voice(model)
    for d in ("AtoB", "BtoA"):
        assert values[f"mcd_{d}"] == pytest.approx(0.0, abs=1e-9)
        assert values[f"speaker_similarity_{d}"] == 1.0 and values[f"f0_corr_{d}"] == pytest.approx(1.0)
        assert values[f"wer_{d}"] == values[f"wer_target_{d}"]
    assert how["wer"]["recogniser"].startswith("pocketsphinx") and len(how["wer"]["transcripts"]["AtoB"]) == 2
