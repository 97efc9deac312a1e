"""Maps of the optimum across every transition: curves, critical points, phase diagram.

The KL divergence summed over latents is the order parameter (Li et al.,
arXiv 2510.01621).  All values come from the theory's laws
(:mod:`numerics.core._bridge`); every critical point is located exactly from the
spectrum (sigma'^2_c = lambda_i / beta, beta_c = lambda_i / sigma'^2, as derived),
never from the sampled curves, and its one-sided derivatives come from the
derivation's symbolic one-sided limits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from numerics.core._bridge import JUMP_QUANTITIES, CompiledLaws, compiled_laws
from numerics.core._validation import (
    InputError,
    check_encoder_variance,
    check_int,
    check_latent_dim,
    check_positive,
    check_range,
    check_spectrum,
)

#: Variables a map can run along.
VARIABLES = ("sigma2", "beta")
#: Relative offset of the grid points placed on each side of a critical point, so
#: sampled curves show the kink without straddling it.
SIDE_OFFSET = 1e-9


@dataclass(frozen=True)
class OneSidedValues:
    """Left (active side) and right values of one derivative of a total quantity."""

    left: float
    right: float

    @property
    def jump(self) -> float:
        """right - left."""
        return self.right - self.left


@dataclass(frozen=True)
class CriticalPoint:
    """One critical value of the control, with the derivatives on both sides.

    ``derivatives[q][n]`` holds the n-th derivative (n = 1, 2) of the total
    quantity ``q`` (``kl`` summed over latents, ``neg_elbo`` the full F) with
    respect to the map's variable.
    """

    variable: str
    value: float
    eigenvalue: float
    modes: tuple[int, ...]
    derivatives: dict[str, dict[int, OneSidedValues]]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        out: dict[str, Any] = {
            self.variable: self.value,
            "eigenvalue": self.eigenvalue,
            "modes": list(self.modes),
        }
        for q, per_order in self.derivatives.items():
            for n, v in per_order.items():
                name = f"d{n}_{q}" if n > 1 else f"d_{q}"
                out[name] = {"left": v.left, "right": v.right, "jump": v.jump}
        return out


@dataclass(frozen=True)
class MapResult:
    """Curves of the optimum against ``variable`` with the other control fixed."""

    variable: str
    fixed: dict[str, float]
    eigenvalues: np.ndarray
    latent_dim: int
    encoder_variance: str
    eta2: float
    grid: np.ndarray
    curves: dict[str, np.ndarray]
    critical_points: tuple[CriticalPoint, ...]
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary: critical points first, then the sampled curves."""
        return {
            "variable": self.variable,
            **self.fixed,
            "model": {
                "encoder_variance": self.encoder_variance,
                "latent_dim": self.latent_dim,
                "eta2": self.eta2,
            },
            **({"data": self.data} if self.data else {}),
            "eigenvalues": [float(x) for x in self.eigenvalues],
            "critical_points": [c.to_dict() for c in self.critical_points],
            "curves": {
                self.variable: self.grid.tolist(),
                **{k: v.tolist() for k, v in self.curves.items()},
            },
        }

    def curve_table(self) -> tuple[list[str], np.ndarray]:
        """Column names and the matrix of the sampled curves (for CSV)."""
        names = [self.variable, *self.curves]
        return names, np.column_stack([self.grid, *self.curves.values()])


def _controls(variable: str, x, other: float) -> tuple:
    return (x, other) if variable == "sigma2" else (other, x)


def _mode_values(
    laws: CompiledLaws, variable: str, lam: np.ndarray, x: np.ndarray, other: float, eta2: float
) -> dict[str, np.ndarray]:
    """Per-mode quantities and derivatives on the grid: arrays of shape (modes, points)."""
    sigma2, beta = _controls(variable, x[None, :], other)
    lam2 = lam[:, None]
    active = laws.is_active(lam2, sigma2, beta, eta2)
    out: dict[str, np.ndarray] = {"active": active}
    for q in laws.active:
        collapsed = np.broadcast_to(laws.collapsed[q](lam2, sigma2, beta, eta2), active.shape)
        value = collapsed.copy()
        lam_b = np.broadcast_to(lam2, active.shape)
        sig_b = np.broadcast_to(sigma2, active.shape)
        beta_b = np.broadcast_to(beta, active.shape)
        value[active] = laws.active_value(q, lam_b[active], sig_b[active], beta_b[active], eta2)
        out[q] = value
        if q in JUMP_QUANTITIES:
            for n in (1, 2):
                deriv = laws.derivative(variable, "collapsed", q, n)(
                    lam_b, sig_b, beta_b, eta2
                ).copy()
                deriv[active] = laws.derivative(variable, "active", q, n)(
                    lam_b[active], sig_b[active], beta_b[active], eta2
                )
                out[f"d{n}_{q}"] = deriv
    return out


