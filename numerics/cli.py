"""The ``vae-collapse`` command line: parse, call the library, print.

Bad input ends with one line on stderr (the offending value and what was
expected) and exit status 2; nothing is printed on stdout in that case.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from fractions import Fraction
from pathlib import Path
from typing import NoReturn

from theory import ENCODER_VARIANCES

PROG = "vae-collapse"


class UsageError(Exception):
    """Bad command-line input: reported as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, no usage dump
        raise UsageError(message)


def _number(text: str) -> float:
    """A decimal (inf and nan pass through, to be rejected with a clear reason) or a fraction."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return float(Fraction(text.strip()))
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def _spectrum(text: str) -> list[float]:
    items = [t for t in text.split(",")]
    if not text.strip() or any(not t.strip() for t in items):
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected comma-separated eigenvalues such as 4,2,1"
        )
    values = []
    for t in items:
        try:
            values.append(_number(t))
        except argparse.ArgumentTypeError:
            raise argparse.ArgumentTypeError(
                f"{t.strip()!r} in {text!r} is not a number: expected eigenvalues such as 4,2,1"
            ) from None
    return values


def _add_model_options(p: argparse.ArgumentParser) -> None:
    src = p.add_argument_group("source")
    src.add_argument(
        "--spectrum",
        type=_spectrum,
        required=True,
        metavar="L1,L2,...",
        help="eigenvalues of the data covariance, e.g. 4,2,1 (fractions like 1/3 allowed)",
    )
    p.add_argument("--beta", type=_number, default=1.0, help="KL weight beta > 0 (default 1)")
    p.add_argument(
        "--latent-dim", type=int, default=None, metavar="K", help="latents k (default: d)"
    )
    p.add_argument(
        "--encoder-variance",
        choices=ENCODER_VARIANCES,
        default="learnable",
        help="encoder variance: trained (learnable, default) or pinned to the prior (fixed)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    parser = _Parser(
        prog=PROG,
        description="Posterior collapse in VAEs as a phase transition: derive, compute, verify.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("derive", help="write the symbolic derivations (LaTeX, PDF)")
    p.add_argument("--out", type=Path, default=Path("derivations"), help="output folder")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--pdf", dest="pdf", action="store_true", default=None, help="compile PDFs")
    g.add_argument("--no-pdf", dest="pdf", action="store_false", help="LaTeX only")

    p = sub.add_parser("threshold", help="critical decoder variances of a spectrum")
    _add_model_options(p)

    p = sub.add_parser("optimum", help="the optimum at one decoder variance")
    _add_model_options(p)
    p.add_argument("--sigma2", type=_number, required=True, help="decoder variance sigma'^2 > 0")
    return parser


def _run_derive(args: argparse.Namespace) -> None:
    from numerics.documents import write_derivations

    start = time.perf_counter()
    paths = write_derivations(args.out, args.pdf)
    for path in paths:
        print(path)
    print(f"derived {len(paths)} files in {time.perf_counter() - start:.1f} s", file=sys.stderr)


def _run_threshold(args: argparse.Namespace) -> None:
    from numerics.collapse import thresholds

    r = thresholds(args.spectrum, args.beta, args.latent_dim, args.encoder_variance)
    if args.json:
        print(json.dumps(r.to_dict()))
        return
    print(f"encoder variance: {r.encoder_variance}, beta = {r.beta:g}")
    print(f"{'mode':>4}  {'eigenvalue':>14}  {'critical sigma2':>16}")
    for j, (lam, crit) in enumerate(zip(r.eigenvalues, r.critical_sigma2, strict=False), 1):
        print(f"{j:>4}  {lam:>14.10g}  {crit:>16.10g}")
    print(f"full collapse for sigma2 >= {r.full_collapse_sigma2:.10g}")


def _run_optimum(args: argparse.Namespace) -> None:
    from numerics.collapse import optimum

    r = optimum(args.spectrum, args.sigma2, args.beta, args.latent_dim, args.encoder_variance)
    if args.json:
        print(json.dumps(r.to_dict()))
        return
    print(f"encoder variance: {r.encoder_variance}, sigma2 = {r.sigma2:g}, beta = {r.beta:g}")
    print(
        f"{'mode':>4}  {'eigenvalue':>12}  {'active':>6}  {'KL':>12}  {'enc. var.':>12}  "
        f"{'|w|':>12}"
    )
    for m in r.modes:
        print(
            f"{m.index:>4}  {m.eigenvalue:>12.6g}  {'yes' if m.active else 'no':>6}  "
            f"{m.kl:>12.6g}  {m.encoder_variance:>12.6g}  {m.decoder_norm:>12.6g}"
        )
    print(f"KL total = {r.kl_total:.6g}, neg_elbo = {r.neg_elbo:.10g}")


_COMMANDS = {"derive": _run_derive, "threshold": _run_threshold, "optimum": _run_optimum}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``vae-collapse`` console script."""
    try:
        args = build_parser().parse_args(argv)
        _COMMANDS[args.command](args)
    except (UsageError, ValueError, TypeError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
