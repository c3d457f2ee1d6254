"""Metrics (pure functions: arrays in, numbers out), feature extractors and reports.

- :mod:`.fid`: FID, KID, k-NN precision/recall on features.
- :mod:`.likelihood`: IWAE estimate of -log p(x), ELBO, active units, KL per dimension.
- :mod:`.disentanglement`: BetaVAE score, FactorVAE score, MIG, DCI (disentanglement_lib settings).
- :mod:`.image_metrics`: PSNR, SSIM, L1, classification accuracy.
- :mod:`.latent`: latent completeness and continuity.
- :mod:`.compare`: :func:`fid_between`, FID/KID/precision/recall of any two image sets (``genlab fid``).
- :mod:`.inception`: the FID Inception network as a plain module; :mod:`.cache`: the user cache.
"""

from .compare import fid_between

__all__ = ["fid_between"]
