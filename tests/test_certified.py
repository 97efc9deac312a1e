"""Tests of :mod:`numerics.spectra._certified`: exact covariance, certified eigenvalues, printing.

Every check uses a route independent of the code under test: NumPy's float64 covariance
and ``eigvalsh``; SymPy's exact rational arithmetic; matrices with exactly known spectra
(Q diag(e) Q^T with Q an exactly orthogonal rational matrix from a Cayley transform);
exact real-root isolation of the characteristic polynomial (SymPy); exact traces; and
``decimal`` for rounding.  Comparisons against exact values are exact (Fractions); every
floating comparison states its tolerance and why.
"""

from __future__ import annotations

import random
import warnings
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from fractions import Fraction

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from numerics.spectra import _certified as certified
from numerics.spectra._certified import (
    CertifiedSpectrum,
    certified_covariance_spectrum,
    certified_eigenvalues,
    exact_covariance,
    format_significant,
    printed_error_bound,
)

# NumPy RuntimeWarnings are errors here: the exact route must not overflow quietly.
pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")


def frac(x) -> Fraction:
    """Exact rational value of an mpf / SymPy rational / float (test-side conversion)."""
    if isinstance(x, mpmath.mpf):
        sign, man, exp, _ = x._mpf_
        man = -man if sign else man
        return Fraction(man * 2**exp) if exp >= 0 else Fraction(man, 2**-exp)
    if isinstance(x, sp.Basic):
        r = sp.Rational(x)
        return Fraction(int(r.p), int(r.q))
    return Fraction(x)


def cayley_orthogonal(n: int, seed: int) -> sp.Matrix:
    """An exactly orthogonal rational matrix: Q = (I - S)^-1 (I + S), S skew integer."""
    rng = np.random.default_rng(seed)
    S = sp.zeros(n, n)
    for i in range(n):
        for j in range(i + 1, n):
            v = int(rng.integers(-3, 4))
            S[i, j], S[j, i] = v, -v
    eye = sp.eye(n)
    Q = (eye - S).inv() * (eye + S)
    assert Q.T * Q == eye  # exact, so the spectrum of Q diag(e) Q^T is exactly e
    return Q


def known_spectrum_matrix(e: list, seed: int = 1) -> sp.Matrix:
    Q = cayley_orthogonal(len(e), seed)
    return Q * sp.diag(*e) * Q.T


def assert_certified(spec: CertifiedSpectrum, exact: list[Fraction]) -> None:
    """|computed_i - exact_i| <= bound_i, exactly, with both sorted descending."""
    exact = sorted(exact, reverse=True)
    assert len(spec.eigenvalues) == len(exact)
    for i, (x, b, t) in enumerate(zip(spec.eigenvalues, spec.error_bounds, exact, strict=True)):
        assert abs(frac(x) - t) <= frac(b), f"eigenvalue {i}: {x} vs {t}, bound {b}"
        lo, hi = spec.interval(i)
        assert frac(lo) <= t <= frac(hi)


# ---------------------------------------------------------------------------------------
# exact_covariance
# ---------------------------------------------------------------------------------------


def test_exact_covariance_matches_numpy():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 6)) * np.array([1e-3, 1.0, 30.0, 1e4, 2.0, 0.5]) + 3.0
    exact = np.array([[float(v) for v in row] for row in exact_covariance(X)])
    ref = np.cov(X.T, bias=True)
    # np.cov centres then multiplies in float64: its error is a few ulps of the largest
    # entries (~1e-16 * N-dependent growth), so compare entrywise to 1e-13 of each entry's
    # natural scale sqrt(Sigma_ii Sigma_jj) (off-diagonal entries can be near zero).
    scale = np.sqrt(np.outer(np.diag(ref), np.diag(ref)))
    np.testing.assert_array_less(np.abs(exact - ref), 1e-13 * scale)
    exact_u = np.array([[float(v) for v in row] for row in exact_covariance(X, centred=False)])
    ref_u = X.T @ X / X.shape[0]
    scale_u = np.sqrt(np.outer(np.diag(ref_u), np.diag(ref_u)))
    np.testing.assert_array_less(np.abs(exact_u - ref_u), 1e-13 * scale_u)  # same reason


