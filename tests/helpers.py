"""Shared test helpers: exact synthetic data and the linear-VAE objective in plain NumPy.

Nothing here imports :mod:`theory` or :mod:`numerics`.  The objective is written from the
standard Gaussian identities and evaluated on an actual data matrix ``X`` (rows are
samples), so that the tests compare the symbolic engine with an independent route
(the project's rule: every result is checked by an independent route).

Model (README, "Conventions and notation")::

    p(z)   = N(0, eta2 I_k)
    p(x|z) = N(W z + b, sigma2 I_d)
    q(z|x) = N(V (x - m), diag(s2_1, ..., s2_k))

    F = mean_n E_q[-log p(x_n|z)] + beta * mean_n KL(q(z|x_n) || p(z))

with, for each row x_n (mu_n = V (x_n - m), S = diag(s2)):

* E_q[-log p(x_n|z)] = d/2 log(2 pi sigma2)
  + (||x_n - W mu_n - b||^2 + tr(W S W^T)) / (2 sigma2)
  (the mean of a squared norm is the squared norm of the mean plus the trace of the
  covariance; the covariance of W z under q is W S W^T);
* KL(N(mu, S) || N(0, eta2 I)) = 1/2 sum_j [s2_j / eta2 + mu_j^2 / eta2 - 1 - log(s2_j / eta2)]
  (the textbook KL of two Gaussians, e.g. Kingma & Welling 2014, Appendix B).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Names of the encoder-variance variants, as the library spells them.
VARIANTS = ("learnable", "fixed")


def random_rotation(d: int, rng: np.random.Generator) -> np.ndarray:
    """A random orthogonal ``d x d`` matrix (QR of a Gaussian matrix, signs fixed).

    Parameters
    ----------
    d : int
        Dimension.
    rng : numpy.random.Generator
        Source of randomness (pass a seeded generator).

    Returns
    -------
    numpy.ndarray
        Orthogonal matrix, Haar distributed.
    """
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return q * np.sign(np.diag(r))


def rotated_data(
    spectrum,
    n: int,
    seed: int,
    *,
    mean: np.ndarray | None = None,
    rotate: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Data whose empirical (1/N, centred) covariance is exactly ``Q diag(spectrum) Q^T``.

    Gaussian samples are centred and whitened to identity empirical covariance, scaled
    by ``sqrt(spectrum)``, rotated by a random orthogonal ``Q`` and shifted by a mean.

    Parameters
    ----------
    spectrum : array_like
        Eigenvalues of the covariance (length d, all > 0).
    n : int
        Number of rows N (> d).
    seed : int
        Seed of :func:`numpy.random.default_rng` (samples, rotation and default mean).
    mean : numpy.ndarray, optional
        Empirical mean of the rows; default a nonzero random vector drawn from ``seed``.
    rotate : bool, default True
        If False, ``Q`` is the identity (diagonal covariance).

    Returns
    -------
    X : numpy.ndarray
        Data matrix, shape (N, d).
    Q : numpy.ndarray
        The rotation; column i is the eigenvector of ``spectrum[i]``.
    """
    lam = np.asarray(spectrum, dtype=float)
    d = lam.size
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, d))
    z -= z.mean(axis=0)
    # Symmetric whitening: z C^{-1/2} has empirical covariance exactly I (up to rounding).
    evals, evecs = np.linalg.eigh(z.T @ z / n)
    z = z @ (evecs / np.sqrt(evals)) @ evecs.T
    q = random_rotation(d, rng) if rotate else np.eye(d)
    if mean is None:
        mean = rng.uniform(1.0, 3.0, size=d) * rng.choice([-1.0, 1.0], size=d)
    x = (z * np.sqrt(lam)) @ q.T + np.asarray(mean, dtype=float)
    return x, q


@dataclass(frozen=True)
class Terms:
    """The two parts of F at one parameter value.

    Attributes
    ----------
    reconstruction : float
        mean_n E_q[-log p(x_n|z)], Gaussian constant included.
    kl : numpy.ndarray
        mean_n KL per latent, shape (k,).
    """

    reconstruction: float
    kl: np.ndarray

    def total(self, beta: float) -> float:
        """F = reconstruction + beta * sum of the per-latent KLs."""
        return float(self.reconstruction + beta * self.kl.sum())


def objective_terms(
    X: np.ndarray,
    W: np.ndarray,
    V: np.ndarray,
    s2: np.ndarray,
    b: np.ndarray,
    sigma2: float,
    eta2: float = 1.0,
) -> Terms:
    """Reconstruction term and per-latent KL, averaged over the rows of ``X``.

    Parameters
    ----------
    X : numpy.ndarray
        Data, shape (N, d).
    W : numpy.ndarray
        Decoder weights, shape (d, k).
    V : numpy.ndarray
        Encoder weights, shape (k, d).
    s2 : numpy.ndarray
        Encoder variances, shape (k,).
    b : numpy.ndarray
        Decoder bias, shape (d,).
    sigma2, eta2 : float
        Decoder variance and prior variance.

    Returns
    -------
    Terms
    """
    d = X.shape[1]
    s2 = np.asarray(s2, dtype=float)
    y = X - X.mean(axis=0)
    mu = y @ V.T  # encoder means, (N, k)
    residual = X - mu @ W.T - b  # x_n - E_q[W z + b]
    squared = np.mean(np.sum(residual**2, axis=1))
    trace = np.sum(W**2 * s2)  # tr(W S W^T)
    reconstruction = 0.5 * d * np.log(2 * np.pi * sigma2) + (squared + trace) / (2 * sigma2)
    kl = 0.5 * (s2 / eta2 + np.mean(mu**2, axis=0) / eta2 - 1.0 - np.log(s2 / eta2))
    return Terms(reconstruction=float(reconstruction), kl=kl)


