"""Thresholds of finite samples against N: population, BBP prediction and Monte Carlo.

For the spiked model (``synthetic:spiked``: population noise I + sum_i l_i u_i u_i^T) the
critical sigma'^2 computed from N rows is a random variable.  Its high-dimensional limit
at gamma = d / N is the theory's critical law at the Baik-Ben Arous-Peche sample
eigenvalue (:func:`numerics.core.bbp_thresholds`); this module draws data sets at each N
of a grid and measures the same thresholds from their covariance spectra, the Monte
Carlo route the prediction is compared with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from numerics.core._bridge import compiled_laws
from numerics.core._finite import bbp_thresholds
from numerics.core._validation import (
    InputError,
    check_encoder_variance,
    check_int,
    check_memory,
    check_positive,
    check_seeds,
)
from numerics.data._datasets import synthetic
from numerics.spectra._covariance import covariance_spectrum


@dataclass(frozen=True)
class SampledThresholds:
    """Critical sigma'^2 of the top modes against the number of rows N.

    Attributes
    ----------
    n_samples : ndarray, shape (M,)
        The grid of N.
    population : ndarray, shape (k,)
        Critical sigma'^2 of the population spectrum (N -> infinity at fixed d).
    predicted : ndarray, shape (M, k)
        The BBP prediction at gamma = d / N.
    sampled : ndarray, shape (M, S, k)
        Measured from S data sets (seeds) at each N.
    """

    n_samples: np.ndarray
    population: np.ndarray
    predicted: np.ndarray
    sampled: np.ndarray
    d: int
    seeds: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (``finite_sample.json``)."""
        return {
            "d": self.d,
            "seeds": list(self.seeds),
            "n_samples": self.n_samples.tolist(),
            "population_critical_sigma2": self.population.tolist(),
            "bbp_critical_sigma2": self.predicted.tolist(),
            "sampled_critical_sigma2_mean": self.sampled.mean(axis=1).tolist(),
            "sampled_critical_sigma2_std": self.sampled.std(axis=1, ddof=1).tolist()
            if self.sampled.shape[1] > 1
            else None,
        }


def spiked_thresholds_against_n(
    params: dict[str, Any],
    n_samples,
    seeds=(0, 1, 2, 3),
    *,
    beta: float = 1.0,
    latent_dim: int | None = None,
    encoder_variance: str = "learnable",
    eta2: float = 1.0,
    zeta2: float | None = None,
) -> SampledThresholds:
    """Population, BBP-predicted and sampled thresholds of ``synthetic:spiked`` data.

    Parameters
    ----------
    params : dict
        The generator's parameters (``d``, ``spikes``, ``noise``; ``n`` and ``seed`` are
        replaced by the grid and the seeds).
    n_samples : sequence of int
        Numbers of rows, each >= 2.
    seeds : sequence of int
        One data set per seed at each N.
    latent_dim : int, optional
        Modes followed; default one per spike and the first of the bulk (whose sample
        eigenvalue goes to the bulk edge noise (1 + sqrt(gamma))^2).

    Examples
    --------
    >>> r = spiked_thresholds_against_n({"d": 20, "spikes": [9.0]}, [200, 2000], seeds=(0, 1))
    >>> r.population.round(3).tolist()  # the spike 9 + 1 over unit noise, and the bulk
    [10.0, 1.0]
    >>> bool(abs(r.sampled[-1, :, 0].mean() - r.predicted[-1, 0]) < 0.5)  # N = 2000
    True
    """
    grid = np.array([check_int("n_samples", n, 2) for n in n_samples])
    seeds = check_seeds(seeds)
    d = check_int("d", params.get("d", 32), 1)
    noise = check_positive("noise", params.get("noise", 1.0))
    spikes = np.atleast_1d(np.asarray(params.get("spikes", (10.0, 5.0, 2.0)), dtype=float))
    if spikes.size > d:
        raise InputError(f"{spikes.size} spikes: expected at most d = {d}")
    k = min(latent_dim or spikes.size + 1, d)
    check_memory(f"N up to {grid.max()} rows", 8.0 * 3 * grid.max() * d)
    model = dict(beta=beta, latent_dim=k, encoder_variance=encoder_variance, eta2=eta2)
    laws = compiled_laws(check_encoder_variance(encoder_variance))
    # The fixed variant's zeta^2 defaults to eta^2 (the encoder variance fixed at the prior's).
    zeta2 = eta2 if zeta2 is None else zeta2

    def critical(lam: np.ndarray) -> np.ndarray:
        return laws.critical_value("sigma2", lam, 1.0, beta, eta2, zeta2)

    population = np.full(d, noise)
    population[: spikes.size] += np.sort(spikes)[::-1]
    predicted = [bbp_thresholds(population, noise, int(n), zeta2=zeta2, **model) for n in grid]
    sampled = np.empty((grid.size, len(seeds), k))
    for i, n in enumerate(grid):
        for j, seed in enumerate(seeds):
            X = synthetic("spiked", d=d, spikes=spikes, noise=noise, n=int(n), seed=seed).X
            sampled[i, j] = critical(covariance_spectrum(X, top=k).eigenvalues)
    return SampledThresholds(
        n_samples=grid,
        population=critical(population[:k]),
        predicted=np.array([p.critical_sigma2 for p in predicted]),
        sampled=sampled,
        d=d,
        seeds=seeds,
    )
