"""``--decoder-variance learnable`` on ``threshold``, ``optimum``, ``map`` and ``train``.

With sigma'^2 trained, beta is the control: ``threshold`` prints the critical beta of every
latent, ``optimum`` the optimum at one beta with its self-consistent ``sigma2`` and every
state's stability, ``map`` the optimum against beta, ``train`` a trained beta sweep next to
the prediction.  Options that fix what is now learned (``--sigma2``, ``--digits``, a
sigma'^2 sweep) are refused with one line, before any data are read.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from numerics.app import cli
from numerics.app._output import OutputFolder, strict_json
from numerics.core._decoder_variance import (
    BetaThresholdResult,
    LearnedMap,
    LearnedOptimum,
    default_latent_dim,
    learned_map,
    learned_optimum,
    learned_thresholds,
)
from numerics.training._sweep import ACTIVE_KL

#: The files of ``map --out`` and ``train --out`` with sigma'^2 learned.
MAP_FILES = ["kl.png", "kl.pdf", "curves.csv", "critical_points.csv", "map.json"]
TRAINING_FILES = ["training.png", "training.pdf", "train.json", "points.csv"]


def _refuse(args: argparse.Namespace, names: dict[str, str]) -> None:
    """One line for the first option in ``names`` (dest -> why) that was given."""
    for dest, why in names.items():
        value = getattr(args, dest, None)
        given = value is not None and not getattr(value, "is_default", False)
        if given:
            flag = "--" + dest.replace("_", "-")
            raise cli.UsageError(f"{flag} contradicts --decoder-variance learnable: {why}")


def _model(args: argparse.Namespace, eigenvalues: np.ndarray) -> dict:
    """The model options as keyword arguments (floats), checked against the spectrum; the
    number of latents defaults to :func:`default_latent_dim` (not d, as with a fixed
    sigma'^2: F would be unbounded below)."""
    if args.latent_dim is None:
        args = argparse.Namespace(**{**vars(args), "latent_dim": default_latent_dim(eigenvalues)})
    m = cli._floats(cli._model(args, eigenvalues.size))
    m.pop("model")
    return m


def _describe(args: argparse.Namespace, d: int) -> str:
    model = cli._model(args, d)["model"]
    return f"encoder variance: {model.describe()}{cli._eta(model)}, d = {d}"


def run_threshold(args: argparse.Namespace) -> None:
    """``threshold --decoder-variance learnable``: the critical beta of every latent."""
    _refuse(
        args,
        {
            "digits": "the critical betas are computed in float64 only",
            "beta": "beta is what the thresholds are of",
            "bootstrap": "the sampling intervals are of the fixed-sigma2 thresholds",
            "out": "the finite-sample figure is of the fixed-sigma2 thresholds",
        },
    )
    source = cli._source(args)
    r = learned_thresholds(source.eigenvalues, **_model(args, source.eigenvalues))
    if args.json:
        print(strict_json(r.to_dict() | {"data": source.record}))
        return
    cli._print_record(source)
    print(f"decoder variance: learnable; {_describe(args, source.eigenvalues.size)}")
    _print_thresholds(r)


def _print_thresholds(r: BetaThresholdResult) -> None:
    print(f"{'mode':>4}  {'eigenvalue':>14}  {'critical beta':>14}  {'sigma2 there':>14}")
    rows = zip(r.eigenvalues, r.critical_beta, r.sigma2_at_critical, strict=False)
    for j, (lam, b, s2) in enumerate(rows, 1):
        print(f"{j:>4}  {lam:>14.10g}  {b:>14.10g}  {s2:>14.10g}")
    print(
        f"the r-th latent is active iff beta < its critical beta; fully collapsed state: "
        f"sigma2 = {r.collapsed_sigma2:.10g} (tr Sigma / d), a minimum iff beta >= "
        f"{r.collapse_stable_beta:.10g}"
    )


def run_optimum(args: argparse.Namespace) -> None:
    """``optimum --decoder-variance learnable``: the optimum with sigma'^2 learned."""
    _refuse(args, {"sigma2": "sigma2 is learned (the output reports the self-consistent one)"})
    source = cli._source(args)
    d = source.eigenvalues.size
    r = learned_optimum(source.eigenvalues, float(args.beta), **_model(args, source.eigenvalues))
    if args.json:
        print(strict_json(r.to_dict() | {"data": source.record}))
        return
    cli._print_record(source)
    print(
        f"decoder variance: learnable, sigma2 = {r.sigma2:.10g} (self-consistent), beta = "
        f"{r.beta:g}; {_describe(args, d)}"
    )
    _print_modes(r)
    _print_states(r)


def _print_modes(r: LearnedOptimum) -> None:
    o = r.optimum
    print(
        f"{'mode':>4}  {'eigenvalue':>12}  {'active':>6}  {'KL':>12}  {'enc. var.':>12}  "
        f"{'|w|':>12}"
    )
    for mo in o.modes:
        print(
            f"{mo.index:>4}  {mo.eigenvalue:>12.6g}  {'yes' if mo.active else 'no':>6}  "
            f"{mo.kl:>12.6g}  {mo.encoder_variance:>12.6g}  {mo.decoder_norm:>12.6g}"
        )
    print(f"KL total = {o.kl_total:.6g}, neg_elbo = {o.neg_elbo:.10g}")


def _print_states(r: LearnedOptimum) -> None:
    print("states (the top m modes active, the rest collapsed), Hessian with sigma2:")
    print(f"{'m':>4}  {'sigma2':>14}  {'index':>5}  kind")
    for st in r.states:
        if not st.exists:
            print(f"{st.n_active:>4}  {'-':>14}  {'':>5}  no such stationary point")
            continue
        index = "?" if st.index is None else str(st.index)
        kind = {True: "minimum (the optimum)", False: "saddle", None: ""}[st.local_minimum]
        print(f"{st.n_active:>4}  {st.sigma2:>14.10g}  {index:>5}  {kind}")


def run_map(args: argparse.Namespace) -> None:
    """``map --decoder-variance learnable``: the optimum against beta."""
    _refuse(
        args,
        {
            "sigma2": "sigma2 is learned; the map runs against beta",
            "beta": "the map runs against beta",
        },
    )
    if args.vary == "sigma2":
        raise cli.UsageError(
            "--vary sigma2 contradicts --decoder-variance learnable: sigma2 is "
            "learned; the map runs against beta"
        )
    if args.out is not None:
        OutputFolder(args.out).check(MAP_FILES)
    source = cli._source(args)
    lo, hi = args.range if args.range else (None, None)
    result = learned_map(
        source.eigenvalues,
        lo,
        hi,
        args.points,
        data=source.record,
        **_model(args, source.eigenvalues),
    )
    paths = write_map(result, args.out) if args.out is not None else []
    if args.json:
        print(strict_json(result.to_dict()))
        return
    cli._print_record(source)
    th = result.thresholds
    crit = [
        (b, s, lam, j)
        for j, (b, s, lam) in enumerate(
            zip(th.critical_beta, th.sigma2_at_critical, th.eigenvalues, strict=False), 1
        )
        if b > 0
    ]
    print(f"{len(crit)} critical points against beta (sigma2 learned):")
    for b, s, lam, j in crit[:10]:
        print(
            f"  beta_c = {b:<12.8g} (lambda = {lam:.8g}, mode {j}): self-consistent sigma2 = "
            f"{s:.8g} there"
        )
    if len(crit) > 10:
        print(f"  ... {len(crit) - 10} more (see --json or the CSV)")
    for path in paths:
        print(path)


def write_map(result: LearnedMap, out: Path) -> list[Path]:
    """kl.png/pdf, curves.csv, critical_points.csv and map.json, all or nothing."""
    from numerics.app._writers import _write_csv

    folder = OutputFolder(out).check(MAP_FILES)
    with folder.staged() as scratch:
        _plot_map(result, scratch)
        names, table = result.curve_table()
        _write_csv(scratch / "curves.csv", names, (list(map(repr, r)) for r in table.tolist()))
        th = result.thresholds
        rows = zip(th.critical_beta, th.eigenvalues, th.sigma2_at_critical, strict=False)
        _write_csv(
            scratch / "critical_points.csv",
            ["beta", "eigenvalue", "sigma2"],
            ([b, lam, s] for b, lam, s in rows if b > 0),
        )
        (scratch / "map.json").write_text(strict_json(result.to_dict()))
    return folder.published


def _plot_map(result: LearnedMap, out: Path) -> None:
    from numerics.app._plots import _log_x, _save, plt

    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(7, 6.5), sharex=True)
    k = len(result.thresholds.critical_beta)
    for j in range(k):
        ax.plot(
            result.grid,
            result.curves[f"kl_{j + 1}"],
            color=f"C{j % 10}",
            label=f"latent {j + 1}" if j < 8 else None,
        )
    for b in result.thresholds.critical_beta:
        if result.grid[0] <= b <= result.grid[-1]:
            for a in (ax, ax2):
                a.axvline(b, color="0.6", ls="--", lw=0.8)
    ax.set_ylabel("KL per latent [nats]")
    ax.legend(fontsize=7)
    ax.set_title("optimum with a learnable decoder variance; dashed: critical beta", fontsize=9)
    ax2.plot(result.grid, result.curves["sigma2"], color="k")
    ax2.set_ylabel(r"self-consistent $\sigma'^2$")
    ax2.set_xlabel(r"KL weight $\beta$")
    _log_x(ax2, result.grid[0], result.grid[-1])
    _save(fig, out, "kl")


