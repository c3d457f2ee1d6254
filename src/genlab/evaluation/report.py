"""``genlab evaluate``: every metric that applies to a run (the groups its family declares), with how it was measured.

The report is a JSON of flat keys (``fid``, ``elbo``, ...) plus ``measured``: for each key, the
extractor, sample counts, reference split and seed behind it. A Markdown page with the sample
grid (and plots where matplotlib is installed) is written beside the JSON.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..data import load_run_data, to_float
from ..errors import GenlabError
from ..models.capabilities import Conditional, Sampler, VoiceConverter, supports
from . import disentanglement, diversity, fid, latent, likelihood
from .cache import note
from .compare import FID_BIAS_N

IWAE_K_CPU = 100  # the CPU default of nll_iwae's k (see default_iwae_k)


@dataclass
class EvalSettings:
    """Sample counts of the evaluation; the defaults are the published protocols."""

    num_samples: int = 10_000  # generated images for FID/KID/precision/recall (vs as many test images)
    iwae_k: int | None = None  # importance samples per image for nll_iwae; None: default_iwae_k(device)
    iwae_images: int = 10_000  # test images for nll_iwae
    latent_samples: int = 10_000  # prior samples for latent_completeness
    latent_pairs: int = 1_000  # paths for latent_continuity
    disentanglement_scale: float = 1.0  # fraction of disentanglement_lib's sample counts
    seed: int = 0
    batch_size: int = 500
    quiet: bool = False  # no progress bars

    @classmethod
    def quick(cls, seed: int = 0) -> EvalSettings:
        """Small counts for smoke runs and tests (seconds, not minutes); the report says so."""
        return cls(
            num_samples=500,
            iwae_k=20,
            iwae_images=200,
            latent_samples=500,
            latent_pairs=50,
            disentanglement_scale=0.05,
            seed=seed,
            batch_size=250,
        )


def _batched(fn, x: torch.Tensor, batch: int) -> torch.Tensor:
    return torch.cat([fn(x[i : i + batch]) for i in range(0, x.shape[0], batch)])


@torch.no_grad()
def reconstruction_metrics(model, test: torch.Tensor, s: EvalSettings) -> tuple[dict, dict]:
    """recon_mse: mean squared error per pixel; recon_bce: binary cross-entropy summed over pixels, nats/image."""
    x_hat = _batched(model.reconstruct, test, s.batch_size).clamp(1e-6, 1 - 1e-6)
    mse = float((x_hat - test).pow(2).mean())
    bce = float(-(test * x_hat.log() + (1 - test) * (1 - x_hat).log()).flatten(1).sum(1).mean())
    how = {
        "split": "test",
        "images": test.shape[0],
        "recon_mse": "mean over pixels and images of (x - x_hat)^2",
        "recon_bce": "BCE summed over pixels, mean over images (nats)",
    }
    return {"recon_mse": mse, "recon_bce": bce}, {"recon_mse": how, "recon_bce": how}


def default_iwae_k(device) -> int:
    """k for nll_iwae when none is asked: the published 1000 on a GPU, 100 on a CPU (minutes, not an hour,
    for 10,000 Fashion-MNIST images)."""
    return likelihood.IWAE_K if torch.device(device).type == "cuda" else IWAE_K_CPU


def _iwae_note(k: int) -> dict:
    if k >= likelihood.IWAE_K:
        return {}
    return {
        "note": f"k = {k} (a lower bound on log p(x) looser than the papers'): Burda et al. 2016 use k = 5000, "
        "most later papers 1000; ask for it with --iwae-k 1000 (about 10x the time)"
    }


@torch.no_grad()
def likelihood_metrics(model, test: torch.Tensor, s: EvalSettings) -> tuple[dict, dict]:
    from .progress import bar

    x = test[: s.iwae_images]
    k = s.iwae_k or default_iwae_k(model.device)
    with bar(len(x), f"IWAE bound, k={k}", s.quiet, unit="img") as progress:
        out = likelihood.iwae_nll(model, x, k=k, batch_size=max(1, 20_000 // k), seed=s.seed, progress=progress.update)
    mu, logvar = likelihood.posterior_params(model, test)
    kl = likelihood.kl_per_dim(mu, logvar)
    values = {
        "elbo": out["elbo"],
        "nll_iwae": out["nll_iwae"],
        "iwae_k": k,
        "active_units": likelihood.active_units(mu),
        "kl_per_dim": [float(v) for v in kl],
    }
    how = {
        "split": "test",
        "images": int(x.shape[0]),
        "k": k,
        "seed": s.seed,
        **_iwae_note(k),
        "likelihood": model.config.likelihood,
        "units": "nats per image",
    }
    return values, {
        "elbo": how,
        "nll_iwae": how,
        "active_units": {"threshold": 0.01, "images": test.shape[0]},
        "kl_per_dim": {"images": test.shape[0]},
    }


@torch.no_grad()
def generate(model, n: int, s: EvalSettings, labels=None) -> torch.Tensor:
    g = torch.Generator().manual_seed(s.seed)
    out = []
    for i in range(0, n, s.batch_size):
        b = min(s.batch_size, n - i)
        lab = None if labels is None else labels[i : i + b]
        out.append(model.sample(b, generator=g, labels=lab).float().cpu())
    return torch.cat(out)


@torch.no_grad()
def sample_features(
    fake: torch.Tensor, real: torch.Tensor, extractor, s: EvalSettings, reference: str = "test split"
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Features of ``fake`` and of ``real`` (float64, one row an image) and how the reference's were had:
    those of ``real`` (named ``reference``) come from the user cache when they were computed before
    (:mod:`.cache`)."""
    from ..data import to_uint8
    from .cache import cached_features
    from .features import extract_features

    f_fake = extract_features(extractor, fake, "features of the generated images", s.quiet).double().numpy()
    f_real, cached = cached_features(
        lambda x: extract_features(extractor, x, f"features of {reference}", s.quiet),
        {"name": reference},
        to_uint8(real),
        extractor.info(),
        quiet=s.quiet,
    )
    return f_fake, f_real.astype(np.float64), cached


