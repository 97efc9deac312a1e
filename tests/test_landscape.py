"""The full Hessian at every aligned stationary point, against finite differences.

Independent route: the full objective of ``tests/helpers.py`` (NumPy, from the Gaussian
identities) on data whose covariance has the spectrum exactly, under a random rotation.
At each stationary point that ``numerics.core._landscape`` reports (its parameters come
from the derived laws), the finite-difference gradient must vanish and the eigenvalues
of the finite-difference Hessian in (W, V[, s2]) must be those of the derived blocks.

Finite-difference error budget (as in ``test_hessians.py``): step 1e-4, truncation
<~1e-6 for the fourth derivatives met here, rounding ~4 eps |F| / (4 h^2) ~ 1e-7.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from helpers import finite_difference_gradient, finite_difference_hessian, objective, rotated_data

from numerics.core._landscape import stationary_point, stationary_points
from numerics.core._validation import InputError
from theory import (
    derive,
    fixed_anisotropic_encoder_variance,
    fixed_encoder_variance,
    learnable_encoder_variance,
)
from theory import symbols as S

SPECS = {
    "learnable": learnable_encoder_variance(),
    "fixed": fixed_encoder_variance(),
    "fixed-anisotropic": fixed_anisotropic_encoder_variance(),
}
HESSIAN_STEP = 1e-4
GRADIENT_STEP = 1e-6


# -- Li (arXiv 2610.11257), Eq. 24 -----------------------------------------------------------
@pytest.mark.parametrize("name", SPECS)
def test_collapsed_block_is_a_rescaling_of_li_eq_24(name):
    """Li writes the collapsed sector's mean-channel block as
    [[1/sigma'^2, -sqrt(L)/sigma'^2], [-sqrt(L)/sigma'^2, 1]], det (sigma'^2 - L)/sigma'^4.
    The derived collapsed-free block H in (W_aj, V_ja), rescaled by D = diag(1/sqrt(s^2),
    1/sqrt(beta lambda / eta^2)) (w -> sqrt(s^2) w, v -> sqrt(beta lambda / eta^2) v), is
    exactly that with L = lambda eta^2 / (beta s^2), s^2 the collapsed variance."""
    d = derive(SPECS[name])
    block = d.landscape.blocks["collapsed-free"].matrix
    s2 = S.eta2 if name == "learnable" else d.landscape.var_j
    D = sp.diag(1 / sp.sqrt(s2), 1 / sp.sqrt(S.beta * S.lam_a / S.eta2))
    L = S.lam_a * S.eta2 / (S.beta * s2)
    li = sp.Matrix([[1 / S.sigma2, -sp.sqrt(L) / S.sigma2], [-sp.sqrt(L) / S.sigma2, 1]])
    assert (D * block * D - li).applyfunc(sp.simplify).is_zero_matrix
    assert sp.simplify(li.det() - (S.sigma2 - L) / S.sigma2**2) == 0


def test_li_eq_24_numbers():
    """L = 4, sigma'^2 = 1.5: eigenvalues -0.510376 and 2.177043 (the brief's values)."""
    d = derive(learnable_encoder_variance())
    block = d.landscape.blocks["collapsed-free"].matrix
    # L = lambda eta^2 / (beta s^2) with s^2 = eta^2 = 1, beta = 1: lambda = 4.
    h = block.subs({S.lam_a: 4, S.sigma2: sp.Rational(3, 2), S.beta: 1, S.eta2: 1})
    D = np.diag([1.0, 1 / 2.0])  # 1/sqrt(s^2), 1/sqrt(beta lambda / eta^2)
    mu = np.linalg.eigvalsh(D @ np.array(h, dtype=float) @ D)
    np.testing.assert_allclose(mu, [-0.510376, 2.177043], atol=5e-7)


# -- the derived region inertia against numbers ---------------------------------------------
def _random_point(rng, region, names):
    """Numbers for the block's symbols that satisfy ``region`` (by its parametrisation)."""
    gaps = {sp.Symbol(n, positive=True): float(rng.uniform(0.05, 1.5)) for n in ("t", "q")}
    gaps[S.gap] = float(rng.uniform(0.05, 1.5))
    base = {x: float(rng.uniform(0.3, 2.5)) for x in names}
    sample = {k: v.subs(gaps).subs(base) for k, v in region.sample.items()}
    return {**base, **{k: float(v) for k, v in sample.items()}}


@pytest.mark.parametrize("name", SPECS)
def test_region_inertia_matches_numeric_eigenvalues(name):
    """Each block type, each region with a parametrisation: random points, numpy eigvalsh."""
    rng = np.random.default_rng(5)
    names = [S.sigma2, S.beta, S.eta2, S.zeta2, S.zeta2_j, S.zeta2_l, S.lam_a, S.u_j, S.u_l]
    for block in derive(SPECS[name]).landscape.blocks.values():
        for region in block.regions:
            if region.sample is None:
                continue
            for _ in range(3):
                point = _random_point(rng, region, names)
                mu = np.linalg.eigvalsh(np.array(block.matrix.subs(point), dtype=float))
                tol = 1e-9 * max(1.0, np.abs(mu).max())
                counts = (
                    int((mu > tol).sum()),
                    int((mu < -tol).sum()),
                    int((abs(mu) <= tol).sum()),
                )
                i = region.inertia
                assert counts == (i.positive, i.negative, i.zero), (block.name, region.name)


