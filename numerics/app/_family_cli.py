"""The command line's model families: ``--family vae|cvae|hvae`` on threshold, optimum, map, train.

``cvae`` (the conditional VAE, :mod:`theory.conditional`): ``--condition-columns SPEC``
names the columns of ``--data`` that are the condition x; the others are the output y.
The derivation reduces the model to the VAE on the residual covariance of y given x, so
the VAE's commands run unchanged on that spectrum (:func:`conditional_source`); with
``--spectrum`` the eigenvalues given are the residual covariance's.

``hvae`` (the two-level hierarchical VAE, :mod:`theory.hierarchical`): ``--beta`` and
``--encoder-variance`` are the first level's (``fixed`` by default, at the prior
variance), ``--beta2`` and ``--top-encoder-variance`` the top level's (1 and
``learnable`` by default); its commands print both levels.

Every combination that does not apply is refused with one line (exit status 2).
"""

from __future__ import annotations

import argparse
from fractions import Fraction
from typing import Any

import numpy as np

from numerics.app._output import OutputFolder, strict_json
from numerics.app._sources import Source, from_conditional_data, from_spectrum
from numerics.core._validation import InputError, parse_exact

#: The model families of ``--family``.
FAMILIES = ("vae", "cvae", "hvae")


class _Default(tuple):
    """The ``--encoder-variance`` default, told apart from the same value given."""


class _DefaultName(str):
    """The ``train --encoder-variance`` default, told apart from ``learnable`` given."""


#: Defaults of ``--encoder-variance`` (threshold, optimum, map) and of ``train``'s.
DEFAULT_ENCODER_VARIANCE = _Default(("learnable", None))
DEFAULT_TRAIN_ENCODER_VARIANCE = _DefaultName("learnable")


def _positive(text: str) -> Fraction:
    try:
        value = parse_exact(text, "beta2")
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"beta2={text}: expected a finite number > 0")
    return value


def _top_variance(text: str) -> tuple[str, float | None]:
    """``learnable``, ``fixed`` (at the prior variance) or ``fixed:Z``."""
    name, sep, value = text.partition(":")
    if name == "learnable" and not sep:
        return ("learnable", None)
    if name == "fixed":
        if not sep:
            return ("fixed", None)
        try:
            z = parse_exact(value, "top encoder variance")
        except InputError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        if z > 0:
            return ("fixed", float(z))
    raise argparse.ArgumentTypeError(
        f"{text!r}: expected learnable, fixed or fixed:Z with Z > 0 (one value: the top level "
        "is isotropic)"
    )


def train_encoder_variance(text: str) -> str:
    """``train --encoder-variance``: learnable, fixed, data-dependent, or (hvae) fixed:Z."""
    name, sep, value = text.partition(":")
    if text in ("learnable", "fixed", "data-dependent"):
        return text
    if name == "fixed" and sep:
        try:
            z = parse_exact(value, "encoder variance")
        except InputError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        if z > 0:
            return f"fixed:{value}"
    raise argparse.ArgumentTypeError(
        f"{text!r}: expected learnable, fixed, data-dependent or (--family hvae) fixed:Z, Z > 0"
    )


def add_family_options(p: argparse.ArgumentParser) -> None:
    """``--family`` and the options of the conditional and the hierarchical VAE."""
    g = p.add_argument_group("model family")
    g.add_argument(
        "--family", choices=FAMILIES, default="vae",
        help="vae (default); cvae: the conditional VAE (needs --condition-columns with --data); "
        "hvae: the two-level hierarchical VAE (--beta and --encoder-variance are then its "
        "first level's)",
    )  # fmt: skip
    g.add_argument(
        "--condition-columns", metavar="SPEC", default=None,
        help="cvae: the columns of --data that are the condition x, 0-based, e.g. 0:32 or "
        "0,3,5 (ranges exclude their end); the other columns are the output y",
    )  # fmt: skip
    g.add_argument(
        "--beta2", type=_positive, default=None, metavar="B2",
        help="hvae: KL weight beta2 > 0 of the top level (default 1)",
    )  # fmt: skip
    g.add_argument(
        "--top-encoder-variance", type=_top_variance, default=None,
        metavar="learnable|fixed|fixed:Z",
        help="hvae: encoder variance of the top level (default learnable; fixed: at the "
        "prior variance); the first level's is --encoder-variance (default for hvae: fixed, "
        "at the prior variance)",
    )  # fmt: skip