def test_exact_covariance_matches_sympy_exactly():
    # Floats spanning the whole exponent range (exact binary values), a negative zero,
    # and an integer column: SymPy's Rational(float) is exact, so equality must be exact.
    X = np.array(
        [
            [0.1, 1e300, -2.5, 3.0],
            [-0.0, 1e-300, 7.0, 1.0],
            [1 / 3, -4e299, 0.125, 2.0],
        ]
    )
    Xs = sp.Matrix([[sp.Rational(float(v)) for v in row] for row in X])
    N = Xs.rows
    mean = sum((Xs.row(n) for n in range(N)), sp.zeros(1, Xs.cols)) / N
    cent = sum(((Xs.row(n) - mean).T * (Xs.row(n) - mean) for n in range(N)), sp.zeros(Xs.cols)) / N
    unc = Xs.T * Xs / N
    got = exact_covariance(X)
    got_u = exact_covariance(X, centred=False)
    for j in range(Xs.cols):
        for k in range(Xs.cols):
            assert got[j][k] == frac(cent[j, k])
            assert got_u[j][k] == frac(unc[j, k])
    # Integer and exact-rational (object) inputs take other code paths: same answer.
    Xi = np.array([[1, 2], [3, -5], [0, 7]])
    assert exact_covariance(Xi) == exact_covariance(Xi.astype(float))
    Xo = np.array([[Fraction(1, 3), 2], [Fraction(-2, 7), 5]], dtype=object)
    m = [(Fraction(1, 3) + Fraction(-2, 7)) / 2, Fraction(7, 2)]
    d = [[Fraction(1, 3) - m[0], 2 - m[1]], [Fraction(-2, 7) - m[0], 5 - m[1]]]
    want = [[(d[0][j] * d[0][k] + d[1][j] * d[1][k]) / 2 for k in range(2)] for j in range(2)]
    assert exact_covariance(Xo) == want


# The certificate is only as exact as the integer products behind it: check the float64
# BLAS limb products against plain Python-integer arithmetic, with tiny chunks forced so
# that the chunking and int64 flushing paths run too.


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 12),
    st.integers(1, 12),
    st.integers(1, 12),
    st.integers(1, 400),
    st.integers(1, 400),
    st.integers(0, 2**32),
)
def test_exact_matmul_matches_python_integers(n, k, m, bits_a, bits_b, seed):
    rng = random.Random(seed)

    def rand(rows, cols, bits):
        vals = [rng.getrandbits(bits) * rng.choice((-1, 1)) for _ in range(rows * cols)]
        return np.array(vals, dtype=object).reshape(rows, cols)

    A, B = rand(n, k, bits_a), rand(k, m, bits_b)
    want = A @ B  # Python integers
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(certified, "_MAX_INNER", 3)
        mp.setattr(certified, "_MAX_LIMB_PAIRS", 10**9)
        mp.setattr(certified, "_MAX_LIMB_RATIO", 10**9)
        got = certified._exact_matmul(A, B, tiny=0)
    assert (got == want).all()


@pytest.mark.parametrize("block_entries", [1, 1 << 22])
def test_exact_covariance_chunked_wide_exponents(monkeypatch, block_entries):
    # Wide exponent ranges (long limb expansions), signs and zeros; row chunks of 5 and an
    # int64 flush after every chunk.  Reference: Python Fractions, term by term.
    rng = np.random.default_rng(7)
    X = rng.normal(size=(23, 3)) * 10.0 ** rng.integers(-40, 40, size=(23, 3))
    X[3, 1] = 0.0
    X[:, 2] = np.round(X[:, 2] * 0) + 5.0  # a constant column
    monkeypatch.setattr(certified, "_MAX_INNER", 5)
    monkeypatch.setattr(certified, "_FLUSH_TERMS", 1)
    monkeypatch.setattr(certified, "_BLOCK_ENTRIES", block_entries)  # both BLAS layouts
    got = exact_covariance(X)
    F = [[Fraction(float(v)) for v in row] for row in X]
    N, d = len(F), 3
    mean = [sum(F[n][j] for n in range(N)) / N for j in range(d)]
    for j in range(d):
        for k in range(d):
            want = sum((F[n][j] - mean[j]) * (F[n][k] - mean[k]) for n in range(N)) / N
            assert got[j][k] == want
    assert all(v == 0 for v in got[2])


