"""Long evaluations show a progress bar with a time estimate (off with quiet); nll_iwae's default k
suits the device (100 on a CPU) and the report says what papers use and how to ask for it."""

from __future__ import annotations

import pytest
import torch

from genlab.cli import main
from genlab.evaluation import likelihood
from genlab.evaluation.features import extract_features, get_extractor
from genlab.evaluation.report import IWAE_K_CPU, EvalSettings, default_iwae_k, likelihood_metrics


@pytest.fixture(scope="module")
def vae(tmp_path_factory):
    from genlab.training import load

    out = tmp_path_factory.mktemp("runs") / "vae"
    assert (
        main(
            [
                "train",
                "--model",
                "vae",
                "--data",
                "digits",
                "--steps",
                "5",
                "--out",
                str(out),
                "--quiet",
                "--set",
                "latent_dim=4",
                "--set",
                "channels=8",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    return load(out, device="cpu")


def test_default_iwae_k_by_device():
    assert default_iwae_k("cpu") == IWAE_K_CPU == 100
    assert default_iwae_k("cuda") == likelihood.IWAE_K == 1000


@pytest.mark.parametrize("quiet", [False, True])
def test_iwae_progress_and_default_k(vae, digits_data, capsys, quiet):
    test = digits_data[1].images[:12].float() / 255
    values, how = likelihood_metrics(vae, test, EvalSettings(iwae_images=12, quiet=quiet))
    assert values["iwae_k"] == IWAE_K_CPU and how["nll_iwae"]["k"] == IWAE_K_CPU
    assert "--iwae-k 1000" in how["nll_iwae"]["note"] and "5000" in how["nll_iwae"]["note"]
    err = capsys.readouterr().err
    assert ("IWAE bound, k=100" in err and "img" in err) != quiet
    asked = likelihood_metrics(vae, test, EvalSettings(iwae_images=12, iwae_k=1000, quiet=True))[1]
    assert "note" not in asked["nll_iwae"]


def test_iwae_progress_counts_every_image(vae, digits_data):
    done = []
    x = digits_data[1].images[:10].float() / 255
    likelihood.iwae_nll(vae, x, k=4, batch_size=3, progress=done.append)
    assert done == [3, 3, 3, 1]


@pytest.mark.parametrize("quiet", [False, True])
def test_feature_extraction_progress(digits_data, capsys, quiet):
    ext = get_extractor("classifier:digits")
    x = digits_data[1].images[:40]
    f = extract_features(ext, x, "features of the test images", quiet, batch_size=16)
    assert torch.allclose(f, ext(x), atol=1e-6)
    err = capsys.readouterr().err
    assert ("features of the test images" in err and "/40 [" in err and "img/s" in err) != quiet
