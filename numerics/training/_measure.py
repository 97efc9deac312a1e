"""Train a sweep, measure its transitions, and set them next to the prediction.

The prediction is computed from the spectrum of the data actually trained on
(centred 1/N covariance of exactly those rows), never from a population value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from numerics.core._maps import MapResult, collapse_map
from numerics.core._optimum import thresholds
from numerics.core._validation import InputError
from numerics.spectra._covariance import covariance_spectrum
from numerics.training._residual import ESTIMATOR as RESIDUAL_ESTIMATOR
from numerics.training._residual import ResidualPrediction, residual_predictions
from numerics.training._sweep import ACTIVE_KL, SweepResult
from numerics.training._transitions import ESTIMATOR, MeasuredTransition, measure_transitions

MODELS = ("linear", "mlp")


def theory_variant(encoder_variance: str | None) -> str:
    """The theory model whose laws predict a trainer variant.

    A data-dependent encoder variance has the learnable variant's optimum (its
    log-variance is constant in x at the optimum, module docstring of
    :mod:`numerics.training._linear`), hence its thresholds; the MLP's learnable
    variances too.
    """
    return "fixed" if encoder_variance == "fixed" else "learnable"


@dataclass(frozen=True)
class TrainingReport:
    """A trained sweep with predicted and measured critical points.

    ``theory`` holds the linear theory's curves over the sweep's range (the optimum's
    KL per latent and the number of active latents), drawn under the trained points;
    ``residual`` the residual-spectrum prediction of each rank's step
    (:mod:`numerics.training._residual`), when the trained models and data were kept.
    """

    sweep: SweepResult
    eigenvalues: np.ndarray
    predicted: np.ndarray  # critical sigma'^2 of the k latent ranks, descending
    measured: list[MeasuredTransition]
    beta: float
    data: dict[str, Any]
    theory: MapResult | None = None
    residual: list[ResidualPrediction] | None = None

    def _residual_steps(self) -> list[float | None]:
        """The residual-spectrum prediction per rank, in the order of ``predicted``."""
        by_rank = {r.rank: r.critical_sigma2 for r in self.residual or []}
        return [by_rank.get(m.rank) for m in self.measured]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (README, "Command line": the keys of ``train --json``)."""
        s = self.sweep
        mean_kl = s.kl.mean(axis=1)
        measure = s.measure.mean(axis=1)  # what activity is decided on
        points = []
        for i, sig in enumerate(s.sigma2):
            points.append(
                {
                    "sigma2": float(sig),
                    "kl": mean_kl[i].tolist(),
                    "information": measure[i].tolist(),
                    "active": (measure[i] > ACTIVE_KL).tolist(),
                    "n_active": int((measure[i] > ACTIVE_KL).sum()),
                    "encoder_variance": s.encoder_variance[i].mean(axis=0).tolist(),
                    "neg_elbo": float(s.neg_elbo[i].mean()),
                    **(
                        {
                            "kl_per_seed": s.kl[i].tolist(),
                            "neg_elbo_per_seed": s.neg_elbo[i].tolist(),
                        }
                        if len(s.seeds) > 1
                        else {}
                    ),
                }
            )
        return {
            "model": s.model,
            "beta": self.beta,
            "seeds": list(s.seeds),
            "options": s.options,
            "seconds": s.seconds,
            "data": self.data,
            "eigenvalues": self.eigenvalues.tolist(),
            "predicted_critical_sigma2": self.predicted.tolist(),
            "measured_critical_sigma2": [m.estimate for m in self.measured],
            "residual_critical_sigma2": self._residual_steps(),
            "residual": [r.to_dict() for r in self.residual or []],
            "residual_estimator": RESIDUAL_ESTIMATOR,
            "measured": [m.to_dict() for m in self.measured],
            "estimator": ESTIMATOR,
            "active_threshold": ACTIVE_KL,
            "active_measure": "principal information of the posterior means (nats)",
            "points": points,
        }


def default_sweep(predicted: np.ndarray, points: int) -> np.ndarray:
    """Log-spaced sigma'^2 from 0.85 x the smallest to 1.1 x the largest prediction."""
    positive = predicted[predicted > 0]
    if positive.size == 0:
        raise InputError("every eigenvalue is 0: there is no transition to train across")
    return np.geomspace(0.85 * positive.min(), 1.1 * positive.max(), points)


def train_and_measure(
    X: np.ndarray,
    *,
    model: str = "linear",
    sigma2: np.ndarray | None = None,
    points: int = 24,
    beta: float = 1.0,
    latent_dim: int = 4,
    data: dict[str, Any] | None = None,
    eigenvalues: np.ndarray | None = None,
    **train_options: Any,
) -> TrainingReport:
    """Train ``model`` over a sweep of sigma'^2 and measure every transition.

    ``eigenvalues``: the spectrum of the centred 1/N covariance of exactly ``X``,
    descending, when the caller already has it (``Source.eigenvalues`` of the same
    data); otherwise it is computed here.  ``train_options`` go to
    :func:`numerics.training._linear.train_linear_sweep` or
    :func:`numerics.training._mlp.train_mlp_sweep` (None values are left at their defaults).
    """
    if model not in MODELS:
        raise InputError(f"model={model!r}: expected one of {', '.join(MODELS)}")
    X = np.asarray(X, dtype=float)
    spectrum = (
        covariance_spectrum(X).eigenvalues
        if eigenvalues is None
        else np.asarray(eigenvalues, dtype=float)
    )
    variant = theory_variant(train_options.get("encoder_variance"))
    predicted = np.array(thresholds(spectrum, beta, latent_dim, variant).critical_sigma2)
    grid = default_sweep(predicted, points) if sigma2 is None else np.sort(np.asarray(sigma2))
    options = {k: v for k, v in train_options.items() if v is not None}
    if model == "linear":
        from numerics.training._linear import train_linear_sweep

        sweep = train_linear_sweep(X, grid, beta=beta, latent_dim=latent_dim, **options)
    else:
        from numerics.training._mlp import train_mlp_sweep

        options.pop("encoder_variance", None)
        sweep = train_mlp_sweep(X, grid, beta=beta, latent_dim=latent_dim, **options)
    return measured_report(sweep, spectrum, beta, data or {}, variant, X)


def measured_report(
    sweep: SweepResult,
    eigenvalues: np.ndarray,
    beta: float,
    data: dict[str, Any],
    variant: str = "learnable",
    X: np.ndarray | None = None,
) -> TrainingReport:
    """Predictions of the theory for a trained sweep, the measured transitions beside them.

    With the data ``X`` the sweep was trained on (and its trained models kept), each
    rank also gets its residual-spectrum prediction.
    """
    k = sweep.kl.shape[-1]
    predicted = np.array(thresholds(eigenvalues, beta, k, variant).critical_sigma2)
    theory = collapse_map(
        eigenvalues, beta=beta, latent_dim=k, encoder_variance=variant,
        lo=float(sweep.sigma2[0]), hi=float(sweep.sigma2[-1]), points=400,
    )  # fmt: skip
    measured = measure_transitions(sweep, predicted)
    residual = None
    if X is not None and sweep.state is not None:
        steps = [m.estimate for m in measured]
        residual = residual_predictions(sweep, X, steps, beta, variant)
    return TrainingReport(sweep, eigenvalues, predicted, measured, beta, data, theory, residual)
