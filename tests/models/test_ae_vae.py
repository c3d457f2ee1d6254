import pytest
import torch

from genlab.errors import GenlabError
from genlab.models import build_model
from genlab.models.blocks import conv_sizes
from genlab.training.checkpoint import load_weights, save_weights

SHAPES = [(1, 8, 8), (1, 28, 28), (1, 64, 64), (3, 30, 45)]


@pytest.mark.parametrize("name", ["ae", "vae"])
@pytest.mark.parametrize("arch", ["mlp", "conv"])
@pytest.mark.parametrize("shape", SHAPES)
def test_shapes_finite_loss_and_backward(name, arch, shape):
    torch.manual_seed(0)
    model = build_model(name, image_shape=shape, arch=arch, latent_dim=3, hidden=(16,), channels=(4, 8))
    x = torch.rand(2, *shape)
    z = model.encode(x)
    assert z.shape == (2, 3)
    assert model.decode(z).shape == (2, *shape)
    assert model.sample(5).shape == (5, *shape)
    out = model.loss(x)
    assert torch.isfinite(out["loss"])
    out["loss"].backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_conv_size_rule():
    assert conv_sizes(28, 28, 2) == [(28, 28), (14, 14), (7, 7)]
    assert conv_sizes(30, 45, 2) == [(30, 45), (15, 23), (8, 12)]
    with pytest.raises(GenlabError, match="at least 4x4"):
        build_model("vae", image_shape=(1, 3, 3), arch="conv")


@pytest.mark.parametrize(
    "bad, match",
    [
        ({"latent_dim": 0}, "latent_dim"),
        ({"beta": -1}, "beta"),
        ({"likelihood": "poisson"}, "likelihood"),
        ({"arch": "resnet"}, "arch"),
        ({"sigma": 0}, "sigma"),
        ({"learn_sigma": True}, "learn_sigma needs likelihood = 'gaussian'"),
    ],
)
def test_vae_config_validation(bad, match):
    with pytest.raises(GenlabError, match=match):
        build_model("vae", **bad)


def test_beta_scales_kl_and_warmup():
    torch.manual_seed(0)
    m = build_model("vae", image_shape=(1, 8, 8), arch="mlp", beta=4.0, kl_warmup_steps=10)
    assert m.beta_at(0) == 0.0 and m.beta_at(5) == 2.0 and m.beta_at(50) == 4.0
    x = torch.rand(4, 1, 8, 8)
    torch.manual_seed(1)
    out = m.loss(x, step=100)
    assert torch.allclose(out["loss"], out["recon"] + 4.0 * out["kl"])


def test_capacity_objective():
    torch.manual_seed(0)
    m = build_model("vae", image_shape=(1, 8, 8), arch="mlp", capacity_max=25.0, capacity_steps=100, gamma=10.0)
    torch.manual_seed(1)
    out = m.loss(torch.rand(4, 1, 8, 8), step=50)
    assert torch.allclose(out["loss"], out["recon"] + 10.0 * (out["kl"] - 12.5).abs())


def test_gaussian_likelihood_matches_pythae_style_mse():
    # likelihood=gaussian, sigma=1 without the constant is 0.5 * summed squared error (pythae's 'mse' VAE loss)
    torch.manual_seed(0)
    m = build_model("vae", image_shape=(1, 8, 8), arch="mlp", likelihood="gaussian")
    logits, x = torch.randn(3, 1, 8, 8), torch.rand(3, 1, 8, 8)
    ref = 0.5 * (torch.sigmoid(logits) - x).pow(2).flatten(1).sum(1)
    assert torch.allclose(m.recon_nll(logits, x, constant=False), ref, atol=1e-5)