def _unpaired_values(laws, variable, lam, x, other, eta2) -> dict[str, np.ndarray]:
    sigma2, beta = _controls(variable, x[None, :], other)
    shape = (lam.size, x.size)
    return {
        f"d{n}_neg_elbo" if n else "neg_elbo": np.broadcast_to(
            laws.derivative(variable, "unpaired", "neg_elbo", n)(lam[:, None], sigma2, beta, eta2),
            shape,
        )
        for n in (0, 1, 2)
    }


def critical_values(
    eigenvalues, variable: str, other: float, latent_dim: int, laws: CompiledLaws, eta2: float
) -> list[tuple[float, float, tuple[int, ...]]]:
    """(critical value, eigenvalue, 1-based modes) for each distinct positive eigenvalue.

    Zero eigenvalues never activate (their critical value is 0) and are skipped.
    """
    lam = eigenvalues[:latent_dim]
    law = laws.critical_sigma2 if variable == "sigma2" else laws.critical_beta
    out = []
    for value in np.unique(lam[lam > 0])[::-1]:
        modes = tuple(int(i) + 1 for i in np.flatnonzero(lam == value))
        crit = float(law(value, other, other, eta2))
        out.append((crit, float(value), modes))
    return out


def _critical_point(laws, variable, lam, k, other, eta2, crit, value, modes) -> CriticalPoint:
    sigma2, beta = _controls(variable, crit, other)
    x = np.array([crit])
    rest = np.array([j for j in range(k) if lam[j] != value], dtype=int)
    paired = _mode_values(laws, variable, lam[rest], x, other, eta2) if rest.size else None
    unpaired = _unpaired_values(laws, variable, lam[k:], x, other, eta2)
    derivs: dict[str, dict[int, OneSidedValues]] = {}
    for q in JUMP_QUANTITIES:
        derivs[q] = {}
        for n in (1, 2):
            # Modes other than the switching ones are analytic here: same on both sides.
            smooth = float(paired[f"d{n}_{q}"].sum()) if paired is not None else 0.0
            if q == "neg_elbo":
                smooth += float(unpaired[f"d{n}_neg_elbo"].sum())
            left_fn, right_fn = laws.one_sided(variable, q, n)
            m = len(modes)
            left = smooth + m * float(left_fn(value, sigma2, beta, eta2))
            right = smooth + m * float(right_fn(value, sigma2, beta, eta2))
            derivs[q][n] = OneSidedValues(left, right)
    return CriticalPoint(variable, crit, value, modes, derivs)


#: The default range covers the critical points of this many leading modes.
DEFAULT_RANGE_MODES = 16


def default_grid(crits: list[float], points: int) -> tuple[float, float]:
    """A log range covering the leading critical points, with a margin on each side.

    Real spectra span many decades (the digits: 179 down to 4e-4); a map over all
    of them shows nothing. The default covers the ``DEFAULT_RANGE_MODES`` largest
    critical values (all are still reported; ``--range`` widens the picture).
    """
    if not crits:
        return 0.1, 10.0
    leading = sorted(crits, reverse=True)[:DEFAULT_RANGE_MODES]
    return 0.5 * min(leading), 2.0 * max(leading)


