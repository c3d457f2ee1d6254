"""The latent-size sweep: results.json and the plot, skipped finished runs, resumed interrupted ones."""

import json

import pytest

import genlab.sweep as sweep_mod
from genlab import train
from genlab.errors import GenlabError
from genlab.sweep import sweep_latent_dim
from genlab.training import checkpoint

FAST = {"arch": "mlp", "hidden": "16", "batch_size": "64"}


def run_sweep(out, **kw):
    args = dict(models=["ae", "vae"], data="digits", dims=[2, 3], steps=4, settings=FAST, log=lambda s: None)
    return sweep_latent_dim(out, **{**args, **kw})


@pytest.fixture
def calls(monkeypatch):
    """Count the sweep's calls to train and resume."""
    seen = {"train": [], "resume": []}

    def spy(name, fn):
        def wrapped(*a, **k):
            seen[name].append(a[0] if name == "resume" else a[2])
            return fn(*a, **k)

        return wrapped

    monkeypatch.setattr(sweep_mod, "train", spy("train", sweep_mod.train))
    monkeypatch.setattr(sweep_mod, "resume", spy("resume", sweep_mod.resume))
    return seen


def test_sweep_writes_results_and_plot_and_skips_finished_runs(tmp_path, calls):
    out = tmp_path / "sweep"
    results = run_sweep(out)
    assert len(calls["train"]) == 4 and not calls["resume"]
    on_disk = json.loads((out / "results.json").read_text())
    assert on_disk == json.loads(json.dumps(results))
    assert set(on_disk["runs"]) == {"ae_z2", "ae_z3", "vae_z2", "vae_z3"}
    for key, r in on_disk["runs"].items():
        assert r["step"] == 4 and r["test"]["recon_mse"] > 0 and (out / key / "config.json").is_file()
        assert ("elbo" in r["test"]) == (r["model"] == "vae")
    vae = on_disk["runs"]["vae_z2"]["test"]
    assert vae["elbo"] == pytest.approx(-(vae["recon_nll"] + vae["kl"]))
    assert (out / "latent_dim.png").stat().st_size > 1000
    mtime = (checkpoint.latest(out / "vae_z2") / "model.safetensors").stat().st_mtime_ns

    calls["train"].clear()
    run_sweep(out)  # everything finished: nothing trained, nothing resumed
    assert not calls["train"] and not calls["resume"]
    assert (checkpoint.latest(out / "vae_z2") / "model.safetensors").stat().st_mtime_ns == mtime


def test_interrupted_runs_are_resumed_or_restarted(tmp_path, calls):
    out = tmp_path / "sweep"
    train("vae", "digits", out / "vae_z2", settings={**FAST, "latent_dim": 2}, steps=2, seed=0, quiet=True)
    (out / "vae_z3").mkdir(parents=True)
    (out / "vae_z3" / "config.json").write_text("{}")  # killed before its first checkpoint
    calls["train"].clear()
    results = run_sweep(out, models=["vae"])
    assert calls["resume"] == [out / "vae_z2"] and calls["train"] == [out / "vae_z3"]
    assert results["runs"]["vae_z2"]["step"] == 4 and results["runs"]["vae_z3"]["step"] == 4
    steps = [json.loads(s)["step"] for s in (out / "vae_z2" / "metrics.jsonl").read_text().splitlines()]
    assert max(steps) == 4


def test_longer_runs_are_extended_and_other_settings_refused(tmp_path, calls):
    out = tmp_path / "sweep"
    run_sweep(out, models=["ae"], dims=[2])
    calls["train"].clear()
    results = run_sweep(out, models=["ae"], dims=[2], steps=6)
    assert calls["resume"] == [out / "ae_z2"] and not calls["train"] and results["runs"]["ae_z2"]["step"] == 6
    with pytest.raises(GenlabError, match="another settings"):
        run_sweep(out, models=["ae"], dims=[2], settings={**FAST, "lr": "0.01"})


@pytest.mark.parametrize(
    "kw, message",
    [
        (dict(models=["gan"]), "model 'gan' has no encoder"),
        (dict(models=["nope"]), "unknown model 'nope'"),
        (dict(dims=[0, 2]), "latent sizes >= 1"),
        (dict(settings={"latent_dim": "3"}), "--set latent_dim conflicts"),
    ],
)
def test_bad_input(tmp_path, kw, message):
    with pytest.raises(GenlabError, match=message):
        run_sweep(tmp_path / "s", **kw)
