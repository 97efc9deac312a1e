"""Critical points measured from trained sweeps, next to the predicted ones.

Estimator (stated in every output).  What is measured per direction is the principal
information (:mod:`numerics.training._sweep`: rotation invariant, equal to the mode's KL
at the optimum of the linear VAE), ranked (rank 1 = most informative); rank j is
predicted to collapse at the theory's sigma'^2_c of the j-th eigenvalue.  For each rank,
with the information averaged over seeds:

1. *Estimate*: extrapolation from points away from the transition, where training
   has converged.  The learnable-variance theory gives
   KL = (1/2) log(lambda / (beta sigma'^2)) on the active side (``Derivation.optimum``):
   a straight line in log sigma'^2 with a root at sigma'^2_c.  A least-squares line
   through the last ``fit_points`` points with information >= ``fit_floor`` (10x the
   activity threshold) is extrapolated to zero.  Only the shape of the law is used,
   not its amplitude or its root; the estimate is exact for that law and, for any law
   with critical exponent 1 (the fixed-variance variant, the MLP), biased only by the
   curvature over the fitted range.
2. *Bracket*: the last sweep point at or below the estimate where the direction is
   active (information above 1e-3 nats, README "Training confirmation") and the first
   sweep point above the estimate: where the trained models were seen active, and the
   estimate inside.  Near sigma'^2_c the objective
   is flat in the collapsing direction, so training relaxes slowly (critical slowing
   down) and one-sample noise is damped least: a direction can stay just above the
   threshold past its transition.  Such points are reported as ``lingering`` (the
   largest one), not as the bracket.
3. *Uncertainty*: the standard error of the root from the fit's residuals (delta
   method), or with several seeds the spread of the per-seed estimates over sqrt(R),
   combined with the systematic error the fit window shows: how far the root moves when
   the line is fitted through the ``fit_points`` points before those used.  With one
   seed the residuals cannot see noise that all sweep points share
   (they train on common random numbers): run several seeds for an uncertainty that
   covers it.  With fewer than two points above ``fit_floor`` the bracket midpoint is
   the estimate and half the bracket width its uncertainty.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from numerics.core._validation import InputError
from numerics.training._sweep import ACTIVE_KL, SweepResult

#: KL (nats) above which a point is used in the fit: away from critical slowing down.
FIT_FLOOR = 10 * ACTIVE_KL
#: Points in the fit (the last ones above ``FIT_FLOOR``).
FIT_POINTS = 4

ESTIMATOR = (
    f"least-squares line of the principal information against log sigma'^2 through the "
    f"last {FIT_POINTS} sweep points of each rank with information >= {FIT_FLOOR:g}, "
    "extrapolated to 0 (exact for KL = 1/2 log(lambda / beta sigma'^2)); bracket: the last "
    f"sweep point at or below the estimate with information > {ACTIVE_KL:g} and the first "
    "point above the estimate"
)


@dataclass(frozen=True)
class MeasuredTransition:
    """Where latent rank ``rank`` collapsed in the trained sweep.

    ``method`` is how ``estimate`` was obtained: ``log-extrapolation`` or ``bracket
    midpoint``; or, with ``estimate`` None, why the sweep does not resolve the
    transition: ``never active`` (the rank's KL never exceeds the activity threshold)
    or ``beyond the sweep`` (still active at its end, or extrapolated past it).
    """

    rank: int
    predicted: float
    estimate: float | None
    bracket: tuple[float, float] | None
    stderr: float | None
    method: str
    lingering: float | None = None

    @property
    def relative_error(self) -> float | None:
        """(estimate - predicted) / predicted."""
        if self.estimate is None:
            return None
        return (self.estimate - self.predicted) / self.predicted

    def to_dict(self) -> dict:
        out = asdict(self)
        out["bracket"] = list(self.bracket) if self.bracket else None
        out["relative_error"] = self.relative_error
        return out


def _root(log_s: np.ndarray, kl: np.ndarray) -> tuple[float, float] | None:
    """Root of the least-squares line KL = a + b log sigma'^2, and its standard error.

    None when the line does not fall (b >= 0): no transition to extrapolate to.  The
    standard error is NaN with two points (no residual degrees of freedom).
    """
    if log_s.size < 2:
        return None
    slope, intercept = np.polyfit(log_s, kl, 1)
    if slope >= 0:
        return None
    log_root = -intercept / slope
    root = math.exp(log_root)
    if log_s.size == 2:
        return root, float("nan")
    resid = kl - (slope * log_s + intercept)
    s2 = float(resid @ resid) / (log_s.size - 2)
    sxx = float(((log_s - log_s.mean()) ** 2).sum())
    # Delta method: var(log root) = var(fitted KL at the root) / slope^2, and
    # d root = root d(log root).
    var_fit = s2 * (1 / log_s.size + (log_root - log_s.mean()) ** 2 / sxx)
    return root, root * math.sqrt(var_fit) / abs(slope)


def _bracket(sig: np.ndarray, active: np.ndarray, estimate: float) -> tuple[float, float] | None:
    """The last active sweep point at or below ``estimate`` and the first point above it.

    The trained models are seen active at the low end, and the estimate lies inside.
    Past its transition a direction can stay just above the activity threshold for a
    while (critical slowing down, and one-sample noise that the vanishing curvature
    does not damp); those lingering points lie beyond the extrapolated root and are
    reported as ``lingering``, not as the bracket.
    """
    below = np.flatnonzero(active & (sig <= estimate))
    above = np.flatnonzero(sig > estimate)
    if below.size == 0 or above.size == 0:
        return None
    return float(sig[below[-1]]), float(sig[above[0]])


def _window_shift(sig, kl, above, root: float, fit_points: int) -> float:
    """How far the root moves when the fit uses the ``fit_points`` points before its own.

    Training converges last next to the transition (critical slowing down), so a
    systematic error of the fitted points shows as a root that depends on where the
    window sits; this shift is added to the uncertainty (0 when there are too few points).
    """
    earlier = above[-2 * fit_points : -fit_points]
    if earlier.size < 2:
        return 0.0
    other = _root(np.log(sig[earlier]), kl[earlier])
    return 0.0 if other is None else abs(other[0] - root)


def _estimate(sig: np.ndarray, kl: np.ndarray, threshold: float, fit_floor: float, fit_points: int):
    """(estimate, stderr, bracket, method, lingering) for one curve of a direction.

    Unresolved (estimate, stderr and bracket None; ``method`` says why): the direction
    is ``never active``, or its transition lies ``beyond the sweep`` (the fitted root is
    past the last point, or without a fit the direction is still active there).
    ``lingering`` is the largest sweep point beyond the bracket where the direction is
    still above the threshold (None if there is none).
    """
    active = kl > threshold
    if not active.any():
        return None, None, None, "never active", None
    last = int(np.flatnonzero(active)[-1])
    above = np.flatnonzero(kl >= fit_floor)
    idx = above[-fit_points:]
    fit = _root(np.log(sig[idx]), kl[idx])
    if fit is not None:
        fit = (fit[0], math.hypot(fit[1], _window_shift(sig, kl, above, fit[0], fit_points)))
    if fit is not None and fit[0] > sig[-1]:  # extrapolated beyond the sweep
        return None, None, None, "beyond the sweep", None
    if fit is None:
        if last == sig.size - 1:
            return None, None, None, "beyond the sweep", None
        bracket = (float(sig[last]), float(sig[last + 1]))
        mid = 0.5 * (bracket[0] + bracket[1])
        return mid, 0.5 * (bracket[1] - bracket[0]), bracket, "bracket midpoint", None
    bracket = _bracket(sig, active, fit[0])
    lingering = float(sig[last]) if bracket is None or sig[last] > bracket[1] else None
    return fit[0], fit[1], bracket, "log-extrapolation", lingering


def measure_transitions(
    result: SweepResult,
    predicted: np.ndarray,
    threshold: float = ACTIVE_KL,
    fit_floor: float = FIT_FLOOR,
    fit_points: int = FIT_POINTS,
) -> list[MeasuredTransition]:
    """Measured critical sigma'^2 of each latent rank, in the order of ``predicted``.

    Parameters
    ----------
    result : SweepResult
        The trained sweep (``kl`` sorted descending per run).
    predicted : array_like
        Predicted critical sigma'^2 of ranks 1..k (descending).
    threshold : float
        Activity threshold of the bracket (KL in nats).
    fit_floor, fit_points : float, int
        The fit uses the last ``fit_points`` points with KL >= ``fit_floor``.

    Returns
    -------
    list of MeasuredTransition
        One per rank; ``estimate`` None where the sweep does not resolve the
        transition (the latent is still active at the end of the sweep, or never).
    """
    if fit_points < 2:
        raise InputError(f"fit_points={fit_points!r}: expected at least 2 points for a line")
    if not fit_floor >= threshold:
        raise InputError(
            f"fit_floor={fit_floor!r}: expected a KL at least the activity threshold {threshold!r}"
        )
    sig = np.asarray(result.sigma2, dtype=float)
    predicted = np.asarray(predicted, dtype=float)
    out = []
    for j, pred in enumerate(predicted):
        values = result.measure  # principal informations (numerics/training/_sweep.py)
        if j >= values.shape[-1]:
            break
        mean_kl = values[:, :, j].mean(axis=1)
        estimate, stderr, bracket, method, lingering = _estimate(
            sig, mean_kl, threshold, fit_floor, fit_points
        )
        if estimate is not None and values.shape[1] > 1:  # the spread over seeds
            per_seed = [
                _estimate(sig, values[:, r, j], threshold, fit_floor, fit_points)[0]
                for r in range(values.shape[1])
            ]
            values = [v for v in per_seed if v is not None]
            if len(values) > 1:
                spread = float(np.std(values, ddof=1) / math.sqrt(len(values)))
                shift = _window_shift(sig, mean_kl, np.flatnonzero(mean_kl >= fit_floor),
                                      estimate, fit_points)  # fmt: skip
                stderr = math.hypot(spread, shift)
        out.append(
            MeasuredTransition(j + 1, float(pred), estimate, bracket, stderr, method, lingering)
        )
    return out
