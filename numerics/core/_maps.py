"""Maps of the optimum across every transition: curves, critical points, phase diagram.

The order parameter is the KL divergence summed over latents minus its value in the
collapsed phase (Li et al., arXiv 2510.01621, use the KL itself: for the learnable
model and for fixed zeta^2 = eta^2 the two coincide; for zeta^2 != eta^2 the KL has a
constant floor).  The curves report both (``kl_total``, ``order_parameter_total``).
All values come from the theory's laws (:mod:`numerics.core._bridge`); every critical
point is located exactly from the spectrum and the model (sigma'^2_c = lambda / beta
for the learnable model, eta^2 lambda / (beta zeta^2) for the fixed ones, as derived),
never from the sampled curves, and its one-sided derivatives come from the
derivation's symbolic one-sided limits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from numerics.core._bridge import JUMP_QUANTITIES, CompiledLaws, compiled_laws
from numerics.core._model import Model, resolve_model
from numerics.core._validation import (
    InputError,
    check_int,
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

    ``modes`` are the eigen-directions (1-based, descending eigenvalues) whose latents
    switch there, ``eigenvalue`` the first of their eigenvalues.
    ``derivatives[q][n]`` holds the n-th derivative (n = 1, 2) of the total
    quantity ``q`` (``kl`` and ``order_parameter`` summed over latents, ``neg_elbo``
    the full F) with respect to the map's variable.
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
    model: Model | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary: critical points first, then the sampled curves."""
        return {
            "variable": self.variable,
            **self.fixed,
            "model": self.model.record() if self.model else None,
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
    laws: CompiledLaws, variable: str, lam: np.ndarray, x: np.ndarray, other: float, eta2: float,
    z: np.ndarray | None,
) -> dict[str, np.ndarray]:  # fmt: skip
    """Per-mode quantities and derivatives on the grid: arrays of shape (modes, points).

    ``z`` holds the fixed variance of the latent paired with each mode (None: learnable).
    """
    sigma2, beta = _controls(variable, x[None, :], other)
    lam2 = lam[:, None]
    z2 = None if z is None else z[:, None]
    active = laws.is_active(lam2, sigma2, beta, eta2, z2)
    shape = active.shape
    lam_b, sig_b, beta_b = (np.broadcast_to(v, shape) for v in (lam2, sigma2, beta))
    z_b = None if z is None else np.broadcast_to(z2, shape)

    def on(mask, arrays):
        return [None if a is None else a[mask] for a in arrays]

    out: dict[str, np.ndarray] = {"active": active}
    for q in laws.active:
        value = np.broadcast_to(laws.law_value("collapsed", q, lam2, sigma2, beta, eta2, z2), shape)
        value = value.copy()
        la, sa, ba, za = on(active, (lam_b, sig_b, beta_b, z_b))
        value[active] = laws.active_value(q, la, sa, ba, eta2, za)
        out[q] = value
        if q in JUMP_QUANTITIES:
            for n in (1, 2):
                collapsed = laws.derivative(variable, "collapsed", q, n)
                deriv = collapsed(*laws.values(lam_b, sig_b, beta_b, eta2, z_b)).copy()
                act = laws.derivative(variable, "active", q, n)
                deriv[active] = act(*laws.values(la, sa, ba, eta2, za))
                out[f"d{n}_{q}"] = deriv
    return out


def _unpaired_values(laws, variable, lam, x, other, eta2) -> dict[str, np.ndarray]:
    sigma2, beta = _controls(variable, x[None, :], other)
    shape = (lam.size, x.size)
    # An unpaired direction has no latent, hence no zeta^2: any value fills the slot.
    args = laws.values(lam[:, None], sigma2, beta, eta2, 1.0)
    return {
        f"d{n}_neg_elbo" if n else "neg_elbo": np.broadcast_to(
            laws.derivative(variable, "unpaired", "neg_elbo", n)(*args), shape
        )
        for n in (0, 1, 2)
    }


def critical_values(
    eigenvalues: np.ndarray,
    variable: str,
    other: float,
    latent_dim: int,
    laws: CompiledLaws,
    eta2: float,
    z: np.ndarray | None = None,
) -> list[tuple[float, float, tuple[int, ...]]]:
    """(critical value, eigenvalue, 1-based modes) for each distinct critical value.

    Mode r (the r-th largest eigenvalue, paired with the latent of variance ``z[r]``)
    switches at its own critical value; modes with equal values form one critical
    point.  Zero eigenvalues never activate (their critical value is 0) and are skipped.
    """
    lam = eigenvalues[:latent_dim]
    crit = laws.critical_value(variable, lam, other, other, eta2, z)
    out = []
    for value in np.unique(crit[lam > 0])[::-1]:
        modes = tuple(int(i) + 1 for i in np.flatnonzero((crit == value) & (lam > 0)))
        out.append((float(value), float(lam[modes[0] - 1]), modes))
    return out


