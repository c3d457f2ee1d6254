"""Run a peer's training script unmodified, outside genlab, and read back what the side-by-side benchmarks need.

The reference GAN scripts (PyTorch-GAN's ``dcgan.py``, ``pix2pix.py``, ``cyclegan.py``; pytorch/examples'
``dcgan/main.py``) import torchvision, which genlab does not depend on and whose builds do not load
against this torch. :data:`STANDIN` is a small package named ``torchvision`` providing only what those
scripts call, as torchvision does it (per image, with PIL):

- ``datasets.MNIST(root, train=True, download=False, transform=None)``: Fashion-MNIST from the IDX files
  in ``$FASHION_MNIST_DIR`` (default ``/usr/share/datasets/fashion-mnist``), each item
  ``(transform(PIL 'L' image), label)``;
- ``transforms.Compose, Resize, CenterCrop, RandomCrop, RandomHorizontalFlip, ToTensor, Normalize``;
- ``utils.make_grid, utils.save_image``.

:func:`write_standin` writes it into a folder outside the repository (``--peers-dir``, default
``/work/peers``), and :func:`run_peer` runs a script there with ``runpy`` in this process: the script's
standard output is wrapped so that each batch log line is a time mark, and after ``images`` training images
the run stops and the script's globals (its networks) are returned. The networks' initial weights are
taken when the script builds its first Adam optimiser (after its weight initialisation), so that
genlab can start from the same weights.
"""

from __future__ import annotations

import json
import os
import re
import resource
import runpy
import subprocess
import sys
import time
from pathlib import Path

STANDIN = {
    "__init__.py": '"""A stand-in for the torchvision calls the reference GAN scripts make (genlab benchmarks)."""\n'
    "from . import datasets, transforms, utils  # noqa: F401\n",
    "datasets.py": '''
import gzip
import os
import struct

import numpy as np
import torch
from PIL import Image


def _idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    shape = struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


class MNIST(torch.utils.data.Dataset):
    """Fashion-MNIST in MNIST's place: (transform(PIL 'L' image), int label), as torchvision's MNIST."""

    def __init__(self, root=None, train=True, download=False, transform=None, target_transform=None):
        folder = os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist")
        split = "train" if train else "t10k"
        self.data = _idx(os.path.join(folder, f"{split}-images-idx3-ubyte.gz"))
        self.targets = _idx(os.path.join(folder, f"{split}-labels-idx1-ubyte.gz")).astype(np.int64)
        self.transform, self.target_transform = transform, target_transform

    def __len__(self):
        return len(self.data)

    def __getitem__(self, i):
        img, target = Image.fromarray(self.data[i], mode="L"), int(self.targets[i])
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target
''',
    "transforms.py": '''
import random

import numpy as np
import torch
from PIL import Image


class Compose:
    def __init__(self, transforms):
        self.transforms = transforms

    def __call__(self, x):
        for t in self.transforms:
            x = t(x)
        return x


class Resize:
    """An int resizes the shorter side (aspect kept), a pair to (h, w); bilinear by default."""

    def __init__(self, size, interpolation=Image.BILINEAR):
        self.size, self.interpolation = size, interpolation

    def __call__(self, img):
        w, h = img.size
        if isinstance(self.size, int):
            s = self.size
            size = (s, int(s * h / w)) if w <= h else (int(s * w / h), s)
        else:
            size = (self.size[1], self.size[0])
        return img if size == (w, h) else img.resize(size, self.interpolation)


class CenterCrop:
    def __init__(self, size):
        self.size = (size, size) if isinstance(size, int) else tuple(size)

    def __call__(self, img):
        w, h = img.size
        th, tw = self.size
        left, top = int(round((w - tw) / 2)), int(round((h - th) / 2))
        return img.crop((left, top, left + tw, top + th))


class RandomCrop(CenterCrop):
    def __call__(self, img):
        w, h = img.size
        th, tw = self.size
        left, top = random.randint(0, w - tw), random.randint(0, h - th)
        return img.crop((left, top, left + tw, top + th))


class RandomHorizontalFlip:
    def __init__(self, p=0.5):
        self.p = p

    def __call__(self, img):
        return img.transpose(Image.FLIP_LEFT_RIGHT) if random.random() < self.p else img


class ToTensor:
    """PIL image (H, W[, C]) uint8 -> float tensor (C, H, W) in [0, 1]."""

    def __call__(self, img):
        a = np.array(img, dtype=np.uint8, copy=True)
        a = a[:, :, None] if a.ndim == 2 else a
        return torch.from_numpy(a).permute(2, 0, 1).contiguous().float().div(255)


class Normalize:
    def __init__(self, mean, std):
        self.mean, self.std = mean, std

    def __call__(self, x):
        m = torch.as_tensor(self.mean, dtype=x.dtype).view(-1, 1, 1)
        s = torch.as_tensor(self.std, dtype=x.dtype).view(-1, 1, 1)
        return (x - m) / s
''',
    "utils.py": """
import math

import numpy as np
import torch
from PIL import Image


def make_grid(tensor, nrow=8, padding=2, normalize=False, value_range=None, pad_value=0.0, **kwargs):
    x = tensor.detach().float().cpu()
    x = x.unsqueeze(0) if x.dim() == 3 else x
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    if normalize:
        lo, hi = value_range if value_range is not None else (float(x.min()), float(x.max()))
        x = (x.clamp(lo, hi) - lo) / max(hi - lo, 1e-5)
    n, c, h, w = x.shape
    cols = min(nrow, n)
    rows = math.ceil(n / cols)
    grid = torch.full((c, rows * (h + padding) + padding, cols * (w + padding) + padding), pad_value)
    for i in range(n):
        r, k = divmod(i, cols)
        top, left = r * (h + padding) + padding, k * (w + padding) + padding
        grid[:, top : top + h, left : left + w] = x[i]
    return grid


def save_image(tensor, fp, **kwargs):
    grid = make_grid(tensor, **kwargs)
    a = grid.mul(255).add(0.5).clamp(0, 255).permute(1, 2, 0).to(torch.uint8).numpy()
    Image.fromarray(np.ascontiguousarray(a)).save(fp)
""",
}


