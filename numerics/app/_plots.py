"""Figures for maps and phase diagrams (matplotlib, non-interactive backend)."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.colors
import matplotlib.ticker

matplotlib.use("Agg")  # files only; no display needed (CI, servers)
import matplotlib.pyplot as plt
import numpy as np

from numerics.core._maps import MapResult, PhaseDiagram
from numerics.training._sweep import ACTIVE_KL

_LABEL = {"sigma2": r"decoder variance $\sigma'^2$", "beta": r"KL weight $\beta$"}
_SYMBOL = {"sigma2": r"\sigma'^2", "beta": r"\beta"}


def _log_x(ax, lo: float, hi: float) -> None:
    ax.set_xscale("log")
    # Within a decade: evenly spaced round values (a log locator would label at most
    # one tick); 1-2-5 ticks over a few decades, decades only over a long range.
    if hi / lo < 10:
        locator = matplotlib.ticker.MaxNLocator(nbins=7)
    else:
        locator = matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0) if hi / lo < 1e3 else (1.0,))
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())


#: Critical points labelled individually; the rest are marked without labels.
_LABELLED = 4


def _save(fig, out: Path, stem: str) -> list[Path]:
    paths = []
    for ext in ("png", "pdf"):
        path = out / f"{stem}.{ext}"
        fig.savefig(path, dpi=150, bbox_inches="tight")
        paths.append(path)
    plt.close(fig)
    return paths


def _mark_critical(ax, result: MapResult, label: bool = False) -> None:
    for i, c in enumerate(result.critical_points):
        if not result.grid[0] <= c.value <= result.grid[-1]:
            continue
        ax.axvline(c.value, color="0.6", lw=0.6, ls="--", zorder=0)
        if label and i < _LABELLED:
            # At the top: the labelled points are the largest, where every KL is ~0
            # below, so the labels stay clear of the curves.
            ax.annotate(
                f"{c.value:.4g}",
                (c.value, 0.97),
                xycoords=("data", "axes fraction"),
                rotation=90,
                va="top",
                ha="right",
                fontsize=7,
                color="0.3",
            )


def _title(result: MapResult) -> str:
    fixed = ", ".join(f"{k} = {v:g}" for k, v in result.fixed.items())
    source = result.data.get("source", "spectrum")
    return f"{source}: {result.encoder_variance} encoder variance, {fixed}, k = {result.latent_dim}"


def plot_kl(result: MapResult, out: Path) -> list[Path]:
    """Per-latent and total KL against the control, critical points marked."""
    fig, ax = plt.subplots(figsize=(7, 4.2))
    x = result.grid
    k = result.latent_dim
    for j in range(k):
        label = f"latent {j + 1}" if k <= 8 else None
        ax.plot(x, result.curves[f"kl_{j + 1}"], lw=0.8, alpha=0.7, label=label)
    ax.plot(x, result.curves["kl_total"], color="k", lw=2, label="total KL (order parameter)")
    _mark_critical(ax, result, label=True)
    _log_x(ax, x[0], x[-1])
    ax.set_xlabel(_LABEL[result.variable])
    ax.set_ylabel("KL(q(z|x) || p(z)) per latent [nats]")
    ax.set_title(_title(result), fontsize=9)
    ax.legend(loc="center right", fontsize=8)  # the labels of the critical points are on top
    return _save(fig, out, "kl")


def plot_derivatives(result: MapResult, out: Path) -> list[Path]:
    """dKL, dF and d2F against the control: the jumps at every critical point."""
    fig, axes = plt.subplots(3, 1, figsize=(7, 8), sharex=True)
    x = result.grid
    v = result.variable
    panels = [
        ("d_kl_total", rf"$d\mathrm{{KL}}/d{_SYMBOL[v]}$", ("kl", 1)),
        ("d_neg_elbo", rf"$dF/d{_SYMBOL[v]}$", ("neg_elbo", 1)),
        ("d2_neg_elbo", rf"$d^2F/d({_SYMBOL[v]})^2$", ("neg_elbo", 2)),
    ]
    for ax, (key, label, (q, n)) in zip(axes, panels, strict=True):
        # Break the line at each critical point so a jump is drawn as a gap.
        y = result.curves[key].copy()
        crit = np.array([c.value for c in result.critical_points])
        breaks = np.searchsorted(x, crit)
        xs, ys = np.insert(x, breaks, np.nan), np.insert(y, breaks, np.nan)
        ax.plot(xs, ys, color="C0", lw=1.2)
        for c in result.critical_points:
            if x[0] <= c.value <= x[-1]:
                s = c.derivatives[q][n]
                ax.plot([c.value], [s.left], "o", ms=3, color="C3")
                ax.plot([c.value], [s.right], "o", ms=3, mfc="white", color="C3")
        _mark_critical(ax, result)
        ax.set_ylabel(label)
        _log_x(ax, x[0], x[-1])
    axes[0].set_title(
        _title(result) + "\nfilled: left (active side), open: right (collapsed side)", fontsize=9
    )
    axes[-1].set_xlabel(_LABEL[v])
    return _save(fig, out, "derivatives")


def plot_staircase(result: MapResult, out: Path) -> list[Path]:
    """Number of active latents against the control."""
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.step(result.grid, result.curves["n_active"], where="post", color="k")
    _mark_critical(ax, result)
    _log_x(ax, result.grid[0], result.grid[-1])
    ax.set_xlabel(_LABEL[result.variable])
    ax.set_ylabel("active latents")
    ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))  # counts
    ax.set_title(_title(result), fontsize=9)
    return _save(fig, out, "staircase")


def plot_phase_diagram(pd: PhaseDiagram, out: Path, title: str = "") -> list[Path]:
    """Active-latent count in the (sigma'^2, beta) plane with the exact boundaries."""
    fig, ax = plt.subplots(figsize=(6.5, 5))
    top = int(pd.n_active.max())
    # One colour per count: a discrete map with integer bin edges.
    levels = np.arange(-0.5, top + 1.5)
    cmap = plt.get_cmap("viridis", len(levels) - 1)
    norm = matplotlib.colors.BoundaryNorm(levels, cmap.N)
    mesh = ax.pcolormesh(
        pd.sigma2, pd.beta, pd.n_active, shading="auto", cmap=cmap, norm=norm, rasterized=True
    )  # rasterized: a vector PDF of 90 000 cells is slow to write and to view
    ticks = np.unique(np.linspace(0, top, min(top + 1, 9)).round().astype(int))
    fig.colorbar(mesh, ax=ax, label="active latents", ticks=ticks)
    for beta in pd.boundary_beta:  # the derived critical beta at each sigma'^2
        keep = (beta >= pd.beta[0]) & (beta <= pd.beta[-1])
        if keep.any():
            ax.plot(pd.sigma2[keep], beta[keep], color="w", lw=0.6)
    _log_x(ax, pd.sigma2[0], pd.sigma2[-1])
    ax.set_yscale("log")
    ax.set_xlabel(_LABEL["sigma2"])
    ax.set_ylabel(_LABEL["beta"])
    ax.set_title(
        title or r"active latents; white lines: the derived phase boundaries $\beta_c(\sigma'^2)$",
        fontsize=9,
    )
    return _save(fig, out, "phase_diagram")


_MODEL_NAMES = {"linear": "linear", "mlp": "MLP"}


def plot_training(report, theory: MapResult, out: Path, stem: str = "training") -> list[Path]:
    """Trained KL per latent rank over the theoretical curves; predicted vs measured."""
    s = report.sweep
    fig, (ax, ax2) = plt.subplots(
        2, 1, figsize=(7, 7), sharex=True, gridspec_kw={"height_ratios": (2.2, 1)}
    )
    k = s.kl.shape[-1]
    mean = s.measure.mean(axis=1)  # the principal informations: what is measured
    spread = s.measure.std(axis=1) if len(s.seeds) > 1 else None
    for j in range(k):
        color = f"C{j % 10}"
        ax.plot(theory.grid, theory.curves[f"kl_{j + 1}"], color=color, lw=1, alpha=0.8)
        ax.errorbar(
            s.sigma2,
            mean[:, j],
            yerr=None if spread is None else spread[:, j],
            fmt="o",
            ms=3.5,
            color=color,
            label=f"latent rank {j + 1}",
        )
    lo, hi = s.sigma2[0], s.sigma2[-1]
    for j, m in enumerate(report.measured):
        color = f"C{j % 10}"
        for a in (ax, ax2):
            if lo <= m.predicted <= hi:  # predictions outside the sweep are not drawn
                a.axvline(m.predicted, color=color, ls="--", lw=0.9)
            if m.estimate is not None:
                a.axvline(m.estimate, color=color, ls="-", lw=0.9)
    residual = _mark_residual(ax, ax2, getattr(report, "residual", None) or [], lo, hi)
    ax.set_ylabel("information per direction [nats]\n(= KL of a mode at the optimum)")
    ax.legend(fontsize=7, loc="upper right")
    ax.set_title(
        f"{_MODEL_NAMES.get(s.model, s.model)} VAE trained on "
        f"{report.data.get('source', 'data')}, beta = {report.beta:g}\n"
        "points: trained; lines: linear theory; dashed: predicted critical points; "
        "solid: measured"
        + ("\ndotted, shaded: residual-spectrum prediction ± standard error" if residual else ""),
        fontsize=9,
    )
    ax2.step(s.sigma2, (mean > ACTIVE_KL).sum(axis=1), where="mid", color="k", label="trained")
    ax2.step(
        theory.grid, theory.curves["n_active"], where="post", color="0.5", ls="--", label="theory"
    )
    ax2.set_ylabel("active latents")
    ax2.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))  # counts
    ax2.set_xlabel(_LABEL["sigma2"])
    ax2.legend(fontsize=7)
    _log_x(ax2, lo, hi)
    pad = (hi / lo) ** 0.02  # 2% of the (log) range on either side
    ax2.set_xlim(lo / pad, hi * pad)
    return _save(fig, out, stem)