@torch.no_grad()
def sample_quality(
    fake: torch.Tensor,
    real: torch.Tensor,
    extractor,
    s: EvalSettings,
    reference: str = "test split",
    features: tuple[np.ndarray, np.ndarray, dict] | None = None,
) -> tuple[dict, dict]:
    """FID, KID, precision/recall of ``fake`` against ``real``, on ``features`` when the caller already has
    them (:func:`sample_features`), else computed here."""
    f_fake, f_real, cached = features or sample_features(fake, real, extractor, s, reference)
    values = {**fid.sample_scores(f_fake, f_real, seed=s.seed), "fid_features": extractor.name}
    how = {
        "features": extractor.info(),
        "generated": fake.shape[0],
        "seed": s.seed,
        "reference": f"{reference}, {real.shape[0]} images",
        "reference_features": cached["cache"],
    }
    return values, {k: how for k in ("fid", "kid", "precision", "recall")}


@torch.no_grad()
def latent_metrics(model, test: torch.Tensor, classifier, s: EvalSettings) -> tuple[dict, dict]:
    completeness = (
        latent.latent_completeness(
            model.decode,
            classifier.logits,
            model.latent_dim,
            n=s.latent_samples,
            seed=s.seed,
            batch_size=s.batch_size,
            device=model.device,
        )
        if classifier is not None
        else None
    )
    z = _batched(model.encode, test, s.batch_size)
    za, zb = latent.random_pairs(z, s.latent_pairs, seed=s.seed)
    continuity = latent.latent_continuity(model.decode, za, zb)
    values = {"latent_continuity": continuity}
    how = {
        "latent_continuity": {
            "paths": s.latent_pairs,
            "between": "encoded test images",
            "steps": 16,
            "definition": "mean over paths of max step / mean step of decoded images",
        }
    }
    if completeness is not None:
        values["latent_completeness"] = completeness
        how["latent_completeness"] = {
            "prior_samples": s.latent_samples,
            "classifier": classifier.name,
            "classifier_test_accuracy": classifier.record.get("test_accuracy"),
            "threshold": latent.COMPLETENESS_THRESHOLD,
            "prior": "N(0, I)",
        }
    return values, how


