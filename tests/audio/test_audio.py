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


@pytest.mark.parametrize(
    "case, message",
    [
        ("text", "not a PCM WAV"),
        ("zero", "empty"),
        ("noframes", "empty"),
        ("short", "at least 250 ms"),
        ("channels", "3 channels"),
        ("missing", "does not exist"),
    ],
)
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
    centres = features.mel_to_hz(
        np.linspace(features.hz_to_mel(cfg.fmin), features.hz_to_mel(cfg.fmax), cfg.n_mels + 2)
    )[1:-1]
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
    assert (rebuilt - lm[:, : rebuilt.shape[1]]).abs().mean() < 0.3  # within ~2.6 dB per band on average
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


def source_filter(f0, formant_scale=1.0, seconds=0.8, sr=SR, seed=0):
    """A vowel-like voice: an impulse train at f0 (with a slow glide) through resonances at formants that
    are scaled by ``formant_scale`` (the speaker's vocal tract), changing vowel halfway."""
    sig = pytest.importorskip("scipy.signal")
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    f = f0 * (1 + 0.05 * np.sin(2 * np.pi * 2 * np.arange(n) / sr))
    pulses = (np.diff(np.floor(np.cumsum(f / sr)), prepend=0) > 0).astype(np.float64)
    glottal = sig.lfilter(*sig.butter(1, 800, fs=sr), pulses)  # a spectral tilt
    out = np.zeros(n)
    for half, formants in enumerate(((700, 1200, 2600), (300, 2300, 3000))):
        y = glottal[half * n // 2 : (half + 1) * n // 2]
        for fc in formants:
            y = y + 3 * sig.lfilter(*sig.iirpeak(fc * formant_scale, 5, fs=sr), y)
        out[half * n // 2 : (half + 1) * n // 2] = y
    out += 0.002 * rng.normal(size=n)
    return (0.5 * out / np.abs(out).max()).astype(np.float32)


def test_mel_cepstrum_recovers_hand_made_cepstra_and_agrees_with_sptk():
    """c~ -> ln|H(w)| = sum c~(m) cos(m b(w)) (the closed form) -> power envelope -> sp_to_mcep gives c~ back."""
    rng = np.random.default_rng(1)
    c = rng.normal(0, 0.4, (6, 25)) / np.arange(1, 26)
    sp = np.exp(2 * metrics.mcep_to_log_amplitude(c, 513))
    assert np.allclose(metrics.sp_to_mcep(sp), c, atol=1e-3)
    # alpha = 0: the plain real cepstrum, computed by numpy's FFT instead (one-sided: c(m) = 2 cep(m))
    cep = np.fft.irfft(0.5 * np.log(sp), axis=1)[:, :25]
    cep[:, 1:] *= 2
    assert np.allclose(
        metrics.sp_to_mcep(np.exp(2 * metrics.mcep_to_log_amplitude(c, 513, 0.0)), alpha=0.0), c, atol=1e-3
    )
    cep0 = np.fft.irfft(np.log(np.exp(metrics.mcep_to_log_amplitude(c, 513, 0.0))), axis=1)[:, :25]
    cep0[:, 1:] *= 2
    assert np.allclose(cep0, c, atol=1e-6)
    try:  # SPTK itself, where pysptk is installed (the test extra)
        import pysptk
    except ImportError:
        return
    ref = np.stack([pysptk.sp2mc(row, order=24, alpha=metrics.ALPHA) for row in sp])
    assert np.abs(metrics.sp_to_mcep(sp) - ref).max() < 1e-3


def test_mcd_known_answers():
    c = np.random.default_rng(2).normal(size=(20, 25))
    assert metrics.mcd_cepstra(c, c) == 0.0
    gain = c.copy()
    gain[:, 0] += 3.0  # c~(0), the gain, is excluded
    assert metrics.mcd_cepstra(c, gain) == 0.0
    shifted = c.copy()
    shifted[:, 1] += 0.5  # one coefficient off by 0.5 in every frame: (10 / ln 10) sqrt(2 * 0.25)
    assert metrics.mcd_cepstra(c, shifted) == pytest.approx(10 / math.log(10) * math.sqrt(0.5))
    # DTW: a time-stretched copy aligns at zero distortion
    assert metrics.mcd_cepstra(c, np.repeat(c, 2, 0)) == pytest.approx(0.0, abs=1e-9)


def test_compare_gives_mcd_zero_and_perfect_f0_for_the_targets_own_reading():
    pytest.importorskip("pyworld")
    x = source_filter(120)
    m = metrics.compare(x, x, SR)
    assert m["mcd"] == pytest.approx(0.0, abs=1e-9) and m["f0_corr"] == pytest.approx(1.0)
    assert m["f0_rmse"] == 0.0 and m["f0_frames"] > 100
    other = metrics.compare(x, source_filter(200, 1.25, seed=1), SR)
    assert other["mcd"] > 3.0


def test_f0_agreement_closed_form():
    f0 = np.array([100.0, 110.0, 0.0, 130.0, 90.0])
    idx = np.arange(5)
    corr, rmse, n = metrics.f0_agreement(f0, f0 * 1.1, idx, idx)
    assert corr == pytest.approx(1.0) and n == 4
    assert rmse == pytest.approx(0.1 * np.sqrt(np.mean(np.array([100.0, 110, 130, 90]) ** 2)))


def test_world_round_trip_and_pitch_only_shift():
    pytest.importorskip("pyworld")
    from genlab.audio import world

    x = source_filter(110)
    fr = world.analyse(x, SR)
    assert fr.coded.shape == (len(fr.f0), 36) and fr.ap.shape == fr.sp.shape
    voiced = fr.f0[fr.f0 > 0]
    assert abs(np.exp(np.log(voiced).mean()) - 110) < 5
    y = world.synthesise(fr.f0, fr.coded, fr.ap, SR)
    assert abs(len(y) - len(x)) <= SR * 0.005 + 1 and metrics.compare(y, x, SR)["mcd"] < 3.0
    shifted = world.shift_pitch(x, SR, lambda f0: f0 * 2.0)
    f0_s, _ = metrics.clip_mcep(shifted, SR)
    assert abs(np.median(f0_s[f0_s > 0]) / np.median(voiced) - 2.0) < 0.1  # the pitch doubled ...
    assert metrics.compare(shifted, x, SR)["mcd"] < 4.0  # ... the envelope stayed


def test_speaker_model_is_not_fooled_by_a_pitch_shift():
    """Speakers differ in vocal tract (formants) and pitch; a source moved to the target's pitch stays the source."""
    pytest.importorskip("pyworld")
    from genlab.audio import world

    low = [source_filter(f, 1.0, seed=i) for i, f in enumerate((100, 110, 95, 105))]
    high = [source_filter(f, 1.25, seed=10 + i) for i, f in enumerate((210, 230, 220, 240))]
    model = metrics.SpeakerModel(SR, components=2).fit([low[:3], high[:3]])
    assert model.predict(low[3]) == 0 and model.predict(high[3]) == 1  # held-out clips of each voice
    assert model.score(high[3], 1) > 0 > model.score(low[3], 1)
    shifted = world.shift_pitch(low[3], SR, lambda f0: f0 * 2.2)  # at the target's pitch, envelope kept
    assert model.predict(shifted) == 0 and model.score(shifted, 1) < 0


def test_word_error_rate_known_cases_and_against_jiwer():
    assert metrics.word_errors("The cat sat.", "the cat sat") == (0, 3)
    assert metrics.word_errors("a b c", "a x c d") == (2, 3)  # one substitution, one insertion
    assert metrics.word_errors("a b c", "") == (3, 3)
    assert metrics.words("Listen to the teacher's words!") == ["listen", "to", "the", "teacher's", "words"]
    refs = ["the quick brown fox", "jumps over the lazy dog", "a b"]
    hyps = ["the quick brown box", "jumps the lazy lazy dog", ""]
    assert metrics.wer(refs, hyps) == pytest.approx(5 / 11)
    jiwer = pytest.importorskip("jiwer")
    assert metrics.wer(refs[:2], hyps[:2]) == pytest.approx(jiwer.wer(refs[:2], hyps[:2]))


def test_recogniser_reads_a_clean_clip_and_fails_a_garbled_one(tmp_path):
    """A festival reading of a sentence is transcribed word for word; the same clip reversed is not."""
    import os
    import shutil
    import subprocess

    pytest.importorskip("pocketsphinx")
    if shutil.which("text2wave") is None:
        if os.environ.get("CI"):
            raise AssertionError("CI installs festival")
        pytest.skip("festival is not installed (apt-get install festival festvox-us-slt-hts)")
    text = "Please pass me the bowl of cherries."
    (tmp_path / "t.txt").write_text(text)
    subprocess.run(
        ["text2wave", "-eval", "(voice_cmu_us_slt_arctic_hts)", str(tmp_path / "t.txt"), "-o", str(tmp_path / "t.wav")],
        check=True,
        capture_output=True,
        timeout=120,
    )
    x = load_audio(tmp_path / "t.wav", SR)
    rec = metrics.Recogniser()
    assert metrics.wer([text], [rec.transcribe(x, SR)]) == 0.0
    assert metrics.wer([text], [rec.transcribe(x[::-1].copy(), SR)]) > 0.5
