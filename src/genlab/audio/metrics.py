"""Voice-conversion metrics: mel-cepstral distortion, F0 agreement, a speaker model, word error rate.

- Mel-cepstrum (SPTK's definition, as ``sp2mc``): coefficients c~(m) with
  ln |H(e^jw)| = sum_{m=0}^{M} c~(m) cos(m b(w)), where b(w) = w + 2 atan(a sin w / (1 - a cos w)) is the
  all-pass frequency warping with a = ``ALPHA`` = 0.42 (the usual value for 16 kHz, close to the mel
  scale) and |H|^2 the WORLD CheapTrick envelope. Computed by sampling ln |H| on a uniform grid of b
  (through the inverse warping, which is the same map with -a) and taking its cosine series.
- MCD (Kubichek 1993, as voice-conversion papers report it): (10 / ln 10) sqrt(2 sum_{m=1}^{24}
  (c~(m) - c~'(m))^2) dB per frame pair, c~(0) (the gain) excluded, averaged along the DTW path that
  minimises the summed Euclidean distance of c~(1..24) between the two utterances (leading and trailing
  silence trimmed first; the envelopes at 5 ms frames).
- F0: Harvest F0 of the converted clip against the target's reading of the same sentence, frames paired
  by the same DTW path and kept where both are voiced: Pearson correlation of log F0, and RMSE in Hz.
- Speaker model: one diagonal Gaussian mixture per speaker (``SPEAKER_COMPONENTS`` components) on
  c~(1..24) of voiced frames of real training clips, no F0 among the features, so a clip whose pitch
  alone moved keeps its speaker's envelope; a clip is called the speaker whose model gives its frames
  the higher mean log-likelihood (the score is the mean log-likelihood ratio per frame).
- Word error rate: the offline recogniser pocketsphinx (its bundled US-English acoustic model,
  language model and dictionary) transcribes a clip; WER = (substitutions + deletions + insertions) /
  reference words, by word-level Levenshtein alignment, over all the clips together.
"""

from __future__ import annotations

import hashlib
import math
import re

import numpy as np

from ..errors import GenlabError
from . import world

ALPHA = 0.42  # all-pass warping constant for 16 kHz
MCEP_ORDER = 24  # c~(1..24) enter the distortion
MCD_CONST = 10.0 / math.log(10.0) * math.sqrt(2.0)
SPEAKER_COMPONENTS = 8


# ---- mel-cepstra ----


def warp(w: np.ndarray, alpha: float) -> np.ndarray:
    """The all-pass (bilinear) frequency warping b(w) on [0, pi]; its inverse is ``warp(., -alpha)``."""
    return w + 2.0 * np.arctan(alpha * np.sin(w) / (1.0 - alpha * np.cos(w)))


def sp_to_mcep(sp: np.ndarray, order: int = MCEP_ORDER, alpha: float = ALPHA) -> np.ndarray:
    """Power envelopes (T, F) on F bins from 0 to pi -> mel-cepstra (T, order + 1), c~(0..order)."""
    sp = np.atleast_2d(np.asarray(sp, dtype=np.float64))
    n = sp.shape[1] - 1
    w = np.pi * np.arange(n + 1) / n
    beta = np.pi * np.arange(n + 1) / n  # a uniform grid on the warped axis
    at = warp(beta, -alpha)  # the frequencies that land on it
    log_amp = 0.5 * np.log(np.maximum(sp, 1e-300))
    sampled = np.stack([np.interp(at, w, row) for row in log_amp])  # (T, n + 1) ln |H| at b = beta
    # cosine series on [0, pi] by the trapezoidal rule: c(m) = (2 / n) sum'' L(b_j) cos(m b_j), c(0) halved
    weights = np.full(n + 1, 2.0 / n)
    weights[[0, -1]] = 1.0 / n
    basis = np.cos(np.arange(order + 1)[:, None] * beta[None, :]) * weights  # (order + 1, n + 1)
    c = sampled @ basis.T
    c[:, 0] *= 0.5
    return c


def mcep_to_log_amplitude(c: np.ndarray, n_bins: int, alpha: float = ALPHA) -> np.ndarray:
    """The closed form the mel-cepstrum stands for: ln |H| = sum_m c~(m) cos(m b(w)) on ``n_bins`` bins."""
    w = np.pi * np.arange(n_bins) / (n_bins - 1)
    beta = warp(w, alpha)
    return np.atleast_2d(c) @ np.cos(np.arange(np.shape(c)[-1])[:, None] * beta[None, :])