def objective(
    X: np.ndarray,
    W: np.ndarray,
    V: np.ndarray,
    s2: np.ndarray,
    b: np.ndarray,
    sigma2: float,
    beta: float = 1.0,
    eta2: float = 1.0,
) -> float:
    """The full objective F per data point (see :func:`objective_terms`)."""
    return objective_terms(X, W, V, s2, b, sigma2, eta2).total(beta)


@dataclass(frozen=True)
class Packing:
    """Flat parameter vector <-> (W, V, s2, b) for one variant.

    The vector holds ``W`` (d x k), ``V`` (k x d), then ``log s2`` (k, learnable variant
    only) and ``b`` (d).  The fixed variant pins s2: to ``zeta2`` (one value per latent,
    Dang et al. 2024's anisotropic model) when given, else to eta2.
    """

    d: int
    k: int
    variant: str
    eta2: float = 1.0
    zeta2: tuple[float, ...] | None = None

    @property
    def size(self) -> int:
        """Length of the flat vector."""
        learnable = self.k if self.variant == "learnable" else 0
        return 2 * self.d * self.k + learnable + self.d

    def unpack(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Return ``(W, V, s2, b)``."""
        d, k = self.d, self.k
        W = theta[: d * k].reshape(d, k)
        V = theta[d * k : 2 * d * k].reshape(k, d)
        rest = theta[2 * d * k :]
        if self.variant == "learnable":
            s2, b = np.exp(rest[:k]), rest[k:]
        else:
            s2, b = self.fixed_variances(), rest
        return W, V, s2, b

    def fixed_variances(self) -> np.ndarray:
        """The pinned s2 of the fixed variant: ``zeta2`` per latent, or eta2 for every one."""
        if self.zeta2 is None:
            return np.full(self.k, self.eta2)
        return np.array(self.zeta2, dtype=float)

    def random(self, rng: np.random.Generator, scale: float = 1.0) -> np.ndarray:
        """A random starting point (Gaussian entries of standard deviation ``scale``)."""
        return scale * rng.standard_normal(self.size)


def objective_and_gradient(
    theta: np.ndarray,
    X: np.ndarray,
    packing: Packing,
    sigma2: float,
    beta: float,
) -> tuple[float, np.ndarray]:
    """F and its analytic gradient in the flat parameters of ``packing``.

    With R = X - mu W^T - b (rows: reconstruction residuals) and Y the centred data::

        dF/dW      = (-R^T mu / N + W S) / sigma2
        dF/dV      = -(R W)^T Y / (N sigma2) + beta mu^T Y / (N eta2)
        dF/db      = -mean_n R_n / sigma2
        dF/dlog s2 = s2 * (sum_i W_ij^2 / (2 sigma2) + beta / 2 (1 / eta2 - 1 / s2))

    (checked against finite differences in ``test_direct_minimisation.py``).
    """
    eta2 = packing.eta2
    W, V, s2, b = packing.unpack(theta)
    n = X.shape[0]
    y = X - X.mean(axis=0)
    mu = y @ V.T
    residual = X - mu @ W.T - b
    value = objective(X, W, V, s2, b, sigma2, beta, eta2)
    g_w = (-residual.T @ mu / n + W * s2) / sigma2
    g_v = -(residual @ W).T @ y / (n * sigma2) + beta * mu.T @ y / (n * eta2)
    g_b = -residual.mean(axis=0) / sigma2
    parts = [g_w.ravel(), g_v.ravel()]
    if packing.variant == "learnable":
        g_s2 = np.sum(W**2, axis=0) / (2 * sigma2) + 0.5 * beta * (1.0 / eta2 - 1.0 / s2)
        parts.append(s2 * g_s2)
    parts.append(g_b)
    return value, np.concatenate(parts)


def finite_difference_gradient(f, x: np.ndarray, step: float) -> np.ndarray:
    """Central finite-difference gradient of the scalar function ``f`` at ``x``."""
    x = np.asarray(x, dtype=float)
    grad = np.empty_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = step
        grad[i] = (f(x + e) - f(x - e)) / (2 * step)
    return grad


def finite_difference_hessian(f, x: np.ndarray, step: float) -> np.ndarray:
    """Central finite-difference Hessian of the scalar function ``f`` at ``x``.

    ``H_ij = [f(x + h e_i + h e_j) - f(x + h e_i - h e_j) - f(x - h e_i + h e_j)
    + f(x - h e_i - h e_j)] / (4 h^2)``; truncation error O(h^2 f''''), rounding error
    O(eps |f| / h^2).  The result is symmetric by construction.
    """
    x = np.asarray(x, dtype=float)
    n = x.size
    hess = np.empty((n, n))
    eye = np.eye(n) * step
    for i in range(n):
        for j in range(i, n):
            hess[i, j] = hess[j, i] = (
                f(x + eye[i] + eye[j])
                - f(x + eye[i] - eye[j])
                - f(x - eye[i] + eye[j])
                + f(x - eye[i] - eye[j])
            ) / (4 * step**2)
    return hess
