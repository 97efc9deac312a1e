"""The ``vae-collapse`` command line: parse, call the library, print.

Bad input ends with one line on stderr (the offending value and what was
expected) and exit status 2; nothing is printed on stdout in that case.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from fractions import Fraction
from pathlib import Path
from typing import NoReturn

import numpy as np

from numerics.app._family_cli import (
    DEFAULT_ENCODER_VARIANCE,
    DEFAULT_TRAIN_ENCODER_VARIANCE,
    add_family_options,
    conditional_source,
    run_family,
    train_encoder_variance,
)
from numerics.app._output import OutputFolder, strict_json
from numerics.app._sources import MOMENTS, Source, from_data, from_spectrum
from numerics.core._validation import (
    InputError,
    check_memory,
    check_range,
    parse_encoder_variance,
    parse_exact,
)
from numerics.training._config import OPTIMIZERS
from numerics.training._loop import MIN_RUN_BYTES, TrainingDiverged
from theory import ENCODER_VARIANCES

PROG = "vae-collapse"


class _Default(Fraction):
    """A default value, told apart from the same value given on the command line."""

    is_default = True


#: The default of --beta: ``getattr(args.beta, "is_default", False)`` says it was not given.
BETA_DEFAULT = _Default(1)


class UsageError(InputError):
    """Bad command-line input: reported as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, no usage dump
        raise UsageError(message)


def _refuse_repeated(parser: argparse.ArgumentParser, argv: list[str]) -> None:
    """An option given twice (or with its negation) is ambiguous: refuse it.

    argparse keeps the last value silently, so ``--beta 1 --beta 2`` would run with
    beta = 2 and ``--warm-start --no-warm-start`` with whichever came last.
    """
    dests: dict[str, str] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            command = next((a for a in argv if a in action.choices), None)
            if command is not None:
                _refuse_repeated(action.choices[command], argv[argv.index(command) + 1 :])
            return
        for option in action.option_strings:
            dests[option] = action.dest
    seen: dict[str, str] = {}
    for token in argv:
        if token == "--":
            break
        option = token.split("=", 1)[0]
        dest = dests.get(option)
        if dest is None or dest == "help":
            continue
        if dest in seen:
            if seen[dest] == option:
                raise UsageError(f"{option} given twice: expected it once")
            raise UsageError(f"{option} contradicts {seen[dest]}: expected one of them")
        seen[dest] = option


def _exact(text: str) -> Fraction:
    """A decimal or a fraction such as 1/3, kept exact (finite, within float64's range)."""
    try:
        return parse_exact(text, "")
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("=")) from None


def _number(text: str) -> float:
    """A decimal or a fraction such as 1/3, as a float."""
    return float(_exact(text))


def _spectrum(text: str) -> list[Fraction]:
    items = text.split(",")
    if not text.strip() or any(not t.strip() for t in items):
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected comma-separated eigenvalues such as 4,2,1"
        )
    values = []
    for t in items:
        try:
            values.append(parse_exact(t, "eigenvalue"))
        except InputError as exc:
            raise argparse.ArgumentTypeError(f"{exc} (in {text!r}; e.g. 4,2,1)") from None
    return values


def _add_source_options(
    p: argparse.ArgumentParser, required: bool = True, sweep: bool = False
) -> None:
    """SOURCE options; with ``sweep``, --scheduler and --workers spread a training sweep."""
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
    what = (
        "train the sweep in blocks of points and seeds, one a Dask task (the same numbers)"
        if sweep
        else "compute the covariance"
    )
    src.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        default=None,
        help=f"{what} on the running Dask scheduler at ADDRESS (e.g. tcp://10.0.0.1:8786)"
        + ("" if sweep else ", for --data"),
    )
    src.add_argument(
        "--workers",
        metavar="N",
        type=int,
        default=None,
        help=f"{what} on a local Dask cluster of N worker processes"
        + ("" if sweep else ", for --data (chunked stores use one per CPU by default)"),
    )


def _add_model_options(p: argparse.ArgumentParser, sweep: bool = False) -> None:
    _add_source_options(p, sweep=sweep)
    p.add_argument(
        "--beta", type=_exact, default=BETA_DEFAULT, help="KL weight beta > 0 (default 1)"
    )
    p.add_argument(
        "--latent-dim",
        type=int,
        default=None,
        metavar="K",
        help="latents k (default: d; with --decoder-variance learnable, one fewer than the "
        "nonzero eigenvalues)",
    )
    p.add_argument(
        "--encoder-variance",
        type=_encoder_variance,
        default=DEFAULT_ENCODER_VARIANCE,
        metavar="learnable|fixed|fixed:Z|fixed:Z1,...,Zk",
        help="encoder variance: trained (learnable, default); fixed at the prior variance "
        "(fixed); fixed at Z for every latent (fixed:Z); or one fixed value per latent, "
        "k values (fixed:Z1,...,Zk)",
    )
    p.add_argument(
        "--prior-variance",
        type=_exact,
        default=Fraction(1),
        metavar="ETA2",
        help="prior variance eta^2 > 0 of p(z) = N(0, eta^2 I) (default 1)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def _encoder_variance(text: str) -> tuple[str, list | None]:
    """``--encoder-variance``: (variant, fixed values or None), checked as it is parsed."""
    try:
        return parse_encoder_variance(text)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _model(args: argparse.Namespace, d: int) -> dict:
    """The model options as keyword arguments of the core functions, checked against d.

    The number of fixed values must be 1 or the number of latents; ``fixed`` alone
    means zeta^2 = eta^2.
    """
    from numerics.core._model import resolve_model

    variant, values = args.encoder_variance
    eta2 = args.prior_variance
    if isinstance(eta2, float):  # inf or nan: a Fraction would be finite
        raise InputError(f"prior variance eta2={eta2!r}: expected a finite number > 0")
    if eta2 <= 0:
        raise InputError(f"prior variance eta2={float(eta2)!r}: expected a finite number > 0")
    zeta2 = values if values is None or len(values) > 1 else values[0]
    model = resolve_model(variant, zeta2, eta2, args.latent_dim, d)
    return {
        "latent_dim": model.latent_dim,
        "encoder_variance": variant,
        "zeta2": zeta2,
        "eta2": eta2,
        "model": model,
    }


def _derive_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, default=Path("derivations"), help="output folder")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--pdf", dest="pdf", action="store_true", default=None, help="compile PDFs")
    g.add_argument("--no-pdf", dest="pdf", action="store_false", help="LaTeX only")