class _EncodedGrid:
    """dSprites with every image's code computed once (dSprites is noise-free, and the posterior mean
    deterministic): the metrics' observations are image indices and their codes rows of the table."""

    def __init__(self, source, encode, progress, chunk: int = 4096):
        self.factor_sizes = source.factor_sizes
        self.sample_factors = source.sample_factors
        self.sample_observations_from_factors = lambda factors, generator=None: source.index_of(factors)
        parts = []
        for i in range(0, source.num_images, chunk):
            parts.append(encode(source.images(np.arange(i, min(i + chunk, source.num_images)))))
            progress.update(len(parts[-1]))
        self.codes = np.concatenate(parts)  # (737280, D)

    def represent(self, indices) -> np.ndarray:
        return self.codes[np.asarray(indices)]


@torch.no_grad()
def disentanglement_metrics(model, s: EvalSettings) -> tuple[dict, dict]:
    from ..data import DSprites
    from .progress import bar

    source = DSprites()
    name = source.source
    device = model.device
    k = s.disentanglement_scale
    n = lambda v: max(50, int(v * k))  # noqa: E731
    d = disentanglement
    # images encoded by the four metrics; above the grid's size, every image is encoded once instead
    total = (
        2 * d.BETA_VAE_BATCH * (n(10_000) + n(5_000))
        + n(10_000)
        + d.FACTOR_VAE_BATCH * (n(10_000) + n(5_000))
        + n(10_000)
        + n(10_000)
        + n(5_000)
    )
    once = total > source.num_images
    with bar(source.num_images if once else total, "disentanglement metrics", s.quiet, unit="img") as progress:

        def encode(images):
            x = to_float(torch.as_tensor(images)).to(device)
            return model.encode(x).cpu().numpy()

        def rep(images):
            progress.update(len(images))
            return encode(images)

        if once:
            grid = _EncodedGrid(source, encode, progress)
            source, rep = grid, grid.represent  # type: ignore[assignment]
        values = {}
        values.update(d.beta_vae_score(rep, source, seed=s.seed, num_train=n(10_000), num_eval=n(5_000)))
        values.update(
            d.factor_vae_score(
                rep, source, seed=s.seed, num_train=n(10_000), num_eval=n(5_000), num_variance_estimate=n(10_000)
            )
        )
        values.update(d.mig(rep, source, seed=s.seed, num_train=n(10_000)))
        values.update(d.dci(rep, source, seed=s.seed, num_train=n(10_000), num_test=n(5_000)))
    how = {
        "source": f"dsprites ({name})",
        "seed": s.seed,
        "samples": "disentanglement_lib settings" if k == 1 else f"{k:g} x disentanglement_lib's counts",
        "representation": "posterior mean" + (", every image of the grid encoded once" if once else ""),
    }
    return values, {key: how for key in ("beta_vae_score", "factor_vae_score", "mig", "dci_disentanglement")}


@torch.no_grad()
def pix2pix_metrics(model, test_data, s: EvalSettings) -> tuple[dict, dict]:
    """l1, psnr, ssim of the translations against the true targets of the test pairs; pixel_accuracy on maps."""
    from . import image_metrics

    a, b = to_float(test_data.images), to_float(test_data.pair)
    direction = model.directions[0]
    inputs, targets = (a, b) if direction == "AtoB" else (b, a)
    out = _batched(lambda x: model.translate(x).cpu(), inputs, s.batch_size)
    values = {
        "l1": image_metrics.l1(out, targets),
        "psnr": image_metrics.psnr(out, targets),
        "ssim": image_metrics.ssim(out, targets),
    }
    how = {"split": "test", "pairs": int(inputs.shape[0]), "direction": direction, "range": "[0, 1]"}
    how = {k: how for k in values}
    if test_data.name == "maps" and direction == "AtoB" and "classes" in test_data.meta:
        from ..data.paired import pixel_accuracy

        values["pixel_accuracy"] = pixel_accuracy(out, test_data.meta["classes"])
        how["pixel_accuracy"] = {
            "split": "test",
            "maps": int(out.shape[0]),
            "classes": "nearest palette colour per pixel, against the layout's true classes",
        }
    return values, how


def translation_metrics(model, test_data, classifier, extractor, s: EvalSettings) -> tuple[dict, dict]:
    """A voice converter's voice metrics; a one-way translator's against the true targets of the test pairs;
    a two-way (unpaired) translator's cycle, label and FID metrics."""
    if supports(model, VoiceConverter):
        from .voice import evaluate_voice

        return evaluate_voice(model, s)
    if len(model.directions) == 1:
        return pix2pix_metrics(model, test_data, s)
    return cyclegan_metrics(model, test_data, classifier, extractor, s)