def test_exact_covariance_of_huge_rationals():
    # Exact rational data whose common denominators have thousands of bits (the Python-
    # integer Gram path); reference: Fractions term by term.
    rng = random.Random(11)
    X = np.array(
        [
            [Fraction(rng.getrandbits(64) - 2**63, rng.getrandbits(1500) | 1) for _ in range(3)]
            for _ in range(6)
        ],
        dtype=object,
    )
    got = exact_covariance(X)
    N = 6
    mean = [sum(X[n, j] for n in range(N)) / N for j in range(3)]
    for j in range(3):
        for k in range(3):
            want = sum((X[n, j] - mean[j]) * (X[n, k] - mean[k]) for n in range(N)) / N
            assert got[j][k] == want


def test_certified_spectrum_of_data_near_the_float_limits():
    """Entries near 1e300: exact arithmetic, no overflow and no warning.

    The covariance has entries near 1e600, far beyond float64; reference: its exact
    Fraction covariance, eigen-solved by mpmath at 60 digits (an independent route).
    """
    rng = np.random.default_rng(3)
    X = rng.normal(size=(9, 3)) * 1e300
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        spec = certified_covariance_spectrum(X, 20)
    F = [[Fraction(float(v)) for v in row] for row in X]
    mean = [sum(r[j] for r in F) / 9 for j in range(3)]
    C = [
        [sum((r[j] - m) * (r[k] - mean[k]) for r in F) / 9 for k in range(3)]
        for j, m in enumerate(mean)
    ]
    with mpmath.workdps(60):
        A = mpmath.matrix([[mpmath.mpf(c.numerator) / c.denominator for c in row] for row in C])
        want = sorted(mpmath.eigsy(A, eigvals_only=True), reverse=True)
        for got, err, ref in zip(spec.eigenvalues, spec.error_bounds, want, strict=True):
            assert abs(got - ref) <= err + abs(ref) * mpmath.mpf(10) ** -40


# ---------------------------------------------------------------------------------------
# certified_eigenvalues on matrices with known exact spectra
# ---------------------------------------------------------------------------------------

R = sp.Rational


@pytest.mark.parametrize("method", ["auto", "eigsy"])
def test_known_spectrum_with_multiplicities_and_zero(method):
    e = [R(5), R(5), R(5), R(2), R(2), R(0), R(-3, 7), R(1, 3)]
    A = known_spectrum_matrix(e)
    spec = certified_eigenvalues(A, 30, method=method)
    assert_certified(spec, [frac(v) for v in e])
    # Bounds are exact statements; the size requirement is 30 digits of the scale max|e|.
    assert max(frac(b) for b in spec.error_bounds) < Fraction(1, 10**30) * 5
    assert spec.target_met
    assert all(isinstance(x, mpmath.mpf) for x in spec.eigenvalues + spec.error_bounds)


def test_known_spectrum_with_tight_clusters():
    # Clusters far below float64 resolution (1e-45 and 1e-47 apart) inside a wide spectrum.
    e = [
        R(1000),
        R(1),
        1 + R(1, 10**45),
        1 + R(2, 10**45),
        R(1, 1000),
        R(1, 1000) + R(1, 10**47),
        R(-5),
    ]
    A = known_spectrum_matrix(e, seed=3)
    spec = certified_eigenvalues(A, 50)
    assert_certified(spec, [frac(v) for v in e])
    assert spec.target_met
    for x, b in zip(spec.eigenvalues, spec.error_bounds, strict=True):
        assert frac(b) <= Fraction(1, 10**50) * abs(frac(x))  # 50 significant digits each