def _add_decoder_variance(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--decoder-variance",
        choices=("fixed", "learnable"),
        default="fixed",
        help="decoder variance sigma'^2: the control (fixed, default) or trained with the "
        "rest (learnable: beta is the control; critical betas, the self-consistent sigma2)",
    )


def _threshold_parser(p: argparse.ArgumentParser) -> None:
    _add_model_options(p)
    _add_decoder_variance(p)
    add_family_options(p)
    p.add_argument(
        "--digits",
        type=int,
        default=None,
        metavar="N",
        help="N significant digits in arbitrary precision, with a certified error bound",
    )
    p.add_argument(
        "--bootstrap",
        type=int,
        default=None,
        metavar="B",
        help="percentile intervals (95 %%) of every critical sigma2 from B resamplings of the "
        "data's rows (--data only; seeded)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="folder for thresholds.json and, for synthetic:spiked data, the finite-sample "
        "figure (population, BBP-predicted and sampled thresholds against N)",
    )


def _optimum_parser(p: argparse.ArgumentParser) -> None:
    _add_model_options(p)
    _add_decoder_variance(p)
    add_family_options(p)
    p.add_argument(
        "--sigma2", type=_number, default=None,
        help="decoder variance sigma'^2 > 0 (required unless --decoder-variance learnable)",
    )  # fmt: skip


def _map_parser(p: argparse.ArgumentParser) -> None:
    _add_model_options(p)
    _add_decoder_variance(p)
    add_family_options(p)
    p.add_argument(
        "--vary",
        choices=("sigma2", "beta"),
        default=None,
        help="the control to vary (default sigma2, at fixed --beta; beta when sigma2 is learned)",
    )
    p.add_argument("--sigma2", type=_number, default=None, help="fixed sigma'^2 when --vary beta")
    p.add_argument(
        "--range", type=_range, default=None, metavar="LO:HI", help="range of the varied control"
    )
    p.add_argument("--points", type=int, default=400, help="grid points (default 400)")
    p.add_argument("--out", type=Path, default=None, help="folder for figures, CSV and JSON")


