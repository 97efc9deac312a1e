"""The report's Markdown summary, rendered from computed results (nothing computed here).

:func:`render_summary` turns the :class:`~numerics.app._report.ReportResults` of
``vae-collapse report`` into ``summary.md``; every number in it comes from those results.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from numerics.core._optimum import optimum
from numerics.training._dynamics import amplitude_ratio
from numerics.training._measure import TrainingReport
from numerics.training._sweep import ACTIVE_KL
from numerics.training._transitions import ESTIMATOR

if TYPE_CHECKING:
    from numerics.app._report import ReportResults

#: Rows of the threshold table (the rest are in thresholds.json).
THRESHOLD_ROWS = 8
#: Latents of the follow-up protocol (its predicted steps are the top ones).
FOLLOW_UP_LATENTS = 4


def _table(report: TrainingReport, absolute: bool = False) -> list[str]:
    """Predicted against measured, one row per latent rank, with the residual spectrum's
    prediction of each step when it was computed.

    ``absolute`` adds the difference in sigma'^2 (the follow-up's tolerance is absolute).
    """
    residual = {r.rank: r for r in report.residual or []}
    rows = [
        "| rank | predicted σ'²_c | measured σ'²_c | relative error |"
        + (" difference |" if absolute else "")
        + " bracket | std. error |"
        + (" residual-spectrum σ'²_c |" if residual else ""),
        "|---:|---:|---:|---:|" + ("---:|" if absolute else "") + "---|---:|"
        + ("---:|" if residual else ""),
    ]  # fmt: skip
    for m in report.measured:
        est = m.method if m.estimate is None else f"{m.estimate:.5g}"
        err = "" if m.relative_error is None else f"{100 * m.relative_error:+.2f} %"
        br = "" if m.bracket is None else f"[{m.bracket[0]:.5g}, {m.bracket[1]:.5g}]"
        se = "" if m.stderr is None or not np.isfinite(m.stderr) else f"{m.stderr:.2g}"
        diff = ""
        if absolute:
            diff = "" if m.estimate is None else f" {m.estimate - m.predicted:+.4f} |"
            diff = diff or " |"
        row = f"| {m.rank} | {m.predicted:.5g} | {est} | {err} |{diff} {br} | {se} |"
        if residual:
            r = residual.get(m.rank)
            got = (
                "n/a"
                if r is None or r.critical_sigma2 is None
                else (f"{r.critical_sigma2:.5g} ± {r.stderr:.2g}")
            )
            row += f" {got} |"
        rows.append(row)
    return rows


def _residual_sentence(mlp: TrainingReport) -> list[str]:
    """Whether the residual spectrum explains the ranks the MLP does not use, plainly."""
    info = mlp.sweep.measure.mean(axis=1)
    lines = []
    for r in mlp.residual or []:
        m = mlp.measured[r.rank - 1]
        if r.critical_sigma2 is None or m.predicted <= mlp.sweep.sigma2[0]:
            continue
        below_linear = r.critical_sigma2 < m.predicted - 2 * (r.stderr or 0.0)
        if m.estimate is not None:
            agree = abs(m.estimate - r.critical_sigma2) <= 2 * math.hypot(
                r.stderr or 0.0, m.stderr or 0.0
            )
            lines.append(
                f"Rank {r.rank}: the MLP's step at {m.estimate:.4g} "
                f"{'agrees with' if agree else 'differs from'} its residual-spectrum "
                f"prediction {r.critical_sigma2:.4g} ± {r.stderr:.2g} (linear theory "
                f"{m.predicted:.4g})"
                + (": the residual spectrum explains why the step sits below the linear "
                   "threshold." if agree and below_linear else ".")
            )  # fmt: skip
        elif (info[:, r.rank - 1] <= ACTIVE_KL).all():
            inside = r.critical_sigma2 >= mlp.sweep.sigma2[0]
            lines.append(
                f"Rank {r.rank} never activates in the sweep; its residual-spectrum "
                f"prediction is {r.critical_sigma2:.4g} ± {r.stderr:.2g} (linear theory "
                f"{m.predicted:.4g}): "
                + ("inside the sweep, so the residual spectrum does not explain its absence."
                   if inside else "below the sweep's low end, so the residual spectrum "
                   "explains its absence.")
            )  # fmt: skip
    return lines


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
        f"then {o['steps']} per point). The sweep spans the top three transitions.",
        "",
        *_table(mlp),
        "",
    ]
    # What the nonlinear model does differently, read off the trained sweep.
    mean = s.kl.mean(axis=1)
    # The linear optimum's top latent at the sweep's low end (the theory's law).
    linear_kl = optimum(mlp.eigenvalues, s.sigma2[0], mlp.beta, latent_dim=1).modes[0].kl
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
        f"linear optimum {linear_kl:.3f}: {gain}. Complete collapse sets in where the "
        "collapsed state's linearisation loses stability, so the top step is the linear "
        "theory's; each lower step depends on what the active latents leave unexplained, "
        "which the residual spectrum measures (last column: the step it predicts from the "
        "trained state just past it)."
    )
    lines += ["", *_residual_sentence(mlp)]
    lines += ["", "![mlp](train_mlp/training.png)", ""]
    return lines


def _follow_up_section(follow: TrainingReport) -> list[str]:
    """The follow-up protocol: staircase steps against the sample eigenvalues."""
    s = follow.sweep
    o = s.options
    found = [m for m in follow.measured if m.estimate is not None]
    worst = max((abs(m.estimate - m.predicted) for m in found), default=float("nan"))
    lam = follow.data.get("population_eigenvalues", [])[:FOLLOW_UP_LATENTS]
    population = f" (population: {', '.join(f'{x:.3f}' for x in lam)})" if lam else ""
    return [
        f"### Follow-up protocol: MLP VAE on the 8-d mixture ({s.seconds:.0f} s)",
        "",
        f"Li et al. (arXiv 2610.11257), scaled down: {o['n_samples']} samples of the "
        "covariance-matched two-component mixture with population eigenvalues "
        "exp(-0.1 (i - 1)), an MLP VAE with 4 latents, sigma'^2 from "
        f"{s.sigma2[0]:g} to {s.sigma2[-1]:g} ({s.sigma2.size} points). The number of active "
        f"latents steps down 4 -> 0; the predicted steps are the top eigenvalues of the "
        f"sample covariance{population}.",
        "",
        *_table(follow, absolute=True),
        "",
        f"Largest |measured - predicted|: {worst:.4f} in σ'² "
        f"({len(found)} of {len(follow.measured)} steps measured).",
        "",
        "![mixture](train_mlp_mixture/training.png)",
        "",
    ]


def _header(r: ReportResults) -> list[str]:
    rec = r.record
    return [
        f"# vae-collapse report: {r.data}",
        "",
        f"Data: `{rec['source']}`, {rec['n_samples']} samples x {rec['dim']} dimensions; "
        f"spectrum of the centred 1/N covariance ({rec['spectrum_method']}); "
        f"{rec['zero_eigenvalues']} eigenvalues are zero (constant coordinates). Everything "
        f"below was produced by one command in {r.seconds:.0f} s.",
        "",
        "## Derivations",
        "",
        *[f"- [`{p}`]({p})" for p in r.derivations],
        "",
    ]


def _thresholds_section(r: ReportResults) -> list[str]:
    certified, lam, boot = r.certified, r.thresholds.eigenvalues, r.bootstrap
    head = "| mode | eigenvalue | critical σ'² (float64) |"
    rule = "|---:|---:|---:|"
    if certified:
        head += f" certified, {certified.digits} digits | certified error |"
        rule += "---|---:|"
    if boot:
        head += f" {100 * boot.level:.0f} % bootstrap interval |"
        rule += "---|"
    lines = [
        "## Thresholds",
        "",
        "Posterior collapse is complete for beta sigma'^2 >= lambda_max; latent rank i "
        "collapses at sigma'^2 = lambda_i / beta (beta = 1 here). The thresholds are those "
        "of the N rows at hand; the bootstrap interval (rows resampled, "
        f"{boot.replicates if boot else 0} replicates) is where another sample of the same "
        "size would put them.",
        "",
        head,
        rule,
    ]
    for i in range(min(THRESHOLD_ROWS, len(lam))):
        row = f"| {i + 1} | {lam[i]:.10g} | {r.thresholds.critical_sigma2[i]:.10g} |"
        if certified:
            row += f" {certified.critical_sigma2[i]} | {certified.certified_error[i]} |"
        if boot:
            if i < len(boot.critical_sigma2_interval):
                lo, hi = boot.critical_sigma2_interval[i]
                row += f" [{lo:.5g}, {hi:.5g}] |"
            else:
                row += " |"
        lines.append(row)
    more = "| ... | | |" + (" | |" if certified else "") + (" |" if boot else "")
    return [*lines, more, "", "All values: `thresholds.json`.", ""]


def _dynamics_section(r: ReportResults) -> list[str]:
    """Relaxation times: measured against predicted, exponents and amplitude ratios."""
    d = r.dynamics
    t = np.abs(d.sigma2[:, None] / d.critical_sigma2[None, :] - 1)
    away = (t > 0.05) & np.isfinite(d.measured) & np.isfinite(d.predicted)
    worst = float(np.max(np.abs(d.measured[away] / d.predicted[away] - 1))) if away.any() else None
    lines = [
        "## Critical slowing down",
        "",
        f"Plain gradient descent (lr = {d.lr:.3g}, {d.steps} steps per run) of the linear VAE "
        "on the data's covariance, started at the optimum with one mode displaced, at "
        f"{d.sigma2.size} values of σ'²: relaxation times measured from the decay of the "
        "displacement, predicted from the Hessian in the trainer's coordinates "
        "(`theory/dynamics.py`)."
        + ("" if worst is None else f" Away from the critical points (more than 5 %) "
           f"measured and predicted differ by at most {100 * worst:.2f} %."),
        "",
        "| mode | σ'²_c | fitted exponent, active side | collapsed side | predicted | "
        "amplitude ratio: measured / same fit of the prediction / limit |",
        "|---:|---:|---:|---:|---:|---|",
    ]  # fmt: skip

    def fmt(x: float | None, form: str = "+.3f") -> str:
        return "n/a" if x is None else format(x, form)

    for j, sides in enumerate(d.fits):
        a, c = sides["active"], sides["collapsed"]
        of_prediction = amplitude_ratio(d.prediction_fits[j]) if d.prediction_fits else None
        lines.append(
            f"| {j + 1} | {d.critical_sigma2[j]:.5g} | {fmt(a.exponent)} | {fmt(c.exponent)} | "
            f"{a.predicted_exponent:+g} | {fmt(amplitude_ratio(sides), '.3f')} / "
            f"{fmt(of_prediction, '.3f')} / {d.predicted_amplitude_ratio:g} |"
        )
    lines += [
        "",
        "The exponent and the ratio 1/2 are limits at the critical point; in the fit window "
        "(relative distances 0.002 to 0.05) the next order of the prediction already moves "
        "the fitted ratio, so the measured fit is compared with the same fit of the "
        "predicted times.",
    ]
    return [*lines, "", "![relaxation](dynamics/relaxation.png)", ""]


def _maps_section() -> list[str]:
    return [
        "## Maps",
        "",
        "![KL](map/kl.png)",
        "",
        "![derivatives](map/derivatives.png)",
        "",
        "![phase diagram](map/phase_diagram.png)",
        "",
    ]


def _linear_section(linear: TrainingReport, data: str) -> list[str]:
    o = linear.sweep.options
    return [
        "## Trained confirmations",
        "",
        f"Estimator: {ESTIMATOR}.",
        "",
        f"### Linear VAE on {data} ({linear.sweep.seconds:.0f} s)",
        "",
        f"{o['latent_dim']} latents, Adam, one reparameterised sample per point, minibatches "
        f"of {o['batch_size']}, {o['steps']} steps, all {linear.sweep.sigma2.size} sweep "
        "points at once.",
        "",
        *_table(linear),
        "",
        "![linear](train_linear/training.png)",
        "",
    ]


def render_summary(r: ReportResults) -> str:
    """``summary.md``: every section, from the computed results."""
    lines = [
        *_header(r),
        *_thresholds_section(r),
        *_maps_section(),
        *_linear_section(r.linear, r.data),
        *_mlp_section(r.mlp, r.data),
    ]
    if r.follow_up is not None:
        lines += _follow_up_section(r.follow_up)
    if r.decoder_variance is not None:
        from numerics.app._decoder_variance import report_section

        lines += report_section(r.decoder_variance, r.data)
    if r.families:  # opt-in: report --hierarchical, --condition-columns
        from numerics.app._family_report import family_summary

        lines += family_summary(r.families, r.data)
    lines += _dynamics_section(r)
    return "\n".join(lines)