def test_zero_rows_give_exact_zeros():
    e = [R(4), R(-1), R(1, 5)]
    B = known_spectrum_matrix(e, seed=2)
    n = 5  # embed B at rows/cols 1, 2, 4; rows 0 and 3 are exactly zero
    idx = [1, 2, 4]
    A = sp.zeros(n, n)
    for a, i in enumerate(idx):
        for b, j in enumerate(idx):
            A[i, j] = B[a, b]
    spec = certified_eigenvalues(A, 25)
    assert spec.deflated == (0, 3)
    assert_certified(spec, [*map(frac, e), Fraction(0), Fraction(0)])
    assert spec.exact_zero == (False, False, True, True, False)
    assert [frac(x) for x, z in zip(spec.eigenvalues, spec.exact_zero, strict=True) if z] == [0, 0]
    assert all(frac(b) == 0 for b, z in zip(spec.error_bounds, spec.exact_zero, strict=True) if z)


def test_all_zero_matrix():
    spec = certified_eigenvalues([[0, 0], [0, 0]], 10)
    assert spec.exact_zero == (True, True)
    assert [frac(b) for b in spec.error_bounds] == [0, 0]


@settings(max_examples=25, deadline=None)
@given(
    st.integers(1, 5).flatmap(
        lambda n: st.lists(st.integers(-6, 6), min_size=n * (n + 1) // 2, max_size=n * (n + 1) // 2)
    )
)
def test_random_integer_matrices_against_exact_root_isolation(upper):
    n = round((np.sqrt(8 * len(upper) + 1) - 1) / 2)
    A = [[0] * n for _ in range(n)]
    it = iter(upper)
    for i in range(n):
        for j in range(i, n):
            A[i][j] = A[j][i] = next(it)
    spec = certified_eigenvalues(A, 30)
    # SymPy isolates each real root of det(xI - A) in a rational interval of width <= 1e-70
    # (with multiplicity).  A root lies in both its SymPy interval and its certified one, so
    # the two must overlap: an exact check, no tolerance.
    x = sp.Symbol("x")
    roots = []
    for (a, b), k in sp.Matrix(A).charpoly(x).intervals(eps=R(1, 10**70)):
        roots += [(frac(a), frac(b))] * k
    roots.sort(reverse=True)
    assert len(roots) == n
    for i, (a, b) in enumerate(roots):
        lo, hi = spec.interval(i)
        assert frac(lo) <= b and a <= frac(hi)


def test_rank_deficient_covariance_is_still_rigorous():
    # N = 3 samples in d = 5: the centred covariance has rank <= 2, with zero eigenvalues
    # that are not zero rows (cannot be deflated).  The exact trace checks the sum.
    X = np.array(
        [[1.0, 2.0, 0.5, -1.0, 3.0], [0.0, 1.0, 2.0, 2.0, -1.0], [4.0, 0.0, 1.0, 0.0, 0.0]]
    )
    C = exact_covariance(X)
    spec = certified_eigenvalues(C, 20)
    total = sum(frac(x) for x in spec.eigenvalues)
    assert abs(total - sum(C[i][i] for i in range(5))) <= sum(frac(b) for b in spec.error_bounds)
    ref = np.linalg.eigvalsh(np.cov(X.T, bias=True))[::-1]
    # Near-zero eigenvalues get digits "absolute" w.r.t. the spectral radius (module docs).
    assert all(frac(b) <= Fraction(1, 10**40) * abs(ref[0]) for b in spec.error_bounds[2:])
    # float64 eigvalsh is accurate to ~eps * ||Sigma||: 1e-13 of the largest leaves margin.
    np.testing.assert_allclose(
        [float(x) for x in spec.eigenvalues], ref, rtol=0, atol=1e-13 * ref[0]
    )


# ---------------------------------------------------------------------------------------
# The digits data set (scikit-learn, 1797 x 64, integer pixels 0..16)
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    return load_digits().data


@pytest.fixture(scope="module")
def digits_spectrum(digits):
    return certified_covariance_spectrum(digits, 40)


def test_digits_certified_against_float64(digits, digits_spectrum):
    spec = digits_spectrum
    ref = np.linalg.eigvalsh(np.cov(digits.T, bias=True))[::-1]
    got = np.array([float(x) for x in spec.eigenvalues])
    # eigvalsh of the float64 covariance has absolute errors ~ eps * lambda_max * (small
    # factor), i.e. ~1e-13 here: 1e-12 relative for the eigenvalues above 1% of the largest,
    # and 1e-12 of the largest for all of them.
    big = ref > 1e-2 * ref[0]
    np.testing.assert_allclose(got[big], ref[big], rtol=1e-12, atol=0)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12 * ref[0])
    assert spec.target_met
    for x, b, z in zip(spec.eigenvalues, spec.error_bounds, spec.exact_zero, strict=True):
        if not z:
            assert frac(b) < Fraction(1, 10**40) * abs(frac(x))  # 40 significant digits
    constant = int(np.sum(digits.max(axis=0) == digits.min(axis=0)))
    assert constant == 3  # pixels 0, 32, 39 of the 8x8 digits never change
    assert sum(spec.exact_zero) == constant
    assert len(spec.deflated) == constant