def test_anti_sorted_rotation_is_a_saddle():
    """The regions without a parametrisation (anti-sorted pairs) are classified from the
    determinant's factors: one negative eigenvalue.  Numbers: latents zeta^2 = 0.5, 1 on
    eigenvalues 1, 3 (the smaller variance on the smaller eigenvalue)."""
    d = derive(fixed_anisotropic_encoder_variance())
    rot = d.landscape.blocks["rotation"]
    (region,) = [r for r in rot.regions if r.name == "below/below"]
    assert region.inertia.negative == 1 and region.sample is None
    m = d.landscape.lambda_form(rot).subs(
        {S.lam_i: 1.0, S.lam_a: 3.0, S.zeta2_j: 0.5, S.zeta2_l: 1.0, S.sigma2: 0.4, S.beta: 1.0,
         S.eta2: 1.0}
    )  # fmt: skip
    assert int((np.linalg.eigvalsh(np.array(m, dtype=float)) < 0).sum()) == 1


# -- every stationary point against finite differences of the full objective ------------------
def _full_objective(X, d, k, variant, zeta2, sigma2, beta, eta2):
    m = X.mean(axis=0)
    n_s = k if variant == "learnable" else 0

    def f(theta):
        W = theta[: d * k].reshape(d, k)
        V = theta[d * k : 2 * d * k].reshape(k, d)
        s2 = theta[2 * d * k :] if n_s else np.asarray(zeta2, dtype=float)
        return objective(X, W, V, s2, m, sigma2, beta, eta2)

    return f


def _instance(seed: int, name: str):
    rng = np.random.default_rng(seed)
    d = int(rng.integers(1, 5))
    k = int(rng.integers(1, d + 1))
    lam = np.sort(rng.uniform(0.5, 4.0, d))[::-1]
    eta2, beta = float(rng.uniform(0.6, 1.6)), float(rng.uniform(0.6, 1.6))
    zeta2 = None
    if name == "fixed":
        zeta2 = float(rng.uniform(0.4, 1.5))
    elif name == "fixed-anisotropic":
        zeta2 = list(rng.uniform(0.4, 1.5, k))
    # sigma'^2 with some latents able to activate: below the largest threshold.
    sigma2 = float(rng.uniform(0.15, 0.6)) * float(lam[0]) / beta
    return lam, k, eta2, beta, zeta2, sigma2


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("name", SPECS)
def test_every_stationary_point_index_against_finite_differences(name, seed):
    lam, k, eta2, beta, zeta2, sigma2 = _instance(seed, name)
    variant = "learnable" if name == "learnable" else "fixed"
    d = lam.size
    points = stationary_points(lam, sigma2, beta, k, variant, eta2, zeta2)
    X, Q = rotated_data(lam, 300, seed=seed + 50)
    zfull = None if zeta2 is None else (zeta2 if isinstance(zeta2, list) else [zeta2] * k)
    f = _full_objective(X, d, k, variant, zfull, sigma2, beta, eta2)
    rng = np.random.default_rng(seed)
    if len(points) > 12:  # d = k = 4 has 209 points: a random dozen (finite differences cost)
        points = [points[i] for i in rng.choice(len(points), 12, replace=False)]
    assert points
    for pt in points:
        # The point in data coordinates: eigenvector i of the covariance is Q[:, i].
        W, V = Q @ pt.W, pt.V @ Q.T
        theta = np.concatenate([W.ravel(), V.ravel(), pt.s2 if variant == "learnable" else []])
        np.testing.assert_allclose(
            finite_difference_gradient(f, theta, GRADIENT_STEP), 0, atol=1e-7
        )
        numeric = np.sort(np.linalg.eigvalsh(finite_difference_hessian(f, theta, HESSIAN_STEP)))
        derived = np.sort(np.concatenate([b.eigenvalues for b in pt.blocks]))
        # The rotation is orthogonal, so the spectrum is the same in both bases; entries
        # are accurate to ~1e-6 (module docstring): 2e-5 absolute and relative.
        np.testing.assert_allclose(numeric, derived, rtol=2e-5, atol=2e-5)
        # Exact zeros of the blocks (symmetries) evaluate to rounding noise; every other
        # eigenvalue is resolved by the finite differences when |mu| > 1e-4 (20 x their
        # error), and its sign must be the one counted.
        zero = np.abs(derived) <= 1e-9 * max(1.0, np.abs(derived).max())
        assert pt.nullity == int(zero.sum())
        resolved = np.abs(derived) > 1e-4
        assert (zero | resolved).all(), derived
        assert pt.index == int((numeric[resolved] < 0).sum())


def test_minima_are_the_derived_optimum():
    """Index 0 (up to symmetry zeros) exactly at the pairing of the optimum: the smallest
    zeta^2 on the largest eigenvalue, collapsed latents not above any free eigenvalue."""
    from numerics.core._optimum import optimum

    lam, zeta2 = [4.0, 2.0, 1.0], [1.0, 0.3, 0.6]
    points = stationary_points(lam, 1.0, 1.0, 3, "fixed", 1.0, zeta2)
    minima = [p for p in points if p.index == 0]
    r = optimum(lam, 1.0, encoder_variance="fixed", zeta2=zeta2)
    expected = {m.latent - 1: m.index - 1 for m in r.modes if m.active}
    assert [p.pairing for p in minima] == [expected]


def test_bad_pairings():
    with pytest.raises(InputError, match="two latents on one direction"):
        stationary_point([4, 2], 1.0, pairing={0: 0, 1: 0})
    with pytest.raises(InputError, match="has no active point"):
        stationary_point([4, 0.5], 1.0, pairing={0: 1})
    with pytest.raises(InputError, match=r"not in 0\.\.1"):
        stationary_point([4, 2], 1.0, pairing={2: 0})
