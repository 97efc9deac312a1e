"""``vae-collapse report``: the whole pipeline on one data set, with a Markdown summary.

Derivations -> thresholds (float and certified) -> maps and phase diagram ->
trained confirmations (linear VAE on the data, MLP VAE on the data, and the
follow-up paper's MLP protocol on its 8-dimensional mixture) -> summary.md.

The follow-up protocol does not depend on the data, so it trains in a second
process while the first does everything else: on 2 cores the report takes about
as long as that protocol alone (the trainers use one BLAS thread each).
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from numerics.app._documents import write_derivations
from numerics.app._sources import from_data
from numerics.app._writers import write_map, write_training
from numerics.core._maps import collapse_map, phase_diagram
from numerics.core._optimum import thresholds
from numerics.core._validation import InputError
from numerics.training._measure import TrainingReport, train_and_measure
from numerics.training._sweep import ACTIVE_KL
from numerics.training._transitions import ESTIMATOR, measure_transitions

#: Latents trained in the confirmations (the top modes are the ones measured; fewer
#: when the data have fewer dimensions).  The follow-up protocol always has 4.
TRAINED_LATENTS = 4
#: Linear VAE on the data: one reparameterised sample per point, as VAEs are trained,
#: with batches of up to 2048 rows and 8000 steps.  Near a threshold the sampling
#: noise is largest where the objective is flattest: with the trainer's defaults
#: (batches of 128, 2000 steps) the top transitions of digits move by -3 to +4 %; with
#: these, seeds 0-2 land within 0.6 % (README, "Sampling noise"), in 12-17 s.
LINEAR_OPTIONS = dict(steps=8000, batch_size=2048)
#: Rows x dimensions per linear minibatch at most: a step costs about batch x d x k per
#: sweep point, so on wider data the batches shrink to keep the training time near that
#: of digits (d = 64, where the bound does not bind); never below 128 rows.  Measured
#: on 50 000 x 256 spiked data: 8000 steps of 2048 rows took about 134 s, of 512 rows
#: 32 s.  The MLP keeps its batches of 256 rows: with 64 or 128 its anchor never left
#: the collapsed state on those data (seeds 0-2), so wide data cost it more time
#: instead (about 90 s there).
LINEAR_BATCH_ELEMENTS = 2048 * 64
LINEAR_MIN_BATCH = 128
#: MLP VAE on the data: a sweep across the top two transitions, from 0.85 lambda_2 to
#: 1.08 lambda_1 (16 log-spaced points), warm-started from an anchor at its low end.
MLP_SWEEP = dict(below_second=0.85, above_first=1.08, points=16)
MLP_OPTIONS = dict(
    hidden=(32, 32), warm_start=True, anchor_steps=4000, steps=2000, lr=2e-3, lr_min=0.01,
    kl_warmup=1000, batch_size=256, dtype="float32",
)  # fmt: skip
FOLLOW_UP_SOURCE = "synthetic:mixture (follow-up protocol, arXiv 2610.11257)"
#: Significant digits of the certified threshold table.
CERTIFIED_DIGITS = 30


def _linear_batch(d: int) -> int:
    """The linear confirmation's minibatch size on d-dimensional data."""
    return min(LINEAR_OPTIONS["batch_size"], max(LINEAR_MIN_BATCH, LINEAR_BATCH_ELEMENTS // d))


def _log(msg: str, t0: float) -> None:
    print(f"[{time.perf_counter() - t0:6.1f} s] {msg}", flush=True)


def _table(report: TrainingReport, absolute: bool = False) -> list[str]:
    """Predicted against measured, one row per latent rank.

    ``absolute`` adds the difference in sigma'^2 (the follow-up's tolerance is absolute).
    """
    rows = [
        "| rank | predicted σ'²_c | measured σ'²_c | relative error |"
        + (" difference |" if absolute else "")
        + " bracket | std. error |",
        "|---:|---:|---:|---:|" + ("---:|" if absolute else "") + "---|---:|",
    ]
    for m in report.measured:
        est = m.method if m.estimate is None else f"{m.estimate:.5g}"
        err = "" if m.relative_error is None else f"{100 * m.relative_error:+.2f} %"
        br = "" if m.bracket is None else f"[{m.bracket[0]:.5g}, {m.bracket[1]:.5g}]"
        se = "" if m.stderr is None or not np.isfinite(m.stderr) else f"{m.stderr:.2g}"
        diff = ""
        if absolute:
            diff = "" if m.estimate is None else f" {m.estimate - m.predicted:+.4f} |"
            diff = diff or " |"
        rows.append(f"| {m.rank} | {m.predicted:.5g} | {est} | {err} |{diff} {br} | {se} |")
    return rows


def _follow_up() -> TrainingReport:
    """The follow-up protocol, measured (run in a worker process, without a bar)."""
    from numerics.training._allocator import keep_freed_memory
    from numerics.training._protocols import follow_up_protocol

    keep_freed_memory()  # a fresh process: the command line's setting is not inherited
    sweep, sample_eig = follow_up_protocol(progress=False)
    predicted = np.array(thresholds(sample_eig, 1.0, TRAINED_LATENTS).critical_sigma2)
    measured = measure_transitions(sweep, predicted)
    return TrainingReport(sweep, sample_eig, predicted, measured, 1.0, {"source": FOLLOW_UP_SOURCE})


def mlp_sweep(predicted: np.ndarray) -> np.ndarray:
    """sigma'^2 of the MLP confirmation: across the top two predicted transitions."""
    top = predicted[predicted > 0]
    if top.size == 0:
        raise InputError("every eigenvalue is 0: there is no transition to train across")
    low = MLP_SWEEP["below_second"] * top[min(1, top.size - 1)]
    return np.geomspace(low, MLP_SWEEP["above_first"] * top[0], MLP_SWEEP["points"])


def _mlp_section(mlp: TrainingReport, data: str) -> list[str]:
    """The MLP VAE on the data, with what the sweep shows beyond the table."""
    s = mlp.sweep
    o = s.options
    lines = [
        f"### MLP VAE on {data} ({s.seconds:.0f} s)",
        "",
        f"ReLU encoder {tuple(o['hidden'])} and decoder {tuple(o['decoder_hidden'])}, "
        f"{o['latent_dim']} latents, Adam, minibatches of {o['batch_size']}, one sample per "
        f"point; warm-started from an anchor at the lowest sigma'^2 ({o['anchor_steps']} steps, "
        f"then {o['steps']} per point). The sweep spans the top two transitions.",
        "",
        *_table(mlp),
        "",
    ]
    # What the nonlinear model does differently, read off the trained sweep.
    mean = s.kl.mean(axis=1)
    linear_kl = 0.5 * np.log(max(mlp.eigenvalues[0] / (mlp.beta * s.sigma2[0]), 1.0))
    # 10 %: well above the run-to-run spread of a trained KL at the sweep's low end.
    more_than_linear = mean[0, 0] > 1.1 * linear_kl
    if mean[0, 0] < 0.9 * linear_kl:
        lines.append(
            f"At σ'² = {s.sigma2[0]:.4g} the MLP's top latent carries {mean[0, 0]:.3f} nats, "
            f"less than the linear optimum {linear_kl:.3f}, which an MLP can represent: "
            "training did not reach the optimum there (on wide, noisy data the escape from "
            "the collapsed state is slow and fragile), so this sweep does not test the "
            "theory. Train longer or with larger batches (`vae-collapse train --model mlp`)."
        )
        lines += ["", "![mlp](train_mlp/training.png)", ""]
        return lines
    if more_than_linear:
        gain = "a nonlinear decoder does more with an active latent than a linear one"
    else:
        gain = "as much as a linear decoder, no more"
    lines.append(
        f"At σ'² = {s.sigma2[0]:.4g} the MLP's top latent carries {mean[0, 0]:.3f} nats, the "
        f"linear optimum {linear_kl:.3f}: {gain}. Where a latent switches off is a "
        "property of the collapsed state, whose stability is that of its linearisation, so "
        "the linear thresholds apply to the MLP there."
    )
    idle = [
        m.rank
        for m in mlp.measured
        if s.sigma2[0] < m.predicted and (mean[:, m.rank - 1] <= ACTIVE_KL).all()
    ]
    if idle:
        ranks = ", ".join(str(r) for r in idle)
        why = (
            " (with its active latents it already explains more than the linear model's)"
            if more_than_linear
            else ""
        )
        lines.append(
            f"Latent rank(s) {ranks} stay collapsed over the whole sweep, also below their "
            f"linear thresholds: here the MLP does not follow the linear staircase below its "
            f"top steps{why}."
        )
    lines += ["", "![mlp](train_mlp/training.png)", ""]
    return lines


def _follow_up_section(follow: TrainingReport) -> list[str]:
    """The follow-up protocol: staircase steps against the sample eigenvalues."""
    s = follow.sweep
    o = s.options
    found = [m for m in follow.measured if m.estimate is not None]
    worst = max((abs(m.estimate - m.predicted) for m in found), default=float("nan"))
    population = ", ".join(f"{math.exp(-0.1 * i):.3f}" for i in range(TRAINED_LATENTS))
    return [
        f"### Follow-up protocol: MLP VAE on the 8-d mixture ({s.seconds:.0f} s)",
        "",
        f"Li et al. (arXiv 2610.11257), scaled down: {o['n_samples']} samples of the "
        "covariance-matched two-component mixture with population eigenvalues "
        "exp(-0.1 (i - 1)), an MLP VAE with 4 latents, sigma'^2 from "
        f"{s.sigma2[0]:g} to {s.sigma2[-1]:g} ({s.sigma2.size} points). The number of active "
        f"latents steps down 4 -> 0; the predicted steps are the top eigenvalues of the "
        f"sample covariance (population: {population}).",
        "",
        *_table(follow, absolute=True),
        "",
        f"Largest |measured - predicted|: {worst:.4f} in σ'² "
        f"({len(found)} of {len(follow.measured)} steps measured).",
        "",
        "![mixture](train_mlp_mixture/training.png)",
        "",
    ]


def make_report(
    data: str = "digits", out: Path = Path("report"), pdf: bool = True, progress: bool = True
) -> Path:
    """Run everything on ``data`` and write ``out/summary.md`` with what it produced.

    All or nothing: the data are read and checked before anything starts, the report
    is built in a scratch folder next to ``out``, and its files and folders replace
    those of ``out`` only once everything was written.
    """
    t0 = time.perf_counter()
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: exists and is not a folder")
    source = from_data(data)  # bad data: one error, before anything is printed or written
    if not (source.eigenvalues > 0).any():
        raise InputError(
            f"{data}: every covariance eigenvalue is 0 (constant data): no transition to report"
        )
    _log(f"read {data}", t0)
    out.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    # The data-independent follow-up protocol trains in a second process meanwhile.
    # "spawn": a fresh interpreter, not a fork of this one with its BLAS threads.  On
    # any error or Ctrl-C, leaving the `with` terminates the worker at once.
    try:
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            follow_up = pool.apply_async(_follow_up)
            _log("the follow-up protocol (MLP VAE on the 8-d mixture) runs in a second process", t0)
            _report_parts(data, source, scratch, pdf, progress, t0, follow_up)
        out.mkdir(exist_ok=True)
        for entry in sorted(scratch.iterdir()):
            target = out / entry.name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)  # the previous report's folder of that name
            os.replace(entry, target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    summary = out / "summary.md"
    _log(f"done: {summary}", t0)
    return summary


def _report_parts(data, source, out, pdf, progress, t0, follow_up) -> None:
    """Everything but the follow-up protocol, then the summary (see :func:`make_report`)."""
    lines: list[str] = []
    _log("derivations", t0)
    derived = write_derivations(out / "derivations", pdf=None if pdf else False)

    _log(f"thresholds of {data}", t0)
    rec = source.record
    lam = source.eigenvalues
    th = thresholds(lam)
    certified = None
    if source.dataset is not None and source.dataset.X.size <= 2_000_000:
        certified = source.exact_thresholds(CERTIFIED_DIGITS)
    (out / "thresholds.json").write_text(
        json.dumps(
            th.to_dict()
            | ({} if certified is None else {"certified": certified.to_dict()})
            | {"data": rec}
        )
    )

    _log("maps and phase diagram", t0)
    result = collapse_map(lam, data=rec)
    pd = phase_diagram(lam, sigma2_range=(result.grid[0], result.grid[-1]))
    write_map(result, pd, out / "map")

    X = np.asarray(source.dataset.X, dtype=float)
    latents = min(TRAINED_LATENTS, X.shape[1])
    _log("training the linear VAE across the top transitions", t0)
    linear = train_and_measure(
        X,
        model="linear",
        latent_dim=latents,
        data=rec,
        eigenvalues=lam,
        progress=progress,
        **(LINEAR_OPTIONS | {"batch_size": _linear_batch(X.shape[1])}),
    )
    write_training(linear, out / "train_linear")

    _log("training the MLP VAE across the top two transitions", t0)
    mlp = train_and_measure(
        X,
        model="mlp",
        sigma2=mlp_sweep(linear.predicted),
        latent_dim=latents,
        data=rec,
        eigenvalues=lam,
        progress=progress,
        **MLP_OPTIONS,
    )
    write_training(mlp, out / "train_mlp")

    _log("waiting for the follow-up protocol", t0)
    follow = follow_up.get()
    write_training(follow, out / "train_mlp_mixture")
    total = time.perf_counter() - t0

    n, d = rec["n_samples"], rec["dim"]
    lines += [
        f"# vae-collapse report: {data}",
        "",
        f"Data: `{rec['source']}`, {n} samples x {d} dimensions; spectrum of the centred 1/N "
        f"covariance ({rec['spectrum_method']}); {rec['zero_eigenvalues']} eigenvalues are zero "
        "(constant coordinates). Everything below was produced by one command in "
        f"{total:.0f} s.",
        "",
        "## Derivations",
        "",
        *[f"- [`{p.relative_to(out)}`]({p.relative_to(out)})" for p in derived],
        "",
        "## Thresholds",
        "",
        "Posterior collapse is complete for beta sigma'^2 >= lambda_max; latent rank i "
        "collapses at sigma'^2 = lambda_i / beta (beta = 1 here).",
        "",
        "| mode | eigenvalue | critical σ'² (float64) |"
        + (f" certified, {CERTIFIED_DIGITS} digits | certified error |" if certified else ""),
        "|---:|---:|---:|" + ("---|---:|" if certified else ""),
    ]
    for i in range(min(8, lam.size)):
        row = f"| {i + 1} | {lam[i]:.10g} | {th.critical_sigma2[i]:.10g} |"
        if certified:
            row += f" {certified.critical_sigma2[i]} | {certified.certified_error[i]} |"
        lines.append(row)
    lines += [
        f"| ... | | | {'|' if certified else ''}",
        "",
        "All values: `thresholds.json`.",
        "",
        "## Maps",
        "",
        "![KL](map/kl.png)",
        "",
        "![derivatives](map/derivatives.png)",
        "",
        "![phase diagram](map/phase_diagram.png)",
        "",
        "## Trained confirmations",
        "",
        f"Estimator: {ESTIMATOR}.",
        "",
        f"### Linear VAE on {data} ({linear.sweep.seconds:.0f} s)",
        "",
        f"{linear.sweep.options['latent_dim']} latents, Adam, one reparameterised sample per "
        f"point, minibatches of {linear.sweep.options['batch_size']}, "
        f"{linear.sweep.options['steps']} steps, all {linear.sweep.sigma2.size} sweep points "
        "at once.",
        "",
        *_table(linear),
        "",
        "![linear](train_linear/training.png)",
        "",
        *_mlp_section(mlp, data),
        *_follow_up_section(follow),
    ]
    (out / "summary.md").write_text("\n".join(lines))
