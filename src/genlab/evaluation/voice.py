"""``genlab evaluate`` for cyclegan-voice runs: MCD, speaker similarity and content kept on held-out sentences.

The evaluation set is sentences read by both voices that training never saw: the ``voices``
dataset's 12 held-out sentences, or same-name files in a folder's ``testA/`` and ``testB/``. Each
source (A) clip is converted A -> B and compared with B's reading of the same sentence (the metric
definitions are in :mod:`genlab.audio.metrics`):

- ``mcd``: mean MCD (dB, DTW-aligned, c1..c24) between converted clips and the target's readings;
- ``mcd_source``: the same for the unconverted source clips (the baseline conversion must beat);
- ``speaker_similarity``: share of converted clips that a speaker classifier, fitted on the real
  training clips of both voices, assigns to the target voice;
- ``content_kept``: share of converted clips whose nearest target reading (DTW on per-utterance
  normalised mel-cepstra) is the reading of the same sentence.
"""

from __future__ import annotations

import numpy as np

from ..audio import metrics
from ..data.voices import paired_test_clips, train_clips


def evaluate_voice(model, settings=None, direction: str = "AtoB", pitch: bool = True) -> tuple[dict, dict]:
    """(values, how) for a trained cyclegan-voice model (its ``meta["data"]`` names the dataset).

    ``pitch=False`` converts without the explicit F0 correction (the generator's own output).
    """
    cfg = model.config.features
    data_name = model.meta["data"]
    clips_a, clips_b, names = paired_test_clips(data_name, cfg)
    source, target = (clips_a, clips_b) if direction == "AtoB" else (clips_b, clips_a)
    target_id = 1 if direction == "AtoB" else 0
    converted = [model.convert(x, cfg.sample_rate, direction, pitch=pitch)[0] for x in source]
    train_a, train_b = train_clips(data_name, cfg)
    seed = getattr(settings, "seed", 0) if settings is not None else 0
    classifier = metrics.SpeakerClassifier(cfg).fit(train_a + train_b, [0] * len(train_a) + [1] * len(train_b),
                                                    seed=seed)
    kept, _ = metrics.content_kept(converted, target, cfg)
    values = {
        "mcd": float(np.mean([metrics.mcd(y, t, cfg) for y, t in zip(converted, target)])),
        "mcd_source": float(np.mean([metrics.mcd(x, t, cfg) for x, t in zip(source, target)])),
        "speaker_similarity": metrics.speaker_similarity(classifier, converted, target_id),
        "content_kept": kept,
    }
    common = {"direction": direction, "sentences": len(names), "split": "held-out sentences read by both voices",
              "pitch_correction": pitch}
    how = {
        "mcd": {**common, "unit": "dB", "cepstra": f"c1..c{metrics.MCEP_ORDER} of the log-mel (cosine series)",
                "alignment": "DTW", "silence": "trimmed at -40 dB"},
        "mcd_source": {**common, "unit": "dB", "what": "unconverted source clip vs the target's reading"},
        "speaker_similarity": {**common, "classifier": "logistic regression on log-mel frames",
                               "trained_on": f"{len(train_a)} + {len(train_b)} real training clips"},
        "content_kept": {**common, "features": "per-utterance normalised mel-cepstra",
                         "rule": "DTW-nearest target reading is the same sentence"},
    }
    return values, how
