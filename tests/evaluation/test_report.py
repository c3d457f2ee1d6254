"""genlab evaluate on tiny runs: the keys of SPEC section 4 per family, each with how it was measured."""

import json

import numpy as np
import pytest
import torch

import genlab
from genlab.cli import main
from genlab.evaluation.report import EvalSettings

TINY = {"channels": "8", "latent_dim": "4"}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    out = {}
    for name in ("ae", "vae", "cgan"):
        genlab.train(name, "digits", root / name, steps=10, settings=TINY, quiet=True)
        out[name] = root / name
    return out


@pytest.mark.parametrize(
    "name, keys",
    [
        (
            "ae",
            {"recon_mse", "recon_bce", "fid", "kid", "precision", "recall", "latent_completeness", "latent_continuity"},
        ),
        (
            "vae",
            {
                "recon_mse",
                "elbo",
                "nll_iwae",
                "iwae_k",
                "active_units",
                "kl_per_dim",
                "fid",
                "kid",
                "precision",
                "recall",
                "latent_completeness",
                "latent_continuity",
            },
        ),
        ("cgan", {"fid", "kid", "precision", "recall", "cond_accuracy", "class_diversity", "class_recall"}),
    ],
)
def test_report_keys_and_measurements(runs, name, keys, tmp_path):
    report = genlab.evaluate(runs[name], tmp_path / "r.json", settings=EvalSettings.quick())
    assert keys <= set(report), keys - set(report)
    assert report["fid_features"] == "classifier:digits"
    for key in keys - {"iwae_k", "kl_per_dim", "active_units"}:
        assert key in report["measured"], key
    saved = json.loads((tmp_path / "r.json").read_text())
    assert saved["model"] == name and (tmp_path / "r.md").is_file()
    if name == "vae":
        assert report["nll_iwae"] <= -report["elbo"] + 1e-6
        assert len(report["kl_per_dim"]) == 4


def test_cli_evaluate(runs, tmp_path, capsys):
    assert main(["evaluate", str(runs["vae"]), "--out", str(tmp_path / "r.json"), "--quick"]) == 0
    assert "nll_iwae" in capsys.readouterr().out
    assert main(["evaluate", str(runs["vae"]), "--out", str(tmp_path / "r.json"), "--features", "nope"]) == 2


def test_metric_groups_select_what_is_computed(runs, tmp_path, capsys):
    report = genlab.evaluate(runs["vae"], tmp_path / "r.json", settings=EvalSettings.quick(), metrics=["likelihood"])
    assert {"elbo", "nll_iwae"} <= set(report)
    assert not {"fid", "recon_mse", "latent_continuity"} & set(report)
    out = tmp_path / "cli.json"
    assert (
        main(["evaluate", str(runs["vae"]), "--out", str(out), "--quick", "--metrics", "reconstruction,samples"]) == 0
    )
    saved = json.loads(out.read_text())
    assert {"recon_mse", "fid"} <= set(saved) and "elbo" not in saved
    capsys.readouterr()
    # an unknown group, or one that does not apply to the family, is one line and exit 2; nothing written
    bad = tmp_path / "bad.json"
    assert main(["evaluate", str(runs["vae"]), "--out", str(bad), "--metrics", "fdi"]) == 2
    assert "unknown metric group fdi" in capsys.readouterr().err
    assert main(["evaluate", str(runs["cgan"]), "--out", str(bad), "--metrics", "likelihood"]) == 2
    assert "those that do: samples" in capsys.readouterr().err
    assert not bad.exists()


class _TinyGrid:
    """A noise-free factor grid of 8x8 images (a bar whose place and length are the factors)."""

    factor_sizes = [1, 2, 3, 4, 4]
    num_images = 96
    source = "tiny"

    def sample_factors(self, n, rng):
        rng = np.random.default_rng(rng)
        return np.stack([rng.integers(0, s, n) for s in self.factor_sizes], axis=1)

    def images(self, indices):
        f = np.stack(np.unravel_index(np.asarray(indices), self.factor_sizes), axis=1)
        out = np.zeros((len(f), 1, 8, 8), dtype=np.uint8)
        for i, (_, a, b, c, d) in enumerate(f):
            out[i, 0, c + a, d : d + b + 2] = 255
        return torch.from_numpy(out)

    def index_of(self, factors):
        return np.ravel_multi_index(np.asarray(factors).T, self.factor_sizes)

    def sample_observations_from_factors(self, factors, rng=None):
        return self.images(self.index_of(factors))


def test_disentanglement_metrics_on_the_grid_encoded_once_equal_the_direct_ones(monkeypatch):
    # more encodings asked than the grid has images: each image is encoded once and looked up
    import genlab.data
    from genlab.evaluation import disentanglement as d
    from genlab.evaluation.report import disentanglement_metrics
    from genlab.models import build_model

    torch.manual_seed(0)
    model = build_model("vae", image_shape=(1, 8, 8), arch="mlp", latent_dim=3, hidden=(16,)).eval()
    monkeypatch.setattr(genlab.data, "DSprites", _TinyGrid)
    got, how = disentanglement_metrics(model, EvalSettings(disentanglement_scale=0.01, quiet=True))
    assert "encoded once" in how["mig"]["representation"]

    def rep(images):
        return model.encode(images.float() / 255).detach().numpy()

    src, n = _TinyGrid(), 100  # max(50, 0.01 x the published counts)
    want = {
        **d.beta_vae_score(rep, src, seed=0, num_train=n, num_eval=50),
        **d.factor_vae_score(rep, src, seed=0, num_train=n, num_eval=50, num_variance_estimate=n),
        **d.mig(rep, src, seed=0, num_train=n),
        **d.dci(rep, src, seed=0, num_train=n, num_test=50),
    }
    for key in ("beta_vae_score", "factor_vae_score", "mig", "dci_disentanglement"):
        assert got[key] == pytest.approx(want[key], abs=1e-6), key
