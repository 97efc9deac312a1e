"""Train the conditional and the hierarchical VAE across a sweep and measure the transitions.

The predictions come from the theory for the data actually trained on: the conditional
VAE's from the eigenvalues of the residual covariance of y given x of exactly those rows
(:mod:`numerics.spectra._condition`), the hierarchical VAE's from the spectrum of their
covariance through :func:`numerics.core._hierarchical.hierarchical_thresholds`.
Transitions are measured on the principal informations, as for the VAE
(:mod:`numerics.training._transitions`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from numerics.core._hierarchical import HierarchicalThresholds, hierarchical_thresholds
from numerics.core._validation import InputError
from numerics.training._measure import TrainingReport, default_sweep, measured_report
from numerics.training._sweep import ACTIVE_KL
from numerics.training._transitions import ESTIMATOR, MeasuredTransition, measure_transitions


def train_and_measure_conditional(
    X: np.ndarray, condition: np.ndarray, residual_eigenvalues: np.ndarray, *,
    sigma2: np.ndarray | None = None, points: int = 24, beta: float = 1.0,
    latent_dim: int = 4, data: dict[str, Any] | None = None, **training: Any,
) -> TrainingReport:  # fmt: skip
    """The conditional VAE trained across the predicted thresholds (the VAE's laws at the
    residual eigenvalues) and measured; a :class:`TrainingReport` like the VAE's."""
    from numerics.core._optimum import thresholds
    from numerics.training._cvae import train_conditional_sweep

    lam = np.asarray(residual_eigenvalues, dtype=float)
    k = min(latent_dim, lam.size)
    predicted = np.array(thresholds(lam, beta, k).critical_sigma2)
    grid = default_sweep(predicted, points) if sigma2 is None else np.sort(np.asarray(sigma2))
    options = {key: v for key, v in training.items() if v is not None}
    sweep = train_conditional_sweep(X, condition, grid, beta=beta, latent_dim=k, **options)
    return measured_report(sweep, lam, beta, data or {}, "learnable")


@dataclass(frozen=True)
class HierarchicalReport:
    """A trained hierarchical sweep with the predicted and measured collapses of each level.

    ``top`` and ``first`` list, per rank of the level's principal informations, where that
    level collapses for good as sigma'^2 grows; the first level only for the ranks the
    theory predicts to collapse (the others stay active at every sigma'^2).
    """

    sweep: Any  # numerics.training._hvae.HierarchicalSweep
    eigenvalues: np.ndarray
    theory: HierarchicalThresholds
    top: list[MeasuredTransition]
    first: list[MeasuredTransition]
    beta: float
    data: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        s = self.sweep
        points = [
            {"sigma2": float(x),
             "information_first": s.first.information[i].mean(axis=0).tolist(),
             "information_top": s.top.information[i].mean(axis=0).tolist(),
             "neg_elbo": float(s.top.neg_elbo[i].mean())}
            for i, x in enumerate(s.top.sigma2)
        ]  # fmt: skip
        return {
            "model": "hierarchical",
            "beta": self.beta,
            "theory": self.theory.to_dict(),
            "seeds": list(s.top.seeds),
            "options": s.top.options,
            "seconds": s.top.seconds,
            "data": self.data,
            "eigenvalues": self.eigenvalues.tolist(),
            "measured_top": [m.to_dict() for m in self.top],
            "measured_first": [m.to_dict() for m in self.first],
            "estimator": ESTIMATOR,
            "active_threshold": ACTIVE_KL,
            "points": points,
        }


def _descending(values) -> np.ndarray:
    return np.sort(np.asarray([v for v in values if v], dtype=float))[::-1]


def hierarchical_sweep_grid(theory: HierarchicalThresholds, points: int) -> np.ndarray:
    """Log-spaced sigma'^2 across every predicted collapse of both levels."""
    values = np.concatenate([_descending(theory.top_collapse), _descending(theory.first_collapse)])
    if values.size == 0:
        raise InputError("no level collapses at any sigma2 for these data and options: there "
                         "is no transition to train across")  # fmt: skip
    return default_sweep(values, points)


def train_and_measure_hierarchical(
    X: np.ndarray, eigenvalues: np.ndarray, *, sigma2: np.ndarray | None = None,
    points: int = 24, beta: float = 1.0, latent_dim: int = 4,
    data: dict[str, Any] | None = None, model: dict[str, Any] | None = None, **training: Any,
) -> HierarchicalReport:  # fmt: skip
    """The hierarchical VAE trained across its predicted collapses and measured.

    ``model``: :func:`numerics.core._hierarchical.resolve_hierarchical` options
    (``encoder_variance``, ``zeta2``, ``top_encoder_variance``, ``top_zeta2``, ``beta2``).
    """
    from numerics.training._hvae import train_hierarchical_sweep

    lam = np.asarray(eigenvalues, dtype=float)
    k = min(latent_dim, lam.size)
    opts = dict(model or {})
    theory = hierarchical_thresholds(lam, beta, **{**opts, "latent_dim": k})
    m = theory.model
    grid = hierarchical_sweep_grid(theory, points) if sigma2 is None else np.sort(sigma2)
    options = {key: v for key, v in training.items() if v is not None}
    sweep = train_hierarchical_sweep(
        X, grid, beta=beta, beta2=m.beta2, latent_dim=k, eta2=m.eta2, zeta2_1=m.zeta2_1,
        zeta2_2=m.zeta2_2, **options,
    )  # fmt: skip
    top = measure_transitions(sweep.top, _descending(theory.top_collapse))
    collapsing = _descending(theory.first_collapse)
    first = _last_ranks(sweep.first, collapsing, k)
    return HierarchicalReport(sweep, lam, theory, top, first, beta, data or {})


def _last_ranks(result, predicted: np.ndarray, k: int) -> list[MeasuredTransition]:
    """Transitions of the weakest ``len(predicted)`` ranks (the ones that collapse)."""
    if predicted.size == 0:
        return []
    n = predicted.size
    info = result.information[:, :, k - n :]
    tail = type(result)(**{**asdict_shallow(result), "information": info,
                           "kl": result.kl[:, :, k - n :]})  # fmt: skip
    found = measure_transitions(tail, predicted)
    return [MeasuredTransition(m.rank + k - n, m.predicted, m.estimate, m.bracket, m.stderr,
                               m.method, m.lingering) for m in found]  # fmt: skip


def asdict_shallow(obj) -> dict[str, Any]:
    """The fields of a dataclass instance, not copied (``dataclasses.asdict`` deep-copies)."""
    return {f: getattr(obj, f) for f in obj.__dataclass_fields__}
