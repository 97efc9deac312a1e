"""Critical points measured from trained sweeps, next to the predicted ones.

Estimator (stated in every output).  Latents are ranked by their trained KL
(rank 1 = most informative); rank j is predicted to collapse at
sigma'^2_c = lambda_j / beta.  For each rank:

1. *Bracket*: the last sweep point where the seed-averaged KL of rank j exceeds
   the activity threshold (1e-3 nats) and the next sweep point.  The true
   transition of the trained models lies in this bracket (up to training noise).
2. *Estimate*: the theory gives KL ~ A (sigma'^2_c - sigma'^2) just below a
   transition (critical exponent 1, ``Derivation.exponents``), so a straight line
   through the last ``fit_points`` active points is extrapolated to KL = 0.  This
   uses points away from the transition, where critical slowing down does not
   bias training.  If the line does not fall within the bracket (widened by one
   grid step), the bracket midpoint is used instead.
3. *Uncertainty*: the standard error of the root from the fit (delta method)
   or, with several seeds, the spread of the per-seed estimates over sqrt(R);
   the bracket half-width when the midpoint is used.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from numerics.sweep import ACTIVE_KL, SweepResult

ESTIMATOR = (
    "linear extrapolation to KL = 0 of the last active points of each latent rank "
    "(critical exponent 1), checked against the bracket of the last active and first "
    "collapsed sweep points"
)


@dataclass(frozen=True)
class MeasuredTransition:
    """Where latent rank ``rank`` collapsed in the trained sweep."""

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


def _root(x: np.ndarray, y: np.ndarray) -> tuple[float, float] | None:
    """Root of the least-squares line through (x, y) and its standard error."""
    if x.size < 2:
        return None
    slope, intercept = np.polyfit(x, y, 1)
    if slope >= 0:
        return None
    root = -intercept / slope
    if x.size == 2:
        return float(root), float("nan")
    resid = y - (slope * x + intercept)
    s2 = float(resid @ resid) / (x.size - 2)
    sxx = float(((x - x.mean()) ** 2).sum())
    # Delta method: var(root) = var(y at root) / slope^2 for the fitted line.
    var_y = s2 * (1 / x.size + (root - x.mean()) ** 2 / sxx)
    return float(root), math.sqrt(var_y) / abs(slope)


def _estimate(sig: np.ndarray, kl: np.ndarray, threshold: float, fit_points: int):
    """(estimate, stderr, bracket, method) for one KL curve; None where unresolved."""
    active = kl > threshold
    if not active.any():
        return None
    last = int(np.flatnonzero(active)[-1])
    if last == sig.size - 1:
        return None  # still active at the end of the sweep: not resolved
    bracket = (float(sig[last]), float(sig[last + 1]))
    idx = np.flatnonzero(active[: last + 1])[-fit_points:]
    fit = _root(sig[idx], kl[idx])
    step_lo = float(sig[last] - sig[max(last - 1, 0)])
    if fit is not None and bracket[0] - step_lo <= fit[0] <= bracket[1]:
        return fit[0], fit[1], bracket, "extrapolation"
    mid = 0.5 * (bracket[0] + bracket[1])
    return mid, 0.5 * (bracket[1] - bracket[0]), bracket, "bracket midpoint"


def measure_transitions(
    result: SweepResult,
    predicted: np.ndarray,
    threshold: float = ACTIVE_KL,
    fit_points: int = 3,
) -> list[MeasuredTransition]:
    """Measured critical sigma'^2 of each latent rank, in the order of ``predicted``.

    Parameters
    ----------
    result : SweepResult
        The trained sweep (``kl`` sorted descending per run).
    predicted : array_like
        Predicted critical sigma'^2 of ranks 1..k (descending).
    """
    sig = np.asarray(result.sigma2, dtype=float)
    predicted = np.asarray(predicted, dtype=float)
    out = []
    for j, pred in enumerate(predicted):
        if j >= result.kl.shape[-1]:
            break
        mean_kl = result.kl[:, :, j].mean(axis=1)
        found = _estimate(sig, mean_kl, threshold, fit_points)
        if found is None:
            out.append(MeasuredTransition(j + 1, float(pred), None, None, None, "unresolved"))
            continue
        estimate, stderr, bracket, method = found
        if result.kl.shape[1] > 1:  # several seeds: the spread of per-seed estimates
            per_seed = [
                _estimate(sig, result.kl[:, r, j], threshold, fit_points)
                for r in range(result.kl.shape[1])
            ]
            values = [p[0] for p in per_seed if p is not None]
            if len(values) > 1:
                stderr = float(np.std(values, ddof=1) / math.sqrt(len(values)))
        out.append(MeasuredTransition(j + 1, float(pred), estimate, bracket, stderr, method))
    return out