def collapse_map(
    eigenvalues,
    variable: str = "sigma2",
    beta: float = 1.0,
    sigma2: float | None = None,
    latent_dim: int | None = None,
    encoder_variance: str = "learnable",
    eta2: float = 1.0,
    lo: float | None = None,
    hi: float | None = None,
    points: int = 400,
    data: dict[str, Any] | None = None,
) -> MapResult:
    """Map the optimum against ``variable`` ("sigma2" at fixed beta, or "beta" at fixed sigma2).

    Parameters
    ----------
    eigenvalues : array_like
        Spectrum of the data covariance.
    variable : {"sigma2", "beta"}
        The control that varies.
    beta, sigma2 : float
        The fixed value of the other control (``sigma2`` is required for "beta").
    lo, hi : float, optional
        Range of the varied control (log-spaced); default: half the smallest to
        twice the largest critical value.
    points : int
        Number of log-spaced grid points (critical points and their two sides are
        added).
    """
    lam = check_spectrum(eigenvalues)
    if variable not in VARIABLES:
        raise InputError(f"variable={variable!r}: expected one of {', '.join(VARIABLES)}")
    if variable == "sigma2":
        other = check_positive("beta", beta)
    else:
        if sigma2 is None:
            raise InputError("a map against beta needs a fixed sigma2 (--sigma2)")
        other = check_positive("sigma2", sigma2)
    eta2 = check_positive("eta2", eta2)
    k = check_latent_dim(latent_dim, lam.size)
    points = check_int("points", points, 2, 100_000)
    laws = compiled_laws(check_encoder_variance(encoder_variance))
    crits = critical_values(lam, variable, other, k, laws, eta2)
    d_lo, d_hi = default_grid([c for c, _, _ in crits], points)
    lo, hi = check_range("range", d_lo if lo is None else lo, d_hi if hi is None else hi)
    inside = [c for c, _, _ in crits if lo <= c <= hi]
    extra = [c * f for c in inside for f in (1 - SIDE_OFFSET, 1.0, 1 + SIDE_OFFSET)]
    grid = np.unique(np.concatenate([np.geomspace(lo, hi, points), extra]))
    grid = grid[(grid >= lo) & (grid <= hi)]

    modes = _mode_values(laws, variable, lam[:k], grid, other, eta2)
    unpaired = _unpaired_values(laws, variable, lam[k:], grid, other, eta2)
    curves: dict[str, np.ndarray] = {}
    for j in range(k):
        curves[f"kl_{j + 1}"] = modes["kl"][j]
    curves["kl_total"] = modes["kl"].sum(axis=0)
    curves["d_kl_total"] = modes["d1_kl"].sum(axis=0)
    curves["d2_kl_total"] = modes["d2_kl"].sum(axis=0)
    curves["neg_elbo"] = modes["neg_elbo"].sum(axis=0) + unpaired["neg_elbo"].sum(axis=0)
    curves["d_neg_elbo"] = modes["d1_neg_elbo"].sum(axis=0) + unpaired["d1_neg_elbo"].sum(axis=0)
    curves["d2_neg_elbo"] = modes["d2_neg_elbo"].sum(axis=0) + unpaired["d2_neg_elbo"].sum(axis=0)
    for j in range(k):
        curves[f"encoder_variance_{j + 1}"] = modes["encoder_variance"][j]
    for j in range(k):
        curves[f"decoder_norm_{j + 1}"] = modes["decoder_norm"][j]
    curves["n_active"] = modes["active"].sum(axis=0).astype(float)

    points_out = tuple(
        _critical_point(laws, variable, lam, k, other, eta2, c, value, ms) for c, value, ms in crits
    )
    fixed = {"beta": other} if variable == "sigma2" else {"sigma2": other}
    return MapResult(
        variable=variable,
        fixed=fixed,
        eigenvalues=lam,
        latent_dim=k,
        encoder_variance=encoder_variance,
        eta2=eta2,
        grid=grid,
        curves=curves,
        critical_points=points_out,
        data=data or {},
    )


@dataclass(frozen=True)
class PhaseDiagram:
    """Number of active latents on a (sigma2, beta) grid, with exact boundaries."""

    sigma2: np.ndarray
    beta: np.ndarray
    n_active: np.ndarray  # shape (len(beta), len(sigma2))
    boundary_eigenvalues: np.ndarray  # one phase boundary per distinct positive eigenvalue
    boundary_beta: np.ndarray  # (boundaries, len(sigma2)): the derived critical beta


def phase_diagram(
    eigenvalues,
    latent_dim: int | None = None,
    encoder_variance: str = "learnable",
    eta2: float = 1.0,
    sigma2_range: tuple[float, float] | None = None,
    beta_range: tuple[float, float] = (0.1, 10.0),
    points: int = 300,
) -> PhaseDiagram:
    """Active-latent count over a log grid in the (sigma'^2, beta) plane."""
    lam = check_spectrum(eigenvalues)
    k = check_latent_dim(latent_dim, lam.size)
    laws = compiled_laws(check_encoder_variance(encoder_variance))
    positive = lam[:k][lam[:k] > 0]
    if sigma2_range is None:
        sigma2_range = (
            (0.5 * positive.min(), 2.0 * positive.max()) if positive.size else (0.1, 10.0)
        )
    s = np.geomspace(*sigma2_range, points)
    b = np.geomspace(*beta_range, points)
    active = laws.is_active(lam[:k, None, None], s[None, None, :], b[None, :, None], eta2)
    edges = np.unique(positive)[::-1]
    # beta_c(lambda, sigma'^2) of the theory (its third argument, beta, is not used).
    boundary = laws.critical_beta(edges[:, None], s[None, :], 1.0, eta2)
    return PhaseDiagram(s, b, active.sum(axis=0), edges, boundary)


def jump_summary(result: MapResult, top: int | None = None) -> list[str]:
    """Human-readable lines: one per critical point."""
    lines = []
    for c in result.critical_points[: top or None]:
        kl = c.derivatives["kl"][1]
        f2 = c.derivatives["neg_elbo"][2]
        lines.append(
            f"{result.variable}_c = {c.value:<12.8g} (lambda = {c.eigenvalue:.8g}, mode "
            f"{','.join(map(str, c.modes))}): dKL jumps {kl.left:+.6g} -> {kl.right:+.6g} "
            f"(by {kl.jump:+.6g}); d2F jumps by {f2.jump:+.6g}"
        )
    return lines


__all__ = [
    "CriticalPoint",
    "MapResult",
    "OneSidedValues",
    "PhaseDiagram",
    "collapse_map",
    "jump_summary",
    "phase_diagram",
]