def _train_parser(p: argparse.ArgumentParser) -> None:
    _add_source_options(p, sweep=True)
    p.add_argument("--model", choices=("linear", "mlp"), default="linear", help="architecture")
    p.add_argument(
        "--beta", type=_exact, default=BETA_DEFAULT, help="KL weight beta > 0 (default 1)"
    )
    _add_decoder_variance(p)
    p.add_argument("--beta-range", type=_range, default=None, metavar="LO:HI",
                   help="learnable decoder variance: the sweep of beta (default: around the "
                   "predicted critical betas)")  # fmt: skip
    p.add_argument("--initial-sigma2", type=_number, default=None, metavar="S",
                   help="learnable decoder variance: sigma'^2 every run starts from "
                   "(default tr Sigma / d)")  # fmt: skip
    p.add_argument("--sigma2-step", type=_number, default=None, metavar="F",
                   help="learnable decoder variance: Adam's step on log sigma'^2 relative to "
                   "the other parameters' (default 1; small: sigma'^2 moves slowly)")  # fmt: skip
    p.add_argument("--latent-dim", type=int, default=4, metavar="K", help="latents (default 4)")
    p.add_argument(
        "--encoder-variance",
        type=train_encoder_variance,
        default=DEFAULT_TRAIN_ENCODER_VARIANCE,
        metavar="{" + ",".join((*ENCODER_VARIANCES, "data-dependent")) + "}",
        help="linear model only: learnable (default), fixed, or data-dependent (hvae: the "
        "first level's, learnable, fixed or fixed:Z, default fixed)",
    )
    p.add_argument("--sigma2-range", type=_range, default=None, metavar="LO:HI", help="sweep range")
    p.add_argument("--points", type=int, default=24, help="sweep points (default 24)")
    p.add_argument("--seeds", type=_seeds, default=(0,), help="seeds, e.g. 0,1,2 (default 0)")
    _add_optimiser_options(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--out", type=Path, default=None, help="folder for the figure and data")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    add_family_options(p)
    p.add_argument(
        "--export-posterior", nargs=2, metavar=("SIGMA2", "FILE.npz"), default=None,
        help="write mu, logvar and reconstruction of the sweep point nearest SIGMA2 "
        "(seed 0) on the data, for `vae-collapse diagnose`",
    )  # fmt: skip


def _add_optimiser_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--steps", type=int, default=None, help="optimisation steps per point")
    p.add_argument("--batch-size", type=int, default=None, help="minibatch size")
    p.add_argument(
        "--lr",
        type=_number,
        default=None,
        help="first step size (Adam's; with --optimizer gd, the factor of the gradient)",
    )
    p.add_argument(
        "--optimizer",
        choices=OPTIMIZERS,
        default=None,
        help="adam (default) or gd: plain gradient descent",
    )
    p.add_argument(
        "--hidden",
        type=_widths,
        default=None,
        metavar="W1,W2,...",
        help="mlp only: encoder hidden widths, mirrored in the decoder (default 32,32)",
    )
    p.add_argument(
        "--exact-gradients",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="linear model: the exact expectation over q (default) or, with "
        "--no-exact-gradients, one reparameterised sample per point",
    )
    p.add_argument(
        "--warm-start",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="start every point from a model trained at the lowest sigma'^2 "
        "(default: on for mlp, off for linear)",
    )


def _dynamics_parser(p: argparse.ArgumentParser) -> None:
    _add_model_options(p, sweep=True)
    p.add_argument("--sigma2-range", type=_range, default=None, metavar="LO:HI", help="sweep range")
    p.add_argument(
        "--points", type=int, default=41, help="log-spaced sweep points (default 41; six "
        "more on each side of every critical point)",
    )  # fmt: skip
    p.add_argument("--optimizer", choices=("gd", "adam"), default="gd", help="default gd")
    p.add_argument(
        "--lr",
        type=_number,
        default=None,
        help="step size (default for gd: 1/h_max, half the largest stable step, from the "
        "derived Hessians; 1e-6 for adam)",
    )
    p.add_argument("--steps", type=int, default=20_000, help="steps per run (default 20000)")
    p.add_argument("--out", type=Path, default=None, help="folder for the figure and data")


def _diagnose_parser(p: argparse.ArgumentParser) -> None:
    _add_source_options(p)
    p.add_argument(
        "--posterior", type=Path, required=True, metavar="FILE.npz",
        help="mu and logvar (N x k) of the encoder on the data's rows, and optionally "
        "reconstruction (N x d): the decoder mean at the posterior mean",
    )  # fmt: skip
    p.add_argument("--sigma2", type=_number, required=True, help="the model's sigma'^2")
    p.add_argument(
        "--beta", type=_exact, default=Fraction(1), help="KL weight beta > 0 (default 1)"
    )
    p.add_argument("--out", type=Path, default=None, help="folder for the figure and JSON")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def _report_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default="digits", metavar="SOURCE", help="data (default digits)")
    p.add_argument("--out", type=Path, default=Path("report"), help="output folder")
    p.add_argument("--no-pdf", action="store_true", help="skip compiling the derivations")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument(
        "--follow-up",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also train the follow-up paper's protocol on its 8-d mixture, a calibration "
        "of the MLP measurement independent of the data (default: only on digits)",
    )
    p.add_argument(
        "--hierarchical", action="store_true",
        help="add the linear two-level hierarchical VAE trained across its transitions "
        "(opt-in: about 4 s on digits, plus 7 s deriving its laws the first time)",
    )  # fmt: skip
    p.add_argument(
        "--condition-columns", metavar="SPEC", default=None,
        help="add the linear conditional VAE with these columns of --data as the condition",
    )  # fmt: skip