def write_standin(peers_dir: Path) -> Path:
    """Write the stand-in package to ``peers_dir/torchvision_standin/torchvision``; returns the folder for sys.path."""
    root = Path(peers_dir) / "torchvision_standin"
    pkg = root / "torchvision"
    pkg.mkdir(parents=True, exist_ok=True)
    for name, text in STANDIN.items():
        (pkg / name).write_text(text.lstrip("\n"))
    return root


class _Stop(Exception):
    pass


def run_side(
    script: str, side: str, rnd: int, images: int, options: list[str], work: str, threads: int, nice: int = 10
) -> dict:
    """Run one side of a side-by-side (``script --child SIDE``) in its own process, at ``nice`` (added to
    this process's) and ``threads`` threads, and return the JSON it writes, with its round."""
    out = Path(work) / f"{side}-{rnd}.json"
    cmd = [sys.executable, script, "--child", side, "--round", str(rnd), "--images", str(images), *options]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONUNBUFFERED": "1"}
    print(f"[bench] round {rnd}: {side}, load average {os.getloadavg()[0]:.2f}", flush=True)
    subprocess.run(["nice", "-n", str(nice), *cmd, "--out", str(out)], check=True, env=env)
    return {**json.loads(out.read_text()), "round": rnd}


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, MB (Linux reports ru_maxrss in KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_peer(
    script: Path,
    args: list[str],
    workdir: Path,
    standin: Path,
    batch_line: str,
    images: int,
    batch_size: int,
    echo_every: int = 50,
    on_mark=None,
) -> dict:
    """Run ``script ARGS`` in this process (cwd ``workdir``) until ``images`` training images; return the marks.

    ``batch_line``: a regular expression matching the script's per-batch log line (one per training
    batch); ``on_mark(n)``, if given, is called after the n-th one. Returns the time of each batch
    line, the script's globals, the networks' initial weights (state dicts of every ``nn.Module``
    global when the first Adam optimiser is built) and peak RSS.
    """
    import torch

    workdir.mkdir(parents=True, exist_ok=True)
    os.chdir(workdir)
    sys.path[:0] = [str(standin), str(Path(script).parent)]
    sys.argv = [str(script), *args]
    pattern = re.compile(batch_line)
    state: dict = {"marks": [], "cpu": [], "globals": None, "init": None}
    real_stdout, real_adam_init = sys.stdout, torch.optim.Adam.__init__
    want = -(-images // batch_size)

    class Marks:
        """The script's stdout (``print`` and ``sys.stdout.write`` both end here): each batch line is a mark."""

        def write(self, text):
            if pattern.search(text):
                state["marks"].append(time.perf_counter())
                state["cpu"].append(time.process_time())
                state["globals"] = sys._getframe(1).f_globals  # the script's module (print is C code)
                n = len(state["marks"])
                if on_mark is not None:
                    on_mark(n)
                if n % echo_every == 0 or n == 1:
                    real_stdout.write(f"[peer] batch {n}: {text.strip()}\n")
                    real_stdout.flush()
                if n >= want:
                    raise _Stop
            elif not state["marks"] and text.strip():
                real_stdout.write(text[:300].rstrip() + "\n")
            return len(text)

        def flush(self):
            real_stdout.flush()

        def __getattr__(self, name):  # encoding, isatty, ...: the real stream's
            return getattr(real_stdout, name)

    def hooked_adam_init(self, params, *a, **kw):
        if state["init"] is None:
            g = sys._getframe(1).f_globals
            state["init"] = {
                k: {n: t.detach().clone() for n, t in v.state_dict().items()}
                for k, v in g.items()
                if isinstance(v, torch.nn.Module)
            }
        real_adam_init(self, params, *a, **kw)

    sys.stdout, torch.optim.Adam.__init__ = Marks(), hooked_adam_init
    t0 = time.perf_counter()
    try:
        runpy.run_path(str(script), run_name="__main__")
    except _Stop:
        pass
    finally:
        sys.stdout, torch.optim.Adam.__init__ = real_stdout, real_adam_init
    return {
        "start": t0,
        "marks": state["marks"],
        "cpu": state["cpu"],
        "globals": state["globals"],
        "init": state["init"],
        "rss_mb": peak_rss_mb(),
    }


def steady_throughput(marks: list[float], batch_size: int, cpu: list[float] | None = None, skip: int = 5) -> dict:
    """Images per second and per CPU-second of the process between batch mark ``skip`` and the last
    (the first batches include the warm-up). On a machine shared with other jobs the wall-clock rate
    moves with their load; the CPU-time rate much less (1 thread: the time the process had a core)."""
    skip = min(skip, max(0, len(marks) - 2))
    n = (len(marks) - 1 - skip) * batch_size
    span = marks[-1] - marks[skip]
    out = {
        "batches": len(marks),
        "images": len(marks) * batch_size,
        "steady_images_per_s": n / span if span > 0 else float("nan"),
        "steady_s_per_batch": span / max(1, len(marks) - 1 - skip),
    }
    if cpu:
        out["steady_images_per_cpu_s"] = n / (cpu[-1] - cpu[skip])
        out["cpu_share"] = (cpu[-1] - cpu[skip]) / span  # of one core, during the steady window
    return out
