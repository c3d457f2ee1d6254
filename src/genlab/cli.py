"""The ``genlab`` command line. Each command is a plain function; ``COMMANDS`` is the one registry.

Errors a user can cause print one line and exit with code 2 (``--debug`` shows the traceback).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import GenlabError


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
        if args.model or args.data or args.set or args.config or args.out:
            raise GenlabError("--resume continues a run with its own config; give only --steps/--epochs/--device")
        resume(args.resume, epochs=args.epochs, steps=args.steps, device=args.device, quiet=args.quiet)
        print(f"resumed {args.resume}")
        return 0
    if not args.out:
        raise GenlabError("genlab train needs --out RUN (the run directory to write) or --resume RUN")
    train(args.model or "vae", args.data or "fashion-mnist", args.out, settings=_settings(args.set),
          config_file=args.config, epochs=args.epochs, steps=args.steps, seed=args.seed, device=args.device,
          quiet=args.quiet, image_size=args.image_size)
    print(f"trained: {args.out} (samples in {Path(args.out) / 'samples'})")
    return 0


def cmd_sample(args) -> int:
    """Draw new images from a trained generator and save them as one grid."""
    import torch

    from .training import load
    from .viz.grid import save_grid

    model = load(args.run, device=args.device)
    labels = None
    if args.label is not None:
        labels = torch.full((args.n,), args.label, dtype=torch.long)
    images = model.sample(args.n, generator=_torch_generator(args.seed), labels=labels)
    save_grid(images.cpu(), args.out, nrow=args.nrow)
    print(f"wrote {args.out} ({args.n} samples)")
    return 0


def cmd_reconstruct(args) -> int:
    """Encode and decode test images: rows alternate originals and reconstructions."""
    import torch

    from .data import load_dataset, to_float
    from .training import load
    from .viz.grid import save_grid

    model = load(args.run, device=args.device)
    if not hasattr(model, "reconstruct"):
        raise GenlabError(f"model '{model.family}' has no encoder; reconstruct works on ae and vae runs")
    data = load_dataset(model.meta["data"], args.split, image_size=_folder_size(model))
    idx = torch.linspace(0, len(data) - 1, args.n).long()
    x = to_float(data.images[idx]).to(args.device)
    with torch.no_grad():
        x_hat = model.reconstruct(x)
    nrow = args.nrow
    rows = []
    for start in range(0, args.n, nrow):
        rows += [x[start:start + nrow], x_hat[start:start + nrow]]
    save_grid(torch.cat(rows).cpu(), args.out, nrow=nrow)
    print(f"wrote {args.out} ({args.n} test images and their reconstructions, alternating rows)")
    return 0


def _folder_size(model):
    data = model.meta.get("data") or ""
    return model.config.image_shape[1] if Path(data).is_dir() else None


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
    idx = torch.randperm(len(data), generator=g)[:args.n]
    images = data.images[idx]
    if data.pair is not None:  # paired data: each input beside its target
        a, b = images, data.pair[idx]
        channels = max(a.shape[1], b.shape[1])
        images = torch.stack([a.expand(-1, channels, -1, -1), b.expand(-1, channels, -1, -1)], 1).flatten(0, 1)
    save_grid(images, args.out)
    print(f"wrote {args.out} ({len(idx)} images of {args.name}/{args.split}, shape {data.shape})")
    return 0


# ---------------------------------------------------------------- parser
def _run_arg(p):
    p.add_argument("run", help="run directory written by genlab train --out")
    p.add_argument("--device", default="cpu", help="cpu, cuda, mps (default cpu)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="genlab", description="Train, sample, evaluate and explore deep generative models.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("train", help=cmd_train.__doc__, description=cmd_train.__doc__)
    p.add_argument("--model", help="model family: ae, vae, ... (default vae)")
    p.add_argument("--data", help="built-in dataset name or image folder (default fashion-mnist)")
    p.add_argument("--out", help="run directory to create")
    p.add_argument("--resume", metavar="RUN", help="continue this run exactly where it stopped")
    p.add_argument("--epochs", type=int, help="length of the whole run in epochs")
    p.add_argument("--steps", type=int, help="length of the whole run in steps (wins over --epochs)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="set any model or training config field")
    p.add_argument("--config", help="JSON or TOML file of settings")
    p.add_argument("--seed", type=int, help="random seed (default 0)")
    p.add_argument("--device", help="cpu, cuda, cuda:N, mps or auto (default cpu)")
    p.add_argument("--image-size", type=int, help="resize images to this size (image folders; default 64)")
    p.add_argument("--quiet", action="store_true", help="no progress bar; log lines instead")
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
    return parser


def _check_counts(args) -> None:
    for name in ("n", "nrow", "epochs", "steps", "image_size"):
        value = getattr(args, name, None)
        if value is not None and value < 1:
            raise GenlabError(f"--{name.replace('_', '-')} must be an integer >= 1, got {value}")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        (parser if args.command is None else parser._subparsers._group_actions[0].choices[args.command]).print_help()
        return 0 if args.command is None else 2
    try:
        _check_counts(args)
        return args.func(args) or 0
    except GenlabError as e:
        if args.debug:
            raise
        sys.stderr.write(f"genlab {args.command}: error: {e}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("genlab: interrupted; a run can be continued with genlab train --resume RUN\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