def _train_options(args: argparse.Namespace) -> tuple[np.ndarray | None, dict]:
    """The beta sweep (None: the default) and the trainer's options, all checked."""
    if args.data is None:
        raise cli.UsageError("train needs data (--data): a spectrum alone cannot be trained on")
    if args.moment == "uncentred":
        raise cli.UsageError("train uses the centred covariance (the models have a bias)")
    _refuse(
        args,
        {
            "sigma2_range": "sigma2 is learned; give --beta-range",
            "beta": "the sweep runs over beta (--beta-range)",
            "export_posterior": "not supported with a learnable decoder variance",
            "hidden": "the learnable decoder variance is trained in the linear model",
            "scheduler": "its beta sweep is trained in one process",
            "workers": "its beta sweep is trained in one process",
        },
    )
    if args.model != "linear":
        raise cli.UsageError(
            "--model mlp contradicts --decoder-variance learnable: the "
            "learnable decoder variance is trained in the linear model"
        )
    if args.encoder_variance not in ("learnable", "fixed"):
        raise cli.UsageError(
            f"--encoder-variance {args.encoder_variance} contradicts "
            "--decoder-variance learnable: expected learnable or fixed"
        )
    grid, options = cli.sweep_options(args, "--beta-range", args.beta_range)
    options |= {
        "encoder_variance": args.encoder_variance,
        "exact_expectation": args.exact_gradients,
        "initial_sigma2": args.initial_sigma2,
        "sigma2_step": args.sigma2_step,
    }
    return grid, options