def family_of(args: argparse.Namespace, command: str) -> str:
    """The family asked for, every option checked against it (one-line InputError)."""
    family = getattr(args, "family", "vae")
    if family != "vae" and getattr(args, "decoder_variance", "fixed") == "learnable":
        raise InputError(
            f"--decoder-variance learnable applies to --family vae only (got --family {family})"
        )
    if family != "vae":
        _check_vae_only(args, command, family)
    if family != "hvae":
        for option, value in (("--beta2", args.beta2), ("--top-encoder-variance",
                                                        args.top_encoder_variance)):  # fmt: skip
            if value is not None:
                raise InputError(f"{option} applies to --family hvae only (got --family {family})")
    if family != "cvae" and args.condition_columns is not None:
        raise InputError(
            f"--condition-columns applies to --family cvae only (got --family {family})"
        )
    if family == "cvae":
        _check_conditional(args, command)
    if family == "hvae":
        _check_hierarchical(args, command)
    return family


def _check_vae_only(args: argparse.Namespace, command: str, family: str) -> None:
    """Options whose computation is the VAE's alone: refused for another family."""
    only = {
        "--bootstrap": getattr(args, "bootstrap", None),
        "--out": args.out if command == "threshold" else None,  # the finite-sample figure
        "--export-posterior": getattr(args, "export_posterior", None),
    }
    if command == "train" and family == "hvae":  # its sweep is trained in one process
        only |= {"--scheduler": args.scheduler, "--workers": args.workers}
    for option, value in only.items():
        if value is not None:
            raise InputError(f"{option} applies to --family vae only (got --family {family})")


def _check_conditional(args: argparse.Namespace, command: str) -> None:
    if args.spectrum is not None and args.condition_columns is not None:
        raise InputError("--condition-columns applies to --data; with --spectrum the "
                         "eigenvalues given are the residual covariance's")  # fmt: skip
    if args.data is not None and args.condition_columns is None:
        raise InputError("--family cvae with --data needs --condition-columns SPEC (the "
                         "columns that are the condition x, e.g. 0:32)")  # fmt: skip
    if getattr(args, "moment", "centred") != "centred":
        raise InputError("--family cvae uses the centred covariance (--moment centred)")
    if args.data is not None and (args.scheduler is not None or args.workers is not None):
        raise InputError("--family cvae reads the data in memory: --scheduler and --workers "
                         "do not apply")  # fmt: skip
    if command == "threshold" and args.digits is not None and args.data is not None:
        raise InputError("--digits with --family cvae needs --spectrum (the residual "
                         "covariance of data is computed in float64)")  # fmt: skip


def _check_hierarchical(args: argparse.Namespace, command: str) -> None:
    if command == "threshold" and args.digits is not None:
        raise InputError("--digits applies to --family vae and cvae (the hierarchical "
                         "thresholds are computed in float64)")  # fmt: skip
    if command == "map" and (getattr(args, "vary", None) or "sigma2") != "sigma2":
        raise InputError(
            "--vary beta applies to --family vae and cvae; the hierarchical "
            "map varies sigma2 (with --out: and its (beta, beta2) phase diagram)"
        )
    variance = args.encoder_variance
    if command != "train" and not isinstance(variance, _Default):
        values = variance[1]
        if values is not None and len(values) > 1:
            raise InputError(
                f"--encoder-variance fixed:{','.join(str(v) for v in values)}: the hierarchical "
                "VAE's first level takes one fixed variance (fixed:Z)"
            )


def conditional_source(args: argparse.Namespace) -> Source:
    """The SOURCE of ``--family cvae``: residual eigenvalues (theory's reduction checked)."""
    from numerics.core._conditional import reduction
    from theory.conditional import ConditionalVAE

    variance = args.encoder_variance
    name, values = ("learnable", None) if isinstance(variance, str) else variance
    reduction(ConditionalVAE(name, anisotropic=values is not None and len(values) > 1))
    if args.spectrum is not None:
        source = from_spectrum(args.spectrum)
        return Source(source.eigenvalues, source.record | {"family": "cvae"}, source.exact)
    return from_conditional_data(args.data, args.condition_columns, args.scale)


