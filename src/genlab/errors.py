"""The one exception a user can cause.

Every error a user can cause (a bad name, a bad value, a missing dataset, a corrupted checkpoint)
is raised as :class:`GenlabError` with a one-line message that says what is wrong and what to do.
The CLI prints it on one line and exits with code 2; no traceback unless ``--debug``.
"""

from __future__ import annotations


class GenlabError(Exception):
    """A user-facing error: one line, what is wrong and what to do. The CLI exits with code 2."""

    exit_code = 2


def one_of(kind: str, value: str, valid) -> GenlabError:
    """``unknown model 'foo'; choose one of: ae, vae``."""
    return GenlabError(f"unknown {kind} '{value}'; choose one of: {', '.join(sorted(valid))}")