def test_learned_sigma_is_the_gaussian_std_and_reaches_the_mean_squared_error(tmp_path):
    torch.manual_seed(0)
    m = build_model("vae", image_shape=(1, 8, 8), arch="mlp", likelihood="gaussian", learn_sigma=True, sigma=0.5)
    logits, x = torch.randn(3, 1, 8, 8), torch.rand(3, 1, 8, 8)
    ref = -torch.distributions.Normal(torch.sigmoid(logits), 0.5).log_prob(x).flatten(1).sum(1)
    assert torch.allclose(m.recon_nll(logits, x), ref, atol=1e-4)
    # sigma alone minimising the likelihood term: the optimum is sigma^2 = the mean squared error per pixel
    opt = torch.optim.Adam([m.log_sigma], lr=0.05)
    for _ in range(400):
        opt.zero_grad()
        m.recon_nll(logits, x).mean().backward()
        opt.step()
    mse = (torch.sigmoid(logits) - x).pow(2).mean()
    assert abs(float(m.log_sigma.detach().exp()) - float(mse.sqrt())) < 1e-3
    assert "sigma" in m.loss(x) and m.loss(x)["loss"].requires_grad
    save_weights(m, tmp_path, step=1)
    m2 = build_model("vae", image_shape=(1, 8, 8), arch="mlp", likelihood="gaussian", learn_sigma=True, sigma=0.5)
    load_weights(m2, tmp_path)
    assert torch.equal(m2.log_sigma, m.log_sigma)


@pytest.mark.parametrize("name", ["ae", "vae"])
def test_save_load_round_trip(tmp_path, name):
    torch.manual_seed(0)
    a = build_model(name, image_shape=(1, 8, 8), latent_dim=4)
    a.latent_mean.fill_(0.3) if name == "ae" else None
    save_weights(a, tmp_path, step=7)
    b = build_model(name, image_shape=(1, 8, 8), latent_dim=4)
    assert load_weights(b, tmp_path) == 7
    a.eval(), b.eval()
    x = torch.rand(3, 1, 8, 8)
    assert torch.equal(a.encode(x), b.encode(x))
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert torch.equal(a.sample(4, g1), b.sample(4, g2))


def test_ae_fitted_prior_matches_encodings(digits_data):
    train, _ = digits_data
    torch.manual_seed(0)
    m = build_model("ae", image_shape=(1, 8, 8), arch="mlp", latent_dim=3)
    m.on_epoch_end(train)
    z = m.encode(train.images.float() / 255).detach()
    assert torch.allclose(m.latent_mean, z.mean(0), atol=1e-4)
    cov = m.latent_chol @ m.latent_chol.T
    assert torch.allclose(cov, torch.cov(z.T), atol=1e-3)


def test_wrong_image_shape_message():
    m = build_model("vae", image_shape=(1, 28, 28))
    with pytest.raises(GenlabError, match="1x28x28"):
        m.encode(torch.rand(2, 3, 64, 64))


def test_beta_tcvae_weighs_only_the_total_correlation():
    torch.manual_seed(0)
    m = build_model("vae", image_shape=(1, 8, 8), arch="mlp", latent_dim=3, hidden=(16,), beta=6.0, tc=True)
    torch.manual_seed(1)
    out = m.loss(torch.rand(8, 1, 8, 8))
    assert torch.allclose(
        out["loss"], out["recon"] + out["mutual_info"] + 6.0 * out["total_correlation"] + out["dimwise_kl"]
    )
    with pytest.raises(GenlabError, match="tc and capacity_max"):
        build_model("vae", tc=True, capacity_max=5.0)


def test_beta_tcvae_stratified_estimator_uses_the_training_set_size():
    from genlab import losses
    from genlab.training.run import make_configs

    settings = {"model.arch": "mlp", "model.latent_dim": 3, "model.hidden": (16,), "model.tc": True}
    mss = make_configs("vae", (1, 8, 8), None, {**settings, "model.tc_estimator": "mss"}, data_size=500)["model"]
    assert mss.dataset_size == 500  # set from the data
    torch.manual_seed(0)
    m = build_model("vae", **{**vars(mss)})
    x = torch.rand(8, 1, 8, 8)
    torch.manual_seed(1)
    out = m.loss(x)
    torch.manual_seed(1)  # the same z: the decomposition the loss used is the stratified one with N = 500
    mu, logvar = m.encoder(x).chunk(2, dim=1)
    z = losses.reparameterize(mu, logvar)
    want = losses.kl_decomposition(z, mu, logvar, dataset_size=500)
    assert torch.allclose(out["mutual_info"], want["mutual_info"])
    assert not torch.allclose(out["mutual_info"], losses.kl_decomposition(z, mu, logvar)["mutual_info"])
    with pytest.raises(GenlabError, match="dataset_size"):
        build_model("vae", tc=True, tc_estimator="mss")
    with pytest.raises(GenlabError, match="'mws' or 'mss'"):
        build_model("vae", tc=True, tc_estimator="exact")


