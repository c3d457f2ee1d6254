"""genlab: train, sample, evaluate and explore deep generative models.

import genlab
model = genlab.train("vae", "fashion-mnist", "runs/vae", epochs=10)
model = genlab.load("runs/vae")
images = model.sample(64)          # (64, 1, 28, 28) in [0, 1]
"""

from .errors import GenlabError  # noqa: E402
from .training import TrainConfig, fit, load, resume, train  # noqa: E402
from .version import __version__


def evaluate(run, out=None, **kwargs) -> dict:
    """Evaluate a trained run (see :func:`genlab.evaluation.report.evaluate`)."""
    from .evaluation.report import evaluate as _evaluate

    return _evaluate(run, out, **kwargs)


__all__ = ["GenlabError", "TrainConfig", "evaluate", "fit", "load", "resume", "train", "__version__"]
