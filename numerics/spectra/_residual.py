"""The residual spectrum: what the active latents of a trained VAE leave unexplained.

At a trained state with active latents A, a collapsed latent can come back only by
explaining variance the active ones do not (the partial-collapse criterion: in the
linear model it is stable iff beta sigma'^2, scaled by its variance law, is at least
the top eigenvalue of the covariance restricted to the complement of the active
directions; the residual-spectrum criterion of Li, arXiv 2610.11257, for any decoder).
The estimator here, for any model from arrays of its outputs on the data:

1. r(x) = x - x_hat(x), with x_hat the decoder mean at the posterior mean (what the
   model reconstructs);
2. the directions the active latents already move the reconstruction along: the
   best linear response of x_hat to the active posterior means, J = Cov(x_hat, mu_A)
   Cov(mu_A)^-1, and P, the orthogonal projector onto the complement of span(J);
3. L(A) = the top eigenvalue of P Cov(r) P (centred, 1/N).

For the linear model at its optimum, x_hat = m + W_A mu_A exactly, span(J) is the span
of the active eigen-directions, and r restricted to the complement is the data itself
there, so L(A) is exactly the top eigenvalue of the complement - the next eigenvalue
(tested).  For a nonlinear decoder the projection removes the active latents' global
linear response; what their nonlinearity explains beyond it lowers Cov(r), and with it
L(A): the mechanism by which an MLP's lower steps can sit below the linear thresholds.

The estimate uses all N rows exactly (no minibatches, no Monte Carlo over latents), so
it is the value for the data the model was trained on, the way the linear prediction is
the sample covariance's eigenvalue; its uncertainty is the bootstrap standard error
(rows resampled), the spread another sample of the same size would show.  A top
eigenvalue of N samples is biased upward by O(1/N) as an estimate of the population's
(Anderson, An Introduction to Multivariate Statistical Analysis, 3rd ed., section 13.5).
The follow-up fits its estimates over batch and sample sizes, L(B, N) = L_inf + c_B / B +
c_N / N; here, with no batch, L(n) = L_inf + c_N / n is fitted over random subsets of
n = N/8, N/4, N/2 and N rows, and L_inf is reported beside the estimate as the
population extrapolation, with the standard error of the intercept.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from numerics.core._validation import InputError, check_int

#: The fewest rows the estimate takes: its smallest subsets (N/8) need two rows for a
#: covariance.
MIN_ROWS = 16
#: Subset sizes (fractions of N) and how many random subsets of each the fit uses.
SUBSETS = ((0.125, 8), (0.25, 4), (0.5, 2), (1.0, 1))
#: Bootstrap replicates of L(N).
BOOTSTRAP = 30


@dataclass(frozen=True)
class ResidualSpectrum:
    """The residual spectrum's top eigenvalue at one trained state (module docstring).

    Attributes
    ----------
    top_eigenvalue : float
        L(A) on all N rows: the value for these data.
    stderr : float
        Its bootstrap standard error.
    population : float
        L_inf of the fit L(n) = L_inf + c_N / n over subsets: the population extrapolation.
    population_stderr : float
        The standard error of that intercept.
    bias_per_sample : float
        c_N.
    active_dim : int
        Number of active latents whose response was projected out.
    n_samples : int
    """

    top_eigenvalue: float
    stderr: float
    population: float
    population_stderr: float
    bias_per_sample: float
    active_dim: int
    n_samples: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return asdict(self)


def _check(X, recon, mu_active) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    X = np.asarray(X, dtype=float)
    recon = np.asarray(recon, dtype=float)
    mu = np.asarray(mu_active, dtype=float)
    if mu.ndim == 1:
        mu = mu[:, None]
    if X.ndim != 2 or recon.shape != X.shape or mu.ndim != 2 or mu.shape[0] != X.shape[0]:
        raise InputError(
            f"residual spectrum: data {X.shape}, reconstruction {recon.shape} and active "
            f"means {mu.shape}: expected N x d, N x d and N x |A| for the same N rows"
        )
    if X.shape[0] < MIN_ROWS:
        raise InputError(f"residual spectrum: {X.shape[0]} rows: expected at least {MIN_ROWS}")
    for name, a in (("data", X), ("reconstruction", recon), ("posterior means", mu)):
        if not np.isfinite(a).all():
            raise InputError(f"residual spectrum: the {name} have non-finite values")
    return X, recon, mu


def _top(X: np.ndarray, recon: np.ndarray, mu: np.ndarray, weights: np.ndarray) -> float:
    """L on (weighted) rows: top eigenvalue of the projected residual covariance."""
    w = weights / weights.sum()

    def centred(a: np.ndarray) -> np.ndarray:
        return a - w @ a

    r, xh = centred(X - recon), centred(recon)
    d = X.shape[1]
    basis = np.zeros((d, 0))
    if mu.shape[1]:
        m = centred(mu)
        cov_m = (m * w[:, None]).T @ m
        cross = (xh * w[:, None]).T @ m  # Cov(x_hat, mu_A), d x |A|
        # J = Cov(x_hat, mu) Cov(mu)^-1; its column span is that of Cov(x_hat, mu) when
        # Cov(mu) is invertible (lstsq handles a rank-deficient one).
        J = np.linalg.lstsq(cov_m.T, cross.T, rcond=None)[0].T
        u, sing, _ = np.linalg.svd(J, full_matrices=False)
        # Directions with a response above rounding: rank of J (numpy's matrix_rank rule).
        keep = sing > sing.max(initial=0.0) * max(J.shape) * np.finfo(float).eps
        basis = u[:, keep]
    cov = (r * w[:, None]).T @ r
    proj = np.eye(d) - basis @ basis.T
    return float(np.linalg.eigvalsh(proj @ cov @ proj)[-1])


def residual_spectrum(X, recon, mu_active, seed: int = 0) -> ResidualSpectrum:
    """L(A) with its finite-sample correction and uncertainty (module docstring).

    Parameters
    ----------
    X : array (N, d)
        The data, rows are samples.
    recon : array (N, d)
        The model's reconstruction of each row: the decoder mean at the posterior mean.
    mu_active : array (N, |A|)
        Posterior means of the active latents (|A| may be 0: then nothing is projected).
    seed : int
        Seed of the random subsets and the bootstrap.
    """
    X, recon, mu = _check(X, recon, mu_active)
    seed = check_int("seed", seed, 0)
    rng = np.random.default_rng(seed)
    N = X.shape[0]
    ones = np.ones(N)
    sizes, values = [], []
    for fraction, repeats in SUBSETS:
        n = max(8, round(fraction * N))
        for _ in range(repeats if n < N else 1):
            idx = rng.choice(N, size=n, replace=False) if n < N else np.arange(N)
            sizes.append(n)
            values.append(_top(X[idx], recon[idx], mu[idx], np.ones(n)))
    design = np.column_stack([np.ones(len(sizes)), 1.0 / np.asarray(sizes, dtype=float)])
    coef, *_ = np.linalg.lstsq(design, np.asarray(values), rcond=None)
    resid = np.asarray(values) - design @ coef
    dof = max(len(values) - 2, 1)
    cov = np.linalg.inv(design.T @ design) * float(resid @ resid) / dof
    boot = [
        _top(X, recon, mu, rng.multinomial(N, ones / N).astype(float)) for _ in range(BOOTSTRAP)
    ]
    return ResidualSpectrum(
        top_eigenvalue=values[-1],
        stderr=float(np.std(boot, ddof=1)),
        population=float(coef[0]),
        population_stderr=math.sqrt(float(cov[0, 0])),
        bias_per_sample=float(coef[1]),
        active_dim=int(mu.shape[1]),
        n_samples=N,
    )
