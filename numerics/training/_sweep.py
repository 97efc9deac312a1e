"""The result of a training sweep, shared by the linear and the MLP trainers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: A latent is active when its data-averaged KL exceeds this (README, "Training confirmation").
ACTIVE_KL = 1e-3


@dataclass(frozen=True)
class SweepResult:
    """Trained VAEs over a sweep of decoder variances (and seeds).

    Attributes
    ----------
    sigma2 : ndarray, shape (S,)
        Sweep points, ascending.
    seeds : tuple of int
        One training run per seed at every sweep point.
    kl : ndarray, shape (S, R, k)
        KL(q(z|x) || p(z)) of each latent averaged over the data, sorted in
        descending order within each run (latents are exchangeable).
    encoder_variance : ndarray, shape (S, R, k)
        Encoder variance of each latent averaged over the data, same order as ``kl``.
    neg_elbo : ndarray, shape (S, R)
        The objective F per data point at the end of training, evaluated on all data.
    model : str
        ``linear`` or ``mlp``.
    options : dict
        Everything that defines the run (steps, lr, batch size, beta, ...).
    """

    sigma2: np.ndarray
    seeds: tuple[int, ...]
    kl: np.ndarray
    encoder_variance: np.ndarray
    neg_elbo: np.ndarray
    model: str
    options: dict[str, Any] = field(default_factory=dict)
    seconds: float = float("nan")

    @classmethod
    def from_runs(
        cls,
        sigma2: np.ndarray,
        seeds: tuple[int, ...],
        kl: np.ndarray,
        encoder_variance: np.ndarray,
        neg_elbo: np.ndarray,
        model: str,
        options: dict[str, Any],
        seconds: float,
    ) -> SweepResult:
        """From per-run arrays with the run axis first (run p = s * R + r).

        ``kl`` and ``encoder_variance`` are (S * R, k), ``neg_elbo`` (S * R,).  The
        latents of each run are put in descending order of KL: they are exchangeable,
        so rank j is the j-th most informative latent, the one the theory's j-th mode
        describes.
        """
        S, R = len(sigma2), len(seeds)
        kl = np.asarray(kl).reshape(S, R, -1)
        variance = np.asarray(encoder_variance).reshape(S, R, -1)
        order = np.argsort(-kl, axis=-1, kind="stable")
        return cls(
            sigma2=np.asarray(sigma2),
            seeds=tuple(seeds),
            kl=np.take_along_axis(kl, order, axis=-1),
            encoder_variance=np.take_along_axis(variance, order, axis=-1),
            neg_elbo=np.asarray(neg_elbo).reshape(S, R),
            model=model,
            options=options,
            seconds=seconds,
        )

    def active(self, threshold: float = ACTIVE_KL) -> np.ndarray:
        """Boolean (S, R, k): latent active at each point and seed."""
        return self.kl > threshold

    def n_active(self, threshold: float = ACTIVE_KL) -> np.ndarray:
        """(S, R) number of active latents."""
        return self.active(threshold).sum(axis=-1)
