"""Figures drawn with matplotlib (Agg backend, files only): latent maps and the latent-size sweep."""

from __future__ import annotations

import os
from pathlib import Path

from ..atomic import atomic_write
from ..errors import GenlabError
from .grid import make_grid


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed)."""
    try:
        import matplotlib
    except ImportError:
        raise GenlabError("plots need matplotlib: pip install matplotlib") from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, out) -> Path:
    fmt = (Path(out).suffix.lstrip(".") or "png").lower()
    return atomic_write(out, lambda f: fig.savefig(f, format=fmt, dpi=fig.dpi, bbox_inches="tight"))


def plot_latent_maps(maps, out: str | os.PathLike) -> Path:
    """One column per model: test codes coloured by class (top), decoded grid over the same region (bottom)."""
    plt = pyplot()
    cols = len(maps)
    fig, axes = plt.subplots(2, cols, figsize=(5 * cols, 10), dpi=100, squeeze=False)
    for c, m in enumerate(maps):
        g = m.grid_size
        # grid point k sits at x0 + k * sx; its tile (and its cell) spans +- sx / 2 around it
        sx, sy = (m.extent[1] - m.extent[0]) / (g - 1), (m.extent[3] - m.extent[2]) / (g - 1)
        x0, x1, y0, y1 = m.extent[0] - sx / 2, m.extent[1] + sx / 2, m.extent[2] - sy / 2, m.extent[3] + sy / 2
        ax = axes[0, c]
        codes = m.codes.numpy()
        if m.labels is not None:
            labels = m.labels.numpy()
            cmap = plt.get_cmap("tab10" if int(labels.max()) < 10 else "tab20")
            for k in sorted(set(labels.tolist())):
                sel = labels == k
                name = m.classes[k] if m.classes and k < len(m.classes) else str(k)
                ax.scatter(
                    codes[sel, 0], codes[sel, 1], s=3, color=cmap(k % cmap.N), label=name, alpha=0.7, linewidths=0
                )
            ax.legend(fontsize=7, markerscale=3, loc="best", framealpha=0.7)
        else:
            ax.scatter(codes[:, 0], codes[:, 1], s=3, alpha=0.7, linewidths=0)
        ax.set_xlim(x0, x1)
        ax.set_ylim(y0, y1)
        ax.set_title(f"{m.name}\ntest encodings", fontsize=10)
        ax.set_xlabel("z1")
        ax.set_ylabel("z2")
        ax = axes[1, c]
        tiles = make_grid(m.grid, nrow=g, padding=0)  # (C, H', W') uint8, row 0 = largest z2
        img = tiles.permute(1, 2, 0).numpy()
        ax.imshow(
            img[..., 0] if img.shape[2] == 1 else img,
            cmap="gray",
            extent=(x0, x1, y0, y1),
            aspect="auto",
            interpolation="nearest",
            vmin=0,
            vmax=255,
        )
        for i in m.empty.nonzero().flatten().tolist():  # holes: a red frame round tiles no test code is near
            row, col = divmod(i, g)
            ax.add_patch(
                plt.Rectangle(
                    (x0 + col * sx, y1 - (row + 1) * sy), sx, sy, fill=False, edgecolor="red", linewidth=1.0, alpha=0.8
                )
            )
        ax.set_title(
            f"decoded {g} x {g} grid over the same region\n"
            f"red: no test code in the cell ({100 * m.empty_fraction:.0f}% of cells)",
            fontsize=10,
        )
        ax.set_xlabel("z1")
        ax.set_ylabel("z2")
    fig.tight_layout()
    path = _save(fig, out)
    plt.close(fig)
    return path


def _dims_axis(ax, dims) -> None:
    ax.set_xscale("log", base=2)
    ax.set_xticks(dims, [str(d) for d in dims])
    ax.minorticks_off()


def plot_sweep(results: dict, out: str | os.PathLike) -> Path:
    """Test reconstruction error (and the VAE's test ELBO) against latent size, one line per model."""
    plt = pyplot()
    runs = list(results.get("runs", {}).values())
    models = sorted({r["model"] for r in runs})
    has_elbo = any("elbo" in r["test"] for r in runs)
    colour = {m: f"C{i}" for i, m in enumerate(models)}
    dims = sorted({r["latent_dim"] for r in runs})
    fig, axes = plt.subplots(1, 2 if has_elbo else 1, figsize=(11 if has_elbo else 5.5, 4), dpi=100, squeeze=False)
    ax = axes[0, 0]
    for model in models:
        rs = sorted((r for r in runs if r["model"] == model), key=lambda r: r["latent_dim"])
        ax.plot(
            [r["latent_dim"] for r in rs],
            [r["test"]["recon_mse"] for r in rs],
            "o-",
            color=colour[model],
            label=model.upper(),
        )
    _dims_axis(ax, dims)
    ax.set_xlabel("latent size (latent_dim)")
    ax.set_ylabel("test reconstruction MSE per pixel")
    ax.set_title(f"reconstruction vs latent size ({results.get('sweep', {}).get('data', '')})", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend()
    if has_elbo:
        ax = axes[0, 1]
        for model in models:
            rs = sorted((r for r in runs if r["model"] == model and "elbo" in r["test"]), key=lambda r: r["latent_dim"])
            if rs:
                xs = [r["latent_dim"] for r in rs]
                ax.plot(xs, [r["test"]["elbo"] for r in rs], "o-", color=colour[model], label=f"{model.upper()} ELBO")
                ax.plot(
                    xs,
                    [-r["test"]["recon_nll"] for r in rs],
                    "s--",
                    color=colour[model],
                    alpha=0.5,
                    label=f"{model.upper()} E[log p(x|z)]",
                )
        _dims_axis(ax, dims)
        ax.set_xlabel("latent size (latent_dim)")
        ax.set_ylabel("nats per image (higher is better)")
        ax.set_title("test ELBO = E[log p(x|z)] - KL", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    path = _save(fig, out)
    plt.close(fig)
    return path
