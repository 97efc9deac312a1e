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

import numpy as np

from numerics.app._sources import MOMENTS, Source, from_data, from_spectrum, parse_exact
from numerics.core._validation import InputError
from numerics.training._loop import TrainingDiverged
from theory import ENCODER_VARIANCES

PROG = "vae-collapse"


class UsageError(InputError):
    """Bad command-line input: reported as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, no usage dump
        raise UsageError(message)


def _exact(text: str) -> Fraction | float:
    """A decimal or a fraction, kept exact (inf and nan stay floats, to be rejected later)."""
    try:
        return parse_exact(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def _number(text: str) -> float:
    """A decimal or a fraction such as 1/3, as a float."""
    return float(_exact(text))


def _spectrum(text: str) -> list[Fraction | float]:
    items = [t for t in text.split(",")]
    if not text.strip() or any(not t.strip() for t in items):
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected comma-separated eigenvalues such as 4,2,1"
        )
    values = []
    for t in items:
        try:
            values.append(_exact(t))
        except argparse.ArgumentTypeError:
            raise argparse.ArgumentTypeError(
                f"{t.strip()!r} in {text!r} is not a number: expected eigenvalues such as 4,2,1"
            ) from None
    return values


def _add_source_options(p: argparse.ArgumentParser, required: bool = True) -> None:
    # --scheduler and --workers travel with --data (a DataText), so every command that
    # resolves --data through from_data honours them.
    from numerics.app._sources import DataOption

    src = p.add_argument_group("source (one of)")
    group = src.add_mutually_exclusive_group(required=required)
    group.add_argument(
        "--spectrum",
        type=_spectrum,
        metavar="L1,L2,...",
        help="eigenvalues of the data covariance, e.g. 4,2,1 (fractions like 1/3 allowed)",
    )
    group.add_argument(
        "--data",
        action=DataOption,
        metavar="SOURCE",
        help="digits | synthetic:NAME[:key=value,...] (rotated, exponential, spiked, mixture) "
        "| PATH (.npy, .npz, .csv; rows are samples) | chunked: DIR.zarr, a directory or "
        "'glob*.npy' of .npy shards (read on a Dask cluster)",
    )
    src.add_argument(
        "--moment",
        choices=MOMENTS,
        default="centred",
        help="spectrum of the centred 1/N covariance (default) or of the uncentred second "
        "moment (for models without a bias)",
    )
    src.add_argument(
        "--scale", type=_number, default=None, help="multiply the data by this factor first"
    )
    src.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        default=None,
        help="compute the covariance on the running Dask scheduler at ADDRESS "
        "(e.g. tcp://10.0.0.1:8786), for --data",
    )
    src.add_argument(
        "--workers",
        metavar="N",
        type=int,
        default=None,
        help="compute the covariance on a local Dask cluster of N worker processes, for "
        "--data (chunked stores use one per CPU by default)",
    )


def _add_model_options(p: argparse.ArgumentParser) -> None:
    _add_source_options(p)
    p.add_argument(
        "--beta", type=_exact, default=Fraction(1), help="KL weight beta > 0 (default 1)"
    )
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

    p = sub.add_parser("threshold", help="critical decoder variances of a spectrum or data")
    _add_model_options(p)
    p.add_argument(
        "--digits",
        type=int,
        default=None,
        metavar="N",
        help="N significant digits in arbitrary precision, with a certified error bound",
    )

    p = sub.add_parser("optimum", help="the optimum at one decoder variance")
    _add_model_options(p)
    p.add_argument("--sigma2", type=_number, required=True, help="decoder variance sigma'^2 > 0")

    p = sub.add_parser("map", help="KL, F and their derivatives across every transition")
    _add_model_options(p)
    p.add_argument(
        "--vary",
        choices=("sigma2", "beta"),
        default="sigma2",
        help="the control to vary (default sigma2, at fixed --beta)",
    )
    p.add_argument("--sigma2", type=_number, default=None, help="fixed sigma'^2 when --vary beta")
    p.add_argument(
        "--range", type=_range, default=None, metavar="LO:HI", help="range of the varied control"
    )
    p.add_argument("--points", type=int, default=400, help="grid points (default 400)")
    p.add_argument("--out", type=Path, default=None, help="folder for figures, CSV and JSON")

    p = sub.add_parser("train", help="train VAEs across a sweep and measure the transitions")
    _add_source_options(p)
    p.add_argument("--model", choices=("linear", "mlp"), default="linear", help="architecture")
    p.add_argument(
        "--beta", type=_exact, default=Fraction(1), help="KL weight beta > 0 (default 1)"
    )
    p.add_argument("--latent-dim", type=int, default=4, metavar="K", help="latents (default 4)")
    p.add_argument(
        "--encoder-variance",
        choices=(*ENCODER_VARIANCES, "data-dependent"),
        default="learnable",
        help="linear model only: learnable (default), fixed, or data-dependent",
    )
    p.add_argument("--sigma2-range", type=_range, default=None, metavar="LO:HI", help="sweep range")
    p.add_argument("--points", type=int, default=24, help="sweep points (default 24)")
    p.add_argument("--seeds", type=_seeds, default=(0,), help="seeds, e.g. 0,1,2 (default 0)")
    p.add_argument("--steps", type=int, default=None, help="optimisation steps per point")
    p.add_argument("--batch-size", type=int, default=None, help="minibatch size")
    p.add_argument("--lr", type=_number, default=None, help="Adam step size")
    p.add_argument(
        "--hidden",
        type=_widths,
        default=None,
        metavar="W1,W2,...",
        help="mlp only: encoder hidden widths, mirrored in the decoder (default 32,32)",
    )
    p.add_argument(
        "--exact-gradients",
        action="store_true",
        help="linear model: exact expectation over q instead of one sample",
    )
    p.add_argument(
        "--warm-start",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="start every point from a model trained at the lowest sigma'^2 "
        "(default: on for mlp, off for linear)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--out", type=Path, default=None, help="folder for the figure and data")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    p = sub.add_parser("report", help="the whole pipeline on one data set (default: digits)")
    p.add_argument("--data", default="digits", metavar="SOURCE", help="data (default digits)")
    p.add_argument("--out", type=Path, default=Path("report"), help="output folder")
    p.add_argument("--no-pdf", action="store_true", help="skip compiling the derivations")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def _integers(text: str, example: str) -> tuple[int, ...]:
    """Comma-separated integers, e.g. ``0,1,2``; ``example`` names what is expected."""
    try:
        return tuple(int(t) for t in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected {example}") from None


def _seeds(text: str) -> tuple[int, ...]:
    seeds = _integers(text, "seeds such as 0,1,2")
    if any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"{text!r}: expected distinct seeds >= 0")
    return seeds


def _widths(text: str) -> tuple[int, ...]:
    widths = _integers(text, "widths such as 64,32")
    if any(w < 1 for w in widths):
        raise argparse.ArgumentTypeError(f"{text!r}: expected layer widths >= 1")
    return widths


def _range(text: str) -> tuple[float, float]:
    lo, sep, hi = text.partition(":")
    if not sep:
        raise argparse.ArgumentTypeError(f"{text!r}: expected LO:HI, e.g. 0.1:10")
    return _number(lo), _number(hi)


def _run_derive(args: argparse.Namespace) -> None:
    from numerics.app._documents import write_derivations

    start = time.perf_counter()
    paths = write_derivations(args.out, args.pdf)
    for path in paths:
        print(path)
    print(f"derived {len(paths)} files in {time.perf_counter() - start:.1f} s", file=sys.stderr)


def _source(args: argparse.Namespace) -> Source:
    if args.spectrum is not None:
        if args.moment != "centred" or args.scale is not None:
            raise UsageError("--moment and --scale apply to --data, not to --spectrum")
        return from_spectrum(args.spectrum)
    return from_data(args.data, args.moment, args.scale)


def _run_threshold(args: argparse.Namespace) -> None:
    from numerics.core._optimum import thresholds

    source = _source(args)
    r = thresholds(source.eigenvalues, float(args.beta), args.latent_dim, args.encoder_variance)
    if args.digits is not None:
        if isinstance(args.beta, float):
            raise InputError(f"beta={args.beta!r}: expected a finite number > 0")
        exact = source.exact_thresholds(
            args.digits,
            beta=args.beta,
            latent_dim=len(r.critical_sigma2),
            encoder_variance=args.encoder_variance,
        )
        if args.json:
            print(json.dumps(r.to_dict() | exact.to_dict() | {"data": source.record}))
            return
        print(f"encoder variance: {r.encoder_variance}, beta = {args.beta}, {args.digits} digits")
        pairs = zip(exact.critical_sigma2, exact.certified_error, strict=True)
        for j, (c, e) in enumerate(pairs):
            exactly = f", exactly {exact.exact[j]}" if exact.exact else ""
            print(f"{j + 1:>4}  critical sigma2 = {c}  (certified error <= {e}{exactly})")
        return
    if args.json:
        print(json.dumps(r.to_dict() | {"data": source.record}))
        return
    _print_record(source)
    print(f"encoder variance: {r.encoder_variance}, beta = {r.beta:g}")
    print(f"{'mode':>4}  {'eigenvalue':>14}  {'critical sigma2':>16}")
    for j, (lam, crit) in enumerate(zip(r.eigenvalues, r.critical_sigma2, strict=False), 1):
        print(f"{j:>4}  {lam:>14.10g}  {crit:>16.10g}")
    print(f"full collapse for sigma2 >= {r.full_collapse_sigma2:.10g}")


def _run_optimum(args: argparse.Namespace) -> None:
    from numerics.core._optimum import optimum

    source = _source(args)
    r = optimum(
        source.eigenvalues, args.sigma2, float(args.beta), args.latent_dim, args.encoder_variance
    )
    if args.json:
        print(json.dumps(r.to_dict() | {"data": source.record}))
        return
    _print_record(source)
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


def _print_record(source: Source) -> None:
    rec = source.record
    if rec.get("source") == "spectrum":
        return
    print(
        f"data: {rec['source']} ({rec['n_samples']} x {rec['dim']}), {rec['moment']} second "
        f"moment, scale {rec['scale']:g}, spectrum by {rec['spectrum_method']}"
    )


def _run_map(args: argparse.Namespace) -> None:
    from numerics.core._maps import collapse_map, jump_summary, phase_diagram

    if args.vary == "beta" and args.sigma2 is None:
        raise UsageError("--vary beta needs a fixed --sigma2")
    source = _source(args)
    lo, hi = args.range if args.range else (None, None)
    result = collapse_map(
        source.eigenvalues,
        variable=args.vary,
        beta=float(args.beta),
        sigma2=args.sigma2,
        latent_dim=args.latent_dim,
        encoder_variance=args.encoder_variance,
        lo=lo,
        hi=hi,
        points=args.points,
        data=source.record,
    )
    paths = []
    if args.out is not None:
        from numerics.app._writers import write_map  # matplotlib: only when writing figures

        pd = phase_diagram(
            source.eigenvalues,
            args.latent_dim,
            args.encoder_variance,
            sigma2_range=(result.grid[0], result.grid[-1]) if args.vary == "sigma2" else None,
        )
        paths = write_map(result, pd, args.out)
    if args.json:
        print(json.dumps(result.to_dict()))
        return
    _print_record(source)
    print(f"{len(result.critical_points)} critical points against {args.vary}:")
    lines = jump_summary(result)
    for line in lines[:10]:
        print("  " + line)
    if len(lines) > 10:
        print(f"  ... {len(lines) - 10} more (see --json or the CSV)")
    for path in paths:
        print(path)


def _run_train(args: argparse.Namespace) -> None:
    from numerics.app._writers import write_training
    from numerics.training._allocator import keep_freed_memory
    from numerics.training._measure import train_and_measure

    # The options first: they are cheap to check, the data may not be.
    if args.data is None:
        raise UsageError("train needs data (--data): a spectrum alone cannot be trained on")
    if args.moment == "uncentred":
        raise UsageError("train uses the centred covariance (the models have a bias)")
    if args.model == "mlp" and (args.encoder_variance != "learnable" or args.exact_gradients):
        raise UsageError("--encoder-variance and --exact-gradients apply to --model linear only")
    if args.model == "linear" and args.hidden is not None:
        raise UsageError("--hidden applies to --model mlp only")
    if args.points < 2:
        raise InputError(f"--points {args.points}: expected at least 2 sweep points")
    grid = None
    if args.sigma2_range:
        lo, hi = args.sigma2_range
        for name, v in (("lo", lo), ("hi", hi)):
            if not (np.isfinite(v) and v > 0):
                raise InputError(f"--sigma2-range {name}={v!r}: expected a finite number > 0")
        if not lo < hi:
            raise InputError(f"--sigma2-range {lo}:{hi}: expected lo < hi")
        grid = np.geomspace(lo, hi, args.points)
    source = from_data(args.data, args.moment, args.scale)
    X = np.asarray(source.dataset.X, dtype=float) * source.scale
    keep_freed_memory()  # training temporaries without page faults (numerics/allocator.py)
    options = {
        "seeds": args.seeds,
        "steps": args.steps,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "warm_start": args.warm_start,
        "progress": not args.no_progress and not args.json,
    }
    if args.model == "linear":
        options["encoder_variance"] = args.encoder_variance
        options["exact_expectation"] = args.exact_gradients or None
    else:
        options["hidden"] = args.hidden
    report = train_and_measure(
        X,
        model=args.model,
        sigma2=grid,
        points=args.points,
        beta=float(args.beta),
        latent_dim=args.latent_dim,
        data=source.record,
        eigenvalues=source.eigenvalues,
        **options,
    )
    paths = write_training(report, args.out) if args.out is not None else []
    if args.json:
        print(json.dumps(report.to_dict()))
        return
    _print_record(source)
    n_seeds = len(report.sweep.seeds)
    print(
        f"{'MLP' if args.model == 'mlp' else 'linear'} VAE, {len(report.sweep.sigma2)} sweep "
        f"points x {n_seeds} seed{'s' if n_seeds > 1 else ''} in {report.sweep.seconds:.1f} s"
    )
    print(f"{'rank':>4}  {'predicted':>12}  {'measured':>12}  {'rel. error':>10}  bracket")
    for m in report.measured:
        est = m.method if m.estimate is None else f"{m.estimate:.6g}"
        err = "" if m.relative_error is None else f"{100 * m.relative_error:+.2f}%"
        br = "" if m.bracket is None else f"[{m.bracket[0]:.6g}, {m.bracket[1]:.6g}]"
        print(f"{m.rank:>4}  {m.predicted:>12.6g}  {est:>12}  {err:>10}  {br}")
    for path in paths:
        print(path)


def _run_report(args: argparse.Namespace) -> None:
    from numerics.app._report import make_report
    from numerics.training._allocator import keep_freed_memory

    keep_freed_memory()  # training temporaries without page faults (numerics/allocator.py)
    make_report(args.data, args.out, pdf=not args.no_pdf, progress=not args.no_progress)


_COMMANDS = {
    "train": _run_train,
    "report": _run_report,
    "derive": _run_derive,
    "threshold": _run_threshold,
    "optimum": _run_optimum,
    "map": _run_map,
}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``vae-collapse`` console script."""
    try:
        args = build_parser().parse_args(argv)
        _COMMANDS[args.command](args)
    except InputError as exc:  # bad input, and only that: anything else is a bug
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except TrainingDiverged as exc:  # not bad input, but a run that failed: status 1
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    except MemoryError as exc:  # e.g. a sweep too large for this machine: say so, status 1
        print(f"{PROG}: error: out of memory ({exc}): ask for less (fewer points, seeds, "
              "or a smaller batch)", file=sys.stderr)  # fmt: skip
        return 1
    except KeyboardInterrupt:  # Ctrl-C: outputs are all-or-nothing, so nothing to clean
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130  # 128 + SIGINT, as shells report it
    return 0


if __name__ == "__main__":
    sys.exit(main())