def _mark_residual(ax, ax2, residual, lo: float, hi: float) -> bool:
    """Each rank's residual-spectrum prediction (:mod:`numerics.training._residual`) as a
    dotted line in both panels, its standard error shaded in the upper one; those outside
    the sweep are not drawn.  Returns whether any was drawn."""
    drawn = False
    for r in residual:
        crit = r.critical_sigma2
        if crit is None or not lo <= crit <= hi:
            continue
        color = f"C{(r.rank - 1) % 10}"
        for a in (ax, ax2):
            a.axvline(crit, color=color, ls=":", lw=1.3)
        if r.stderr:
            ax.axvspan(crit - r.stderr, crit + r.stderr, color=color, alpha=0.12, lw=0)
        drawn = True
    return drawn


def plot_relaxation(result, out: Path, stem: str = "relaxation") -> list[Path]:
    """Relaxation times against sigma'^2 and against the distance to each critical point."""
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.3))
    k = result.measured.shape[1]
    for j in range(k):
        color = f"C{j % 10}"
        ax.plot(result.curve_sigma2, result.curve_tau[:, j], color=color, lw=1)
        ax.plot(result.sigma2, result.measured[:, j], "o", ms=3, color=color,
                label=f"mode {j + 1}")  # fmt: skip
        c = result.critical_sigma2[j]
        ax.axvline(c, color="0.6", lw=0.6, ls="--", zorder=0)
        for side, sign, marker in (("active", -1, "o"), ("collapsed", 1, "s")):
            t = sign * (result.sigma2 / c - 1)
            keep = (t > 0) & (t < 0.3)
            ax2.plot(t[keep], result.measured[keep, j], marker, ms=3, color=color,
                     mfc=color if side == "active" else "white")  # fmt: skip
    _log_x(ax, result.sigma2[0], result.sigma2[-1])
    ax.set_yscale("log")
    ax.set_xlabel(_LABEL["sigma2"])
    ax.set_ylabel("relaxation time [steps]")
    what = "lines: predicted (gradient descent); points: measured"
    if result.optimizer != "gd":
        what = "points: measured 1/e time (no prediction for Adam)"
    ax.set_title(f"{result.optimizer}, lr = {result.lr:.3g}\n{what}", fontsize=9)
    ax.legend(fontsize=7)
    t = np.geomspace(1e-3, 0.3, 50)
    for j in range(k):
        fit = result.fits[j]["collapsed"]
        if fit.amplitude is not None:
            ax2.plot(t, fit.amplitude * t**fit.predicted_exponent, color="0.5", lw=0.6, ls=":")
    ax2.set_xscale("log")
    ax2.set_yscale("log")
    ax2.set_xlabel(r"$|1 - \sigma'^2/\sigma'^2_c|$")
    ax2.set_ylabel("relaxation time [steps]")
    ax2.set_title(
        "filled: active side, open: collapsed side; dotted: slope of the predicted exponent",
        fontsize=9,
    )
    return _save(fig, out, stem)


