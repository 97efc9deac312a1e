"""Certified thresholds: the printed bound is a true bound on |printed - exact|.

Independent route: the exact critical values of a rational spectrum are rationals,
computed here with Python's ``fractions`` from the literature's law sigma'^2_c =
eta^2-free lambda / beta (Li et al., arXiv 2510.01621; Wang & Ziyin 2022, Thm 2), not
with the toolkit; for data, the oracle is mpmath's eigensolver at twice the precision.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from numerics.spectra import exact_thresholds
from numerics.spectra._decimal import format_upper, print_with_bound

rationals = st.builds(Fraction, st.integers(1, 10**6), st.integers(1, 10**4))


def _value(text: str) -> Fraction:
    return Fraction(Decimal(text))


@settings(max_examples=300, deadline=None)
@given(
    spectrum=st.lists(rationals, min_size=1, max_size=4),
    beta=rationals,
    digits=st.integers(1, 40),
    variant=st.sampled_from(["learnable", "fixed"]),
)
def test_printed_bound_bounds_the_exact_error(spectrum, beta, digits, variant):
    r = exact_thresholds(spectrum, beta=beta, digits=digits, encoder_variance=variant)
    exact = sorted((lam / beta for lam in spectrum), reverse=True)
    for printed, bound, truth in zip(r.critical_sigma2, r.certified_error, exact, strict=True):
        assert _value(bound) >= abs(_value(printed) - truth)
        assert len(printed.replace(".", "").replace("-", "").lstrip("0").split("e")[0]) <= digits
    for printed, bound, truth in zip(
        r.eigenvalues, r.eigenvalue_errors, sorted(spectrum, reverse=True), strict=True
    ):
        assert _value(bound) >= abs(_value(printed) - truth)


def test_the_example_of_the_review_prints_a_true_bound():
    """4, 2, 1/3 at beta = 0.7, 25 digits: the third value was printed with a bound
    (2.38e-26) below its true error 2.38095...e-26."""
    r = exact_thresholds(
        [Fraction(4), Fraction(2), Fraction(1, 3)], beta=Fraction(7, 10), digits=25
    )
    error = abs(_value(r.critical_sigma2[2]) - Fraction(10, 21))
    assert error == Fraction(1, 42 * 10**24)  # 2.380952...e-26
    assert _value(r.certified_error[2]) >= error
    assert r.certified_error[2] == "2.39e-26"


@settings(max_examples=300, deadline=None)
@given(x=st.fractions(min_value=0, max_value=10**30), digits=st.integers(1, 6))
def test_format_upper_never_rounds_down(x, digits):
    assert _value(format_upper(x, digits)) >= x


@settings(max_examples=200, deadline=None)
@given(x=st.fractions(min_value=Fraction(1, 10**20), max_value=10**20), digits=st.integers(1, 30))
def test_print_with_bound_of_an_exact_value(x, digits):
    printed, bound = print_with_bound(x, 0, digits)
    assert _value(bound) >= abs(_value(printed) - x)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_data_thresholds_against_a_high_precision_eigensolver(seed):
    rng = np.random.default_rng(seed)
    X = rng.integers(-9, 10, size=(12, 4)).astype(float) / 7
    digits = 30
    r = exact_thresholds(data=X, beta=Fraction(3, 2), digits=digits)
    n = X.shape[0]
    with mpmath.workdps(2 * digits + 20):
        rows = [[mpmath.mpf(Fraction(v).numerator) / Fraction(v).denominator for v in x] for x in X]
        m = [sum(r_[j] for r_ in rows) / n for j in range(4)]
        C = mpmath.matrix(4, 4)
        for i in range(4):
            for j in range(4):
                C[i, j] = sum((r_[i] - m[i]) * (r_[j] - m[j]) for r_ in rows) / n
        oracle = sorted(mpmath.eigsy(C, eigvals_only=True), reverse=True)
        for printed, bound, lam in zip(r.critical_sigma2, r.certified_error, oracle, strict=True):
            truth = lam / mpmath.mpf(1.5)
            assert mpmath.mpf(bound) >= abs(mpmath.mpf(printed) - truth)
            assert mpmath.mpf(bound) <= 10 ** (-digits + 1) * abs(truth)
