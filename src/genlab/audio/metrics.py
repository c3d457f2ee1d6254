"""Voice-conversion metrics: mel-cepstral distortion with DTW, speaker similarity, content kept.

- Mel-cepstrum: the cosine-series coefficients of a log-mel frame (natural log of magnitudes, M bands
  uniform on the mel scale), c_k = (1/M) sum_m logmel_m cos(pi k (m + 1/2) / M), so that
  logmel(w) ~ c_0 + 2 sum_k c_k cos(k w) on the warped frequency w in [0, pi]: the convention of
  SPTK's mel-cepstra (log |H(e^jw)| = sum_m c(m) e^{-jwm}), which published MCD values use.
  Coefficients 1..``MCEP_ORDER`` are kept; c_0 (loudness) is dropped, as is usual for MCD.
- DTW: the classic recursion D(i, j) = cost(i, j) + min(D(i-1, j), D(i, j-1), D(i-1, j-1)) over the
  whole of both sequences; the path is traced back and the distance is the mean cost along it.
- MCD (Kubichek 1993): (10 / ln 10) sqrt(2 sum_k (c_k - c'_k)^2) dB per aligned frame pair, averaged
  over the DTW path (the alignment minimises the summed Euclidean cepstral distance). Silence at the
  ends is trimmed first.
- Speaker similarity: a logistic-regression speaker classifier on log-mel frames of real clips
  (voiced, non-silent frames); a clip's speaker is the one with the highest summed log-probability
  over its frames; similarity = the share of converted clips it assigns to the target voice.
- Content kept: content features are mel-cepstra with per-utterance mean and variance normalisation
  (which removes most of the speaker's spectral envelope); a converted clip keeps its content when
  its DTW distance to the target voice's reading of the same sentence is the smallest among all
  the target's readings.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .features import DEFAULT, FeatureConfig, log_mel, trim_silence

MCEP_ORDER = 24
MCD_CONST = 10.0 / math.log(10.0) * math.sqrt(2.0)


def dct_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) rows cos(pi k (m + 1/2) / n_in) / n_in: the cepstral (cosine-series) coefficients."""
    m = np.arange(n_in)
    k = np.arange(n_out)[:, None]
    return np.cos(np.pi * k * (m + 0.5) / n_in) / n_in


def mel_cepstrum(logmel, order: int = MCEP_ORDER) -> np.ndarray:
    """Log-mel (n_mels, T) -> mel-cepstra (T, order): DCT-II coefficients 1..order."""
    lm = np.asarray(logmel, dtype=np.float64)
    return (dct_matrix(lm.shape[0], order + 1) @ lm)[1:].T


def dtw(cost: np.ndarray) -> tuple[float, list[tuple[int, int]]]:
    """(summed cost along the best path, the path as (i, j) pairs) for a (N, M) cost matrix."""
    n, m = cost.shape
    acc = np.full((n + 1, m + 1), np.inf)
    acc[0, 0] = 0.0
    for i in range(1, n + 1):  # row by row; the inner min over j is a running recursion
        row = cost[i - 1]
        up = acc[i - 1, 1:]
        diag = acc[i - 1, :-1]
        best = np.minimum(up, diag) + row  # without the left move
        cur = acc[i]
        for j in range(1, m + 1):
            cur[j] = min(best[j - 1], cur[j - 1] + row[j - 1])
    path = []
    i, j = n, m
    while i > 0 and j > 0:
        path.append((i - 1, j - 1))
        steps = (acc[i - 1, j - 1], acc[i - 1, j], acc[i, j - 1])
        k = int(np.argmin(steps))
        i, j = (i - 1, j - 1) if k == 0 else (i - 1, j) if k == 1 else (i, j - 1)
    return float(acc[n, m]), path[::-1]


