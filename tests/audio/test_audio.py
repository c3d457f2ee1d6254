"""Audio: WAV round trips and bad files, resampling against scipy, features and Griffin-Lim, pitch, metrics."""

import math
import wave

import numpy as np
import pytest

from genlab.audio import features, metrics, pitch
from genlab.audio.wav import load_audio, read_wav, resample, write_wav
from genlab.errors import GenlabError

SR = 16000


def tone(f0, seconds=0.6, sr=SR, harmonics=6):
    t = np.arange(int(seconds * sr)) / sr
    return (0.3 * sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, harmonics + 1))).astype(np.float32)


def write_raw(path, data: bytes, channels=1, width=2, rate=SR):
    with wave.open(str(path), "wb") as f:
        f.setnchannels(channels)
        f.setsampwidth(width)
        f.setframerate(rate)
        f.writeframes(data)
    return path


# ---- WAV ----

def test_wav_round_trip_and_stereo_mix(tmp_path):
    x = tone(200)
    y, sr = read_wav(write_wav(tmp_path / "a.wav", x))
    assert sr == SR and np.abs(y - x).max() < 1e-4
    stereo = np.stack([(x * 32767).astype("<i2"), np.zeros_like(x, dtype="<i2")], 1)
    y, _ = read_wav(write_raw(tmp_path / "s.wav", stereo.tobytes(), channels=2))
    assert np.abs(y - x / 2).max() < 1e-3
    pcm24 = np.round(x.astype(np.float64) * 2**23).astype("<i4").view(np.uint8).reshape(-1, 4)[:, :3]
    y, _ = read_wav(write_raw(tmp_path / "24.wav", pcm24.tobytes(), width=3))
    assert np.abs(y - x).max() < 1e-5


@pytest.mark.parametrize("case, message", [
    ("text", "not a PCM WAV"), ("zero", "empty"), ("noframes", "empty"), ("short", "at least 250 ms"),
    ("channels", "3 channels"), ("missing", "does not exist")])
def test_bad_audio_gives_one_line_errors(tmp_path, case, message):
    p = tmp_path / "bad.wav"
    if case == "text":
        p.write_text("hello, not audio")
    elif case == "zero":
        p.write_bytes(b"")
    elif case == "noframes":
        write_raw(p, b"")
    elif case == "short":
        write_wav(p, tone(200, seconds=0.05))
    elif case == "channels":
        write_raw(p, np.zeros(3 * SR, "<i2").tobytes(), channels=3)
    with pytest.raises(GenlabError, match=message) as e:
        read_wav(p)
    assert "\n" not in str(e.value)


def test_huge_audio_refused(tmp_path, monkeypatch):
    from genlab.audio import wav as wav_module

    monkeypatch.setattr(wav_module, "MAX_SECONDS", 1.0)
    p = write_wav(tmp_path / "long.wav", np.zeros(2 * SR, np.float32))
    with pytest.raises(GenlabError, match="at most 1 s"):
        read_wav(p)


def test_resample_matches_scipy_and_keeps_a_tone(tmp_path):
    signal = pytest.importorskip("scipy.signal")
    x = tone(300, seconds=0.5, sr=22050)
    ours = resample(x, 22050, SR)
    ref = signal.resample_poly(x.astype(np.float64), 320, 441)
    assert len(ours) == len(ref)
    assert np.abs(ours[300:-300] - ref[300:-300]).max() < 2e-3
    y = load_audio(write_wav(tmp_path / "t.wav", x, 22050))
    assert len(y) == len(ours)
    # a 7 kHz tone at 22.05 kHz is removed (above the new Nyquist), not aliased to 9 kHz - 7 kHz
    hi = (0.5 * np.sin(2 * np.pi * 9000 * np.arange(22050) / 22050)).astype(np.float32)
    assert np.abs(resample(hi, 22050, SR)[500:-500]).max() < 0.01


# ---- features ----

