"""``vae-collapse train --family cvae|hvae``: the linear conditional or hierarchical VAE
trained across its predicted transitions (:mod:`numerics.training._family_measure`)."""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

from numerics.app._output import OutputFolder, strict_json
from numerics.core._validation import InputError

#: The files of ``train --family hvae --out DIR`` (cvae writes the VAE's training files).
HVAE_TRAINING_FILES = ["training.png", "training.pdf", "train.json", "points.csv"]


def _checked(args: argparse.Namespace, family: str) -> tuple[np.ndarray | None, dict]:
    """Options that do not apply to the families' trainers are refused; the sweep grid
    and the options every trainer takes (:func:`numerics.app.cli.sweep_options`)."""
    if args.data is None:
        raise InputError("train needs data (--data): a spectrum alone cannot be trained on")
    if args.model != "linear":
        raise InputError(f"--family {family} trains the linear model only (--model linear)")
    for option, given in (("--hidden", args.hidden is not None),
                          ("--export-posterior", args.export_posterior is not None),
                          ("--no-exact-gradients", args.exact_gradients is False),
                          ("--moment uncentred", args.moment != "centred")):  # fmt: skip
        if given:
            raise InputError(f"{option} does not apply to --family {family} (exact "
                             "expectation, centred data)")  # fmt: skip
    variance = args.encoder_variance.partition(":")[0]  # hvae: fixed:Z is fixed
    allowed = ("learnable",) if family == "cvae" else ("learnable", "fixed")
    if variance not in allowed or (family == "cvae" and ":" in args.encoder_variance):
        raise InputError(f"--encoder-variance {variance}: --family {family} trains "
                         f"{' or '.join(allowed)}")  # fmt: skip
    from numerics.app.cli import sweep_options

    return sweep_options(args, "--sigma2-range", args.sigma2_range)


def run_train(args: argparse.Namespace, family: str) -> None:
    """Train ``family`` on ``--data`` and print (or write) the measured transitions."""
    from numerics.app._family_cli import hierarchical_options
    from numerics.app.cli import _data, _print_record, _print_training
    from numerics.training._allocator import keep_freed_memory

    grid, training = _checked(args, family)
    files = ["training.png", "training.pdf", "train.json", "points.csv"]
    if args.out is not None:
        OutputFolder(args.out).check(files)
    keep_freed_memory()
    if family == "cvae":
        report, source = _conditional(args, grid, training)
    else:
        from numerics.training._family_measure import train_and_measure_hierarchical

        source = _data(args)
        X = np.asarray(source.dataset.X, dtype=float) * source.scale
        options = hierarchical_options(args, source.eigenvalues.size)
        options.pop("latent_dim")
        options.pop("eta2")  # the trainer's prior variance is 1, as the VAE trainers'
        report = train_and_measure_hierarchical(
            X, source.eigenvalues, sigma2=grid, points=args.points, beta=float(args.beta),
            latent_dim=args.latent_dim, data=source.record, model=options, **training,
        )  # fmt: skip
    paths = _write(report, family, args.out) if args.out is not None else []
    if args.json:
        print(strict_json(report.to_dict()))
        return
    if family == "cvae":
        _print_training(report, source)
    else:
        _print_record(source)
        print_hierarchical(report)
    for path in paths:
        print(path)


def _conditional(args, grid, training):
    from numerics.app._sources import from_conditional_data
    from numerics.core._conditional import reduction
    from numerics.training._family_measure import train_and_measure_conditional
    from theory.conditional import ConditionalVAE

    reduction(ConditionalVAE())
    source = from_conditional_data(args.data, args.condition_columns, args.scale)
    X = np.asarray(source.dataset.X, dtype=float) * source.scale
    report = train_and_measure_conditional(
        X, source.extra["condition_mask"], source.eigenvalues, sigma2=grid, points=args.points,
        beta=float(args.beta), latent_dim=args.latent_dim, data=source.record, **training,
    )  # fmt: skip
    return report, source


def _write(report, family: str, out: Path) -> list[Path]:
    if family == "cvae":
        from numerics.app._writers import write_training

        return write_training(report, out)
    folder = OutputFolder(out).check(HVAE_TRAINING_FILES)
    with folder.staged() as scratch:
        hierarchical_training_files(report, scratch)
    return folder.published


def print_hierarchical(report) -> None:
    """The measured collapses of both levels next to the predicted ones."""
    s = report.sweep.top
    n = len(s.seeds)
    print(f"linear hierarchical VAE, {len(s.sigma2)} sweep points x {n} seed"
          f"{'s' if n > 1 else ''} in {s.seconds:.1f} s")  # fmt: skip
    print(f"{'level':>5}  {'rank':>4}  {'predicted':>10}  {'measured':>12}  {'rel. error':>10}"
          "  bracket")  # fmt: skip
    for level, found in (("top", report.top), ("first", report.first)):
        for m in found:
            est = m.method if m.estimate is None else f"{m.estimate:.6g}"
            err = "" if m.relative_error is None else f"{100 * m.relative_error:+.2f}%"
            br = "" if m.bracket is None else f"[{m.bracket[0]:.6g}, {m.bracket[1]:.6g}]"
            print(f"{level:>5}  {m.rank:>4}  {m.predicted:>10.6g}  {est:>12}  {err:>10}  {br}")


def hierarchical_training_files(report, folder: Path) -> None:
    """training.png/pdf (both levels' informations, predictions marked), train.json, points.csv."""
    from numerics.app._hierarchical_plots import plot_hierarchical_training

    folder.mkdir(parents=True, exist_ok=True)
    plot_hierarchical_training(report, folder)
    (folder / "train.json").write_text(strict_json(report.to_dict()))
    s = report.sweep
    k = s.top.information.shape[-1]
    with (folder / "points.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(
            [
                "sigma2",
                *(f"information_first_{j + 1}" for j in range(k)),
                *(f"information_top_{j + 1}" for j in range(k)),
                "neg_elbo",
            ]
        )
        for i, x in enumerate(s.top.sigma2):
            writer.writerow([float(x), *s.first.information[i].mean(axis=0).tolist(),
                             *s.top.information[i].mean(axis=0).tolist(),
                             float(s.top.neg_elbo[i].mean())])  # fmt: skip