def run_train(args: argparse.Namespace) -> None:
    """``train --decoder-variance learnable``: a trained beta sweep against the theory."""
    from numerics.training._allocator import keep_freed_memory
    from numerics.training._decoder_variance import train_and_measure_learned

    grid, options = _train_options(args)
    if args.out is not None:
        OutputFolder(args.out).check(TRAINING_FILES)
    source = cli._data(args)
    X = np.asarray(source.dataset.X, dtype=float) * source.scale
    keep_freed_memory()
    report = train_and_measure_learned(
        X,
        beta=grid,
        points=args.points,
        latent_dim=args.latent_dim,
        eigenvalues=source.eigenvalues,
        data=source.record,
        **options,
    )
    paths = write_training(report, args.out) if args.out is not None else []
    if args.json:
        print(strict_json(report.to_dict()))
        return
    cli._print_record(source)
    _print_training(report)
    for path in paths:
        print(path)


def _print_training(report) -> None:
    s = report.sweep
    n = len(s.seeds)
    print(
        f"linear VAE, sigma2 learned from {s.options['initial_sigma2']:.6g} (step x "
        f"{s.options['sigma2_step']:g}), {len(s.sigma2)} betas x {n} seed"
        f"{'s' if n > 1 else ''} in {s.seconds:.1f} s"
    )
    print(
        f"{'rank':>4}  {'predicted':>10}  {'measured':>12}  {'rel. error':>10}  "
        f"{'std. err.':>9}  {'at trained sigma2':>17}  bracket"
    )
    for m, at in zip(report.measured, report.at_trained, strict=True):
        est = m.method if m.estimate is None else f"{m.estimate:.6g}"
        err = "" if m.relative_error is None else f"{100 * m.relative_error:+.2f}%"
        se = "" if m.stderr is None or not np.isfinite(m.stderr) else f"{m.stderr:.2g}"
        at_s = "" if np.isnan(at) else f"{at:.6g}"
        br = "" if m.bracket is None else f"[{m.bracket[0]:.6g}, {m.bracket[1]:.6g}]"
        print(f"{m.rank:>4}  {m.predicted:>10.6g}  {est:>12}  {err:>10}  {se:>9}  {at_s:>17}  {br}")
    dev = report.sigma2_deviation()
    worst = int(np.argmax(np.abs(dev)))
    print(
        f"trained sigma2 / self-consistent sigma2 - 1: largest {dev[worst]:+.2e} (beta = "
        f"{s.sigma2[worst]:.6g}), median {np.median(np.abs(dev)):.1e}"
    )