#: Sub-commands: (help, the function that adds their options).
_SUBCOMMANDS = {
    "derive": ("write the symbolic derivations (LaTeX, PDF)", _derive_parser),
    "threshold": ("critical decoder variances of a spectrum or data", _threshold_parser),
    "optimum": ("the optimum at one decoder variance", _optimum_parser),
    "map": ("KL, F and their derivatives across every transition", _map_parser),
    "train": ("train VAEs across a sweep and measure the transitions", _train_parser),
    "dynamics": ("relaxation times of training across the transitions", _dynamics_parser),
    "diagnose": ("which latents of a VAE trained anywhere collapsed, and why", _diagnose_parser),
    "report": ("the whole pipeline on one data set (default: digits)", _report_parser),
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    parser = _Parser(
        prog=PROG,
        description="Posterior collapse in VAEs as a phase transition: derive, compute, verify.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (text, add_options) in _SUBCOMMANDS.items():
        add_options(sub.add_parser(name, help=text))
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
    if getattr(args, "family", "vae") == "cvae":  # the residual spectrum (--family cvae)
        return conditional_source(args)
    if args.spectrum is not None:
        if args.moment != "centred" or args.scale is not None:
            raise UsageError("--moment and --scale apply to --data, not to --spectrum")
        if args.scheduler is not None or args.workers is not None:
            raise UsageError("--scheduler and --workers apply to --data, not to --spectrum")
        return from_spectrum(args.spectrum)
    return _data(args)


def _data(args: argparse.Namespace) -> Source:
    """``--data`` with its options (``--moment``, ``--scale``, ``--scheduler``, ``--workers``)."""
    return from_data(
        args.data, args.moment, args.scale, scheduler=args.scheduler, workers=args.workers
    )


def _sweep_client(args: argparse.Namespace) -> contextlib.AbstractContextManager:
    """The Dask client ``train`` and ``dynamics`` spread their sweep over (None: this
    process); the options are checked and a scheduler reached before any data are read."""
    from numerics.training._distributed import cluster_options

    cluster = cluster_options(args.scheduler, args.workers)
    if cluster is None:
        return contextlib.nullcontext()
    from numerics.spectra._dask import dask_client

    return dask_client(cluster.scheduler, cluster.workers)


def _sweep_source(args: argparse.Namespace, client) -> Source:
    """The SOURCE of a sweep.  Data in memory keep the in-memory spectrum, so the
    predictions (and the default sweep around them) are those of one process; only a
    chunked store's spectrum is computed on the sweep's cluster."""
    from numerics.data import is_chunked_source

    if args.spectrum is not None:
        if args.moment != "centred" or args.scale is not None:
            raise UsageError("--moment and --scale apply to --data, not to --spectrum")
        return from_spectrum(args.spectrum)
    chunked = client is not None and is_chunked_source(args.data)
    return from_data(args.data, args.moment, args.scale, scheduler=client if chunked else None)


def _where(client) -> str:
    """`` on N Dask workers`` for the summary line (empty in this process)."""
    if client is None:
        return ""
    return f" on {len(client.scheduler_info().get('workers', {}))} Dask workers"


def _run_threshold(args: argparse.Namespace) -> None:
    from numerics.core._optimum import thresholds

    if run_family(args, "threshold"):  # --family cvae|hvae (numerics/app/_family_cli.py)
        return
    if args.decoder_variance == "learnable":  # (numerics/app/_decoder_variance.py)
        from numerics.app._decoder_variance import run_threshold

        return run_threshold(args)
    if args.out is not None:
        from numerics.app._writers import threshold_files

        if args.digits is not None:
            raise UsageError("--out writes the float64 thresholds: it does not go with --digits")
        OutputFolder(args.out).check(threshold_files(_spiked(args)))
    source = _source(args)
    m = _model(args, source.eigenvalues.size)
    model = m.pop("model")
    if args.digits is not None:
        if isinstance(args.beta, float):
            raise InputError(f"beta={args.beta!r}: expected a finite number > 0")
        exact = source.exact_thresholds(args.digits, beta=args.beta, **m)
        if args.json:
            print(strict_json(_exact_record(model, args.beta) | exact.to_dict()
                              | {"data": source.record}))  # fmt: skip
            return
        print(f"encoder variance: {model.describe()}, beta = {args.beta}{_eta(model)}, "
              f"{args.digits} digits")  # fmt: skip
        pairs = zip(exact.critical_sigma2, exact.certified_error, strict=True)
        for j, (c, e) in enumerate(pairs):
            exactly = f", exactly {exact.exact[j]}" if exact.exact else ""
            print(f"{j + 1:>4}  critical sigma2 = {c}  (certified error <= {e}{exactly})")
        return
    r = thresholds(source.eigenvalues, float(args.beta), **_floats(m))
    record = r.to_dict() | _finite_sample(args, source, m, r) | {"data": source.record}
    paths = _write_thresholds(args, source, m, record)
    if args.json:
        print(strict_json(record))
        return
    _print_record(source)
    print(f"encoder variance: {model.describe()}, beta = {r.beta:g}{_eta(model)}")
    aniso = model.spec.anisotropic
    boot = record.get("bootstrap")
    extra = f"  {'latent':>6}  {'zeta2':>10}" if aniso else ""
    extra += f"  {'95 % bootstrap interval':>26}" if boot else ""
    print(f"{'mode':>4}  {'eigenvalue':>14}{extra}  {'critical sigma2':>16}")
    rows = zip(r.eigenvalues, r.critical_sigma2, r.latents, strict=False)
    for j, (lam, crit, latent) in enumerate(rows, 1):
        extra = f"  {latent:>6}  {model.zeta2[latent - 1]:>10.6g}" if aniso else ""
        if boot:
            lo, hi = boot["critical_sigma2_interval"][j - 1]
            extra += f"  {f'[{lo:.6g}, {hi:.6g}]':>26}"
        print(f"{j:>4}  {lam:>14.10g}{extra}  {crit:>16.10g}")
    print(f"full collapse for sigma2 >= {r.full_collapse_sigma2:.10g}")
    if boot and boot["unreliable_modes"]:
        modes = boot["unreliable_modes"]
        print(f"bootstrap interval{'s' * (len(modes) > 1)} of mode{'s' * (len(modes) > 1)} "
              f"{_ranges(modes)} exclude{'s' * (len(modes) == 1)} the estimate: eigenvalues "
              "not separated from the rest, where the bootstrap is biased; do not trust "
              f"{'them' if len(modes) > 1 else 'it'}")  # fmt: skip
    for key, what in (("population_critical_sigma2", "population"),
                      ("bbp_critical_sigma2", "BBP prediction")):  # fmt: skip
        if key in record:
            at = ""
            if key.startswith("bbp"):
                at = (
                    f" for N = {source.record['n_samples']} rows, gamma = {record['bbp_gamma']:.4g}"
                )
            values = ", ".join(f"{c:.6g}" for c in record[key][:8])
            more = ", ..." if len(record[key]) > 8 else ""
            print(f"{what}{at}: critical sigma2 {values}{more}")
    for path in paths:
        print(path)


def _ranges(modes: list[int]) -> str:
    """1, 2, 3, 5 -> "1-3, 5"."""
    runs: list[list[int]] = []
    for m in modes:
        if runs and m == runs[-1][-1] + 1:
            runs[-1].append(m)
        else:
            runs.append([m])
    return ", ".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else f"{r[0]}" for r in runs)


def _spiked(args: argparse.Namespace) -> bool:
    return args.data is not None and str(args.data).startswith("synthetic:spiked")


def _write_thresholds(args: argparse.Namespace, source: Source, m: dict, record: dict) -> list:
    """``threshold --out``: thresholds.json, and for spiked data the thresholds of data
    sets drawn at N from d/2 to 50 d (8 seeds) beside the BBP prediction."""
    if args.out is None:
        return []
    from numerics.app._writers import write_thresholds
    from numerics.spectra._sampling import spiked_thresholds_against_n

    sampled = None
    if _spiked(args) and "bbp_critical_sigma2" in record:
        n, d = source.record["n_samples"], source.record["dim"]
        grid = np.unique(np.r_[np.geomspace(max(d / 2, 4), 50 * d, 10).round(), n]).astype(int)
        params = source.record["params"]
        # The spikes and the first bulk mode (the default of spiked_thresholds_against_n).
        model = {k: v for k, v in _isotropic(m, None).items() if k != "latent_dim"}
        sampled = spiked_thresholds_against_n(
            params, grid, seeds=tuple(range(8)), beta=float(args.beta), **model
        )
    return [str(p) for p in write_thresholds(record, sampled, args.out)]


def _isotropic(m: dict, option: str | None) -> dict | None:
    """The model's float keyword arguments when its encoder variance is one number (or
    learnable); None for per-latent variances, refused when ``option`` asks for them."""
    f = _floats(m)
    if isinstance(f["zeta2"], list):
        if option is not None:
            raise UsageError(f"{option} supports learnable, fixed and fixed:Z encoder variances")
        return None
    return f


def _finite_sample(args: argparse.Namespace, source: Source, m: dict, r) -> dict:
    """Finite-sample statistics as JSON fields: ``bootstrap`` (``--bootstrap B``) and, for
    synthetic data, the population's thresholds and the BBP prediction (spiked data)."""
    from numerics.core._finite import bbp_thresholds
    from numerics.spectra._bootstrap import bootstrap_thresholds

    out: dict = {}
    f = _isotropic(m, "--bootstrap" if args.bootstrap is not None else None)
    if args.bootstrap is not None:
        if source.dataset is None:
            raise UsageError("--bootstrap resamples the data's rows: it needs --data")
        X = np.asarray(source.dataset.X, dtype=float)
        boot = bootstrap_thresholds(
            X, args.bootstrap, beta=float(args.beta), centred=source.moment == "centred",
            scale=source.scale, **f,
        )  # fmt: skip
        out["bootstrap"] = boot.to_dict()
    population = source.record.get("population_eigenvalues")
    # The generator's population spectrum is the data's covariance's; with --family cvae
    # the thresholds are of the residual covariance of y given x, which it is not.
    if population is None or f is None or source.record.get("family") == "cvae":
        return out
    from numerics.core._optimum import thresholds

    pop = np.asarray(population) * source.scale**2  # the data were scaled before the spectrum
    out["population_eigenvalues"] = pop.tolist()
    out["population_critical_sigma2"] = list(thresholds(pop, float(args.beta), **f).critical_sigma2)
    if source.record["source"] == "synthetic:spiked":
        noise = source.record["params"]["noise"] * source.scale**2
        bbp = bbp_thresholds(pop, noise, source.record["n_samples"], beta=float(args.beta), **f)
        out |= {k: v for k, v in bbp.to_dict().items() if k != "population_eigenvalues"}
    return out


def _exact_record(model, beta) -> dict:
    """The JSON fields of ``threshold --digits`` besides the exact values: no float64
    critical value is computed (it may lie beyond float64's range, the decimals do not)."""
    from numerics.core._bridge import compiled_laws

    order = model.pairing(compiled_laws(model.spec).variance_order)
    return {
        "beta": float(beta),
        "model": model.record(),
        "latents": [int(j) + 1 for j in order],
    }


def _floats(model: dict) -> dict:
    """The model keyword arguments with exact numbers as floats (for the float64 laws)."""
    out = dict(model)
    out["eta2"] = float(out["eta2"])
    z = out["zeta2"]
    out["zeta2"] = (
        None if z is None else float(z) if not isinstance(z, list) else [float(v) for v in z]
    )
    return out


def _eta(model) -> str:
    """``, eta2 = X`` when the prior variance is not 1."""
    return "" if model.eta2 == 1 else f", eta2 = {model.eta2:g}"


def _run_optimum(args: argparse.Namespace) -> None:
    from numerics.core._optimum import optimum

    if run_family(args, "optimum"):  # --family cvae|hvae (numerics/app/_family_cli.py)
        return
    if args.decoder_variance == "learnable":  # (numerics/app/_decoder_variance.py)
        from numerics.app._decoder_variance import run_optimum

        return run_optimum(args)
    if args.sigma2 is None:
        raise UsageError("the following arguments are required: --sigma2")
    source = _source(args)
    m = _model(args, source.eigenvalues.size)
    model = m.pop("model")
    r = optimum(source.eigenvalues, args.sigma2, float(args.beta), **_floats(m))
    if args.json:
        print(strict_json(r.to_dict() | {"data": source.record}))
        return
    _print_record(source)
    print(f"encoder variance: {model.describe()}, sigma2 = {r.sigma2:g}, beta = {r.beta:g}"
          f"{_eta(model)}")  # fmt: skip
    aniso = model.spec.anisotropic
    extra = f"  {'latent':>6}" if aniso else ""
    print(
        f"{'mode':>4}  {'eigenvalue':>12}{extra}  {'active':>6}  {'KL':>12}  {'enc. var.':>12}  "
        f"{'|w|':>12}"
    )
    for mo in r.modes:
        extra = f"  {mo.latent:>6}" if aniso else ""
        print(
            f"{mo.index:>4}  {mo.eigenvalue:>12.6g}{extra}  {'yes' if mo.active else 'no':>6}  "
            f"{mo.kl:>12.6g}  {mo.encoder_variance:>12.6g}  {mo.decoder_norm:>12.6g}"
        )
    print(f"KL total = {r.kl_total:.6g}, neg_elbo = {r.neg_elbo:.10g}")
    if r.kl_total != r.order_parameter_total:  # a fixed zeta^2 != eta^2: the KL has a floor
        print(f"order parameter (KL - collapsed KL) = {r.order_parameter_total:.6g}")


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

    if run_family(args, "map"):  # --family cvae|hvae (numerics/app/_family_cli.py)
        return
    if args.decoder_variance == "learnable":  # (numerics/app/_decoder_variance.py)
        from numerics.app._decoder_variance import run_map

        return run_map(args)
    args.vary = args.vary or "sigma2"
    if args.vary == "beta" and args.sigma2 is None:
        raise UsageError("--vary beta needs a fixed --sigma2")
    if args.vary == "sigma2" and args.sigma2 is not None:
        raise UsageError("--sigma2 contradicts --vary sigma2: a map against sigma2 varies it")
    if args.out is not None:
        from numerics.app._writers import MAP_FILES  # matplotlib: only when writing figures

        OutputFolder(args.out).check(MAP_FILES)
    source = _source(args)
    m = _floats(_model(args, source.eigenvalues.size))
    m.pop("model")
    lo, hi = args.range if args.range else (None, None)
    result = collapse_map(
        source.eigenvalues,
        variable=args.vary,
        beta=float(args.beta),
        sigma2=args.sigma2,
        lo=lo,
        hi=hi,
        points=args.points,
        data=source.record,
        **m,
    )
    paths = []
    if args.out is not None:
        from numerics.app._writers import write_map  # matplotlib: only when writing figures

        pd = phase_diagram(
            source.eigenvalues,
            sigma2_range=(result.grid[0], result.grid[-1]) if args.vary == "sigma2" else None,
            **m,
        )
        paths = write_map(result, pd, args.out)
    if args.json:
        print(strict_json(result.to_dict()))
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


def sweep_options(args: argparse.Namespace, option: str, given) -> tuple[np.ndarray | None, dict]:
    """The sweep grid of ``option`` (None: the default around the predictions) and the
    options every trainer takes, checked (at least 2 points, their memory)."""
    if args.points < 2:
        raise InputError(f"--points {args.points}: expected at least 2 sweep points")
    runs = args.points * len(args.seeds)
    check_memory(f"--points {args.points} x {len(args.seeds)} seeds", runs * MIN_RUN_BYTES)
    grid = None
    if given:
        lo, hi = check_range(option, *given)
        grid = np.geomspace(lo, hi, args.points)
    options = {
        "seeds": args.seeds,
        "steps": args.steps,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "optimizer": args.optimizer,
        "warm_start": args.warm_start,
        "progress": not args.no_progress and not args.json,
    }
    return grid, options


def _train_options(args: argparse.Namespace) -> tuple[np.ndarray | None, dict]:
    """The sweep grid (None: the default around the predictions) and the trainer's options.

    Every option is checked here, before the data are read.
    """
    if args.data is None:
        raise UsageError("train needs data (--data): a spectrum alone cannot be trained on")
    if args.moment == "uncentred":
        raise UsageError("train uses the centred covariance (the models have a bias)")
    if args.model == "mlp" and (args.encoder_variance != "learnable" or args.exact_gradients):
        raise UsageError("--encoder-variance and --exact-gradients apply to --model linear only")
    if args.model == "linear" and args.hidden is not None:
        raise UsageError("--hidden applies to --model mlp only")
    grid, options = sweep_options(args, "--sigma2-range", args.sigma2_range)
    if args.model == "linear":
        options["encoder_variance"] = args.encoder_variance
        options["exact_expectation"] = args.exact_gradients
    else:
        options["hidden"] = args.hidden
    return grid, options


#: How the training summary names a sweep's model (the VAE's linear trainer: ``linear``).
_TRAINED = {"mlp": "MLP", "conditional": "linear conditional"}


def _print_training(report, source: Source, where: str = "") -> None:
    _print_record(source)
    n_seeds = len(report.sweep.seeds)
    print(
        f"{_TRAINED.get(report.sweep.model, 'linear')} VAE, "
        f"{len(report.sweep.sigma2)} sweep points x {n_seeds} seed{'s' if n_seeds > 1 else ''} "
        f"in {report.sweep.seconds:.1f} s{where}"
    )
    residual = {r.rank: r.critical_sigma2 for r in report.residual or []}
    print(
        f"{'rank':>4}  {'predicted':>10}  {'measured':>12}  {'rel. error':>10}  {'std. err.':>9}"
        f"  {'residual':>10}  bracket"
    )
    for m in report.measured:
        est = m.method if m.estimate is None else f"{m.estimate:.6g}"
        err = "" if m.relative_error is None else f"{100 * m.relative_error:+.2f}%"
        se = "" if m.stderr is None or not np.isfinite(m.stderr) else f"{m.stderr:.2g}"
        res = "" if residual.get(m.rank) is None else f"{residual[m.rank]:.6g}"
        br = "" if m.bracket is None else f"[{m.bracket[0]:.6g}, {m.bracket[1]:.6g}]"
        print(f"{m.rank:>4}  {m.predicted:>10.6g}  {est:>12}  {err:>10}  {se:>9}  {res:>10}  {br}")


def _run_train(args: argparse.Namespace) -> None:
    from numerics.app._writers import write_training
    from numerics.training._allocator import keep_freed_memory
    from numerics.training._measure import train_and_measure

    if run_family(args, "train"):  # --family cvae|hvae (numerics/app/_family_cli.py)
        return
    if args.decoder_variance == "learnable":  # (numerics/app/_decoder_variance.py)
        from numerics.app._decoder_variance import run_train

        return run_train(args)
    for option in ("beta_range", "initial_sigma2", "sigma2_step"):
        if getattr(args, option) is not None:
            raise UsageError(f"--{option.replace('_', '-')} applies to --decoder-variance "
                             "learnable only")  # fmt: skip
    grid, options = _train_options(args)  # the options first: the data may be large
    if args.out is not None:
        from numerics.app._writers import TRAINING_FILES

        OutputFolder(args.out).check(TRAINING_FILES)
    export = None
    if args.export_posterior is not None:
        from numerics.app._writers import check_posterior_target, write_posterior

        export = check_posterior_target(*args.export_posterior)
    with _sweep_client(args) as client:
        source = _sweep_source(args, client)
        X = np.asarray(source.dataset.X, dtype=float) * source.scale
        keep_freed_memory()  # training temporaries without page faults (training/_allocator.py)
        report = train_and_measure(
            X, model=args.model, sigma2=grid, points=args.points, beta=float(args.beta),
            latent_dim=args.latent_dim, data=source.record, eigenvalues=source.eigenvalues,
            scheduler=client, **options,
        )  # fmt: skip
        where = _where(client)
    paths = write_training(report, args.out) if args.out is not None else []
    if export is not None:
        path, point = write_posterior(report.sweep, X, *export)
        paths.append(f"{path} (posterior at sigma2 = {point:.10g}, seed {report.sweep.seeds[0]})")
    if args.json:
        print(strict_json(report.to_dict()))
        return
    _print_training(report, source, where)
    for path in paths:
        print(path)


def _run_dynamics(args: argparse.Namespace) -> None:
    if args.points < 2:
        raise InputError(f"--points {args.points}: expected at least 2 sweep points")
    if args.sigma2_range:
        check_range("--sigma2-range", *args.sigma2_range)
    if args.out is not None:
        from numerics.app._writers import DYNAMICS_FILES

        OutputFolder(args.out).check(DYNAMICS_FILES)
    with _sweep_client(args) as client:
        source = _sweep_source(args, client)
        result = _relaxation(args, source, client)
    paths = []
    if args.out is not None:
        from numerics.app._writers import write_dynamics

        paths = write_dynamics(result, args.out)
    if args.json:
        print(strict_json(result.to_dict() | {"data": source.record}))
        return
    _print_record(source)
    _print_dynamics(result)
    for path in paths:
        print(path)


def _relaxation(args: argparse.Namespace, source: Source, client):
    """The relaxation sweep of ``dynamics`` (on ``client``'s cluster unless None)."""
    from numerics.core._optimum import thresholds
    from numerics.training._dynamics import default_sweep, relaxation_sweep

    lo, hi = (
        check_range("--sigma2-range", *args.sigma2_range) if args.sigma2_range else (None, None)
    )
    m = _floats(_model(args, source.eigenvalues.size))
    model = m.pop("model")
    if m["zeta2"] is not None and (model.spec.anisotropic or m["zeta2"] != m["eta2"]):
        raise UsageError(
            f"--encoder-variance fixed:{','.join(str(z) for z in args.encoder_variance[1])}: "
            "the dynamics trainer fixes the encoder variance at the prior variance; use fixed"
        )
    critical = thresholds(source.eigenvalues, float(args.beta), **m)
    grid = default_sweep(np.array(critical.critical_sigma2), args.points, lo, hi)
    return relaxation_sweep(
        source.eigenvalues, grid, beta=float(args.beta), latent_dim=m["latent_dim"],
        encoder_variance=m["encoder_variance"], eta2=m["eta2"], optimizer=args.optimizer,
        lr=args.lr, steps=args.steps, scheduler=client,
    )  # fmt: skip


def _print_dynamics(result) -> None:
    S, k = result.measured.shape
    print(
        f"{result.optimizer}, lr = {result.lr:.4g}, {result.steps} steps, {S} sweep points x "
        f"{k} modes; fitted exponents of the relaxation time at each critical point:"
    )
    for entry in result.to_dict()["exponents"]:
        parts = []
        for side in ("active", "collapsed"):
            f = entry[side]
            got = "n/a" if f["fitted_exponent"] is None else f"{f['fitted_exponent']:+.3f}"
            parts.append(f"{side} {got} (predicted {f['predicted_exponent']:+g})")
        ratio, of_prediction = (
            entry["measured_amplitude_ratio"], entry["prediction_fitted_amplitude_ratio"]
        )  # fmt: skip
        shown = "n/a" if ratio is None else f"{ratio:.3f}"
        same_fit = "" if of_prediction is None else f", {of_prediction:.3f} fitted"
        print(
            f"  mode {entry['mode']} at sigma2_c = {entry['critical_sigma2']:.6g}: exponent "
            + ", ".join(parts)
            + f"; amplitude ratio {shown} (predicted {entry['predicted_amplitude_ratio']:g}"
            + f" in the limit{same_fit})"
        )
    if result.prediction_fits:
        print(
            "  (fitted: the same fit of the predicted times at the same points; the limits hold "
            "at the critical point, and in the fit window the next order already acts)"
        )


def _run_diagnose(args: argparse.Namespace) -> None:
    from numerics.data._datasets import load_arrays
    from numerics.training._diagnose import diagnose

    if args.data is None:
        raise UsageError("diagnose needs the data (--data) the posterior was computed on")
    if args.moment == "uncentred":
        raise UsageError("diagnose uses the centred covariance")
    if args.out is not None:
        from numerics.app._writers import DIAGNOSIS_FILES

        OutputFolder(args.out).check(DIAGNOSIS_FILES)
    arrays = load_arrays(args.posterior, what="--posterior")
    source = _data(args)
    X = np.asarray(source.dataset.X, dtype=float) * source.scale
    result = diagnose(X, arrays, args.sigma2, float(args.beta), source.eigenvalues)
    paths = []
    if args.out is not None:
        from numerics.app._writers import write_diagnosis

        paths = write_diagnosis(result, args.out)
    if args.json:
        print(strict_json(result.to_dict() | {"data": source.record}))
        return
    _print_record(source)
    _print_diagnosis(result)
    for path in paths:
        print(path)


def _print_diagnosis(r) -> None:
    print(f"sigma2 = {r.sigma2:g}, beta = {r.beta:g}: {r.verdict}")
    print(
        f"{'latent':>6}  {'KL':>10}  {'active':>6}  {'Var mu':>10}  {'unit':>6}  {'theory KL':>10}"
    )
    order = np.argsort(r.kl)[::-1]
    for rank, j in enumerate(order):
        theory = f"{r.optimum_kl[rank]:10.4g}" if rank < len(r.optimum_kl) else ""
        print(
            f"{j + 1:>6}  {r.kl[j]:>10.4g}  {'yes' if r.active_kl[j] else 'no':>6}  "
            f"{r.posterior_mean_variance[j]:>10.4g}  {'yes' if r.active_units[j] else 'no':>6}  "
            f"{theory}"
        )
    if r.residual is not None:
        print(
            f"residual top eigenvalue {r.residual.top_eigenvalue:.6g} +- {r.residual.stderr:.2g}: "
            f"a collapsed latent would come back below sigma2 = {r.residual_critical_sigma2:.6g}"
        )


def _run_report(args: argparse.Namespace) -> None:
    from numerics.app._report import make_report
    from numerics.training._allocator import keep_freed_memory

    keep_freed_memory()  # training temporaries without page faults (training/_allocator.py)
    make_report(
        args.data, args.out, pdf=not args.no_pdf, progress=not args.no_progress,
        follow_up=args.follow_up, hierarchical=args.hierarchical,
        condition_columns=args.condition_columns,
    )  # fmt: skip


_COMMANDS = {
    "train": _run_train,
    "dynamics": _run_dynamics,
    "diagnose": _run_diagnose,
    "report": _run_report,
    "derive": _run_derive,
    "threshold": _run_threshold,
    "optimum": _run_optimum,
    "map": _run_map,
}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``vae-collapse`` console script."""
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        _refuse_repeated(parser, sys.argv[1:] if argv is None else list(argv))
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
    except BrokenPipeError:  # the reader of stdout went away (`| head`): nothing to report
        # Python flushes stdout once more at exit; point it at devnull so that is silent.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, as shells report a closed pipe
    return 0


if __name__ == "__main__":
    sys.exit(main())
