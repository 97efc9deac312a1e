"""Seeded synthetic data sets with known population spectra.

Every generator returns ``(X, population_eigenvalues)`` with X of shape
(n, d) and the eigenvalues in descending order.  The sample covariance of X
differs from the population one by sampling error of relative order
sqrt(2 / n) per eigenvalue (Anderson, An Introduction to Multivariate
Statistical Analysis, 3rd ed., Thm 13.5.1); the tests check that.
"""

from __future__ import annotations

import math

import numpy as np

from numerics.core._validation import (
    InputError,
    check_int,
    check_memory,
    check_positive,
    check_spectrum,
)


def _check_size(name: str, n: int, d: int) -> None:
    """The generator's arrays fit in memory: the d x d rotation (and QR's copies) and
    the n x d samples (two copies), in float64."""
    check_memory(f"synthetic:{name} with d={d}, n={n}", 8.0 * (3 * d * d + 2 * n * d))


def random_rotation(d: int, rng: np.random.Generator) -> np.ndarray:
    """Haar-distributed orthogonal matrix (QR of a Gaussian matrix, sign-fixed).

    Mezzadri, "How to generate random matrices from the classical compact
    groups", Notices AMS 54 (2007), eq. (5.1): multiplying the columns of Q by
    the signs of diag(R) makes the distribution exactly Haar.
    """
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return q * np.sign(np.diag(r))


def rotated(
    spectrum, n: int = 5000, seed: int = 0, rotate: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian data whose population covariance is Q diag(spectrum) Q^T, Q Haar."""
    lam = check_spectrum(spectrum)
    n = check_int("n", n, 2)
    _check_size("rotated", n, lam.size)
    rng = np.random.default_rng(seed)
    q = random_rotation(lam.size, rng) if rotate else np.eye(lam.size)
    x = rng.standard_normal((n, lam.size)) * np.sqrt(lam)
    return x @ q.T, lam


def exponential(
    d: int = 16, rate: float = 0.1, scale: float = 1.0, n: int = 5000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Rotated Gaussian data with eigenvalues scale * exp(-rate (i - 1)), i = 1..d."""
    d = check_int("d", d, 1)
    _check_size("exponential", check_int("n", n, 2), d)
    rate = check_positive("rate", rate)
    scale = check_positive("scale", scale)
    return rotated(scale * np.exp(-rate * np.arange(d)), n=n, seed=seed)


def spiked(
    d: int = 32, spikes=(10.0, 5.0, 2.0), noise: float = 1.0, n: int = 5000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Spiked covariance noise I + sum_i spike_i u_i u_i^T (Johnstone, Ann. Stat. 2001).

    Population eigenvalues: noise + spike_i for the spikes, noise for the rest.
    """
    d = check_int("d", d, 1)
    _check_size("spiked", check_int("n", n, 2), d)
    noise = check_positive("noise", noise)
    spikes = check_spectrum(spikes)
    if spikes.size > d:
        raise InputError(f"{spikes.size} spikes: expected at most d = {d}")
    lam = np.full(d, noise)
    lam[: spikes.size] += spikes
    return rotated(lam, n=n, seed=seed)


def mixture(
    d: int = 8,
    rate: float = 0.1,
    a: float = 0.5,
    n: int = 20000,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Covariance-matched symmetric two-component Gaussian mixture.

    The protocol of the seed paper's follow-up (Li et al., arXiv 2610.11257;
    public configuration: d = 8, decay 0.1, mixture parameter a = 0.5): with
    v = 1/sqrt(d), G ~ N(0, I_d) and a fair sign B,

        Y = (I - a^2 v v^T)^(1/2) G + a B v,     X = Q diag(lambda)^(1/2) Y,

    so Cov(Y) = I and the population covariance of X is Q diag(lambda) Q^T for
    every 0 <= a < 1, with lambda_i = exp(-rate (i - 1)).  The data are not
    Gaussian (two components at +/- a Q diag(lambda)^(1/2) v) but have the same
    second moments as :func:`exponential`.
    """
    d = check_int("d", d, 1)
    _check_size("mixture", check_int("n", n, 2), d)
    rate = check_positive("rate", rate)
    if not (math.isfinite(a) and 0 <= a < 1):
        raise InputError(f"a={a!r}: expected a mixture parameter with 0 <= a < 1")
    n = check_int("n", n, 2)
    lam = np.exp(-rate * np.arange(d))
    rng = np.random.default_rng(seed)
    q = random_rotation(d, rng)
    g = rng.standard_normal((n, d))
    signs = rng.choice((-1.0, 1.0), size=n)
    v = np.full(d, 1 / math.sqrt(d))
    # (I - a^2 v v^T)^(1/2) = I + (sqrt(1 - a^2) - 1) v v^T, since v is a unit vector.
    along = g @ v
    y = g + ((math.sqrt(1 - a * a) - 1) * along + a * signs)[:, None] * v
    return (y * np.sqrt(lam)) @ q.T, lam


def correlated(
    d: int = 8, rho: float = 0.5, spectrum=None, n: int = 5000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """A condition x correlated with an output y: the rows are (x, y), x in columns 0..d-1.

    Dang, Tran, Nguyen & Ho (ICLR 2024, arXiv 2306.05023, section 5: the correlation
    experiment of the conditional VAE): y ~ N(0, diag(spectrum)) (default: white, unit
    variance), n ~ N(0, I_d) independent, and

        x = rho y + sqrt(1 - rho^2) n,

    so that Sigma_xy = rho diag(spectrum), Sigma_xx = rho^2 diag(spectrum) + (1 - rho^2) I
    and, for white y, every eigenvalue of the residual covariance of y given x is
    1 - rho^2 (full collapse at rho = 1).  Use ``--condition-columns 0:d``.  The population
    eigenvalues returned are those of the joint covariance of (x, y).
    """
    d = check_int("d", d, 1)
    n = check_int("n", n, 2)
    _check_size("correlated", n, 2 * d)
    if not (math.isfinite(rho) and -1 <= rho <= 1):
        raise InputError(f"rho={rho!r}: expected a correlation with -1 <= rho <= 1")
    lam = np.ones(d) if spectrum is None else check_spectrum(spectrum)
    if lam.size != d:
        raise InputError(f"spectrum has {lam.size} values: expected d = {d}")
    rng = np.random.default_rng(seed)
    y = rng.standard_normal((n, d)) * np.sqrt(lam)
    x = rho * y + math.sqrt(1 - rho * rho) * rng.standard_normal((n, d))
    cov = np.block([[rho * rho * np.diag(lam) + (1 - rho * rho) * np.eye(d), rho * np.diag(lam)],
                    [rho * np.diag(lam), np.diag(lam)]])  # fmt: skip
    return np.hstack([x, y]), np.linalg.eigvalsh(cov)[::-1]


GENERATORS = {
    "rotated": rotated,
    "exponential": exponential,
    "spiked": spiked,
    "mixture": mixture,
    "correlated": correlated,
}
