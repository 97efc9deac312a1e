"""Critical points measured from trained sweeps, next to the predicted ones.

Estimator (stated in every output).  Latents are ranked by their trained KL
(rank 1 = most informative); rank j is predicted to collapse at
sigma'^2_c = lambda_j / beta.  For each rank, with the KL averaged over seeds:

1. *Bracket*: the last sweep point where the KL of rank j exceeds the activity
   threshold (1e-3 nats, README "Training confirmation") and the next sweep point: where the
   trained models were seen to collapse.  Near sigma'^2_c the objective is flat in
   the collapsing direction and training relaxes slowly (critical slowing down), so
   a latent lingers just above the threshold a little past its transition and the
   bracket is biased towards larger sigma'^2.
2. *Estimate*: extrapolation from points away from the transition, where training
   has converged.  The learnable-variance theory gives
   KL = (1/2) log(lambda / (beta sigma'^2)) on the active side (``Derivation.optimum``):
   a straight line in log sigma'^2 with a root at sigma'^2_c.  A least-squares line
   of KL against log sigma'^2 through the last ``fit_points`` points with
   KL >= ``fit_floor`` (10x the activity threshold) is extrapolated to KL = 0.  Only
   the shape of the law is used, not its amplitude or its root; the estimate is exact
   for that law and, for any law with critical exponent 1 (the fixed-variance
   variant, the MLP), biased only by the curvature over the fitted range.
3. *Uncertainty*: the standard error of the root from the fit's residuals (delta
   method), or with several seeds the spread of the per-seed estimates over
   sqrt(R).  With fewer than two points above ``fit_floor`` the bracket midpoint is
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
    f"least-squares line of KL against log sigma'^2 through the last {FIT_POINTS} sweep "
    f"points of each latent rank with KL >= {FIT_FLOOR:g}, extrapolated to KL = 0 "
    "(exact for KL = 1/2 log(lambda / beta sigma'^2)); bracket: the last sweep point "
    f"with KL > {ACTIVE_KL:g} and the next one"
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


def _estimate(sig: np.ndarray, kl: np.ndarray, threshold: float, fit_floor: float, fit_points: int):
    """(estimate, stderr, bracket, method) for one KL curve.

    Unresolved (estimate, stderr and bracket None; ``method`` says why): the latent is
    ``never active``, or its transition lies ``beyond the sweep`` (the fitted root is
    past the last point, or without a fit the latent is still active there).  The
    bracket is None when the latent is still active at the last point (a lingering
    latent whose fitted root lies inside the sweep).
    """
    active = kl > threshold
    if not active.any():
        return None, None, None, "never active"
    last = int(np.flatnonzero(active)[-1])
    bracket = None if last == sig.size - 1 else (float(sig[last]), float(sig[last + 1]))
    idx = np.flatnonzero(kl >= fit_floor)[-fit_points:]
    fit = _root(np.log(sig[idx]), kl[idx])
    if fit is not None:
        if fit[0] > sig[-1]:  # extrapolated beyond the sweep: not measured by it
            return None, None, None, "beyond the sweep"
        return fit[0], fit[1], bracket, "log-extrapolation"
    if bracket is None:
        return None, None, None, "beyond the sweep"
    mid = 0.5 * (bracket[0] + bracket[1])
    return mid, 0.5 * (bracket[1] - bracket[0]), bracket, "bracket midpoint"


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
        if j >= result.kl.shape[-1]:
            break
        mean_kl = result.kl[:, :, j].mean(axis=1)
        estimate, stderr, bracket, method = _estimate(
            sig, mean_kl, threshold, fit_floor, fit_points
        )
        if estimate is not None and result.kl.shape[1] > 1:  # the spread over seeds
            per_seed = [
                _estimate(sig, result.kl[:, r, j], threshold, fit_floor, fit_points)[0]
                for r in range(result.kl.shape[1])
            ]
            values = [v for v in per_seed if v is not None]
            if len(values) > 1:
                stderr = float(np.std(values, ddof=1) / math.sqrt(len(values)))
        out.append(MeasuredTransition(j + 1, float(pred), estimate, bracket, stderr, method))
    return out
