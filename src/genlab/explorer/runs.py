"""The explorer's loaded runs: each model with its test images, the view its family declares, and the
map between slider values and its latent codes.

Slider units are the prior's: when a model's prior is N(0, I) (VAE, GAN) a slider value is z itself;
otherwise (``latent_scale()``: an AE's fitted Gaussian, a VQ-VAE's codebook) a value v stands for
z = center + v * scale, which puts an AE and a VAE on one scale when they share the sliders. Values
are bounded to [-Z_LIMIT, Z_LIMIT].
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..data.base import ImageData
from ..errors import GenlabError
from ..models.capabilities import Conditional, Encoder, LatentModel, Translator, class_labels, supports

Z_LIMIT = 4.0  # slider values lie in [-Z_LIMIT, Z_LIMIT] (prior units)
MAX_SLIDERS = {"latent": 64, "noise": 16}  # sliders over the first dimensions, per view


class Run:
    """One loaded model, its test images, and the map between slider values and its latent codes."""

    def __init__(self, ident: int, name: str, model):
        self.id, self.name, self.model = ident, name, model
        self.family = model.family
        self.view = model.explorer_view
        meta = getattr(model, "meta", None) or {}
        self.data_name = meta.get("data")
        self.path = meta.get("run")
        cfg = model.config
        self.latent_dim = int(model.latent_dim) if supports(model, LatentModel) else 0
        self.num_classes = int(cfg.num_classes) if supports(model, Conditional) else 0
        classes = meta.get("classes")
        self.classes = (
            [str(c) for c in classes]
            if classes and len(classes) == self.num_classes
            else [str(i) for i in range(self.num_classes)]
        )
        self.units = self._units()
        self.test, self.test_note = self._test_data()

    def _units(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """(center, scale): z = center + v * scale where the prior is not N(0, I); None: z = v."""
        scale = self.model.latent_scale() if self.latent_dim else None
        if scale is None:
            return None
        return scale[0].detach().float().cpu(), scale[1].detach().float().cpu().clamp_min(1e-6)

    def _test_data(self) -> tuple[ImageData | None, str]:
        if not self.data_name:
            return None, "no dataset recorded for this run"
        from ..data import load_run_data

        try:
            return load_run_data(self.model.meta, "test"), ""
        except GenlabError as e:
            return None, str(e)

    # ---- slider units
    def to_code(self, v: torch.Tensor) -> torch.Tensor:
        return v if self.units is None else self.units[0] + v * self.units[1]

    def to_values(self, z: torch.Tensor) -> tuple[list[float], bool]:
        v = z if self.units is None else (z - self.units[0]) / self.units[1]
        clipped = bool((v.abs() > Z_LIMIT).any())
        return [round(float(x), 4) for x in v.clamp(-Z_LIMIT, Z_LIMIT)], clipped

    # ---- checks of a request against this run
    def label(self, label: int | None) -> int | None:
        """The class to decode (default 0) of a conditional run; None otherwise (a label is then an error)."""
        y = class_labels((label or 0) if self.num_classes else label, 1, self.num_classes)  # the one-line errors
        return None if y is None else int(y[0])

    def test_set(self, index: int) -> ImageData:
        """The run's test images, where ``index`` is one of them; a one-line error otherwise."""
        if self.test is None:
            raise GenlabError(f"run '{self.name}' has no test images here ({self.test_note})")
        if index >= len(self.test):
            raise GenlabError(
                f"test image {index} does not exist; run '{self.name}' has test images 0..{len(self.test) - 1}"
            )
        return self.test

    # ---- description for the page
    def directions(self) -> list[str]:
        return list(self.model.directions) if supports(self.model, Translator) else []

    def info(self) -> dict:
        return {
            "id": self.id,
            "name": self.name,
            "path": self.path,
            "family": self.family,
            "data": self.data_name,
            "view": self.view,
            "image_shape": list(self.model.config.image_shape),
            "latent_dim": self.latent_dim,
            "sliders": min(self.latent_dim, MAX_SLIDERS.get(self.view or "", 0)),
            "num_classes": self.num_classes,
            "classes": self.classes,
            "has_encoder": supports(self.model, Encoder),
            "test_count": len(self.test) if self.test is not None else 0,
            "test_note": self.test_note,
            "directions": self.directions(),
            "z_limit": Z_LIMIT,
            "units": "std of its codes" if self.units is not None else "prior (N(0, I))",
        }


class Runs:
    """The explorer's runs by id, and the groups of runs that share one set of controls."""

    def __init__(self, runs: list[Run]):
        self.runs = runs

    def __len__(self) -> int:
        return len(self.runs)

    def __iter__(self):
        return iter(self.runs)

    def __getitem__(self, ident: int) -> Run:
        return self.runs[ident]

    def get(self, ident: int, capability: type | None = None) -> Run:
        """Run ``ident``, which must declare ``capability``: a one-line error otherwise."""
        if ident >= len(self.runs):
            raise GenlabError(f"run {ident} does not exist; this explorer has runs 0..{len(self.runs) - 1}")
        r = self.runs[ident]
        if capability is not None and not supports(r.model, capability):
            from ..models import families_with

            raise GenlabError(
                f"run {ident} ('{r.name}') is a {r.family} model; this needs one of: "
                f"{', '.join(families_with(capability))}"
            )
        return r

    def groups(self) -> list[dict]:
        """Latent-view runs of equal latent size share the sliders; every other run is alone. ``kind``: the view."""
        groups: list[dict] = []
        shared: dict[int, dict] = {}
        for r in self.runs:
            if r.view is None:
                continue
            if r.view == "latent":
                if r.latent_dim in shared:
                    shared[r.latent_dim]["runs"].append(r.id)
                    continue
                g = shared[r.latent_dim] = {"kind": "latent", "runs": [r.id]}
            else:
                g = {"kind": r.view, "runs": [r.id]}
            groups.append(g)
        return groups


def run_names(paths: list[str]) -> list[str]:
    """Short unique names: the run folder's name, or its last two parts when names repeat."""
    names = [Path(p).name or str(p) for p in paths]
    return [str(Path(*Path(p).parts[-2:])) if names.count(n) > 1 else n for p, n in zip(paths, names)]
