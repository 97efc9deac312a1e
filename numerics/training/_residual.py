"""Residual-spectrum predictions for a trained sweep (linear or MLP).

At every sweep point the trained models' active directions (principal informations
above the activity threshold, :mod:`numerics.training._sweep`) define a state A; the
residual spectrum's top eigenvalue L(A) (:mod:`numerics.spectra._residual`) is the
eigenvalue at which a collapsed latent would come back, so the theory's critical law
evaluated at lambda = L(A) predicts the step next to that state: where rank |A| + 1
switches off as sigma'^2 grows (and back on as it falls).  For rank j the prediction is
taken at the sweep point nearest above the measured step whose active count is j - 1 and
where rank j is clearly collapsed - the state just past the step, closest to the
critical one (:func:`_state_point`).  In the linear model L(A) is
the next eigenvalue of the data, so the prediction equals the linear one (tested); for
an MLP it says where the nonlinear model's own residual puts the step.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from numerics.core._bridge import compiled_laws
from numerics.spectra._residual import MIN_ROWS, ResidualSpectrum, residual_spectrum
from numerics.training._sweep import ACTIVE_KL, SweepResult, active_codes

#: One line on the estimator, stated in every output.
ESTIMATOR = (
    "top eigenvalue L of the covariance of x - x_hat (decoder mean at the posterior mean) "
    "outside the active latents' linear response, on all rows, at the sweep point just "
    "past each step where that rank is clearly collapsed; the theory's critical law at "
    "lambda = L; uncertainty: bootstrap over rows (30 replicates)"
)


@dataclass(frozen=True)
class ResidualPrediction:
    """Where the residual spectrum puts rank ``rank``'s step (None: not applicable)."""

    rank: int
    critical_sigma2: float | None
    stderr: float | None  # of critical_sigma2, from L's bootstrap standard error
    sigma2: float | None  # the sweep point whose state was used
    residual: ResidualSpectrum | None
    why: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        out = asdict(self)
        out["residual"] = None if self.residual is None else self.residual.to_dict()
        return out


def _state_point(sweep: SweepResult, rank: int, step: float | None) -> int | None:
    """Index of the sweep point to read rank ``rank``'s prediction from (module doc).

    Among the points with rank - 1 active directions, those where rank ``rank`` is
    clearly collapsed (information below a tenth of the activity threshold) are
    preferred: a direction that still lingers near the threshold is partly used by the
    decoder and hides part of its residual.  Of those, the one nearest above the step.
    """
    counts = sweep.n_active(ACTIVE_KL)[:, 0]
    band = np.flatnonzero(counts == rank - 1)
    if band.size == 0:
        return None
    info = sweep.measure[band, 0, rank - 1] if rank <= sweep.measure.shape[-1] else None
    if info is not None and (info <= 0.1 * ACTIVE_KL).any():
        band = band[info <= 0.1 * ACTIVE_KL]
    elif info is not None:
        band = band[[int(np.argmin(info))]]
    if step is not None:
        after = band[sweep.sigma2[band] >= step]
        if after.size:
            return int(after[0])
    return int(band[0])


def residual_predictions(
    sweep: SweepResult,
    X: np.ndarray,
    measured_steps: list[float | None],
    beta: float,
    variant: str = "learnable",
    eta2: float = 1.0,
) -> list[ResidualPrediction]:
    """One residual-spectrum prediction per rank (module docstring).

    ``measured_steps[j]`` is rank j + 1's measured critical sigma'^2 (None when the
    sweep does not resolve it: the state nearest the band's low end is used then).
    Only seed 0's models are used (the seeds share the data).
    """
    if sweep.state is None:
        raise ValueError("the sweep kept no trained models: no residual spectrum")
    if X.shape[0] < MIN_ROWS:  # too few rows to estimate: null, as where it does not apply
        why = f"{X.shape[0]} rows: the residual spectrum needs at least {MIN_ROWS}"
        return [
            ResidualPrediction(j + 1, None, None, None, None, why)
            for j in range(len(measured_steps))
        ]
    laws = compiled_laws(variant)
    R = len(sweep.seeds)
    out = []
    for j, step in enumerate(measured_steps):
        i = _state_point(sweep, j + 1, step)
        if i is None:
            out.append(ResidualPrediction(j + 1, None, None, None, None, "no sweep point"))
            continue
        mu, logvar, recon = sweep.state.posterior(i * R, X)
        res = residual_spectrum(X, recon, active_codes(mu, logvar), seed=i)
        # The theory's critical law at lambda = L(A) (beta sigma'^2 = L for learnable).
        crit = float(laws.critical_value("sigma2", res.top_eigenvalue, 1.0, beta, eta2, eta2))
        se = crit * res.stderr / res.top_eigenvalue if res.top_eigenvalue > 0 else None
        out.append(ResidualPrediction(j + 1, crit, se, float(sweep.sigma2[i]), res))
    return out
