"""Thresholds a finite sample will show: the BBP prediction (:mod:`theory.random_matrix`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from numerics.core._bridge import compiled_laws, sample_spike_law
from numerics.core._validation import (
    check_encoder_variance,
    check_latent_dim,
    check_positive,
    check_spectrum,
)


@dataclass(frozen=True)
class SampleThresholds:
    """The sample eigenvalues and critical sigma'^2 predicted for N rows in d dimensions."""

    population_eigenvalues: tuple[float, ...]
    bulk: float
    gamma: float
    sample_eigenvalues: tuple[float, ...]
    critical_sigma2: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        """The ``bbp_*`` entries of ``threshold --json``."""
        return {
            "population_eigenvalues": list(self.population_eigenvalues),
            "bbp_gamma": self.gamma,
            "bbp_bulk": self.bulk,
            "bbp_sample_eigenvalues": list(self.sample_eigenvalues),
            "bbp_critical_sigma2": list(self.critical_sigma2),
        }


def bbp_thresholds(
    population,
    bulk: float,
    n_samples: int,
    *,
    beta: float = 1.0,
    latent_dim: int | None = None,
    encoder_variance: str = "learnable",
    eta2: float = 1.0,
    zeta2: float | None = None,
) -> SampleThresholds:
    """Predicted sample thresholds of a spiked population (Baik, Ben Arous & Peche 2005).

    Each population eigenvalue l is mapped to the limit of its sample eigenvalue at
    gamma = d / N (``theory.random_matrix.sample_spike``), then through the theory's
    critical law.  ``bulk`` is the flat part of the spectrum (the noise level).

    Examples
    --------
    >>> r = bbp_thresholds([10.0, 5.0, 1.0, 1.0], bulk=1.0, n_samples=8)  # gamma = 1/2
    >>> [round(x, 4) for x in r.sample_eigenvalues]
    [10.5556, 5.625, 2.9142, 2.9142]
    """
    lam = check_spectrum(population)
    bulk = check_positive("bulk", bulk)
    gamma = lam.size / check_positive("n_samples", n_samples)
    k = check_latent_dim(latent_dim, lam.size)
    laws = compiled_laws(check_encoder_variance(encoder_variance))
    beta, eta2 = check_positive("beta", beta), check_positive("eta2", eta2)
    sample = np.asarray(sample_spike_law()(lam[:k], bulk, gamma), dtype=float)
    # The fixed variant's zeta^2 defaults to eta^2 (the encoder variance fixed at the prior's).
    zeta2 = eta2 if zeta2 is None else check_positive("zeta2", zeta2)
    crit = laws.critical_sigma2(*laws.values(sample, 1.0, beta, eta2, zeta2))
    return SampleThresholds(
        tuple(map(float, lam)), float(bulk), float(gamma),
        tuple(map(float, sample)), tuple(map(float, crit)),
    )  # fmt: skip
