"""The whole float64 range: every answer is right, or the input is refused in one line.

The oracle is the derived SymPy law (``theory.derive``) evaluated in exact rational
arithmetic and mpmath at 60 digits on the same float inputs: a route independent of
the compiled NumPy laws, their cancellation-free forms and the double-double gap.
A value below float64's range is right as 0 (its correctly rounded double); a refusal
is accepted only where the oracle shows a reported value beyond float64's largest.
"""

from __future__ import annotations

import math
import sys
from fractions import Fraction

import numpy as np
import pytest
import sympy as sp

from numerics.core._optimum import optimum, thresholds
from numerics.core._validation import InputError
from theory import derive, linear_vae
from theory import symbols as S

QUANTITIES = ("kl", "encoder_variance", "decoder_norm", "neg_elbo")
#: Absolute slack of a subnormal result: a few units of its last place (2**-1074).
SUBNORMAL_ULP = 4 * 5e-324


def _exact(x: float) -> sp.Rational:
    q = Fraction(x)
    return sp.Rational(q.numerator, q.denominator)


def _oracle(variant: str, lam: float, sigma2: float, beta: float, zeta2: float | None):
    """Per-mode values and lambda / lambda_c from the derivation, at 60 digits."""
    d = derive(linear_vae(variant))
    sub = {S.lam: _exact(lam), S.sigma2: _exact(sigma2), S.beta: _exact(beta), S.eta2: 1}
    if zeta2 is not None:
        sub[S.zeta2] = _exact(zeta2)
    boundary = d.mode.critical_boundary.subs(sub)
    ratio = sp.Rational(sub[S.lam]) / boundary
    side = d.optimum.active if ratio > 1 else d.optimum.collapsed
    values = {q: sp.N(side[q].subs(sub), 60) for q in QUANTITIES}
    return values, sp.N(ratio, 30)


def _representable(x) -> bool:
    return x == 0 or float(sys.float_info.min) <= abs(x) <= float(sys.float_info.max)


CASES = [
    pytest.param(variant, seed, id=f"{variant}-{seed}")
    for variant in ("learnable", "fixed")
    for seed in range(12)
]


@pytest.mark.parametrize(("variant", "seed"), CASES)
def test_optimum_is_right_or_refused(variant, seed):
    rng = np.random.default_rng(seed)
    # Log-uniform over nearly all of float64, with one case in four near the boundary.
    lam, sigma2, beta = 10.0 ** rng.uniform(-300, 300, 3)
    zeta2 = float(10.0 ** rng.uniform(-5, 5)) if variant == "fixed" else None
    if seed % 4 == 0:
        near = Fraction(lam) / (Fraction(beta) * Fraction(zeta2 or 1.0))
        near *= 1 + Fraction(10.0 ** rng.uniform(-12, -3))
        if _representable(near):  # else keep the drawn sigma2
            sigma2 = float(near)
    values, ratio = _oracle(variant, lam, sigma2, beta, zeta2)
    reason = ratio > 2**1020 or not all(_representable(v) for v in values.values() if v != 0)
    try:
        r = optimum([lam], sigma2, beta, encoder_variance=variant, zeta2=zeta2)
    except InputError as exc:
        assert "\n" not in str(exc)
        assert reason, f"refused without a reason: {exc}"
        return
    mode = r.modes[0]
    for q in QUANTITIES:
        want = float(values[q])  # correctly rounded: 0 below float64's range
        got = getattr(mode, q)
        assert abs(got - want) <= 1e-9 * abs(want) + SUBNORMAL_ULP, (q, got, want)


@pytest.mark.parametrize("seed", range(20))
def test_thresholds_correctly_rounded_or_refused(seed):
    rng = np.random.default_rng(100 + seed)
    lam = float(10.0 ** rng.uniform(-307, 308))
    beta = float(10.0 ** rng.uniform(-300, 300))
    exact = Fraction(lam) / Fraction(beta)  # sigma2_c = lambda / beta (Li et al., learnable)
    try:
        r = thresholds([lam], beta)
    except InputError as exc:
        assert not _representable(exact), f"refused without a reason: {exc}"
        return
    assert r.critical_sigma2[0] == float(exact)  # the double nearest the exact value


@pytest.mark.parametrize(
    ("lam", "sigma2", "expected"),
    [
        # lambda / lambda_c = 2: the double-double gap once overflowed in Veltkamp's split
        # (2**27 + 1) * 1e301 and called the mode collapsed.
        (1e301, 5e300, "active"),
        (1.7e308, 1e308, "active"),
        (1e-300, 2e-300, "collapsed"),
    ],
)
def test_gap_near_the_ends_of_the_range(lam, sigma2, expected):
    r = optimum([lam], sigma2)
    assert r.modes[0].active == (expected == "active")
    if expected == "active":
        assert r.modes[0].encoder_variance == pytest.approx(sigma2 / lam, rel=1e-15)
        assert r.modes[0].kl == pytest.approx(0.5 * math.log(lam / sigma2), rel=1e-14)


def test_the_reviewed_extreme_case():
    """lambda = 1e300, sigma'^2 = 1e-300: lambda / (beta sigma'^2) = 1e600 is beyond
    float64, the answers are not: KL = 1/2 log 1e600, |w| = sqrt(1e300 - 1e-300) = 1e150,
    F = 1/2 log(2 pi sigma'^2) + 1/2 (1 + log 1e600) (Li et al., arXiv 2510.01621),
    and the encoder variance 1e-600 rounds to 0."""
    mode = optimum([1e300], 1e-300).modes[0]
    assert mode.kl == pytest.approx(0.5 * 600 * math.log(10), rel=1e-15)
    assert mode.decoder_norm == pytest.approx(1e150, rel=1e-15)
    assert mode.encoder_variance == 0.0
    neg_elbo = 0.5 * (math.log(2 * math.pi) - 300 * math.log(10)) + 0.5 * (1 + 600 * math.log(10))
    assert optimum([1e300], 1e-300).neg_elbo == pytest.approx(neg_elbo, rel=1e-13)