_ANALYSED: dict = {}  # recent analyses by the clip's samples: references are compared many times


def clip_mcep(x: np.ndarray, sample_rate: int, frame_period: float = 5.0) -> tuple[np.ndarray, np.ndarray]:
    """(F0 (T,), mel-cepstra c~(0..24) (T, 25)) of a waveform, by WORLD's Harvest and CheapTrick."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    key = (hashlib.sha1(x.tobytes()).hexdigest(), sample_rate, frame_period)
    if key not in _ANALYSED:
        if len(_ANALYSED) >= 512:
            _ANALYSED.clear()
        f0, sp = world.envelope(x, sample_rate, frame_period)
        _ANALYSED[key] = (f0, sp_to_mcep(sp))
    return _ANALYSED[key]


# ---- DTW and MCD ----


def dtw(cost: np.ndarray) -> tuple[float, list[tuple[int, int]]]:
    """(summed cost along the best path, the path as (i, j) pairs) for a (N, M) cost matrix.

    D(i, j) = cost(i, j) + min(D(i-1, j), D(i, j-1), D(i-1, j-1)) over the whole of both sequences.
    """
    n, m = cost.shape
    acc = np.full((n + 1, m + 1), np.inf)
    acc[0, 0] = 0.0
    for i in range(1, n + 1):  # row by row
        row = cost[i - 1]
        best = np.minimum(acc[i - 1, 1:], acc[i - 1, :-1]) + row  # entering column j from above or the diagonal
        # then moving right along the row: D(i, j) = min_{k <= j} best(k) + row(k+1..j), a running minimum
        prefix = np.concatenate([[0.0], np.cumsum(row)])  # prefix[j] = row(0..j-1)
        acc[i, 1:] = prefix[1:] + np.minimum.accumulate(best - prefix[1:])
    path = []
    i, j = n, m
    while i > 0 and j > 0:
        path.append((i - 1, j - 1))
        k = int(np.argmin((acc[i - 1, j - 1], acc[i - 1, j], acc[i, j - 1])))
        i, j = (i - 1, j - 1) if k == 0 else (i - 1, j) if k == 1 else (i, j - 1)
    return float(acc[n, m]), path[::-1]


def euclidean_cost(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) Euclidean distances between the rows of a (N, D) and b (M, D)."""
    out = np.empty((len(a), len(b)))
    for i in range(0, len(a), 256):  # exact differences (no |a|^2 + |b|^2 - 2ab round-off), in blocks
        out[i : i + 256] = np.sqrt(((a[i : i + 256, None, :] - b[None, :, :]) ** 2).sum(-1))
    return out


def mcd_frames(c1: np.ndarray, c2: np.ndarray) -> np.ndarray:
    """Per-frame MCD (dB) of equally long mel-cepstrum sequences (T, K + 1); column 0 (c~(0)) is excluded."""
    return MCD_CONST * np.sqrt(((c1[:, 1:] - c2[:, 1:]) ** 2).sum(-1))


