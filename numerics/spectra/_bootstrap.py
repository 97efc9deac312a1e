"""Finite-sample uncertainty of thresholds: the bootstrap over the data's rows.

A threshold computed from N samples estimates the population one.  Resampling the N rows
with replacement B times (Efron & Tibshirani, An Introduction to the Bootstrap, 1993,
ch. 13, percentile intervals) gives B covariance spectra, hence B values of every
critical sigma'^2 through the theory's law; the (1 - level) / 2 and (1 + level) / 2
quantiles are the interval.  All replicates are computed together: each is a weighted
covariance, sum_n w_bn (x_n - m_b)(x_n - m_b)^T / N with multinomial counts w_b, and
the B eigenvalue problems are one batched ``eigvalsh``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from numerics.core._bridge import compiled_laws
from numerics.core._validation import (
    InputError,
    check_encoder_variance,
    check_int,
    check_latent_dim,
    check_memory,
    check_positive,
)

#: Replicates whose (B, d, d) covariances are formed at once.
_CHUNK = 64


@dataclass(frozen=True)
class BootstrapThresholds:
    """Percentile intervals of every critical sigma'^2 (module docstring)."""

    replicates: int
    level: float
    critical_sigma2_interval: list[tuple[float, float]]
    eigenvalue_interval: list[tuple[float, float]]
    seed: int
    #: Modes (from 1) whose interval excludes the estimate from all rows.  The percentile
    #: bootstrap is consistent for a simple, separated eigenvalue only (Beran & Srivastava,
    #: Ann. Stat. 13 (1985) 95); for eigenvalues inside a bulk of nearly equal ones its
    #: replicates are biased (Eaton & Tyler, Ann. Stat. 19 (1991) 260) and these
    #: intervals are not to be trusted.
    unreliable: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (the ``bootstrap`` entry of ``threshold --json``)."""
        return {
            "replicates": self.replicates,
            "level": self.level,
            "critical_sigma2_interval": [list(p) for p in self.critical_sigma2_interval],
            "eigenvalue_interval": [list(p) for p in self.eigenvalue_interval],
            "seed": self.seed,
            "method": "percentile bootstrap over rows (Efron & Tibshirani 1993, ch. 13)",
            "unreliable_modes": list(self.unreliable),
        }


def _replicate_spectra(X: np.ndarray, counts: np.ndarray, centred: bool) -> np.ndarray:
    """Descending covariance eigenvalues of each weighted replicate, (B, d)."""
    n = X.shape[0]
    w = counts / n  # each replicate's weights sum to 1
    Xt = np.ascontiguousarray(X.T)
    # One d x N by N x d product per replicate, on one BLAS thread: products this small
    # run 30x slower when threads contend (measured on 2 cores, digits: 1.3 s vs 0.045 s).
    with threadpool_limits(1, user_api="blas"):
        second = np.stack([Xt @ (wb[:, None] * X) for wb in w])
    if centred:
        mean = w @ X
        second -= mean[:, :, None] * mean[:, None, :]
    return np.linalg.eigvalsh(second)[:, ::-1]


def bootstrap_thresholds(
    X,
    replicates: int = 200,
    level: float = 0.95,
    *,
    beta: float = 1.0,
    latent_dim: int | None = None,
    encoder_variance: str = "learnable",
    eta2: float = 1.0,
    zeta2: float | None = None,
    centred: bool = True,
    scale: float = 1.0,
    seed: int = 0,
) -> BootstrapThresholds:
    """Percentile intervals of the critical sigma'^2 of the top ``latent_dim`` modes.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((500, 3)) * np.sqrt([4.0, 2.0, 1.0])
    >>> r = bootstrap_thresholds(X, replicates=100)
    >>> [lo < hi for lo, hi in r.critical_sigma2_interval]
    [True, True, True]
    """
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or X.shape[0] < 2 or not np.isfinite(X).all():
        raise InputError(f"bootstrap: data of shape {X.shape}: expected finite N x d, N >= 2")
    replicates = check_int("replicates", replicates, 10, 100_000)
    if not 0 < level < 1:
        raise InputError(f"level={level!r}: expected a confidence level in (0, 1)")
    n, d = X.shape
    k = check_latent_dim(latent_dim, d)
    beta, eta2 = check_positive("beta", beta), check_positive("eta2", eta2)
    scale = check_positive("scale", scale)
    laws = compiled_laws(check_encoder_variance(encoder_variance))
    check_memory(f"--bootstrap {replicates}", 8.0 * _CHUNK * (n + 2 * d * d + n * d))
    rng = np.random.default_rng(check_int("seed", seed, 0))
    spectra = []
    for start in range(0, replicates, _CHUNK):
        b = min(_CHUNK, replicates - start)
        counts = rng.multinomial(n, np.full(n, 1.0 / n), size=b).astype(float)
        spectra.append(_replicate_spectra(X, counts, centred)[:, :k])
    lam = np.concatenate(spectra) * scale * scale
    # The fixed variant's zeta^2 defaults to eta^2 (the encoder variance fixed at the prior's).
    zeta2 = eta2 if zeta2 is None else check_positive("zeta2", zeta2)
    crit = laws.critical_sigma2(*laws.values(np.maximum(lam, 0.0), 1.0, beta, eta2, zeta2))
    q = [(1 - level) / 2, (1 + level) / 2]

    def intervals(values: np.ndarray) -> list[tuple[float, float]]:
        lo, hi = np.quantile(values, q, axis=0)
        return [(float(a), float(b)) for a, b in zip(lo, hi, strict=True)]

    # The estimate from all rows (every count 1), by the same route as the replicates.
    estimate = _replicate_spectra(X, np.ones((1, n)), centred)[0, :k] * scale * scale
    est = laws.critical_sigma2(*laws.values(np.maximum(estimate, 0.0), 1.0, beta, eta2, zeta2))
    crit_intervals = intervals(crit)
    outside = tuple(j + 1 for j, (lo, hi) in enumerate(crit_intervals) if not lo <= est[j] <= hi)
    return BootstrapThresholds(
        replicates, float(level), crit_intervals, intervals(lam), seed, outside
    )
