"""genlab evaluate on tiny runs: the keys of SPEC section 4 per family, each with how it was measured."""

import json

import pytest

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