def write_training(report, out: Path) -> list[Path]:
    """training.png/pdf, train.json and points.csv, all or nothing."""
    from numerics.app._writers import _write_csv

    folder = OutputFolder(out).check(TRAINING_FILES)
    with folder.staged() as scratch:
        _plot_training(report, scratch)
        (scratch / "train.json").write_text(strict_json(report.to_dict()))
        s = report.sweep
        info, k = s.measure.mean(axis=1), s.kl.shape[-1]
        header = [
            "beta",
            "sigma2",
            "optimum_sigma2",
            *(f"information_{j + 1}" for j in range(k)),
            "n_active",
            "neg_elbo",
        ]
        rows = (
            [
                float(b),
                float(report.learned.sigma2[i].mean()),
                float(report.optimum_sigma2[i]),
                *info[i].tolist(),
                int((info[i] > ACTIVE_KL).sum()),
                float(s.neg_elbo[i].mean()),
            ]
            for i, b in enumerate(s.sigma2)
        )
        _write_csv(scratch / "points.csv", header, rows)
    return folder.published


def _plot_training(report, out: Path, pdf: bool = True) -> None:
    """training.png (and .pdf): the trained points over the optimum's curves, and sigma'^2."""
    from numerics.app._plots import _log_x, _save, plt

    s = report.sweep
    lo, hi = float(s.sigma2[0]), float(s.sigma2[-1])
    theory = learned_map(
        report.eigenvalues,
        lo,
        hi,
        80,
        latent_dim=s.kl.shape[-1],
        encoder_variance=s.options["encoder_variance"],
        eta2=s.options["eta2"],
    )
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(7, 7), sharex=True)
    info = s.measure.mean(axis=1)
    for j in range(info.shape[1]):
        color = f"C{j % 10}"
        ax.plot(theory.grid, theory.curves[f"kl_{j + 1}"], color=color, lw=1)
        ax.plot(s.sigma2, info[:, j], "o", ms=3.5, color=color, label=f"latent rank {j + 1}")
        if lo <= report.predicted[j] <= hi:
            ax.axvline(report.predicted[j], color=color, ls="--", lw=0.9)
    ax.set_ylabel("information per direction [nats]")
    ax.legend(fontsize=7)
    ax.set_title(
        "linear VAE, sigma2 learned: points trained, lines the optimum; dashed: "
        "predicted critical beta",
        fontsize=9,
    )
    ax2.plot(theory.grid, theory.curves["sigma2"], color="0.5", ls="--", label="self-consistent")
    ax2.plot(s.sigma2, report.learned.sigma2.mean(axis=1), "o", ms=3.5, color="k", label="trained")
    ax2.set_ylabel(r"$\sigma'^2$")
    trained = report.learned.sigma2
    if trained.max() > 10 * trained.min():  # a log scale only when sigma'^2 spans a decade
        ax2.set_yscale("log")
    ax2.set_xlabel(r"KL weight $\beta$")
    ax2.legend(fontsize=7)
    _log_x(ax2, lo, hi)
    if pdf:
        _save(fig, out, "training")
    else:  # the report links the PNG only
        fig.savefig(out / "training.png", dpi=150, bbox_inches="tight")
        plt.close(fig)


# -- the report's section ---------------------------------------------------------------------
#: The basin run of the report: sigma'^2 starts this many times the largest eigenvalue (so
#: the collapsed state attracts at every beta >= 1 / START) and moves at this fraction of
#: Adam's step on the other parameters.
BASIN_START, BASIN_STEP = 1.7, 0.01
#: The basin run's betas: log-spaced over this range.
BASIN_BETAS = (0.3, 3.0)


