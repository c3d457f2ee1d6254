"""Progress bars with a time estimate for long evaluations (feature extraction, IWAE, disentanglement).

One helper so every long step looks the same: a tqdm bar on stderr (elapsed, remaining, rate), gone
when the step ends; ``quiet=True`` (the CLI's ``--quiet``) turns it off.
"""

from __future__ import annotations

import sys

from tqdm import tqdm


def bar(total: int, desc: str, quiet: bool = False, unit: str = "it") -> tqdm:
    """A progress bar over ``total`` units; use as a context manager and call ``update(n)``."""
    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        disable=quiet,
        leave=False,
        dynamic_ncols=True,
        file=sys.stderr,
        mininterval=1.0,
    )


__all__ = ["bar"]
