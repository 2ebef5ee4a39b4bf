"""`python -m core probe`: per-layer statistics of a freshly initialized network (no training), the
numbers behind the Saturation Lab, as a table or as one JSON object."""
from __future__ import annotations

import argparse

from core.cli.common import add_config_flags, add_data_dir, add_json, config_from_args, print_json
from core.errors import ConfigError
from core.training.probes import hist_edges, probe_at_init


def _fmt(value: float | None, spec: str) -> str:
    """A number in `spec` (e.g. '9.1%'), or a dash of the same width where the layer has none."""
    return format(value, spec) if value is not None else "-".rjust(int(spec.split(".")[0]))


def cmd_probe(args: argparse.Namespace) -> int:
    if args.samples < 2:
        raise ConfigError("samples", f"must be at least 2 (got {args.samples})")
    config = config_from_args(args)
    layers = probe_at_init(config, n_samples=args.samples, data_dir=args.data_dir)
    if args.json:
        print_json({"config": config.to_dict(), "hist_edges": hist_edges(config.activation), "layers": layers})
        return 0
    print(f"{'layer':<24} {'mean':>8} {'std':>9} {'saturated':>9} {'dead':>6} {'grad norm':>10}")
    for row in layers:
        print(
            f"{row['name']:<24} {_fmt(row['act_mean'], '8.3f')} {_fmt(row['act_std'], '9.3g')} "
            f"{_fmt(row['saturated_fraction'], '9.1%')} {_fmt(row['dead_fraction'], '6.1%')} "
            f"{_fmt(row['grad_norm'], '10.2e')}"
        )
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "probe",
        help="per-layer activations, saturation, dead units and gradients at initialization",
        description="Build the configured network with its initializer, run a fixed batch of real images "
        "through it (no training) and report, per layer: activation mean and std, saturated fraction "
        "(sigmoid/tanh), dead fraction (ReLU family), the gradient norm of the loss with respect to the "
        "layer's weight and a histogram on fixed bins.",
    )
    parser.add_argument("--samples", type=int, default=256, help="images in the probe batch (default 256)")
    add_json(parser, "print one JSON object: {config, hist_edges, layers}")
    add_data_dir(parser)
    add_config_flags(parser)
    parser.set_defaults(handler=cmd_probe)