def test_digits_certified_trace_and_frobenius(digits, digits_spectrum):
    # Exact invariants computed without any eigen-solve: tr(Sigma) = sum lambda_i and
    # ||Sigma||_F^2 = sum lambda_i^2.  With |lambda_i - x_i| <= b_i:
    # |sum x_i - tr| <= sum b_i and |sum x_i^2 - ||Sigma||_F^2| <= sum (2|x_i| b_i + b_i^2).
    C = exact_covariance(digits)
    xs = [frac(x) for x in digits_spectrum.eigenvalues]
    bs = [frac(b) for b in digits_spectrum.error_bounds]
    assert abs(sum(xs) - sum(C[i][i] for i in range(64))) <= sum(bs)
    fro2 = sum(v * v for row in C for v in row)
    assert abs(sum(x * x for x in xs) - fro2) <= sum(
        2 * abs(x) * b + b * b for x, b in zip(xs, bs, strict=True)
    )


def test_digits_uncentred_zero_columns(digits):
    spec = certified_covariance_spectrum(digits, 15, centred=False)
    zero_cols = int(np.sum(np.all(digits == 0, axis=0)))
    assert sum(spec.exact_zero) == zero_cols
    ref = np.linalg.eigvalsh(digits.T @ digits / digits.shape[0])[::-1]
    # as above: float64 eigvalsh absolute error ~ eps * lambda_max
    np.testing.assert_allclose(
        [float(x) for x in spec.eigenvalues], ref, rtol=0, atol=1e-12 * ref[0]
    )


# ---------------------------------------------------------------------------------------
# Printing
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("x", "digits", "want"),
    [
        (Fraction(1, 3), 5, "0.33333"),
        (Fraction(2, 3), 5, "0.66667"),
        (Fraction(99996, 10000), 4, "10.00"),  # carry into the next decade
        (Fraction(1, 8), 2, "0.12"),  # exact tie: half to even
        (Fraction(3, 8), 2, "0.38"),
        (Fraction(-5, 2), 1, "-2"),
        (Fraction(123456), 3, "1.23e+5"),
        (Fraction(1, 10**7), 3, "1.00e-7"),
        (Fraction(0), 7, "0"),
        (Fraction(12), 2, "12"),
        (Fraction(1, 1000), 2, "0.0010"),
    ],
)
def test_format_significant_examples(x, digits, want):
    assert format_significant(x, digits) == want