def plot_diagnosis(result, out: Path, stem: str = "diagnosis") -> list[Path]:
    """KL per latent (sorted) of the diagnosed model against the linear optimum's."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    kl = np.sort(np.asarray(result.kl))[::-1]
    ranks = np.arange(1, kl.size + 1)
    ax.bar(ranks, kl, color="C0", alpha=0.8, label="model (KL per latent, sorted)")
    ax.plot(ranks[: len(result.optimum_kl)], result.optimum_kl, "o--", color="C3",
            label="linear theory at this sigma'^2")  # fmt: skip
    ax.axhline(ACTIVE_KL, color="0.5", lw=0.8, ls=":", label=f"active above {ACTIVE_KL:g} nats")
    ax.set_yscale("symlog", linthresh=1e-3)
    ax.set_xlabel("latent (sorted by KL)")
    ax.set_ylabel("KL(q(z|x) || p(z)) [nats]")
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_title(f"sigma'^2 = {result.sigma2:g}, beta = {result.beta:g}\n{result.verdict}",
                 fontsize=8, wrap=True)  # fmt: skip
    ax.legend(fontsize=7)
    return _save(fig, out, stem)


def plot_finite_sample(result, n_data: int, out: Path, stem: str = "finite_sample") -> list[Path]:
    """Critical sigma'^2 against N: population (dashed), BBP prediction (line), sampled
    data sets (mean and standard deviation over seeds), the data's own N (dotted)."""
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    n = result.n_samples
    mean, std = result.sampled.mean(axis=1), result.sampled.std(axis=1, ddof=1)
    for j in range(result.population.size):
        color = f"C{j % 10}"
        ax.axhline(result.population[j], color=color, lw=0.8, ls="--")
        ax.plot(n, result.predicted[:, j], color=color, lw=1.2, label=f"mode {j + 1}")
        ax.errorbar(n, mean[:, j], yerr=std[:, j], fmt="o", ms=3, color=color, capsize=2)
    ax.axvline(n_data, color="0.5", lw=0.8, ls=":")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(f"rows N (d = {result.d}; dotted: the data's N = {n_data})")
    ax.set_ylabel(r"critical $\sigma'^2$")
    ax.set_title(
        f"dashed: population; lines: BBP prediction at gamma = d/N; points: sampled "
        f"({len(result.seeds)} data sets each)",
        fontsize=8,
    )
    ax.legend(fontsize=7)
    return _save(fig, out, stem)
