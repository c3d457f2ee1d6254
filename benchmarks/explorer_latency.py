"""``genlab explore``: how long a slider move takes to redraw, on the server and in a real browser.

Run it from the repository root (needs the explorer extra, playwright, and Debian's chromium):

    .venv/bin/python benchmarks/explorer_latency.py                    # tiny AE + VAE trained on digits
    .venv/bin/python benchmarks/explorer_latency.py RUN [RUN ...] --moves 50 --screenshot docs/x.png

Two figures, for every group of sliders on the page (an AE and a VAE of equal latent size are one
group: a move re-decodes both panels; a GAN or cGAN is a group of its own):

- server: the work behind one move, per run: the decoder (or generator) forward pass on one code,
  and the PNG encoding of its image, timed in-process over ``--server-calls`` random codes.
- browser: the round trip a user sees. The page is served by uvicorn on 127.0.0.1 and opened in
  headless chromium (Playwright); inside the page, for each of ``--moves`` moves a slider gets a
  random value and an ``input`` event, and the page's own hook records performance.now() from that
  event to the ``load`` event of the last re-decoded image of the group (one /api/decode-batch
  fetch for all its panels, decode, PNG, data URLs, image decode). Moves are sequential: the next
  starts after the previous one's images loaded.
  The first ``--warmup`` moves are left out.

Median and p95 are printed and written to benchmarks/results/explorer_latency.json (``--out``).
The target is 50 ms per move.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
TARGET_MS = 50.0
SERVE_THREADS_DEFAULT = 1  # genlab.explorer.server.SERVE_THREADS: genlab explore decodes on one thread

# Runs in the page: `moves` sequential slider moves on group `g`, each awaited until the group's
# images have loaded (window.genlab.latencies grows by one); returns the new latencies (ms).
MOVES_JS = """async ([g, moves, seed]) => {
  let s = seed;
  const rand = () => { s = (s * 1103515245 + 12345) % 2147483648; return s / 2147483648; };
  const sliders = document.querySelectorAll(`section[data-group='${g}'] input.slider`);
  const lat = window.genlab.latencies, start = lat.length;
  for (let i = 0; i < moves; i++) {
    const el = sliders[i % sliders.length];
    el.value = (rand() * 6 - 3).toFixed(2);
    const n = lat.length;
    el.dispatchEvent(new Event('input', { bubbles: true }));
    await window.genlab.afterLatency(n);
  }
  return lat.slice(start);
}"""


def summary(values_ms: list[float]) -> dict:
    v = sorted(values_ms)
    p95 = v[min(len(v) - 1, max(0, round(0.95 * len(v)) - 1))]
    return {
        "n": len(v),
        "median_ms": round(statistics.median(v), 3),
        "p95_ms": round(p95, 3),
        "mean_ms": round(statistics.fmean(v), 3),
        "max_ms": round(v[-1], 3),
    }


def tiny_runs(root: Path) -> list[Path]:
    """An AE and a VAE (latent 8) trained for a few seconds on the built-in digits."""
    import genlab

    runs = []
    for family in ("ae", "vae"):
        genlab.train(
            family,
            "digits",
            root / family,
            steps=50,
            quiet=True,
            settings={"latent_dim": 8, "channels": "8,16", "train.batch_size": 32},
        )
        runs.append(root / family)
    return runs


@torch.inference_mode()
def server_times(app, calls: int) -> dict:
    """Per latent run: decode and PNG encoding of one image, in-process."""
    from genlab.explorer.server import png_bytes
    from genlab.viz.traverse import decode_latents

    out = {}
    g = torch.Generator().manual_seed(0)
    for r in app.state.runs:
        if not r.latent_dim:
            continue
        decode_ms, png_ms = [], []
        for i in range(calls + 5):
            z = r.to_code(torch.rand(r.latent_dim, generator=g) * 6 - 3).unsqueeze(0)
            t0 = time.perf_counter()
            img = decode_latents(r.model, z, labels=r.label(None))[0]
            t1 = time.perf_counter()
            png_bytes(img)
            t2 = time.perf_counter()
            if i >= 5:
                decode_ms.append((t1 - t0) * 1e3)
                png_ms.append((t2 - t1) * 1e3)
        total = [a + b for a, b in zip(decode_ms, png_ms)]
        out[r.name] = {
            "family": r.family,
            "image_shape": list(r.model.config.image_shape),
            "decode": summary(decode_ms),
            "png": summary(png_ms),
            "decode_plus_png": summary(total),
        }
    return out


def browser_times(app, moves: int, warmup: int, screenshot: str | None) -> dict:
    import uvicorn
    from playwright.sync_api import sync_playwright

    from genlab.explorer.server import bind

    sock = bind("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/"
    results = {}
    try:
        with sync_playwright() as p, tempfile.TemporaryDirectory() as profile:
            ctx = p.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, headless=True, args=FLAGS, viewport={"width": 1280, "height": 900}
            )
            page = ctx.new_page()
            page.set_default_timeout(60_000)
            page.goto(url)
            page.wait_for_selector("body[data-ready='1']")
            groups = page.evaluate("window.genlab.groups")
            for i, grp in enumerate(groups):
                if grp["kind"] == "translate":
                    continue
                lat = page.evaluate(MOVES_JS, [i, moves + warmup, 12345 + i])[warmup:]
                names = [app.state.runs[r].name for r in grp["runs"]]
                results[" + ".join(names)] = {"panels": len(names), **summary(lat)}
            if screenshot:
                page.evaluate(
                    'document.querySelectorAll(\'button[data-action="sample"], '
                    'button[data-action="resample"]\').forEach(b => b.click())'
                )
                page.wait_for_timeout(500)
                page.evaluate(
                    "document.querySelectorAll('button[data-action=\"interpolate\"]').forEach(b => b.click())"
                )
                page.wait_for_timeout(1000)
                Path(screenshot).parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=screenshot, full_page=True)
            ctx.close()
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
    return results


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="*", help="run directories (default: a tiny AE and VAE trained on digits)")
    ap.add_argument("--moves", type=int, default=50, help="slider moves per group (default 50)")
    ap.add_argument("--warmup", type=int, default=5, help="moves left out at the start (default 5)")
    ap.add_argument("--server-calls", type=int, default=200, help="in-process decodes per run (default 200)")
    ap.add_argument(
        "--threads",
        type=int,
        default=SERVE_THREADS_DEFAULT,
        help="torch threads while serving (default 1, as genlab explore)",
    )
    ap.add_argument("--screenshot", help="also save a full-page screenshot here")
    ap.add_argument("--out", default="benchmarks/results/explorer_latency.json", help="JSON results ('' for none)")
    args = ap.parse_args(argv)

    from genlab.explorer import create_app

    with tempfile.TemporaryDirectory() as tmp:
        runs = args.runs or tiny_runs(Path(tmp))
        app = create_app(runs)
        default_threads = torch.get_num_threads()
        server_default = server_times(app, args.server_calls // 4)  # for comparison: torch's default threads
        torch.set_num_threads(args.threads)
        server = server_times(app, args.server_calls)
        browser = browser_times(app, args.moves, args.warmup, args.screenshot)
    result = {
        "what": "slider move -> redrawn image: server decode + PNG (in-process), and browser round trip "
        "(input event -> image load event, headless chromium via Playwright, 127.0.0.1)",
        "target_ms": TARGET_MS,
        "runs": [
            {
                "run": str(r) if args.runs else f"tiny {Path(r).name} (50 steps)",
                "family": x.family,
                "data": x.data_name,
                "image_shape": list(x.model.config.image_shape),
                "latent_dim": x.latent_dim,
                "arch": getattr(x.model.config, "arch", None),
            }
            for r, x in zip(runs, app.state.runs)
        ],
        "server": server,
        "browser": browser,
        "server_with_default_threads": {
            "torch_threads": default_threads,
            **{k: v["decode_plus_png"] for k, v in server_default.items()},
        },
        "meets_target": all(b["p95_ms"] <= TARGET_MS for b in browser.values()),
        "machine": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "torch_threads_serving": args.threads,
            "cpus": os.cpu_count(),
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "platform": platform.platform(),
        },
    }
    print(
        f"torch threads while serving: {args.threads} (genlab explore's setting); with torch's default "
        f"{default_threads}: "
        + ", ".join(f"{k} {v['decode_plus_png']['median_ms']:.2f} ms" for k, v in server_default.items())
    )
    for name, s in server.items():
        print(
            f"server  {name:24s} decode {s['decode']['median_ms']:7.2f} ms (p95 {s['decode']['p95_ms']:.2f})  "
            f"png {s['png']['median_ms']:5.2f} ms  total {s['decode_plus_png']['median_ms']:6.2f} ms "
            f"(p95 {s['decode_plus_png']['p95_ms']:.2f})"
        )
    for name, b in browser.items():
        print(
            f"browser {name:24s} input -> load: median {b['median_ms']:6.2f} ms, p95 {b['p95_ms']:6.2f} ms, "
            f"max {b['max_ms']:6.2f} ms over {b['n']} moves ({b['panels']} panel(s))"
        )
    if browser:
        print(f"target {TARGET_MS:.0f} ms per move: {'met' if result['meets_target'] else 'NOT met'} (p95)")
    else:
        print("no slider groups on this page (translation runs only): nothing to time in the browser")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