@settings(max_examples=200, deadline=None)
@given(
    st.fractions(max_denominator=10**30).filter(lambda q: q != 0),
    st.integers(1, 60),
    st.integers(-40, 40),
)
def test_format_significant_matches_decimal(q, digits, e10):
    q = q * Fraction(10) ** e10
    # decimal division is correctly rounded (half-even) to the context precision.
    with localcontext() as ctx:
        ctx.prec = digits
        ctx.rounding = ROUND_HALF_EVEN
        want = Decimal(q.numerator) / Decimal(q.denominator)
    got = Decimal(format_significant(q, digits))
    assert got == want
    assert len(format_significant(q, digits).split("e")[0].lstrip("-0.").replace(".", "")) <= digits


def test_format_significant_of_mpf_is_exact():
    # mpf values are exact binary rationals; 1/3 at 120 bits printed to 30 digits.
    with mpmath.workprec(120):
        x = mpmath.mpf(1) / 3
    assert format_significant(x, 30) == "0." + "3" * 30


def test_printed_error_bound_is_rigorous():
    e = [R(7, 3), R(1, 7), R(-2, 9)]
    spec = certified_eigenvalues(known_spectrum_matrix(e, seed=5), 20)
    for x, b, t in zip(
        spec.eigenvalues, spec.error_bounds, sorted(map(frac, e), reverse=True), strict=True
    ):
        for digits in (3, 10, 20):
            printed = Fraction(Decimal(format_significant(x, digits)))
            total = frac(printed_error_bound(x, b, digits))
            assert abs(printed - t) <= total
            # and it is the documented value: bound + half a unit in the last place, rounded up
            exp = Decimal(format_significant(x, digits)).adjusted() - digits + 1
            want = frac(b) + Fraction(1, 2) * Fraction(10) ** exp
            assert want <= total <= want * (1 + Fraction(1, 2**60))


# ---------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------


def one_line_error(exc_info) -> str:
    msg = str(exc_info.value)
    assert "\n" not in msg
    return msg


@pytest.mark.parametrize(
    ("X", "fragment"),
    [
        (np.array([[1.0, np.nan], [2.0, 3.0]]), "X[0, 1] = nan is not finite"),
        (np.array([[1.0, 2.0], [np.inf, 3.0]]), "X[1, 0] = inf is not finite"),
        (np.array([1.0, 2.0]), "expected a 2-D array"),
        (np.ones((2, 2, 2)), "expected a 2-D array"),
        (np.ones((0, 3)), "at least one row"),
        (np.ones((2, 2), dtype=complex), "expected real numbers"),
    ],
)
def test_bad_data(X, fragment):
    with pytest.raises(ValueError) as exc_info:
        certified_covariance_spectrum(X, 10)
    assert fragment in one_line_error(exc_info)
    with pytest.raises(ValueError):
        exact_covariance(X)


@pytest.mark.parametrize("digits", [0, -3, 1001, 2.5, True, "40"])
def test_bad_digits(digits):
    with pytest.raises(ValueError) as exc_info:
        certified_covariance_spectrum(np.eye(2), digits)
    assert "1 <= digits <= 1000" in one_line_error(exc_info)
    with pytest.raises(ValueError):
        certified_eigenvalues([[1]], digits)
    with pytest.raises(ValueError):
        format_significant(Fraction(1, 3), digits)


@pytest.mark.parametrize(
    ("A", "fragment"),
    [
        ([[1, 2], [3, 4]], "expected an exactly symmetric matrix"),
        ([[1, 2, 3], [2, 1, 0]], "expected a non-empty square matrix"),
        ([], "expected a non-empty square matrix"),
        ([[1.0, float("nan")], [float("nan"), 1.0]], "is not finite"),
        ([[1, 0.1], [Fraction(1, 10), 1]], "expected an exactly symmetric matrix"),  # 0.1 != 1/10
    ],
)
def test_bad_matrix(A, fragment):
    with pytest.raises(ValueError) as exc_info:
        certified_eigenvalues(A, 10)
    assert fragment in one_line_error(exc_info)


def test_bad_method_and_bound():
    with pytest.raises(ValueError, match="method="):
        certified_eigenvalues([[1]], 10, method="lapack")
    with pytest.raises(ValueError, match="bound="):
        printed_error_bound(1, -1, 5)