def report_part(source, out: Path, progress: bool, latent_dim: int) -> dict:
    """The learnable decoder variance on the report's data: a beta sweep across every
    predicted transition, and a run from a large, slow sigma'^2 (the basin)."""
    from numerics.training._decoder_variance import train_and_measure_learned

    X = np.asarray(source.dataset.X, dtype=float)
    common = dict(
        latent_dim=latent_dim, eigenvalues=source.eigenvalues, data=source.record, progress=progress
    )
    sweep = train_and_measure_learned(X, **common)
    basin = train_and_measure_learned(
        X,
        beta=np.geomspace(*BASIN_BETAS, 24),
        initial_sigma2=BASIN_START * float(source.eigenvalues[0]),
        sigma2_step=BASIN_STEP,
        **common,
    )
    for report, name in ((sweep, "decoder_variance"), (basin, "decoder_variance_basin")):
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        _plot_training(report, folder, pdf=False)
        (folder / "train.json").write_text(strict_json(report.to_dict()))
    return {"sweep": sweep, "basin": basin}


#: The report's files of this part (relative to the report folder).
REPORT_FILES = [
    f"{folder}/{name}"
    for folder in ("decoder_variance", "decoder_variance_basin")
    for name in ("training.png", "train.json")
]


def _rows(report, reference: str) -> list[str]:
    rows = []
    for m, at in zip(report.measured, report.at_trained, strict=True):
        est = m.method if m.estimate is None else f"{m.estimate:.5g}"
        target = m.predicted if reference == "predicted" else at
        err = (
            ""
            if m.estimate is None or np.isnan(target)
            else f"{100 * (m.estimate / target - 1):+.2f} %"
        )
        at_s = "" if np.isnan(at) else f"{at:.5g}"
        rows.append(f"| {m.rank} | {m.predicted:.5g} | {at_s} | {est} | {err} |")
    return rows


def report_section(part: dict, data: str) -> list[str]:
    """The summary's section (Markdown lines)."""
    sweep, basin = part["sweep"], part["basin"]
    th = sweep.thresholds
    at_one = learned_optimum(sweep.eigenvalues, 1.0, len(th.critical_beta), count_index=False)
    dev = np.abs(sweep.sigma2_deviation())
    info = basin.sweep.measure.mean(axis=1)
    collapsed = np.all(info < ACTIVE_KL, axis=1)
    first = float(basin.learned.beta[collapsed][0]) if collapsed.any() else None
    head = "| rank | β_c (optimum) | β at the trained σ'² | measured | error |"
    return [
        "## Learnable decoder variance", "",
        "With σ'² trained too (`derivations/learnable-decoder-variance.tex`), β is the control. "
        f"Latent r is active at the optimum iff β < β_c,r; the fully collapsed state (σ'² = "
        f"tr Σ / d = {th.collapsed_sigma2:.5g}) is a minimum only for β ≥ β_c,1 = "
        f"{th.collapse_stable_beta:.5g}, and no other collapsed state is ever one. At β = 1 the "
        f"optimum is probabilistic PCA: σ'² = {at_one.sigma2:.6g}, the mean of the "
        f"{sweep.eigenvalues.size - at_one.optimum.n_active} discarded eigenvalues, and all "
        f"{at_one.optimum.n_active} latents are active.", "",
        f"### A β sweep on {data} ({sweep.sweep.seconds:.1f} s, σ'² learned from tr Σ / d)", "",
        head, "|---:|---:|---:|---:|---:|", *_rows(sweep, "predicted"), "",
        f"The trained σ'² is the self-consistent one to {np.median(dev):.0e} (median over the "
        f"sweep; at most {dev.max():.1e}, next to a threshold).", "",
        "![learnable decoder variance](decoder_variance/training.png)", "",
        f"### The basin: σ'² from {basin.sweep.options['initial_sigma2']:.4g}, moving slowly", "",
        f"log σ'² moves at {BASIN_STEP:g} of Adam's step on the other parameters. The run stays "
        "where the collapsed state attracts at fixed σ'² (β σ'² ≥ λ_1): "
        + (f"every β from {first:.3g} on ends fully collapsed, β = 1 included, where the optimum "
           "keeps every latent" if first is not None and first <= 1 else
           "see the table") + ". The steps sit at the fixed-σ'² thresholds of the σ'² the run "
        "reached, not at the optimum's β_c,r (Lucas et al.: collapse held by a large σ'², "
        "not by the objective).", "",
        head, "|---:|---:|---:|---:|---:|", *_rows(basin, "trained"), "",
        "![basin](decoder_variance_basin/training.png)", "",
    ]  # fmt: skip