def test_two_stage_vae_trains_the_second_stage_on_frozen_codes_and_samples_through_both(digits_data, tmp_path):
    from genlab.training.config import TrainConfig
    from genlab.training.loop import fit

    train, _ = digits_data
    torch.manual_seed(0)
    m = build_model(
        "vae",
        image_shape=(1, 8, 8),
        arch="mlp",
        latent_dim=3,
        hidden=(32,),
        second_stage_start=20,
        second_hidden=(16,),
        second_latent_dim=2,
    )

    def g():
        return torch.Generator().manual_seed(5)

    prior = m.sample_latent(4, g())
    assert torch.equal(prior, torch.randn(4, 3, generator=g()))  # not fitted yet: the N(0, I) prior
    fit(m, train, TrainConfig(steps=20, batch_size=64, seed=0), tmp_path, quiet=True)
    first = {k: v.clone() for k, v in m.state_dict().items() if not k.startswith("stage2.")}
    assert int(m.stage2.steps) == 0
    fit(m, train, TrainConfig(steps=30, batch_size=64, seed=0), tmp_path, resume=True, quiet=True)  # steps 20..29
    assert int(m.stage2.steps) == 10
    assert all(torch.equal(v, m.state_dict()[k]) for k, v in first.items())  # the first VAE is frozen ...
    # ... and new images are u ~ N(0, I) -> second decoder -> z -> first decoder
    u = torch.randn(4, 2, generator=g())
    z = m.stage2.decoder(u)
    assert torch.allclose(m.sample_latent(4, g()), z)
    assert torch.allclose(m.sample(4, g()), m.decode(z))
    assert m.sample(4, g()).shape == (4, 1, 8, 8)


def test_two_stage_vae_saves_and_loads_its_second_stage(tmp_path):
    torch.manual_seed(0)
    m = build_model(
        "vae", image_shape=(1, 8, 8), arch="mlp", latent_dim=3, hidden=(16,), second_stage_start=5, second_hidden=(8,)
    )
    m.stage2.steps += 1
    save_weights(m, tmp_path, step=1)
    m2 = build_model(
        "vae", image_shape=(1, 8, 8), arch="mlp", latent_dim=3, hidden=(16,), second_stage_start=5, second_hidden=(8,)
    )
    load_weights(m2, tmp_path)

    def g():
        return torch.Generator().manual_seed(0)

    assert torch.equal(m.sample(3, g()), m2.sample(3, g()))


@pytest.mark.parametrize(
    "kw", [{}, {"likelihood": "gaussian", "sigma": 0.3}, {"likelihood": "gaussian", "learn_sigma": True}]
)
def test_elbo_is_the_full_log_likelihood_minus_the_kl(kw):
    """The logged ELBO adds the Gaussian's normaliser a fixed sigma leaves out of the training loss."""
    from genlab import losses

    torch.manual_seed(0)
    m = build_model("vae", image_shape=(1, 8, 8), arch="mlp", latent_dim=3, hidden=(16,), **kw)
    x = torch.rand(5, 1, 8, 8)
    torch.manual_seed(1)
    out = m.loss(x)
    torch.manual_seed(1)
    mu, logvar = m.encoder(x).chunk(2, dim=1)
    logits = m.decoder(losses.reparameterize(mu, logvar))
    by_hand = -(m.recon_nll(logits, x).mean() + losses.kl_normal_standard(mu, logvar).sum(1).mean())
    assert torch.allclose(out["elbo"], by_hand.detach(), rtol=1e-6)
