"""The views a training step runs through: bf16 autocast around the forward passes only; CUDA and compile."""

import pytest
import torch
from torch import nn

from genlab.models import build_model
from genlab.training import TrainConfig, fit, views
from genlab.training.distributed import Dist


def test_autocast_runs_the_forward_in_bf16_and_hands_out_float32():
    net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
    seen = []
    net[0].register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    out = views.Autocast(net, "cpu")(torch.randn(5, 8))
    assert seen == [torch.bfloat16] and out.dtype == torch.float32
    out.square().mean().backward()  # the backward pass accumulates float32 gradients into float32 weights
    assert all(p.dtype == torch.float32 and p.grad.dtype == torch.float32 for p in net.parameters())


def test_autocast_outputs_of_a_dict_objective_are_float32():
    model = build_model("vae", image_shape=(1, 8, 8), arch="mlp", hidden=(16,), latent_dim=2)
    out = views.Autocast(model, "cpu")(torch.rand(4, 1, 8, 8), 0)
    assert {v.dtype for v in out.values()} == {torch.float32}


def test_the_step_sees_its_views_and_the_model_keeps_its_networks():
    model = build_model("gan", image_shape=(1, 8, 8), arch="mlp", hidden=(8,), latent_dim=2, ema=False)
    opts = model.configure_optimizers(TrainConfig())
    step_views = views.make(model, opts, Dist(), torch.device("cpu"), amp=True)
    assert set(step_views) == {"generator", "discriminator"}
    plain = model.generator
    with views.swapped(model, step_views):
        assert isinstance(model.generator, views.Autocast) and model.generator.module is plain
    assert model.generator is plain and set(model.state_dict()) == set(
        build_model("gan", image_shape=(1, 8, 8), arch="mlp", hidden=(8,), latent_dim=2, ema=False).state_dict()
    )
    whole = build_model("vae", image_shape=(1, 8, 8), arch="mlp", hidden=(8,), latent_dim=2)
    assert views.make(whole, whole.configure_optimizers(TrainConfig()), Dist(), torch.device("cpu"), amp=True) == {}
    assert isinstance(whole.replica, views.Autocast)  # the default train_step runs the objective through it
    assert "replica" not in dict(whole.named_children())


def test_amp_is_a_cuda_setting_and_cpu_training_is_unchanged(digits_data):
    """amp (on by default) applies to CUDA only: on CPU two runs with amp on and off are identical."""
    train, _ = digits_data
    runs = []
    for amp in (True, False):
        torch.manual_seed(0)
        m = build_model("vae", image_shape=(1, 8, 8), arch="mlp", hidden=(16,), latent_dim=2)
        fit(m, train, TrainConfig(steps=3, batch_size=32, device="cpu", amp=amp), quiet=True)
        assert m.replica is None
        runs.append(m.state_dict())
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")
def test_cuda_training_with_bf16_autocast(digits_data):
    train, _ = digits_data
    m = build_model("gan", image_shape=(1, 8, 8), channels=(8, 16), latent_dim=8)
    fit(m, train, TrainConfig(steps=5, batch_size=32, device="cuda", amp=True), quiet=True)
    assert m.generator.net.fc[0].weight.dtype == torch.float32 and m.generator.net.fc[0].weight.is_cuda
    assert torch.isfinite(m.sample(4)).all()


@pytest.mark.slow
def test_compiled_training_matches_eager(digits_data):
    """A VAE trains alike compiled: the same steps, its reparameterisation noise the same draws as in eager mode."""
    train, _ = digits_data
    runs = []
    for compile in (False, True):
        torch.manual_seed(0)
        m = build_model("vae", image_shape=(1, 8, 8), arch="mlp", hidden=(16,), latent_dim=2)
        fit(m, train, TrainConfig(steps=3, batch_size=32, device="cpu", compile=compile), quiet=True)
        runs.append(m.state_dict())
    for k in runs[0]:
        assert torch.allclose(runs[0][k], runs[1][k], atol=1e-4), k


def test_amp_cpu_trains_with_bf16_forward_passes(digits_data):
    train, _ = digits_data
    torch.manual_seed(0)
    m = build_model("vae", image_shape=(1, 8, 8), arch="mlp", hidden=(16,), latent_dim=2)
    seen = []
    first = next(mod for mod in m.encoder.modules() if isinstance(mod, nn.Linear))
    first.register_forward_hook(lambda mod, i, o: seen.append(o.dtype))
    fit(m, train, TrainConfig(steps=3, batch_size=32, device="cpu", amp_cpu=True), quiet=True)
    assert seen == [torch.bfloat16] * 3  # the three training steps; no autocast after training
    assert all(p.dtype == torch.float32 and torch.isfinite(p).all() for p in m.parameters())
