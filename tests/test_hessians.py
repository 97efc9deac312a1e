"""Derived Hessians and stationary points against finite differences of a NumPy objective.

Independent route: the objective is the full data-matrix objective
of ``tests/helpers.py`` (written from the Gaussian identities, no SymPy), evaluated on
actual data.  For the per-mode checks it is restricted to one latent and one direction:
1-D data of empirical variance exactly lambda, decoder bias at the data mean, parameters
(w, v, s2) - or (w, v) with s2 = zeta2 for the fixed variant - in the order of
``spec.mode_parameters``.  The derived Hessian ``derive(spec).hessian`` at the derived
stationary points is compared with a central finite-difference Hessian of that function.

Finite-difference tolerances (used throughout): with step h = 1e-4 the truncation error of
the central second difference is at most (2h)^2 |f''''| / 12 (diagonal entries use an
effective step 2h) ~ 1e-8 * 250 / 3 ~ 8e-7 for the largest fourth derivative met here
(the 3 beta / s2^4 of the -beta/2 log s2 term at s2 = 0.4), and rounding adds
~4 eps |f| / (4 h^2) ~ 1e-7 for |f| <~ 10 (F is a mean over rows, exact to ~1e-15).
Observed: <= 9e-7.  Hence rtol = atol = 1e-5 leaves an order of magnitude.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from helpers import (
    VARIANTS,
    finite_difference_gradient,
    finite_difference_hessian,
    objective,
    rotated_data,
)

from theory import derive, fixed_encoder_variance, learnable_encoder_variance
from theory import symbols as S

SPECS = {"learnable": learnable_encoder_variance(), "fixed": fixed_encoder_variance()}
#: Rows of the 1-D and 3-D data sets.
N_ROWS = 2000
#: Finite-difference step for Hessians (see the module docstring for the error budget).
HESSIAN_STEP = 1e-4
#: Finite-difference step for gradients: error ~h^2 |f'''| + eps |f| / h ~ 1e-10.
GRADIENT_STEP = 1e-6

#: (lam, sigma2, beta, eta2, zeta2), with lam above and below the boundary (beta sigma2
#: for the learnable variant, beta sigma2 zeta2 / eta2 for the fixed one: both are
#: above or both below in every case; zeta2 is unused by the learnable variant).
PARAMETERS = [
    (3.0, 1.0, 1.0, 1.0, 1.0),  # above: 3 > 1, 1
    (0.5, 1.0, 1.0, 1.0, 1.0),  # below: 0.5 < 1, 1
    (2.0, 0.8, 1.5, 0.6, 0.4),  # above: 2 > 1.2, 0.8
    (1.0, 2.0, 0.7, 1.3, 2.1),  # below: 1 < 1.4, 2.26
    (5.0, 0.5, 2.0, 2.0, 3.0),  # above: 5 > 1, 1.5
    (0.9, 0.5, 2.5, 0.8, 0.7),  # below: 0.9 < 1.25, 1.09
]
PARAMETER_IDS = [
    f"lam={p[0]:g}-s2={p[1]:g}-beta={p[2]:g}-eta2={p[3]:g}-zeta2={p[4]:g}" for p in PARAMETERS
]


def _numbers(
    lam: float, sigma2: float, beta: float, eta2: float, zeta2: float
) -> dict[sp.Symbol, float]:
    return {S.lam: lam, S.sigma2: sigma2, S.beta: beta, S.eta2: eta2, S.zeta2: zeta2}


def mode_objective(
    variant: str, lam: float, sigma2: float, beta: float, eta2: float, zeta2: float, seed: int
):
    """Full NumPy objective restricted to one latent and one direction of variance ``lam``.

    Parameters
    ----------
    variant : {"learnable", "fixed"}
        Encoder-variance variant (decides whether s2 is an argument).
    lam, sigma2, beta, eta2, zeta2 : float
        Data variance, decoder variance, KL weight, prior variance, fixed encoder variance.
    seed : int
        Seed of the 1-D data.

    Returns
    -------
    callable
        ``f(p)`` with ``p = (w, v, s2)`` (learnable) or ``(w, v)`` (fixed).
    """
    X, _ = rotated_data([lam], N_ROWS, seed=seed)
    b = X.mean(axis=0)  # the optimal bias; the per-mode problem has b = m

    def f(p: np.ndarray) -> float:
        s2 = p[2] if variant == "learnable" else zeta2
        W, V = np.array([[p[0]]]), np.array([[p[1]]])
        return objective(X, W, V, np.array([s2]), b, sigma2, beta, eta2)

    return f


def numeric_point(variant: str, name: str, numbers: dict) -> np.ndarray | None:
    """The derived stationary point ``name`` as a float vector, or None if not real."""
    spec = SPECS[variant]
    values = derive(spec).point(name).values
    point = [complex(sp.N(sp.sympify(values[p]).subs(numbers))) for p in spec.mode_parameters]
    if any(abs(z.imag) > 0 for z in point):
        return None
    real = np.array([z.real for z in point])
    if variant == "learnable" and real[2] <= 0:  # a variance must be positive
        return None
    return real


def derived_hessian(variant: str, name: str, numbers: dict) -> np.ndarray:
    """``derive(spec).hessian`` at the derived point ``name``, as a float array."""
    d = derive(SPECS[variant])
    at_point = d.hessian.subs(d.point(name).values, simultaneous=True)
    return np.array(at_point.subs(numbers).evalf(), dtype=float)


# -- per-mode Hessians ----------------------------------------------------------------------
def _above(params: tuple[float, ...], variant: str = "learnable") -> bool:
    """Where the literature has an active point.

    lam > beta sigma2 (learnable: Wang & Ziyin 2022, Thm 2); lam > beta sigma2 zeta2 / eta2
    (fixed: Dang et al. 2024, Thm 1, with eta2 = 1 there).
    """
    lam, sigma2, beta, eta2, zeta2 = params
    return lam > beta * sigma2 * (1.0 if variant == "learnable" else zeta2 / eta2)


#: (point name, parameters): the collapsed point everywhere, the active one where it exists
#: (the cases are chosen so that both variants agree on where that is).
POINT_CASES = [
    pytest.param(name, p, id=f"{name}-{pid}")
    for name in ("collapsed", "active")
    for p, pid in zip(PARAMETERS, PARAMETER_IDS, strict=True)
    if name == "collapsed" or _above(p)
]


@pytest.mark.parametrize("params", PARAMETERS, ids=PARAMETER_IDS)
@pytest.mark.parametrize("variant", VARIANTS)
def test_active_point_is_real_exactly_above_the_boundary(variant, params):
    """The derived active point has real parameters (and s2 > 0) iff lam > beta sigma2."""
    found = numeric_point(variant, "active", _numbers(*params)) is not None
    assert found == _above(params, variant)


@pytest.mark.parametrize(("name", "params"), POINT_CASES)
@pytest.mark.parametrize("variant", VARIANTS)
def test_mode_hessian_matches_finite_differences(variant, name, params):
    """The derived point is stationary and ``d.hessian`` there equals the FD Hessian."""
    numbers = _numbers(*params)
    point = numeric_point(variant, name, numbers)
    assert point is not None
    f = mode_objective(variant, *params, seed=17)
    # The derived point is stationary for the independent objective.  FD gradient error
    # ~1e-10 (GRADIENT_STEP; observed <= 2.3e-10); 1e-7 absolute is the bound.
    np.testing.assert_allclose(finite_difference_gradient(f, point, GRADIENT_STEP), 0, atol=1e-7)
    expected = derived_hessian(variant, name, numbers)
    numeric = finite_difference_hessian(f, point, HESSIAN_STEP)
    # rtol = atol = 1e-5: see the error budget in the module docstring.
    np.testing.assert_allclose(numeric, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("variant", VARIANTS)
def test_mode_hessian_away_from_stationary_points(variant):
    """The symbolic Hessian as a function, at an arbitrary (non-stationary) point."""
    spec = SPECS[variant]
    lam, sigma2, beta, eta2, zeta2 = 2.0, 0.8, 1.5, 0.6, 0.45
    point = np.array([0.7, -0.4, 0.5])[: len(spec.mode_parameters)]
    numbers = _numbers(lam, sigma2, beta, eta2, zeta2) | dict(
        zip(spec.mode_parameters, point.tolist(), strict=True)
    )
    expected = np.array(derive(spec).hessian.subs(numbers).evalf(), dtype=float)
    numeric = finite_difference_hessian(
        mode_objective(variant, lam, sigma2, beta, eta2, zeta2, seed=18), point, HESSIAN_STEP
    )
    # Same error budget as above: rtol = atol = 1e-5.
    np.testing.assert_allclose(numeric, expected, rtol=1e-5, atol=1e-5)


# -- inertia of the full collapsed point ------------------------------------------------------
FULL_SPECTRUM = (4.0, 2.0, 1.0)
#: (beta, sigma2, eta2, zeta2) putting beta sigma2 (times zeta2 / eta2 for the fixed
#: variant) in each gap of FULL_SPECTRUM.
FULL_CASES = [
    (1.0, 5.0, 1.0, 1.0),  # beta sigma2 = 5: no direction unstable
    (1.0, 3.0, 1.0, 1.0),  # 3: lambda = 4 unstable
    (0.5, 3.0, 1.0, 1.0),  # 1.5: 4 and 2
    (1.0, 1.5, 0.7, 0.7),  # 1.5: 4 and 2, eta2 != 1
    (2.0, 0.4, 1.3, 1.3),  # 0.8: all three
    (1.0, 3.0, 1.0, 0.5),  # fixed: 1.5, 4 and 2 (learnable: 3, only 4)
]
FULL_IDS = [f"beta={c[0]:g}-s2={c[1]:g}-eta2={c[2]:g}-zeta2={c[3]:g}" for c in FULL_CASES]


@pytest.mark.parametrize("case", FULL_CASES, ids=FULL_IDS)
@pytest.mark.parametrize("variant", VARIANTS)
def test_full_collapsed_point_negative_directions(variant, case):
    """d = 3, k = 2, diagonal Sigma: negative curvatures at W = 0, V = 0, s2 = eta2, b = m.

    Every (latent, data direction) pair contributes one (W_ij, V_ji) block, unstable iff
    lambda_i > beta sigma2, so the count is k * #{i : lambda_i > beta sigma2}.  The
    parameters are W (3 x 2), V (2 x 3), s2 (2, learnable only, not log-transformed: at a
    stationary point the inertia does not depend on the parametrisation) and b (3).
    """
    beta, sigma2, eta2, zeta2 = case
    d, k = len(FULL_SPECTRUM), 2
    X, _ = rotated_data(FULL_SPECTRUM, N_ROWS, seed=29, rotate=False)
    m = X.mean(axis=0)
    n_s2 = k if variant == "learnable" else 0

    def f(theta: np.ndarray) -> float:
        W = theta[: d * k].reshape(d, k)
        V = theta[d * k : 2 * d * k].reshape(k, d)
        s2 = theta[2 * d * k : 2 * d * k + n_s2] if n_s2 else np.full(k, zeta2)
        b = theta[2 * d * k + n_s2 :]
        return objective(X, W, V, s2, b, sigma2, beta, eta2)

    collapsed = np.concatenate([np.zeros(2 * d * k), np.full(n_s2, eta2), m])
    # The collapsed point is stationary (FD gradient error ~1e-10; bound 1e-7).
    np.testing.assert_allclose(
        finite_difference_gradient(f, collapsed, GRADIENT_STEP), 0, atol=1e-7
    )
    eigenvalues = np.linalg.eigvalsh(finite_difference_hessian(f, collapsed, HESSIAN_STEP))
    # FD entries are accurate to ~1e-6 (module docstring); away from the critical points
    # every eigenvalue is O(0.1) or more, so a 1e-3 gap makes the sign count unambiguous.
    assert np.min(np.abs(eigenvalues)) > 1e-3, eigenvalues
    n_negative = int(np.sum(eigenvalues < 0))

    # The literature's count (Li et al. 2025; with a fixed zeta2 the boundary of Dang et
    # al. 2024) ...
    scale = 1.0 if variant == "learnable" else zeta2 / eta2
    assert n_negative == k * sum(lam > beta * sigma2 * scale for lam in FULL_SPECTRUM)
    # ... and the count implied by the derived per-mode Hessian at collapse, lambda_i each.
    numbers = {S.sigma2: sigma2, S.beta: beta, S.eta2: eta2, S.zeta2: zeta2}
    per_mode = 0
    for lam in FULL_SPECTRUM:
        h = derived_hessian(variant, "collapsed", numbers | {S.lam: lam})
        per_mode += int(np.sum(np.linalg.eigvalsh(h) < 0))
    assert n_negative == k * per_mode