def euclidean_cost(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) Euclidean distances between the rows of a (N, D) and b (M, D)."""
    out = np.empty((len(a), len(b)))
    for i in range(0, len(a), 256):  # exact differences (no |a|^2 + |b|^2 - 2ab round-off), in blocks
        out[i:i + 256] = np.sqrt(((a[i:i + 256, None, :] - b[None, :, :]) ** 2).sum(-1))
    return out


def mcd_cepstra(c1: np.ndarray, c2: np.ndarray) -> float:
    """MCD in dB between two mel-cepstrum sequences (T1, K), (T2, K), aligned by DTW."""
    cost = euclidean_cost(c1, c2)
    _, path = dtw(cost)
    i, j = np.array(path).T
    return float(MCD_CONST * cost[i, j].mean())


def _features(x: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    return log_mel(trim_silence(x, cfg.sample_rate), cfg).numpy()


def mcd(x: np.ndarray, reference: np.ndarray, cfg: FeatureConfig = DEFAULT) -> float:
    """MCD (dB) between two waveforms at ``cfg.sample_rate``, silence trimmed, DTW-aligned."""
    return mcd_cepstra(mel_cepstrum(_features(x, cfg)), mel_cepstrum(_features(reference, cfg)))


def content_features(x: np.ndarray, cfg: FeatureConfig = DEFAULT) -> np.ndarray:
    """(T, K) mel-cepstra normalised to zero mean and unit variance per utterance."""
    c = mel_cepstrum(_features(x, cfg))
    return (c - c.mean(0)) / (c.std(0) + 1e-6)


def content_kept(converted: list[np.ndarray], references: list[np.ndarray],
                 cfg: FeatureConfig = DEFAULT) -> tuple[float, np.ndarray]:
    """Share of clips i whose nearest reference (mean DTW cost of content features) is reference i; and the (N, N) distances."""
    conv = [content_features(x, cfg) for x in converted]
    refs = [content_features(x, cfg) for x in references]
    dist = np.zeros((len(conv), len(refs)))
    for i, a in enumerate(conv):
        for j, b in enumerate(refs):
            cost = euclidean_cost(a, b)
            total, path = dtw(cost)
            dist[i, j] = total / len(path)
    return float((dist.argmin(1) == np.arange(len(conv))).mean()), dist


class SpeakerClassifier:
    """Logistic regression on standardised log-mel frames; a clip's speaker by summed frame log-probabilities."""

    def __init__(self, cfg: FeatureConfig = DEFAULT):
        self.cfg = cfg
        self.mean = self.std = None
        self.linear: torch.nn.Linear | None = None

    def _frames(self, x: np.ndarray) -> torch.Tensor:
        lm = _features(x, self.cfg)
        energy = lm.max(0)
        keep = energy > energy.max() - 6.0  # frames within ~50 dB (ln units) of the loudest
        return torch.from_numpy(lm[:, keep].T).float()

    def fit(self, clips: list[np.ndarray], speakers: list[int], steps: int = 300, seed: int = 0) -> SpeakerClassifier:
        frames = [self._frames(x) for x in clips]
        x = torch.cat(frames)
        y = torch.cat([torch.full((len(f),), s, dtype=torch.long) for f, s in zip(frames, speakers)])
        self.mean, self.std = x.mean(0), x.std(0) + 1e-6
        x = (x - self.mean) / self.std
        g = torch.Generator().manual_seed(seed)
        self.linear = torch.nn.Linear(x.shape[1], int(y.max()) + 1)
        with torch.no_grad():
            self.linear.weight.normal_(0, 0.01, generator=g)
            self.linear.bias.zero_()
        opt = torch.optim.LBFGS(self.linear.parameters(), max_iter=steps, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(self.linear(x), y) + 1e-3 * self.linear.weight.pow(2).sum()
            loss.backward()
            return loss

        with torch.enable_grad():
            opt.step(closure)
        return self

    @torch.no_grad()
    def predict(self, x: np.ndarray) -> int:
        f = (self._frames(x) - self.mean) / self.std
        return int(torch.log_softmax(self.linear(f), 1).sum(0).argmax())


def speaker_similarity(classifier: SpeakerClassifier, clips: list[np.ndarray], target: int) -> float:
    """Share of ``clips`` that ``classifier`` assigns to speaker ``target``."""
    return float(np.mean([classifier.predict(x) == target for x in clips]))
