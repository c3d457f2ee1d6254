"""Training: the one loop, its config, checkpoints, and runs by name."""

from .config import TrainConfig
from .loop import fit
from .run import load, resume, train

__all__ = ["TrainConfig", "fit", "load", "resume", "train"]