@torch.no_grad()
def class_diversity_metrics(
    fake: torch.Tensor,
    labels: torch.Tensor,
    real: torch.Tensor,
    num_classes: int,
    extractor,
    s: EvalSettings,
    features: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[dict, dict]:
    """Per-class spread ratio and recall of the samples made for each test label (``diversity``), on the
    extractor's ``features`` of ``fake`` and ``real`` when given (those of the FID), else on the pixels."""
    if features is not None:
        f_fake, f_real = features
    else:
        f_fake, f_real = fake.flatten(1).double().numpy(), real.flatten(1).double().numpy()
    values = diversity.class_diversity(f_fake, labels, f_real, labels, num_classes)
    how = {
        "features": extractor.info() if features is not None else "pixels",
        "generated": fake.shape[0],
        "reference": f"test split, {real.shape[0]} images, class by class",
        "labels": "those of the test split",
    }
    return values, {"class_diversity": how, "class_recall": how}


def class_agreement(classifier, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of ``images`` that ``classifier`` labels with ``labels``: ``cond_accuracy`` (samples made for
    label y) and ``label_preservation`` (A -> B translations, with domain B's classifier, against A's class)."""
    from . import image_metrics

    return image_metrics.classification_accuracy(classifier.logits(images), labels)


@torch.no_grad()
def cyclegan_metrics(model, test_data, classifier, extractor, s: EvalSettings) -> tuple[dict, dict]:
    """cycle_l1 (A -> B -> A, mean absolute error in [0, 1]), label_preservation of A -> B with domain B's
    classifier, and FID/KID of the A -> B translations against real B images."""
    a = to_float(test_data.images)
    ab = _batched(lambda x: model.translate(x, "AtoB").cpu(), a, s.batch_size)
    aba = _batched(lambda x: model.translate(x, "BtoA").cpu(), ab, s.batch_size)
    values = {"cycle_l1": float((aba - a).abs().mean())}
    how = {"cycle_l1": {"split": "test", "images": int(a.shape[0]), "path": "A -> B -> A", "range": "[0, 1]"}}
    if classifier is not None and test_data.labels is not None:
        values["label_preservation"] = class_agreement(classifier, ab, test_data.labels)
        how["label_preservation"] = {
            "classifier": classifier.name,
            "images": int(a.shape[0]),
            "labels": "the classes of the A images",
        }
    if extractor is not None and test_data.pair is not None:
        n = min(s.num_samples, ab.shape[0])
        quality, quality_how = sample_quality(
            ab[:n], to_float(test_data.pair[:n]), extractor, s, reference=f"{test_data.name}:test domain B"
        )
        values.update(quality)
        how.update({k: {**v, "generated": "A -> B translations of the test A images"} for k, v in quality_how.items()})
    return values, how


def _extractor_for(data_name: str, name: str | None, path=None, quiet: bool = False):
    """The extractor for FID/KID/precision/recall: the one named; else the dataset's shipped classifier
    (or palette); else, for a user folder, Inception (said in a note). None when there is none."""
    from .features import get_extractor

    if name or path:
        return get_extractor(name or "inception", path)
    try:
        return get_extractor(data_name)
    except GenlabError:
        pass
    if not _is_user_folder(data_name):
        return None
    try:
        extractor = get_extractor("inception")
    except GenlabError:
        return None
    if not quiet:
        note("sample metrics of a run on a user folder use the Inception network's features (the standard FID network)")
    return extractor


def _folder_classifier(data_name: str, test_data, s: EvalSettings):
    """The classifier trained on a labelled user folder by ``genlab classifier``, or None (with a hint)."""
    from .data_classifier import find_data_classifier

    found = find_data_classifier(data_name, test_data.images)
    if not s.quiet:
        note(
            f"class-based metrics use the classifier trained on {data_name} (test accuracy "
            f"{found.record['test_accuracy']:.3f})"
            if found
            else f"no classifier trained on {data_name}: 'genlab classifier {data_name}' trains one (minutes), "
            "for cond_accuracy and latent_completeness"
        )
    return found


def _is_user_folder(data_name: str) -> bool:
    from ..data import DATASETS

    return data_name not in DATASETS


def _no_extractor_reason(data_name: str) -> str:
    from .features import INCEPTION_HINT

    if _is_user_folder(data_name):
        return f"they need the Inception network for a user folder; {INCEPTION_HINT}"
    return f"genlab ships no classifier for {data_name}; name an extractor with --features inception"


def _is_classifier(extractor) -> bool:
    """An image classifier (class scores per image), not a per-pixel palette or Inception."""
    from .features import ClassifierExtractor

    return isinstance(extractor, ClassifierExtractor)


# metric groups of ``evaluate(..., metrics=...)``; each family declares those that apply to it (``metric_groups``)
METRIC_GROUPS = {
    "reconstruction": "recon_mse, recon_bce",
    "likelihood": "elbo, nll_iwae, active_units, kl_per_dim",
    "latent": "latent_completeness, latent_continuity",
    "disentanglement": "on dsprites: beta_vae_score, factor_vae_score, mig, dci_disentanglement",
    "samples": "fid, kid, precision, recall (+ cond_accuracy)",
    "translation": "paired: l1, psnr, ssim; unpaired: cycle_l1, label_preservation, fid; voices: their keys",
}


def _groups(metrics, model, data_name: str) -> set[str]:
    family = model.family
    applies = set(model.metric_groups)
    if data_name != "dsprites":
        applies.discard("disentanglement")
    if metrics is None:
        return applies
    asked = set(metrics)
    unknown = asked - set(METRIC_GROUPS)
    if unknown:
        raise GenlabError(f"unknown metric group {', '.join(sorted(unknown))}; choose from {', '.join(METRIC_GROUPS)}")
    if not asked & applies:
        raise GenlabError(
            f"none of {', '.join(sorted(asked))} applies to this {family} run on {data_name}; "
            f"those that do: {', '.join(sorted(applies))}"
        )
    return asked & applies


def evaluate(
    run,
    out: str | Path | None = None,
    *,
    settings: EvalSettings | None = None,
    features: str | None = None,
    inception_weights: str | Path | None = None,
    device: str = "cpu",
    metrics=None,
) -> dict:
    """Evaluate the trained run in folder ``run`` (or a loaded model); write ``out`` (JSON) and a Markdown page.

    ``features``: the extractor for FID/KID/precision/recall ('inception', a dataset's classifier name,
    with ``inception_weights`` a TorchScript file); by default the shipped classifier of the run's dataset.
    ``metrics``: names of :data:`METRIC_GROUPS` to compute (default: every group that applies).
    """
    from ..training import load

    model = load(run, device=device) if isinstance(run, (str, Path)) else run
    s = settings or EvalSettings()
    data_name = model.meta["data"]
    groups = _groups(metrics, model, data_name)
    shape = tuple(model.config.image_shape)
    test_data = load_run_data(model.meta, "test")
    test = to_float(test_data.images).to(model.device)
    if tuple(test.shape[1:]) != shape:
        raise GenlabError(
            f"the test images are {tuple(test.shape[1:])} but the model takes {shape}; "
            "evaluate on the data the model was trained on"
        )
    values: dict = {}
    how: dict = {}
    t0 = time.perf_counter()
    family = model.family

    def add(pair):
        values.update(pair[0])
        how.update(pair[1])

    extractor = _extractor_for(data_name, features, inception_weights, quiet=s.quiet)
    not_computed: dict[str, str] = {}
    if "samples" in groups and extractor is None:
        not_computed["samples"] = _no_extractor_reason(data_name)
    if not_computed and metrics is not None:  # a group the user asked for: an error, not a silent gap
        raise GenlabError(
            f"cannot compute the {', '.join(not_computed)} metrics of this run: {'; '.join(not_computed.values())}"
        )
    # the dataset's own classifier (None for folders): for FID by default, and for the label metrics
    classifier = extractor if not (features or inception_weights) else _extractor_for(data_name, None)
    if _is_user_folder(data_name) and test_data.labels is not None:
        classifier = _folder_classifier(data_name, test_data, s)
    if "reconstruction" in groups:
        add(reconstruction_metrics(model, test, s))
    if "likelihood" in groups:
        add(likelihood_metrics(model, test, s))
    if "latent" in groups:
        add(latent_metrics(model, test, classifier if _is_classifier(classifier) else None, s))
    if "disentanglement" in groups:
        add(disentanglement_metrics(model, s))
    labels = None
    if "samples" in groups and supports(model, Conditional) and test_data.labels is not None:
        labels = test_data.labels[: min(s.num_samples, test.shape[0])]
    if "samples" in groups and (extractor is not None or labels is not None):
        n = min(s.num_samples, test.shape[0])
        fake = generate(model, n, s, labels)
        feats = None
        if extractor is not None:
            reference = f"{data_name}:test"
            feats = sample_features(fake, test[:n].cpu(), extractor, s, reference)
            add(sample_quality(fake, test[:n].cpu(), extractor, s, reference, feats))
            if n < FID_BIAS_N:  # KID, unbiased at any n, is in the report beside it
                warning = (
                    f"FID from {n} images is biased upwards (fewer than about {FID_BIAS_N}); compare runs by "
                    "KID, which is unbiased at any size"
                )
                how["fid"] = {**how["fid"], "warning": warning}
                if not s.quiet:
                    note(warning)
        if labels is not None and _is_classifier(classifier):
            values["cond_accuracy"] = class_agreement(classifier, fake, labels)
            how["cond_accuracy"] = {
                "classifier": classifier.name,
                "samples": n,
                "labels": "those of the test split",
                "classifier_test_accuracy": classifier.record.get("test_accuracy"),
            }
        if labels is not None and test_data.labels is not None:
            add(
                class_diversity_metrics(
                    fake,
                    labels,
                    test[:n].cpu(),
                    len(test_data.classes or []) or int(test_data.labels.max()) + 1,
                    extractor,
                    s,
                    None if feats is None else feats[:2],
                )
            )
    if "translation" in groups:
        add(translation_metrics(model, test_data, classifier if _is_classifier(classifier) else None, extractor, s))
    if not values:
        why = "; ".join(not_computed.values()) or "none applies"
        raise GenlabError(f"no metric could be computed for this run: {why}")
    for group, why in not_computed.items():
        if not s.quiet:
            note(f"{group} metrics not computed: {why}")
    report = {
        "run": str(getattr(model, "meta", {}).get("run", "")),
        "model": family,
        "data": data_name,
        **values,
        "measured": how,
        **({"not_computed": not_computed} if not_computed else {}),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    if out is not None:
        write_report(report, Path(out), model, s)
    return report


def write_report(report: dict, out: Path, model, s: EvalSettings) -> None:
    from ..training.checkpoint import write_json
    from ..viz.grid import save_grid

    out.parent.mkdir(parents=True, exist_ok=True)
    write_json(out, report)
    stem = out.with_suffix("")
    lines = [
        f"# Evaluation of {report['run'] or 'a model'}",
        "",
        f"model `{report['model']}`, data `{report['data']}`, {report['seconds']} s",
        "",
        "| metric | value | measured |",
        "|---|---|---|",
    ]
    for key, value in report.items():
        if key in ("run", "model", "data", "measured", "seconds", "kl_per_dim", "not_computed"):
            continue
        shown = f"{value:.4g}" if isinstance(value, float) else str(value)
        measured = report["measured"].get(key, "")
        lines.append(f"| {key} | {shown} | {json.dumps(measured) if measured else ''} |")
    if supports(model, Sampler):
        grid = save_grid(generate(model, 64, s), stem.with_name(stem.name + "_samples.png"))
        lines += ["", f"![samples]({grid.name})"]
    if "kl_per_dim" in report:
        lines += ["", "KL per latent dimension (nats): " + ", ".join(f"{v:.2f}" for v in report["kl_per_dim"])]
        plot = _kl_plot(report["kl_per_dim"], stem.with_name(stem.name + "_kl.png"))
        if plot:
            lines += ["", f"![KL per dimension]({plot.name})"]
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")


def _kl_plot(kl, path: Path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    order = np.argsort(kl)[::-1]
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.bar(range(len(kl)), np.asarray(kl)[order])
    ax.set_xlabel("latent dimension (sorted)")
    ax.set_ylabel("KL (nats)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
