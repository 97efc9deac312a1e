"""Figures of the hierarchical VAE: curves against sigma'^2, phases in (beta_1, beta_2)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display needed (CI, servers)
import matplotlib.pyplot as plt
import numpy as np

from numerics.app._plots import _log_x, _save


def plot_hierarchical_map(result, out: Path) -> list[Path]:
    """KL of each level and the numbers of active latents against sigma'^2 (kl.png, kl.pdf)."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(6.4, 6.0), sharex=True)
    g, c = result.grid, result.curves
    top.plot(g, c["kl1_total"], label="first level: $E[\\log q(z_1|x) - \\log p(z_1|z_2)]$")
    top.plot(g, c["kl2_total"], label="top level: $E\\,\\mathrm{KL}(q(z_2|z_1)\\,\\|\\,p(z_2))$")
    top.set_ylabel("summed over latents (nats)")
    top.legend(fontsize=8)
    bottom.step(g, c["n_active_first"], where="mid", label="active first-level latents")
    bottom.step(g, c["n_active_top"], where="mid", ls="--", label="active top-level latents")
    bottom.set_ylabel("active latents")
    bottom.legend(fontsize=8)
    for ax in (top, bottom):
        for p in result.critical_points:
            ax.axvline(p["sigma2"], color="0.6", lw=0.6, ls="--", zorder=0)
    _log_x(bottom, g[0], g[-1])
    bottom.set_xlabel(r"decoder variance $\sigma'^2$")
    top.set_title(
        rf"hierarchical VAE, $\beta_1$ = {result.beta:g}, $\beta_2$ = {result.model.beta2:g}"
    )
    return _save(fig, out, "kl")


def plot_hierarchical_phases(pd, out: Path) -> list[Path]:
    """Active latents of each level over (beta_1, beta_2) (phase_diagram.png, .pdf)."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), sharey=True)
    top = int(np.nanmax([np.nanmax(pd.n_first), np.nanmax(pd.n_top), 1]))
    for ax, counts, title in ((axes[0], pd.n_first, "first level"), (axes[1], pd.n_top,
                                                                      "top level")):  # fmt: skip
        mesh = ax.pcolormesh(pd.beta, pd.beta2, counts, shading="auto", vmin=0, vmax=top,
                             cmap="viridis")  # fmt: skip
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(r"$\beta_1$")
        ax.set_title(f"active {title} latents, $\\sigma'^2$ = {pd.sigma2:g}")
    axes[0].set_ylabel(r"$\beta_2$")
    fig.colorbar(mesh, ax=axes, label="active latents")
    return _save(fig, out, "phase_diagram")


def plot_hierarchical_training(report, out: Path, stem: str = "training") -> list[Path]:
    """The trained informations of each level against sigma'^2, predicted collapses dashed."""
    fig, axes = plt.subplots(2, 1, figsize=(6.4, 6.0), sharex=True)
    s = report.sweep
    for ax, level, measured in ((axes[0], s.top, report.top), (axes[1], s.first, report.first)):
        info = level.information.mean(axis=1)
        for j in range(info.shape[1]):
            ax.plot(level.sigma2, info[:, j], "o-", ms=3, lw=1, label=f"rank {j + 1}")
        for m in measured:
            ax.axvline(m.predicted, color="0.5", lw=0.7, ls="--", zorder=0)
        ax.set_ylabel("principal information (nats)")
    axes[0].set_title("top level (z2 about z1); dashed: predicted collapses")
    axes[1].set_title("first level (z1 about x)")
    axes[0].legend(fontsize=7)
    _log_x(axes[1], s.top.sigma2[0], s.top.sigma2[-1])
    axes[1].set_xlabel(r"decoder variance $\sigma'^2$")
    return _save(fig, out, stem)
