"""Run a genlab command as a user would (the console script of this interpreter's environment)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path


def run_genlab(args: list[str]) -> float:
    """Run ``genlab ARGS``, echo it, fail loudly; return its wall-clock seconds."""
    exe = Path(sys.executable).with_name("genlab")
    print("$ genlab " + " ".join(args), flush=True)
    t0 = time.perf_counter()
    subprocess.run([str(exe) if exe.exists() else "genlab", *args], check=True)
    return round(time.perf_counter() - t0, 1)