def test_filterbank_peaks_and_log_mel_shapes():
    cfg = features.FeatureConfig()
    fb = features.mel_filterbank(cfg).numpy()
    assert fb.shape == (cfg.n_mels, cfg.n_fft // 2 + 1) and np.all(fb.sum(1) > 0)
    centres = features.mel_to_hz(np.linspace(features.hz_to_mel(cfg.fmin), features.hz_to_mel(cfg.fmax),
                                             cfg.n_mels + 2))[1:-1]
    freqs = np.arange(fb.shape[1]) * cfg.sample_rate / cfg.n_fft
    assert np.all(np.abs(freqs[fb.argmax(1)] - centres) <= cfg.sample_rate / cfg.n_fft)
    x = tone(220)
    lm = features.log_mel(x, cfg)
    assert lm.shape == (cfg.n_mels, len(x) // cfg.hop + 1)
    band = int(np.argmin(np.abs(centres - 220)))  # the tone's band is the loudest
    assert abs(int(lm.mean(1).argmax()) - band) <= 1


def test_griffin_lim_rebuilds_the_spectrogram():
    cfg = features.FeatureConfig()
    x = tone(180, seconds=0.5) + 0.02 * np.random.default_rng(0).normal(size=8000).astype(np.float32)
    lm = features.log_mel(x, cfg)
    y = features.mel_to_wave(lm, cfg, n_iter=40)
    assert abs(len(y) - len(x)) < cfg.hop
    rebuilt = features.log_mel(y, cfg)
    assert (rebuilt - lm[:, :rebuilt.shape[1]]).abs().mean() < 0.3  # within ~2.6 dB per band on average
    assert metrics.mcd(y, x, cfg) < 2.0
    f0 = pitch.estimate_f0(y, SR)
    assert abs(np.median(f0[f0 > 0]) - 180) < 5


# ---- pitch ----

@pytest.mark.parametrize("f0", [90.0, 150.0, 240.0])
def test_yin_finds_the_f0_of_a_harmonic_tone(f0):
    est = pitch.estimate_f0(tone(f0), SR)
    voiced = est[est > 0]
    assert voiced.size > 0.9 * est.size - 4
    assert abs(np.median(voiced) - f0) < 0.01 * f0


def test_silence_is_unvoiced():
    x = np.concatenate([np.zeros(SR // 2, np.float32), tone(150, 0.5)])
    est = pitch.estimate_f0(x, SR)
    assert (est[:40] == 0).all() and (est[-30:-5] > 0).all()


def test_f0_mapping_gives_the_predicted_pitch_of_a_converted_tone():
    source, target = (math.log(110.0), 0.2), (math.log(220.0), 0.15)
    f_in = 130.0
    predicted = math.exp((math.log(f_in) - source[0]) / source[1] * target[1] + target[0])
    assert pitch.convert_f0(np.array([f_in, 0.0]), source, target)[0] == pytest.approx(predicted, rel=1e-5)
    assert pitch.convert_f0(np.array([0.0]), source, target)[0] == 0.0
    x = tone(f_in, seconds=0.8)
    est = pitch.estimate_f0(x, SR)
    mapped = np.median(pitch.convert_f0(est[est > 0], source, target))
    y = pitch.pitch_shift(x, float(mapped / np.median(est[est > 0])))
    out = pitch.estimate_f0(y, SR)
    assert len(y) == len(x)
    assert abs(np.median(out[out > 0]) - predicted) < 0.02 * predicted


def test_logf0_stats_of_known_tracks():
    m, s = pitch.logf0_stats([np.array([100.0, 0.0, 400.0]), np.array([200.0])])
    assert m == pytest.approx(math.log(200.0)) and s == pytest.approx(np.std(np.log([100, 400, 200])))


# ---- metrics ----

def test_dtw_against_brute_force():
    rng = np.random.default_rng(0)
    cost = rng.random((5, 4))

    def brute(i, j):  # the recursion written as plain recursion
        if i == 0 and j == 0:
            return cost[0, 0]
        opts = []
        if i > 0:
            opts.append(brute(i - 1, j))
        if j > 0:
            opts.append(brute(i, j - 1))
        if i > 0 and j > 0:
            opts.append(brute(i - 1, j - 1))
        return cost[i, j] + min(opts)

    total, path = metrics.dtw(cost)
    assert total == pytest.approx(brute(4, 3))
    assert path[0] == (0, 0) and path[-1] == (4, 3)
    assert sum(cost[i, j] for i, j in path) == pytest.approx(total)
    # a sequence against a time-stretched copy of itself aligns at zero cost
    a = rng.random((6, 3))
    assert metrics.dtw(metrics.euclidean_cost(a, np.repeat(a, 2, 0)))[0] == pytest.approx(0, abs=1e-6)


def test_mel_cepstrum_is_the_cosine_series_of_the_log_mel():
    fft = pytest.importorskip("scipy.fft")
    lm = np.random.default_rng(1).normal(size=(80, 7))
    ref = fft.dct(lm, type=2, axis=0)[1:25].T / (2 * 80)  # scipy's DCT-II is 2 sum x cos(...)
    assert np.allclose(metrics.mel_cepstrum(lm), ref)


def test_mcd_known_answers():
    c = np.random.default_rng(2).normal(size=(20, 24))
    assert metrics.mcd_cepstra(c, c) == 0.0
    shifted = c.copy()
    shifted[:, 0] += 0.5  # one coefficient off by 0.5 in every frame: (10 / ln 10) sqrt(2 * 0.25)
    assert metrics.mcd_cepstra(c, shifted) == pytest.approx(10 / math.log(10) * math.sqrt(0.5))
    x = tone(150)
    assert metrics.mcd(x, x) == pytest.approx(0.0, abs=1e-4)  # the target's own reading: MCD 0


def test_speaker_similarity_and_content_kept_on_known_cases():
    low = [tone(f, 0.5, harmonics=k) for f, k in ((100, 8), (110, 7), (95, 9))]
    high = [tone(f, 0.5, harmonics=k) for f, k in ((230, 3), (250, 4), (210, 3))]
    clf = metrics.SpeakerClassifier().fit(low + high, [0] * 3 + [1] * 3)
    assert metrics.speaker_similarity(clf, high, 1) == 1.0  # the target's own clips: 100 %
    assert metrics.speaker_similarity(clf, low, 1) == 0.0
    # "sentences": different tone sequences; the same sequences are nearest to themselves
    seqs = [np.concatenate([tone(f, 0.25) for f in fs]) for fs in ((120, 200, 300), (300, 120, 200), (200, 300, 120))]
    kept, dist = metrics.content_kept(seqs, seqs)
    assert kept == 1.0 and np.allclose(np.diag(dist), 0, atol=1e-6)
