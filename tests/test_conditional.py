"""The conditional VAE: the derivation against published values, direct minimisation of the
full matrix objective, finite-difference Hessians, data, the command line and training.

Independent routes: the full objective below is written here in NumPy from the model's
definition (the Gaussian identities, as in ``tests/helpers.py``), minimised over every
weight matrix from random starts, and compared with the laws the engine derived; the
residual covariance of data is compared with a Schur complement formed here.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize

from numerics.app.cli import main
from numerics.core._conditional import conditional_optimum, conditional_thresholds
from numerics.core._optimum import optimum
from numerics.data._datasets import synthetic
from numerics.spectra._condition import (
    condition_columns,
    conditional_spectrum,
    residual_covariance,
)
from numerics.training._family_measure import train_and_measure_conditional
from theory.conditional import derive_conditional, residual_of


@pytest.fixture(scope="module")
def derivation():
    return derive_conditional()


def test_every_step_of_the_derivation_verifies(derivation):
    d = derivation
    assert d.matrix_form_verified and d.x_weights_verified and d.residual_verified
    assert d.reduction_verified and d.excess_is_quadratic and d.excess_positive_definite


def test_emerged_residual_is_the_schur_complement_at_random_numbers(derivation):
    """The matrix read off the reduced objective, at random numbers, against NumPy."""
    rng = np.random.default_rng(3)
    inst = derivation.instance
    a = rng.standard_normal((6, 4))
    cov = a.T @ a / 6 + 0.1 * np.eye(4)  # a random positive definite joint covariance
    sub = {}
    for i in range(2):
        for j in range(2):
            sub[inst.Sxx[i, j]] = cov[i, j]
            sub[inst.Syy[i, j]] = cov[2 + i, 2 + j]
            sub[inst.Sxy[i, j]] = cov[i, 2 + j]
    emerged = np.array(derivation.residual.subs(sub).evalf(), dtype=float)
    schur = cov[2:, 2:] - cov[2:, :2] @ np.linalg.solve(cov[:2, :2], cov[:2, 2:])
    np.testing.assert_allclose(emerged, schur, rtol=1e-12, atol=1e-12)


def test_dang_check_residual_and_kl():
    """Dang et al. (ICLR 2024) check: Sigma_yy = diag(4, 2, 1), Sigma_xx = I,
    Sigma_xy = diag(1, 0.5, 0), beta = 1, sigma'^2 = 1.5."""
    import sympy as sp

    m = residual_of(sp.eye(3), sp.diag(1, sp.Rational(1, 2), 0), sp.diag(4, 2, 1))
    np.testing.assert_allclose(np.array(m, dtype=float), np.diag([3, 1.75, 1]), atol=1e-15)
    r = conditional_optimum([3, 1.75, 1], sigma2=1.5, beta=1.0)
    np.testing.assert_allclose([m.kl for m in r.modes], [0.346574, 0.077075, 0.0], atol=1e-6)