def _critical_point(laws, variable, lam, k, other, eta2, z, crit, value, modes) -> CriticalPoint:
    sigma2, beta = _controls(variable, crit, other)
    x = np.array([crit])
    switching = [m - 1 for m in modes]
    rest = np.array([j for j in range(k) if j not in switching], dtype=int)
    z_rest = None if z is None or not rest.size else z[rest]
    paired = _mode_values(laws, variable, lam[rest], x, other, eta2, z_rest) if rest.size else None
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
            zs = None if z is None else z[switching]
            args = laws.values(lam[switching], sigma2, beta, eta2, zs)
            left = smooth + float(np.sum(left_fn(*args)))
            right = smooth + float(np.sum(right_fn(*args)))
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
    # The margins stay within float64's normal range (critical values near its ends).
    info = np.finfo(float)
    return max(0.5 * min(leading), float(info.tiny)), min(2.0 * max(leading), float(info.max))


def collapse_map(
    eigenvalues,
    variable: str = "sigma2",
    beta: float = 1.0,
    sigma2: float | None = None,
    latent_dim: int | None = None,
    encoder_variance="learnable",
    eta2: float = 1.0,
    lo: float | None = None,
    hi: float | None = None,
    points: int = 400,
    data: dict[str, Any] | None = None,
    zeta2=None,
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
    latent_dim, encoder_variance, eta2, zeta2
        The model, as for :func:`numerics.core._optimum.optimum`.
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
    model = resolve_model(encoder_variance, zeta2, eta2, latent_dim, lam.size)
    points = check_int("points", points, 2, 100_000)
    laws = compiled_laws(model.spec)
    z = model.zeta2_by_direction(laws.variance_order)
    eta2, k = model.eta2, model.latent_dim
    crits = critical_values(lam, variable, other, k, laws, eta2, z)
    _check_scale(variable, lam, [], other)  # before the grid: its margins could overflow
    grid = _grid(crits, points, lo, hi)
    _check_scale(variable, lam, grid, other)
    # Overflow happens only for values beyond float64, which _check_finite refuses.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        curves = _curves(laws, variable, lam, k, grid, other, eta2, z)
        points_out = tuple(
            _critical_point(laws, variable, lam, k, other, eta2, z, c, value, ms)
            for c, value, ms in crits
        )
    _check_finite(variable, grid, curves, points_out)
    fixed = {"beta": other} if variable == "sigma2" else {"sigma2": other}
    return MapResult(
        variable=variable,
        fixed=fixed,
        eigenvalues=lam,
        latent_dim=k,
        encoder_variance=model.label,
        eta2=eta2,
        grid=grid,
        curves=curves,
        critical_points=points_out,
        data=data or {},
        model=model,
    )


#: Magnitudes a map accepts: its second derivatives go like 1/x^2 (and products of two
#: such values), which stay within float64 for x in [1e-150, 1e150].
MAP_SCALE = (1e-150, 1e150)


def _check_scale(variable: str, lam: np.ndarray, grid, other: float) -> None:
    """Refuse magnitudes whose derivatives would leave float64 (one line, the value)."""
    lo, hi = MAP_SCALE
    fixed = "sigma2" if variable == "beta" else "beta"
    for name, values in (("eigenvalue", lam[lam > 0]), (fixed, [other]), (variable, grid)):
        bad = [float(v) for v in values if not lo <= v <= hi]
        if bad:
            raise InputError(
                f"{name} {bad[0]:.6g} is outside [1e-150, 1e150], where a map's second "
                "derivatives stay within float64: expected values closer to 1 (rescale the "
                "units; threshold and optimum take the whole float64 range)"
            )


def _check_finite(variable: str, grid, curves: dict, points: tuple) -> None:
    """Every value of the map is a finite double, or the map is refused (no silent inf/NaN).

    The laws are finite wherever they hold; a non-finite value means a true value beyond
    float64's range (e.g. d2F/dsigma2^2 ~ 1/sigma2^2 at sigma2 = 1e-307).
    """
    for name, curve in curves.items():
        tiny = (curve != 0) & (np.abs(curve) < np.finfo(float).tiny)  # subnormal: lost digits
        bad = ~np.isfinite(curve) | tiny
        if bad.any():
            raise InputError(
                f"{name} at {variable}={grid[bad][0]:.6g} is beyond float64's range: expected "
                "eigenvalues and parameters closer to 1 (rescale the units) or a narrower --range"
            )
    for c in points:
        for q, orders in c.derivatives.items():
            for order, sides in orders.items():
                if not (np.isfinite(sides.left) and np.isfinite(sides.right)):
                    raise InputError(
                        f"the order-{order} derivative of {q} at {variable}_c={c.value:.6g} is "
                        "beyond float64's range: expected eigenvalues and parameters closer to "
                        "1 (rescale the units)"
                    )


def _grid(crits, points: int, lo, hi) -> np.ndarray:
    """Log grid over [lo, hi] with every critical point inside and its two sides added."""
    d_lo, d_hi = default_grid([c for c, _, _ in crits], points)
    lo, hi = check_range("range", d_lo if lo is None else lo, d_hi if hi is None else hi)
    inside = [c for c, _, _ in crits if lo <= c <= hi]
    extra = [c * f for c in inside for f in (1 - SIDE_OFFSET, 1.0, 1 + SIDE_OFFSET)]
    grid = np.unique(np.concatenate([np.geomspace(lo, hi, points), extra]))
    return grid[(grid >= lo) & (grid <= hi)]


def _curves(laws, variable, lam, k, grid, other, eta2, z) -> dict[str, np.ndarray]:
    """The sampled curves of a map (per-latent and total quantities on the grid)."""
    modes = _mode_values(laws, variable, lam[:k], grid, other, eta2, z)
    unpaired = _unpaired_values(laws, variable, lam[k:], grid, other, eta2)
    curves: dict[str, np.ndarray] = {}
    for j in range(k):
        curves[f"kl_{j + 1}"] = modes["kl"][j]
    curves["kl_total"] = modes["kl"].sum(axis=0)
    curves["d_kl_total"] = modes["d1_kl"].sum(axis=0)
    curves["d2_kl_total"] = modes["d2_kl"].sum(axis=0)
    curves["order_parameter_total"] = modes["order_parameter"].sum(axis=0)
    curves["neg_elbo"] = modes["neg_elbo"].sum(axis=0) + unpaired["neg_elbo"].sum(axis=0)
    curves["d_neg_elbo"] = modes["d1_neg_elbo"].sum(axis=0) + unpaired["d1_neg_elbo"].sum(axis=0)
    curves["d2_neg_elbo"] = modes["d2_neg_elbo"].sum(axis=0) + unpaired["d2_neg_elbo"].sum(axis=0)
    for j in range(k):
        curves[f"encoder_variance_{j + 1}"] = modes["encoder_variance"][j]
    for j in range(k):
        curves[f"decoder_norm_{j + 1}"] = modes["decoder_norm"][j]
    curves["n_active"] = modes["active"].sum(axis=0).astype(float)
    return curves


@dataclass(frozen=True)
class PhaseDiagram:
    """Number of active latents on a (sigma2, beta) grid, with exact boundaries.

    ``boundary_eigenvalues`` are the effective eigenvalues lambda_eff of the modes:
    the boundary of mode r is beta sigma'^2 = lambda_eff (lambda_eff = lambda for the
    learnable model, eta^2 lambda / zeta^2 for a fixed variance zeta^2).
    """

    sigma2: np.ndarray
    beta: np.ndarray
    n_active: np.ndarray  # shape (len(beta), len(sigma2))
    boundary_eigenvalues: np.ndarray  # beta sigma'^2 at each phase boundary (effective)
    boundary_beta: np.ndarray  # (boundaries, len(sigma2)): the derived critical beta


def phase_diagram(
    eigenvalues,
    latent_dim: int | None = None,
    encoder_variance="learnable",
    eta2: float = 1.0,
    sigma2_range: tuple[float, float] | None = None,
    beta_range: tuple[float, float] = (0.1, 10.0),
    points: int = 300,
    zeta2=None,
) -> PhaseDiagram:
    """Active-latent count over a log grid in the (sigma'^2, beta) plane."""
    lam = check_spectrum(eigenvalues)
    model = resolve_model(encoder_variance, zeta2, eta2, latent_dim, lam.size)
    laws = compiled_laws(model.spec)
    z = model.zeta2_by_direction(laws.variance_order)
    k = model.latent_dim
    # beta sigma'^2 at the boundary of each mode: the critical sigma'^2 at beta = 1.
    effective = laws.critical_value("sigma2", lam[:k], 1.0, 1.0, model.eta2, z)
    positive = effective[lam[:k] > 0]
    if sigma2_range is None:
        sigma2_range = (
            (0.5 * positive.min(), 2.0 * positive.max()) if positive.size else (0.1, 10.0)
        )
    s = np.geomspace(*sigma2_range, points)
    b = np.geomspace(*beta_range, points)
    zz = None if z is None else z[:, None, None]
    active = laws.is_active(lam[:k, None, None], s[None, None, :], b[None, :, None], model.eta2, zz)
    # Each mode's boundary: the theory's critical beta at every sigma'^2 of the grid.
    modes = np.flatnonzero(lam[:k] > 0)
    boundary = laws.critical_value(
        "beta", lam[modes, None], s[None, :], 1.0, model.eta2, None if z is None else z[modes, None]
    )
    order = np.argsort(-effective[modes], kind="stable")
    return PhaseDiagram(s, b, active.sum(axis=0), effective[modes][order], boundary[order])


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
