"""The report's sections for the conditional and the hierarchical VAE (opt-in).

``report --hierarchical`` trains the linear two-level hierarchical VAE on the data (any
data supply what it needs) and sets the measured collapses of both levels beside the
prediction; ``report --condition-columns SPEC`` does the same for the conditional VAE on
the residual covariance of the output columns given the condition columns.  Both are
opt-in: on digits the hierarchical section costs about 4 s of training and, the first
time, 7 s deriving its laws (cached afterwards), more than the few seconds the default
report may grow by.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from numerics.app._sources import Source, from_conditional_data

#: Latents trained in these sections (as the VAE's confirmations).
LATENTS = 4


def family_files(hierarchical: bool, conditional: bool) -> list[str]:
    """The files these sections write, relative to the report folder."""
    files = ["training.png", "training.pdf", "train.json", "points.csv"]
    folders = (["train_hierarchical"] if hierarchical else []) + (
        ["train_conditional"] if conditional else []
    )
    return [f"{f}/{n}" for f in folders for n in files]


def first_level_variance(eigenvalues: np.ndarray) -> float:
    """zeta_1^2 of the hierarchical section: the geometric mean of the last two trained
    eigenvalues (digits: 179, 164, 142, 101 give 120).  Then (beta_1 = beta_2 = 1) the
    top level of the larger modes collapses first and the smallest mode loses its first
    level first (derivations/hierarchical-vae.tex, the two cases along sigma'^2): both
    orders in one sweep."""
    lam = eigenvalues[:LATENTS]
    lam = lam[lam > 0]
    if lam.size < 2:  # one mode: below it, its first level collapses first
        return 2.0 * float(lam[0]) if lam.size else 1.0
    return float(np.sqrt(lam[-2] * lam[-1]))


def family_parts(
    data: str, source: Source, out: Path, progress: bool, hierarchical: bool,
    condition_columns: str | None,
) -> dict[str, Any]:  # fmt: skip
    """Train what was asked and write its files; the results for the summary."""
    from numerics.app._family_train import hierarchical_training_files
    from numerics.app._writers import training_files
    from numerics.training._family_measure import (
        train_and_measure_conditional,
        train_and_measure_hierarchical,
    )

    results: dict[str, Any] = {}
    X = np.asarray(source.dataset.X, dtype=float)
    k = min(LATENTS, X.shape[1])
    if hierarchical:
        zeta = first_level_variance(source.eigenvalues)
        report = train_and_measure_hierarchical(
            X, source.eigenvalues, latent_dim=k, data=source.record, progress=progress,
            model={"encoder_variance": "fixed", "zeta2": zeta},
        )  # fmt: skip
        hierarchical_training_files(report, out / "train_hierarchical")
        results["hierarchical"] = report
    if condition_columns is not None:
        cond = from_conditional_data(data, condition_columns)
        report = train_and_measure_conditional(
            X, cond.extra["condition_mask"], cond.eigenvalues, latent_dim=k,
            data=cond.record, progress=progress,
        )  # fmt: skip
        training_files(report, out / "train_conditional")
        results["conditional"] = report
    return results


def _rows(measured, level: str = "") -> list[str]:
    out = []
    for m in measured:
        est = m.method if m.estimate is None else f"{m.estimate:.5g}"
        err = "" if m.relative_error is None else f"{100 * m.relative_error:+.2f} %"
        out.append(f"| {level}{m.rank} | {m.predicted:.5g} | {est} | {err} |")
    return out


def family_summary(results: dict[str, Any], data: str) -> list[str]:
    """The summary's sections for what :func:`family_parts` trained."""
    lines: list[str] = []
    head = ["| rank | predicted σ'²_c | measured σ'²_c | relative error |", "|---|---:|---:|---:|"]
    if "hierarchical" in results:
        r = results["hierarchical"]
        m = r.theory.model
        lines += [
            f"### Linear two-level hierarchical VAE on {data} ({r.sweep.top.seconds:.0f} s)",
            "",
            f"First-level encoder variance fixed at ζ₁² = {m.zeta2_1:.4g}, top level "
            f"learnable, β₁ = {r.beta:g}, β₂ = {m.beta2:g} (derivations/hierarchical-vae.tex). "
            "Where the top level (z₂) and, for the modes predicted to lose it, the first "
            "level (z₁) collapse for good as σ'² grows:",
            "",
            *head,
            *_rows(r.top, "top "),
            *_rows(r.first, "first "),
            "",
            "![hierarchical](train_hierarchical/training.png)",
            "",
        ]
    if "conditional" in results:
        r = results["conditional"]
        lines += [
            f"### Linear conditional VAE on {data} ({r.sweep.seconds:.0f} s)",
            "",
            f"Condition columns {r.data['condition_columns']} (x), the others the output (y); "
            "the thresholds are the eigenvalues of the residual covariance of y given x "
            "(derivations/conditional-vae.tex).",
            "",
            *head,
            *_rows(r.measured),
            "",
            "![conditional](train_conditional/training.png)",
            "",
        ]
    return lines