def _exact_data(cov: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Rows whose 1/N centred covariance is exactly ``cov`` (whitened noise, then Cholesky)."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, cov.shape[0]))
    z -= z.mean(axis=0)
    z = z @ np.linalg.inv(np.linalg.cholesky(z.T @ z / n)).T
    return z @ np.linalg.cholesky(cov).T + rng.standard_normal(cov.shape[0])


def test_residual_spectrum_of_data_with_dang_covariance():
    cov = np.zeros((6, 6))
    cov[:3, :3] = np.eye(3)
    cov[3:, 3:] = np.diag([4.0, 2.0, 1.0])
    cov[:3, 3:] = cov[3:, :3] = np.diag([1.0, 0.5, 0.0])
    X = _exact_data(cov, 500, 1)
    lam = conditional_spectrum(X, condition_columns("0:3", 6))
    np.testing.assert_allclose(lam, [3.0, 1.75, 1.0], rtol=1e-10)


def test_correlated_white_data_give_one_minus_rho_squared():
    ds = synthetic("correlated", d=3, rho=0.8, n=200_000, seed=2)
    lam = conditional_spectrum(ds.X, condition_columns("0:3", 6))
    np.testing.assert_allclose(lam, 1 - 0.64, rtol=0.02)  # sampling error ~ sqrt(2/n)


def test_singular_condition_columns_are_regressed_on_what_they_span():
    """A constant and a duplicated condition column change nothing (pseudo-inverse)."""
    rng = np.random.default_rng(4)
    X = rng.standard_normal((400, 5))
    X[:, 3] += 0.7 * X[:, 0]
    extended = np.column_stack([X[:, :2], np.ones(400), X[:, 0], X[:, 2:]])
    base = residual_covariance(X, condition_columns("0:2", 5))
    wide = residual_covariance(extended, condition_columns("0:4", 7))
    np.testing.assert_allclose(wide, base, rtol=1e-9, atol=1e-12)


# -- the full objective, minimised over every matrix ----------------------------------------
def _objective(theta, cov, dx, dy, k, sigma2, beta, eta2):
    """F of the conditional VAE at the joint covariance ``cov`` (x first), biases optimal."""
    A = theta[: k * dx].reshape(k, dx)
    B = theta[k * dx : k * (dx + dy)].reshape(k, dy)
    o = k * (dx + dy)
    U = theta[o : o + dy * k].reshape(dy, k)
    C = theta[o + dy * k : o + dy * k + dy * dx].reshape(dy, dx)
    s2 = np.exp(theta[-k:])
    V = np.hstack([A, B])  # the encoder mean V (x, y)
    R = np.hstack([-C, np.eye(dy)]) - U @ V  # y - U mu - C x as a map of (x, y)
    rec = dy / 2 * np.log(2 * np.pi * sigma2) + (
        np.trace(R @ cov @ R.T) + np.trace(U @ np.diag(s2) @ U.T)
    ) / (2 * sigma2)
    mu2 = np.diag(V @ cov @ V.T)
    kl = 0.5 * np.sum((mu2 + s2) / eta2 - 1 - np.log(s2 / eta2))
    return rec + beta * kl


def _minimise(cov, dx, dy, k, sigma2, beta, eta2, starts=4, seed=0):
    rng = np.random.default_rng(seed)
    n = k * (dx + dy) + dy * k + dy * dx + k
    args = (cov, dx, dy, k, sigma2, beta, eta2)
    best = None
    for _ in range(starts):
        r = minimize(_objective, 0.5 * rng.standard_normal(n), args=args, method="BFGS",
                     options={"gtol": 1e-11, "maxiter": 20000})  # fmt: skip
        if best is None or r.fun < best.fun:
            best = r
    return best


@pytest.mark.parametrize("seed", [0, 1])
def test_direct_minimisation_matches_the_derived_optimum(seed):
    rng = np.random.default_rng(10 + seed)
    dx, dy, k = 2, 3, 2
    a = rng.standard_normal((9, dx + dy))
    cov = a.T @ a / 9 + 0.2 * np.eye(dx + dy)
    schur = cov[dx:, dx:] - cov[dx:, :dx] @ np.linalg.solve(cov[:dx, :dx], cov[:dx, dx:])
    lam = np.linalg.eigvalsh(schur)[::-1]
    sigma2 = float(np.sqrt(lam[0] * lam[1]))  # between the top two thresholds
    best = _minimise(cov, dx, dy, k, sigma2, 1.0, 1.0, seed=seed)
    derived = optimum(lam, sigma2, 1.0, latent_dim=k).neg_elbo
    assert abs(best.fun - derived) < 1e-8


def _hessian(f, x, h=1e-4):
    n = x.size
    out = np.empty((n, n))
    for i in range(n):
        for j in range(i, n):
            e_i, e_j = np.eye(n)[i] * h, np.eye(n)[j] * h
            out[i, j] = out[j, i] = (
                f(x + e_i + e_j) - f(x + e_i - e_j) - f(x - e_i + e_j) + f(x - e_i - e_j)
            ) / (4 * h * h)
    return out


def test_collapsed_point_hessian_has_the_vae_index_on_the_residual():
    """At the collapsed point (B = U = 0, A = 0, C = C*, s^2 = eta^2), one negative Hessian
    eigenvalue per latent and per residual eigenvalue above beta sigma'^2 (the VAE's
    collapsed blocks, derivations/learnable-encoder-variance.tex), the x-weights positive."""
    dx, dy, k = 2, 3, 2
    cov = np.eye(dx + dy)
    cov[dx:, dx:] = np.diag([4.0, 2.0, 1.0])
    cov[:dx, dx:] = np.array([[1.0, 0.0, 0.0], [0.0, 0.5, 0.0]])
    cov[dx:, :dx] = cov[:dx, dx:].T
    lam = [3.0, 1.75, 1.0]  # the residual eigenvalues
    sigma2 = 1.5
    C = cov[dx:, :dx] @ np.linalg.inv(cov[:dx, :dx])
    theta = np.concatenate([np.zeros(k * (dx + dy) + dy * k), C.ravel(), np.zeros(k)])
    h = _hessian(lambda t: _objective(t, cov, dx, dy, k, sigma2, 1.0, 1.0), theta)
    eig = np.linalg.eigvalsh(h)
    assert np.sum(eig < -1e-6) == k * sum(x > sigma2 for x in lam)
    assert np.sum(np.abs(eig) < 1e-6) == 0


# -- the command line -----------------------------------------------------------------------
def test_cli_threshold_on_a_residual_spectrum(capsys):
    assert main(["threshold", "--spectrum", "3,1.75,1", "--family", "cvae", "--json"]) == 0
    import json

    out = json.loads(capsys.readouterr().out)
    assert out["critical_sigma2"] == [3.0, 1.75, 1.0]
    assert out["data"]["family"] == "cvae"


def test_cli_threshold_on_data_uses_the_residual(capsys):
    data = "synthetic:correlated:d=3,rho=0.5,n=4000"
    assert main(["threshold", "--data", data, "--family", "cvae", "--condition-columns", "0:3",
                 "--json"]) == 0  # fmt: skip
    import json

    out = json.loads(capsys.readouterr().out)
    X = synthetic("correlated", d=3, rho=0.5, n=4000).X
    expected = conditional_thresholds(conditional_spectrum(X, condition_columns("0:3", 6)))
    np.testing.assert_allclose(out["critical_sigma2"], expected.critical_sigma2, rtol=1e-12)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["threshold", "--spectrum", "4,2,1", "--condition-columns", "0:2"], "cvae only"),
        (["threshold", "--data", "digits", "--family", "cvae"], "needs --condition-columns"),
        (["threshold", "--data", "digits", "--family", "cvae", "--condition-columns", "0:64"],
         "expected at least one output column"),
        (["threshold", "--data", "digits", "--family", "cvae", "--condition-columns", "60:70"],
         "outside the data's columns"),
        (["threshold", "--data", "digits", "--family", "cvae", "--condition-columns", "a:b"],
         "expected indices or ranges"),
        (["threshold", "--spectrum", "4,2,1", "--family", "cvae", "--condition-columns", "0:1"],
         "applies to --data"),
        (["threshold", "--data", "digits", "--family", "cvae", "--condition-columns", "0:32",
          "--digits", "20"], "--digits with --family cvae"),
        (["train", "--data", "digits", "--family", "cvae", "--condition-columns", "0:32",
          "--model", "mlp"], "linear model only"),
    ],
)  # fmt: skip
def test_bad_combinations_are_one_line_errors(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


# -- training ----------------------------------------------------------------------------------
def test_trained_conditional_vae_lands_on_the_residual_thresholds():
    ds = synthetic("correlated", d=6, rho=0.6, spectrum=[4, 3, 2, 1.5, 1, 0.5], n=4000, seed=0)
    mask = condition_columns("0:6", 12)
    lam = conditional_spectrum(ds.X, mask)
    report = train_and_measure_conditional(ds.X, mask, lam, latent_dim=4, progress=False)
    errors = [m.relative_error for m in report.measured]
    assert all(e is not None and abs(e) < 0.02 for e in errors), errors