def align(c1: np.ndarray, c2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Frame indices (i, j) of the DTW path between mel-cepstrum sequences, on c~(1..K)."""
    _, path = dtw(euclidean_cost(c1[:, 1:], c2[:, 1:]))
    i, j = np.array(path).T
    return i, j


def mcd_cepstra(c1: np.ndarray, c2: np.ndarray) -> float:
    """MCD (dB) between two mel-cepstrum sequences (T1, K + 1), (T2, K + 1), DTW-aligned, c~(0) excluded."""
    i, j = align(c1, c2)
    return float(mcd_frames(c1[i], c2[j]).mean())


def f0_agreement(f0: np.ndarray, f0_ref: np.ndarray, i: np.ndarray, j: np.ndarray) -> tuple[float, float, int]:
    """(log-F0 Pearson correlation, F0 RMSE in Hz, frames) over aligned frames voiced in both."""
    a, b = f0[i], f0_ref[j]
    keep = (a > 0) & (b > 0)
    if keep.sum() < 3:
        return float("nan"), float("nan"), int(keep.sum())
    la, lb = np.log(a[keep]), np.log(b[keep])
    corr = float(np.corrcoef(la, lb)[0, 1]) if la.std() > 0 and lb.std() > 0 else float("nan")
    return corr, float(np.sqrt(((a[keep] - b[keep]) ** 2).mean())), int(keep.sum())


def compare(x: np.ndarray, reference: np.ndarray, sample_rate: int) -> dict:
    """MCD (dB) and F0 agreement of clip ``x`` against ``reference`` (the same sentence in the target voice)."""
    f0, c = clip_mcep(x, sample_rate)
    f0_ref, c_ref = clip_mcep(reference, sample_rate)
    i, j = align(c, c_ref)
    corr, rmse, n = f0_agreement(f0, f0_ref, i, j)
    return {"mcd": float(mcd_frames(c[i], c_ref[j]).mean()), "f0_corr": corr, "f0_rmse": rmse, "f0_frames": n}


# ---- the speaker model ----


class SpeakerModel:
    """One diagonal GMM per speaker on c~(1..24) of voiced frames; a clip goes to the likelier speaker."""

    def __init__(self, sample_rate: int, components: int = SPEAKER_COMPONENTS, seed: int = 0):
        self.sample_rate, self.components, self.seed = sample_rate, components, seed
        self.models: list = []

    def frames(self, x: np.ndarray) -> np.ndarray:
        f0, c = clip_mcep(x, self.sample_rate)
        voiced = c[f0 > 0, 1:]
        return voiced if len(voiced) >= 10 else c[:, 1:]

    def fit(self, clips_per_speaker: list[list[np.ndarray]]) -> SpeakerModel:
        from sklearn.mixture import GaussianMixture

        self.models = []
        for clips in clips_per_speaker:
            x = np.concatenate([self.frames(c) for c in clips])
            self.models.append(
                GaussianMixture(self.components, covariance_type="diag", reg_covar=1e-4, random_state=self.seed).fit(x)
            )
        return self

    def log_likelihoods(self, x: np.ndarray) -> np.ndarray:
        """Mean log-likelihood per frame of the clip under each speaker's model, (speakers,)."""
        f = self.frames(x)
        return np.array([m.score(f) for m in self.models])

    def score(self, x: np.ndarray, target: int) -> float:
        """Mean log-likelihood ratio per frame: the target's model against the best other (> 0: the target)."""
        ll = self.log_likelihoods(x)
        return float(ll[target] - np.delete(ll, target).max())

    def predict(self, x: np.ndarray) -> int:
        return int(np.argmax(self.log_likelihoods(x)))


# ---- word error rate ----


def words(text: str) -> list[str]:
    """Lower-case words, punctuation dropped (apostrophes inside words kept)."""
    return re.findall(r"[a-z0-9]+(?:'[a-z]+)?", text.lower())


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(edit distance in words, reference words): substitutions + deletions + insertions by Levenshtein."""
    ref, hyp = words(reference), words(hypothesis)
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i]
        for j, h in enumerate(hyp, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h)))
        prev = cur
    return prev[-1], len(ref)


def wer(references: list[str], hypotheses: list[str]) -> float:
    """Corpus word error rate: all edits over all reference words."""
    errors = [word_errors(r, h) for r, h in zip(references, hypotheses, strict=True)]
    return sum(e for e, _ in errors) / max(1, sum(n for _, n in errors))


class Recogniser:
    """pocketsphinx with its bundled US-English models, at 16 kHz; no download."""

    RATE = 16000

    def __init__(self):
        try:
            from pocketsphinx import Decoder
        except ImportError:
            raise GenlabError(
                "the word error rate needs the offline recogniser pocketsphinx: pip install pocketsphinx"
            ) from None
        self.decoder = Decoder(samprate=self.RATE, loglevel="FATAL")

    def transcribe(self, x: np.ndarray, sample_rate: int) -> str:
        from .wav import resample

        y = resample(np.asarray(x, dtype=np.float32), sample_rate, self.RATE)
        pcm = (np.clip(y, -1.0, 1.0) * 32767).astype("<i2").tobytes()
        self.decoder.start_utt()
        self.decoder.process_raw(pcm, full_utt=True)
        self.decoder.end_utt()
        hyp = self.decoder.hyp()
        return hyp.hypstr if hyp is not None else ""
