"""``genlab evaluate`` for cyclegan-voice runs: both directions on held-out sentences read by both voices.

The evaluation set is sentences that training never saw, read by both voices: a built-in's
held-out sentences, or same-name files in a folder's ``testA/`` and ``testB/``. For each direction
(A -> B, B -> A), every source clip is converted and compared with the target voice's reading of the
same sentence (definitions in :mod:`genlab.audio.metrics`). Beside the conversion, two references:

- ``source``: the unconverted source clip;
- ``baseline``: the normalisation-only conversion, the source's WORLD analysis resynthesised with F0
  mapped by the speakers' log-F0 statistics and the source's own envelope and aperiodicity (a pitch
  shift to the target's range and nothing else).

Keys (``_AtoB`` / ``_BtoA`` per direction; without a suffix, the mean of the two):

- ``wer``, ``wer_source``, ``wer_baseline``, ``wer_target``: word error rate of pocketsphinx on the
  converted clips, the sources, the baseline and the target's own readings (texts required);
- ``mcd``, ``mcd_source``, ``mcd_baseline``: mean MCD (dB) against the target's readings;
- ``speaker_similarity``: share of converted clips the speaker model calls the target voice;
  ``speaker_similarity_baseline``: the same for the pitch-shifted sources (a speaker model that a
  pitch shift fools would call them the target); ``speaker_similarity_target``: the target's own
  readings (the model's hit rate); ``speaker_llr``: mean log-likelihood ratio per frame, target vs source;
- ``f0_corr``, ``f0_rmse``: log-F0 correlation and F0 RMSE (Hz) against the target's readings.
"""

from __future__ import annotations

import numpy as np

from ..audio import metrics, world
from ..data.voices import paired_test_clips, train_clips
from ..errors import GenlabError

DIRECTIONS = ("AtoB", "BtoA")


def baseline_convert(model, x: np.ndarray, direction: str) -> np.ndarray:
    """The normalisation-only conversion: F0 mapped by the log-Gaussian transform, the source's envelope kept."""
    sr = model.config.sample_rate
    return world.shift_pitch(x, sr, lambda f0: model.convert_f0(f0, direction), model.config.frame_period)


def _clip_metrics(clips, targets, sr: int, speaker, target_id: int, recogniser, texts) -> dict:
    compared = [metrics.compare(x, t, sr) for x, t in zip(clips, targets)]
    scores = [speaker.score(x, target_id) for x in clips]
    out: dict = {
        "mcd": float(np.mean([c["mcd"] for c in compared])),
        "f0_corr": float(np.nanmean([c["f0_corr"] for c in compared])),
        "f0_rmse": float(np.nanmean([c["f0_rmse"] for c in compared])),
        "speaker_similarity": float(np.mean([s > 0 for s in scores])),
        "speaker_llr": float(np.mean(scores)),
    }
    if recogniser is not None and texts is not None:
        heard = [recogniser.transcribe(x, sr) for x in clips]
        out["wer"] = metrics.wer(texts, heard)
        out["heard"] = heard
    return out


def evaluate_voice(model, settings=None, progress=None) -> tuple[dict, dict]:
    """(values, how) for a trained cyclegan-voice model (its ``meta["data"]`` names the dataset)."""
    if not world.world_available():
        raise GenlabError(f"the voice metrics analyse speech with the WORLD vocoder: {world.INSTALL}")
    sr = model.config.sample_rate
    data_name = model.meta["data"]
    clips_a, clips_b, names, texts = paired_test_clips(data_name)
    train_a, train_b = train_clips(data_name)
    seed = getattr(settings, "seed", 0) if settings is not None else 0
    speaker = metrics.SpeakerModel(sr, seed=seed).fit([train_a, train_b])
    recogniser = metrics.Recogniser() if texts else None
    say = progress or (lambda message: None)
    values: dict = {}
    heard: dict = {}
    for direction in DIRECTIONS:
        source, target, tid = (clips_a, clips_b, 1) if direction == "AtoB" else (clips_b, clips_a, 0)
        say(f"{direction}: converting {len(source)} clips")
        kinds = {
            "": [model.convert(x, sr, direction)[0] for x in source],
            "_source": source,
            "_baseline": [baseline_convert(model, x, direction) for x in source],
        }
        for kind, clips in kinds.items():
            say(f"{direction}: measuring {kind.strip('_') or 'converted'}")
            m = _clip_metrics(clips, target, sr, speaker, tid, recogniser, texts)
            heard[f"{direction}{kind}"] = m.pop("heard", None)
            for key, v in m.items():
                values[f"{key}{kind}_{direction}"] = v
        values[f"speaker_similarity_target_{direction}"] = float(np.mean([speaker.predict(t) == tid for t in target]))
        if recogniser is not None and texts is not None:
            values[f"wer_target_{direction}"] = metrics.wer(texts, [recogniser.transcribe(t, sr) for t in target])
    for key in [k[: -len("_AtoB")] for k in values if k.endswith("_AtoB")]:
        values[key] = float(np.mean([values[f"{key}_{d}"] for d in DIRECTIONS]))
    how = _how(len(names), len(train_a), len(train_b), recogniser is not None, model.config.vocoder)
    # how each measurement was made, once per metric (the _source/_baseline/_AtoB/_BtoA variants share it)
    measured = {k: how[_family(k)] for k in ("mcd", "f0_corr", "f0_rmse", "speaker_similarity", "speaker_llr")}
    if recogniser is not None:
        measured["wer"] = {**how["wer"], "transcripts": {"texts": texts, **heard}}
    else:
        measured["wer"] = how["wer"]
    return values, measured


def _family(key: str) -> str:
    for name in ("speaker", "wer", "mcd", "f0"):
        if key.startswith(name):
            return name
    return key


def _how(sentences: int, n_a: int, n_b: int, has_texts: bool, vocoder: str) -> dict:
    common = {
        "sentences": sentences,
        "split": "held-out sentences read by both voices",
        "directions": DIRECTIONS,
        "vocoder": vocoder,
        "baseline": "source F0 mapped by the log-Gaussian transform, source envelope kept (WORLD)",
    }
    return {
        "mcd": {
            **common,
            "unit": "dB",
            "cepstra": f"mel-cepstrum c1..c{metrics.MCEP_ORDER} (c0 excluded), "
            f"all-pass warping alpha={metrics.ALPHA}, from the WORLD CheapTrick envelope",
            "alignment": "DTW on the mel-cepstra",
            "silence": "leading/trailing trimmed at -40 dB",
        },
        "f0": {
            **common,
            "f0": "WORLD Harvest, 5 ms frames",
            "alignment": "the MCD's DTW path",
            "frames": "voiced in both",
            "f0_corr": "Pearson on log F0",
            "f0_rmse": "Hz",
        },
        "speaker": {
            **common,
            "model": f"one diagonal GMM ({metrics.SPEAKER_COMPONENTS} components) per voice on "
            "mel-cepstra c1..24 of voiced frames, no F0",
            "trained_on": f"{n_a} + {n_b} real training clips",
            "rule": "mean log-likelihood ratio > 0",
        },
        "wer": {
            **common,
            "recogniser": "pocketsphinx, bundled US-English model",
            "unit": "fraction of words",
            "reference": "the sentence texts",
        }
        if has_texts
        else {**common, "skipped": "no transcripts (put NAME.txt beside testA/NAME.wav)"},
    }
