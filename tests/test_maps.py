"""Maps against independent routes: direct minimisation, finite differences, mpmath."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
import sympy as sp
from helpers import Packing, objective_and_gradient, rotated_data
from scipy.optimize import minimize

from numerics.core._bridge import compiled_laws
from numerics.core._maps import collapse_map, phase_diagram
from theory import derive, linear_vae
from theory import symbols as S

SPECTRUM = (3.0, 2.0, 0.5)
VARIANTS = ("learnable", "fixed")


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("vary", ["sigma2", "beta"])
def test_critical_points_are_exact(variant, vary):
    """Critical values sit exactly at lambda / beta (or lambda / sigma'^2), not on a grid."""
    r = collapse_map(SPECTRUM, variable=vary, beta=0.7, sigma2=0.9, encoder_variance=variant)
    other = 0.7 if vary == "sigma2" else 0.9
    assert [c.value for c in r.critical_points] == [lam / other for lam in SPECTRUM]
    assert [c.modes for c in r.critical_points] == [(1,), (2,), (3,)]


@pytest.mark.parametrize("variant", VARIANTS)
def test_map_values_vs_direct_minimisation(variant):
    """Sampled neg_elbo and total KL vs unrestricted minimisation of the full objective."""
    beta = 1.0
    r = collapse_map(SPECTRUM, beta=beta, encoder_variance=variant, points=7)
    X, _ = rotated_data(SPECTRUM, 1000, seed=11)
    rng = np.random.default_rng(12)
    packing = Packing(d=3, k=3, variant=variant, eta2=1.0)
    # Skip points within 5% of a critical value: there the minimum is flat and a
    # first-order optimiser converges slowly; the exact values there are tested below.
    crit = np.array([c.value for c in r.critical_points])
    picked = [i for i, x in enumerate(r.grid) if np.min(np.abs(x / crit - 1)) > 0.05][::2]
    assert len(picked) >= 3
    for i in picked:
        s2 = float(r.grid[i])
        best = min(
            (
                minimize(
                    objective_and_gradient,
                    packing.random(rng, scale=0.5),
                    args=(X, packing, s2, beta),
                    jac=True,
                    method="L-BFGS-B",
                    options={"maxiter": 20000, "ftol": 1e-16, "gtol": 1e-11},
                )
                for _ in range(3)
            ),
            key=lambda res: res.fun,
        )
        # rtol 1e-7: L-BFGS-B stops at ~1e-12 in gradient; F is quadratic near the optimum.
        assert best.fun == pytest.approx(r.curves["neg_elbo"][i], rel=1e-7)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("vary", ["sigma2", "beta"])
def test_reported_jumps_vs_finite_differences(variant, vary):
    """Left/right derivatives at each critical point vs one-sided differences of the curves."""
    other = {"sigma2": {"beta": 0.8}, "beta": {"sigma2": 1.3}}[vary]

    def totals(x: float) -> tuple[float, float]:
        r = collapse_map(
            SPECTRUM,
            variable=vary,
            encoder_variance=variant,
            lo=x,
            hi=x * (1 + 1e-15),
            points=2,
            **other,
        )
        return r.curves["kl_total"][0], r.curves["neg_elbo"][0]

    r = collapse_map(SPECTRUM, variable=vary, encoder_variance=variant, points=5, **other)
    for c in r.critical_points:
        x = c.value
        h = 1e-6 * x  # one-sided first differences, truncation error ~ h * f'' ~ 1e-6
        k0, f0 = totals(x)
        kl_m, f_m = totals(x - h)
        kl_p, f_p = totals(x + h)
        assert (k0 - kl_m) / h == pytest.approx(c.derivatives["kl"][1].left, rel=1e-4, abs=1e-6)
        assert (kl_p - k0) / h == pytest.approx(c.derivatives["kl"][1].right, rel=1e-4, abs=1e-6)
        assert (f0 - f_m) / h == pytest.approx(
            c.derivatives["neg_elbo"][1].left, rel=1e-4, abs=1e-6
        )
        assert (f_p - f0) / h == pytest.approx(
            c.derivatives["neg_elbo"][1].right, rel=1e-4, abs=1e-6
        )
        h2 = 1e-3 * x  # one-sided second differences: truncation error ~ h * f''' ~ 1e-3
        f_mm = totals(x - 2 * h2)[1]
        f_m2 = totals(x - h2)[1]
        f_p2 = totals(x + h2)[1]
        f_pp = totals(x + 2 * h2)[1]
        left2 = (f0 - 2 * f_m2 + f_mm) / h2**2
        right2 = (f_pp - 2 * f_p2 + f0) / h2**2
        # rel: the O(h * third derivative) truncation error, ~0.3% of the value; abs: a
        # fraction of the jump, so the test still tells the two sides apart.
        scale = abs(c.derivatives["neg_elbo"][2].jump)
        d2 = c.derivatives["neg_elbo"][2]
        assert left2 == pytest.approx(d2.left, rel=5e-3, abs=2e-2 * scale)
        assert right2 == pytest.approx(d2.right, rel=5e-3, abs=2e-2 * scale)
        assert abs(right2 - left2 - d2.jump) < 0.1 * scale + 1e-2 * abs(d2.left)


def _mp_law(variant: str, q: str):
    law = derive(linear_vae(variant)).optimum.active[q]
    return sp.lambdify((S.lam, S.sigma2, S.beta, S.eta2, S.zeta2), law, "mpmath")


#: (variant, eta2, zeta2): the fixed variant with zeta2 = eta2 and with zeta2 != eta2.
ACCURACY_MODELS = [("learnable", 1.0, 1.0), ("fixed", 1.0, 1.0), ("fixed", 1.3, 0.7)]


@pytest.mark.parametrize("model", ACCURACY_MODELS, ids=lambda m: "{}-eta2={}-zeta2={}".format(*m))
@pytest.mark.parametrize("beta", [1.0, 0.7, 3.3])
@pytest.mark.parametrize("lam", [2.5, 1e-3, 417.0])
def test_accuracy_next_to_critical_point(model, beta, lam):
    """At sigma'^2 = sigma'^2_c (1 - 1e-12): 1e-10 relative against 50-digit mpmath.

    sigma'^2_c = lambda / beta (learnable; Li et al. 2025) or eta2 lambda / (beta zeta2)
    (fixed; Dang et al. 2024, Thm 1).  The reference evaluates the theory's law, as
    printed, at the very same float inputs in 50-digit arithmetic; the compiled law is
    the cancellation-free form.
    """
    variant, eta2, zeta2 = model
    laws = compiled_laws(variant)
    crit = lam / beta if variant == "learnable" else eta2 * lam / (beta * zeta2)
    s2 = crit * (1 - 1e-12)
    assert laws.is_active(lam, s2, beta, eta2, zeta2)
    mpmath.mp.dps = 50
    try:
        for q in ("kl", "order_parameter", "decoder_norm", "encoder_variance", "neg_elbo"):
            got = float(laws.active_value(q, lam, s2, beta, eta2, zeta2))
            mp = [mpmath.mpf(x) for x in (lam, s2, beta, eta2, zeta2)]
            ref = _mp_law(variant, q)(*mp)
            assert got == pytest.approx(float(ref), rel=1e-10), q
    finally:
        mpmath.mp.dps = 15
    # Just above the critical point the mode is collapsed.
    assert not laws.is_active(lam, crit * (1 + 1e-12), beta, eta2, zeta2)


def test_phase_diagram_counts():
    """Active latents = #{i <= k: lambda_i > beta sigma'^2} at every grid point."""
    pd = phase_diagram(SPECTRUM, latent_dim=2, points=40)
    lam = np.array(SPECTRUM[:2])
    expected = (lam[:, None, None] > pd.beta[None, :, None] * pd.sigma2[None, None, :]).sum(0)
    assert (pd.n_active == expected).all()
    assert pd.n_active.max() == 2 and pd.n_active.min() == 0


def test_map_bad_inputs():
    with pytest.raises(ValueError, match="variable='gamma'"):
        collapse_map(SPECTRUM, variable="gamma")
    with pytest.raises(ValueError, match="needs a fixed sigma2"):
        collapse_map(SPECTRUM, variable="beta")
    with pytest.raises(ValueError, match="0 < LO < HI"):
        collapse_map(SPECTRUM, lo=2.0, hi=1.0)
    with pytest.raises(ValueError, match="points=1"):
        collapse_map(SPECTRUM, points=1)