def hierarchical_options(args: argparse.Namespace, d: int) -> dict[str, Any]:
    """Keyword arguments of :mod:`numerics.core._hierarchical` from the options."""
    from numerics.core._hierarchical import resolve_hierarchical

    variance = args.encoder_variance
    if isinstance(variance, _Default | _DefaultName):
        first, zeta2 = "fixed", None
    elif isinstance(variance, str):  # train: learnable, fixed (at the prior variance), fixed:Z
        first, _, value = variance.partition(":")
        zeta2 = float(parse_exact(value, "encoder variance")) if value else None
    else:
        first, values = variance
        zeta2 = None if values is None else float(values[0])
    top, top_zeta2 = args.top_encoder_variance or ("learnable", None)
    eta2 = float(getattr(args, "prior_variance", 1))
    options = dict(
        encoder_variance=first, zeta2=zeta2, top_encoder_variance=top, top_zeta2=top_zeta2,
        beta2=float(args.beta2 or 1), eta2=eta2, latent_dim=args.latent_dim,
    )  # fmt: skip
    resolve_hierarchical(**options, d=d, beta=float(args.beta))  # every value, before work
    return options


def run_family(args: argparse.Namespace, command: str) -> bool:
    """Check the family options; run ``command`` for ``hvae`` (and ``train`` for ``cvae``).

    Returns True when the command was run here; False when the VAE's code runs it (the
    ``vae`` family, and ``cvae`` on the residual spectrum: :func:`conditional_source`).
    """
    family = family_of(args, command)
    if family == "vae" or (family == "cvae" and command != "train"):
        return False
    if command == "train":
        from numerics.app._family_train import run_train

        run_train(args, family)
        return True
    from numerics.app import cli

    if command == "map" and args.out is not None:
        from numerics.app._hierarchical_app import HVAE_MAP_FILES

        OutputFolder(args.out).check(HVAE_MAP_FILES)
    source = cli._source(args)
    options = hierarchical_options(args, source.eigenvalues.size)
    {"threshold": _threshold, "optimum": _optimum, "map": _map}[command](args, source, options)
    return True


def _threshold(args, source: Source, options: dict) -> None:
    from numerics.app import _hierarchical_app as app
    from numerics.app.cli import _print_record
    from numerics.core._hierarchical import hierarchical_thresholds

    r = hierarchical_thresholds(source.eigenvalues, float(args.beta), **options)
    if args.json:
        print(app.record(r, source.record))
        return
    _print_record(source)
    app.print_thresholds(r, app.header(r.model, float(args.beta)))


def _optimum(args, source: Source, options: dict) -> None:
    from numerics.app import _hierarchical_app as app
    from numerics.app.cli import _print_record
    from numerics.core._hierarchical import hierarchical_optimum

    r = hierarchical_optimum(source.eigenvalues, args.sigma2, float(args.beta), **options)
    if args.json:
        print(app.record(r, source.record))
        return
    _print_record(source)
    app.print_optimum(r, app.header(r.model, float(args.beta), args.sigma2))


def _map(args, source: Source, options: dict) -> None:
    from numerics.app import _hierarchical_app as app
    from numerics.app.cli import _print_record
    from numerics.core._hierarchical import hierarchical_map, hierarchical_phase_diagram

    if args.sigma2 is not None:
        raise InputError("--sigma2 contradicts --vary sigma2: a map against sigma2 varies it")
    lo, hi = args.range if args.range else (None, None)
    beta = float(args.beta)
    result = hierarchical_map(source.eigenvalues, beta, lo, hi, args.points, source.record,
                              **options)  # fmt: skip
    paths = []
    if args.out is not None:
        # The (beta_1, beta_2) plane at the map's middle sigma'^2 (geometric).
        middle = float(np.sqrt(result.grid[0] * result.grid[-1]))
        pd = hierarchical_phase_diagram(source.eigenvalues, middle, points=120, **options)
        paths = app.write_hierarchical_map(result, pd, args.out)
    if args.json:
        print(strict_json(result.to_dict()))
        return
    _print_record(source)
    print(app.header(result.model, beta))
    app.print_map(result)
    for path in paths:
        print(path)
