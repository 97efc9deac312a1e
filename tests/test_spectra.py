"""numerics.spectra._covariance: every method against NumPy's eigh and against mpmath at 30 digits.

Independent routes: ``numpy.linalg.eigvalsh`` of ``numpy.cov(bias=True)``
(float64, a different code path), and ``mpmath.eigsy`` on the covariance of integer data
computed exactly in rationals.  Tolerances are explicit; no test depends on wall-clock time.
"""

from __future__ import annotations

import warnings
from fractions import Fraction

import mpmath
import numpy as np
import pytest
from helpers import random_rotation

from numerics.core import InputError
from numerics.spectra import _covariance as spectra
from numerics.spectra._covariance import (
    METHODS,
    SpectrumResult,
    covariance_spectrum,
)
from numerics.spectra._krylov import ritz_error_bounds

# Every test here runs with NumPy's RuntimeWarnings as errors: overflow that the code expects
# and detects (huge entries, NaN, inf) must be reported as InputError, never leak a warning.
pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")

ALL = ("eigh", "gram", "krylov", "mixed", "auto")
TALL = ("eigh", "krylov", "mixed", "auto")  # the N x N "gram" is for N < d: small N only
ITERATIVE = ("krylov", "mixed")


def spiked_data(n: int, d: int, spikes, seed: int, mean: float = 1.0) -> np.ndarray:
    """Rows with population covariance I + sum_k spikes_k u_k u_k^T, random rotation."""
    rng = np.random.default_rng(seed)
    basis = random_rotation(d, rng)[:, : len(spikes)]
    X = rng.standard_normal((n, d))
    X += (rng.standard_normal((n, len(spikes))) * np.sqrt(spikes)) @ basis.T
    return X + mean * rng.standard_normal(d)


def smooth_data(n: int, d: int, seed: int, rate: float = 10.0) -> np.ndarray:
    """Rows with population eigenvalues exp(-i / rate) under a random rotation (no gap)."""
    rng = np.random.default_rng(seed)
    lam = np.exp(-np.arange(d) / rate)
    return (rng.standard_normal((n, d)) * np.sqrt(lam)) @ random_rotation(d, rng).T


def numpy_spectrum(X: np.ndarray, centred: bool = True) -> np.ndarray:
    """Descending eigenvalues by the plain-NumPy route (1/N convention)."""
    C = np.cov(X.T, bias=True) if centred else X.T @ X / X.shape[0]
    return np.linalg.eigvalsh(np.atleast_2d(C))[::-1]


def max_rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b) / np.abs(b)))


# ---------------------------------------------------------------------------------------
# Against mpmath: integer data, exact rational covariance, eigenvalues at 30 digits
# ---------------------------------------------------------------------------------------

INTEGER_DATA = np.array(
    [
        [3, -1, 4, 1, -5, 9],
        [2, 6, -5, 3, 5, -8],
        [9, 7, 9, -3, 2, 3],
        [-8, 4, 6, 2, 6, 4],
        [3, 3, -8, 3, 2, 7],
        [9, -5, 0, 2, 8, 8],
        [4, 1, 9, 7, -1, 6],
        [-9, 3, 9, 9, 3, 7],
        [5, 1, 0, 5, 8, -2],
        [0, 9, 7, 4, 9, 4],
        [4, 5, -9, 2, 3, 0],
        [7, 8, 1, 6, 4, 0],
    ],
    dtype=np.int64,
)


def mpmath_spectrum(X: np.ndarray, centred: bool = True) -> list:
    """Eigenvalues (descending) of the exact 1/N covariance of integer X, 30 digits."""
    n, d = X.shape
    rows = [[Fraction(int(v)) for v in row] for row in X]
    mean = [sum(r[j] for r in rows) / n for j in range(d)] if centred else [Fraction(0)] * d
    C = [
        [sum((r[i] - mean[i]) * (r[j] - mean[j]) for r in rows) / n for j in range(d)]
        for i in range(d)
    ]
    with mpmath.workdps(30):
        A = mpmath.matrix([[mpmath.mpf(c.numerator) / c.denominator for c in row] for row in C])
        values = mpmath.eigsy(A, eigvals_only=True)
        return sorted((values[i] for i in range(d)), reverse=True)


@pytest.mark.parametrize("centred", [True, False])
@pytest.mark.parametrize("method", ALL)
def test_against_mpmath(method: str, centred: bool) -> None:
    exact = mpmath_spectrum(INTEGER_DATA, centred)
    for top in (3, 6):
        res = covariance_spectrum(INTEGER_DATA, top=top, method=method, centred=centred, seed=1)
        assert res.eigenvalues.shape == (top,)
        assert res.eigenvalues.dtype == np.float64
        for got, want in zip(res.eigenvalues, exact[:top], strict=True):
            # float64 route, 30-digit reference: relative 1e-13 of the largest eigenvalue
            assert abs(mpmath.mpf(float(got)) - want) <= 1e-13 * exact[0], (method, top)


def test_numpy_route_agrees_with_mpmath() -> None:
    """The NumPy reference used below is itself checked against the exact values."""
    exact = mpmath_spectrum(INTEGER_DATA)
    ref = numpy_spectrum(INTEGER_DATA.astype(float))
    for got, want in zip(ref, exact, strict=True):
        assert abs(mpmath.mpf(float(got)) - want) <= 1e-13 * exact[0]


# ---------------------------------------------------------------------------------------
# Against NumPy's eigh of the covariance
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def spiked() -> np.ndarray:
    return spiked_data(3000, 60, np.geomspace(40.0, 4.0, 6), seed=11)


@pytest.mark.parametrize("method", TALL)
def test_methods_match_numpy_top(spiked: np.ndarray, method: str) -> None:
    ref = numpy_spectrum(spiked)
    res = covariance_spectrum(spiked, top=6, method=method, rtol=1e-12, seed=2)
    assert isinstance(res, SpectrumResult)
    assert (res.n_samples, res.dim, res.centred) == (3000, 60, True)
    assert np.all(np.diff(res.eigenvalues) <= 0)
    assert max_rel(res.eigenvalues, ref[:6]) <= 1e-11


@pytest.mark.parametrize("method", TALL)
def test_top_equals_d(spiked: np.ndarray, method: str) -> None:
    ref = numpy_spectrum(spiked)
    res = covariance_spectrum(spiked, method=method, seed=3)
    assert res.eigenvalues.shape == (60,)
    # all 60 values, small ones included: relative to lambda_1 (dense-solver accuracy)
    assert np.max(np.abs(res.eigenvalues - ref)) <= 1e-12 * ref[0]


@pytest.mark.parametrize("method", ITERATIVE)
def test_iterative_certifies_and_bound_holds(spiked: np.ndarray, method: str) -> None:
    """No fallback on gapped data; the certified bound brackets the reference value."""
    ref = numpy_spectrum(spiked)[:6]
    res = covariance_spectrum(spiked, top=6, method=method, rtol=1e-12, seed=4)
    assert res.method == method and res.fallback is None
    assert res.residual_bound is not None and res.error_bounds is not None
    assert res.residual_bound == pytest.approx(float(res.error_bounds.max()))
    assert np.all(res.error_bounds <= np.maximum(1e-12 * res.eigenvalues, 60 * 2.3e-16 * ref[0]))
    rounding = 1e-13 * ref[0]  # the reference's own rounding
    # Ritz values are lower bounds (interlacing), within the certified bound
    assert np.all(res.eigenvalues <= ref + rounding)
    assert np.all(ref - res.eigenvalues <= res.error_bounds + rounding)
    assert res.iterations >= 1 and res.subspace_dim >= 6


def test_krylov_start_is_seeded(spiked: np.ndarray) -> None:
    a = covariance_spectrum(spiked, top=4, method="krylov", seed=7)
    b = covariance_spectrum(spiked, top=4, method="krylov", seed=7)
    np.testing.assert_array_equal(a.eigenvalues, b.eigenvalues)


def test_large_mean_no_cancellation() -> None:
    """Mean 1e6 times the spread: X^T X / N - m m^T would lose ~12 digits."""
    X = spiked_data(2000, 30, [9.0, 4.0], seed=5, mean=0.0) + 1e6
    ref = numpy_spectrum(X)  # np.cov subtracts the mean first
    for method in TALL:
        res = covariance_spectrum(X, top=3, method=method, seed=5)
        assert max_rel(res.eigenvalues, ref[:3]) <= 1e-9, method


# ---------------------------------------------------------------------------------------
# Memory-mapped input, chunking, uncentred moment
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", TALL)
def test_memmap_input(tmp_path, spiked: np.ndarray, method: str) -> None:
    path = tmp_path / "data.npy"
    np.save(path, spiked)
    X = np.load(path, mmap_mode="r")
    assert isinstance(X, np.memmap)
    ref = numpy_spectrum(spiked)
    # 97-row chunks: many blocks and a ragged last one
    res = covariance_spectrum(X, top=5, method=method, chunk_rows=97, seed=6)
    assert max_rel(res.eigenvalues, ref[:5]) <= 1e-11
    assert not X.flags.writeable  # read-only input is fine


@pytest.mark.parametrize("dtype", [np.float32, np.int32])
def test_other_dtypes(dtype) -> None:
    X = (INTEGER_DATA * 3).astype(dtype)
    ref = numpy_spectrum(X.astype(np.float64))
    res = covariance_spectrum(X, method="eigh")
    np.testing.assert_allclose(res.eigenvalues, ref, rtol=0, atol=1e-12 * ref[0])


@pytest.mark.parametrize("method", TALL)
def test_uncentred_matches_xtx(method: str) -> None:
    X = spiked_data(1500, 40, [25.0, 9.0, 4.0], seed=8, mean=2.0)
    ref = np.linalg.eigvalsh(X.T @ X / X.shape[0])[::-1]
    res = covariance_spectrum(X, top=4, method=method, centred=False, seed=8)
    assert res.centred is False
    assert max_rel(res.eigenvalues, ref[:4]) <= 1e-11
    # and it differs from the centred spectrum (the mean is large here)
    assert abs(res.eigenvalues[0] - numpy_spectrum(X)[0]) > 1.0


@pytest.mark.parametrize("centred", [True, False])
@pytest.mark.parametrize("top", [3, 40])
def test_gram_on_tall_data(top: int, centred: bool) -> None:
    X = spiked_data(150, 40, [16.0, 4.0], seed=17, mean=3.0) + 1e3 * centred
    ref = numpy_spectrum(X, centred)
    res = covariance_spectrum(X, top=top, method="gram", chunk_rows=7, centred=centred)
    assert res.method == "gram"
    np.testing.assert_allclose(res.eigenvalues, ref[:top], rtol=0, atol=1e-12 * ref[0])


def test_gram_for_wide_data() -> None:
    """N < d: the dual N x N Gram; the d - N + 1 zero eigenvalues come out as zeros."""
    rng = np.random.default_rng(9)
    X = rng.standard_normal((12, 50)) @ np.diag(np.linspace(3.0, 1.0, 50))
    ref = numpy_spectrum(X)
    res = covariance_spectrum(X)
    assert res.method == "gram"
    np.testing.assert_allclose(res.eigenvalues, ref, rtol=0, atol=1e-12 * ref[0])
    assert np.all(res.eigenvalues[11:] == 0.0)  # rank N - 1 after centring
    assert np.all(res.eigenvalues[:11] > 0)


def test_gram_without_the_syrk_shortcut(monkeypatch) -> None:
    """Large N takes a plain GEMM for the N x N Gram matrix (NumPy's B @ B.T crashes there)."""
    from numerics.spectra import _direct

    monkeypatch.setattr(_direct, "_SYRK_MAX_OUTPUT", 0)
    X = smooth_data(40, 90, seed=4)
    res = covariance_spectrum(X, top=5, method="gram")
    assert max_rel(res.eigenvalues, numpy_spectrum(X)[:5]) <= 1e-12


def test_single_row_is_zero_covariance() -> None:
    res = covariance_spectrum(np.array([[1.0, 2.0, 3.0]]))
    np.testing.assert_array_equal(res.eigenvalues, np.zeros(3))


def test_auto_uses_direct_method_on_small_data(spiked: np.ndarray) -> None:
    res = covariance_spectrum(spiked, top=3)
    assert res.method in ("eigh", "gram") and res.residual_bound is None
    assert res.notes and res.notes[0].startswith("auto:")


def _fake_costs(monkeypatch, **costs) -> None:
    """Make "auto" see the given predicted seconds (the cost model is machine-specific)."""
    base = {"eigh": 10.0, "gram": 1e9, "mixed": 5.0, "krylov": 0.5, "pass": 0.1}
    base.update(costs)
    monkeypatch.setattr(spectra, "predicted_seconds", lambda *a, **k: dict(base))


def test_auto_picks_krylov_on_gapped_data(monkeypatch, spiked: np.ndarray) -> None:
    _fake_costs(monkeypatch)
    res = covariance_spectrum(spiked, top=6, rtol=1e-12, seed=18)
    assert res.method == "krylov" and res.fallback is None
    assert any(note.startswith("auto: krylov") for note in res.notes)
    assert max_rel(res.eigenvalues, numpy_spectrum(spiked)[:6]) <= 1e-11


def test_auto_picks_mixed_without_gap(monkeypatch) -> None:
    _fake_costs(monkeypatch)
    X = smooth_data(3000, 60, seed=19, rate=30.0)
    res = covariance_spectrum(X, top=6, rtol=1e-12, seed=19)
    assert res.method == "mixed"
    assert any(note.startswith("auto: mixed") for note in res.notes)
    assert max_rel(res.eigenvalues, numpy_spectrum(X)[:6]) <= 1e-11


def test_auto_switches_from_krylov_to_mixed(monkeypatch, spiked: np.ndarray) -> None:
    """Krylov's observed rate predicts more passes than "mixed" costs: it hands over."""
    _fake_costs(monkeypatch, krylov=0.2, mixed=0.25, **{"pass": 0.12})
    res = covariance_spectrum(spiked, top=6, rtol=1e-12, seed=20)
    assert res.method == "mixed"
    assert res.fallback is not None and res.fallback.startswith("krylov: predicted")
    assert res.passes >= 3  # the abandoned Krylov passes are counted
    assert max_rel(res.eigenvalues, numpy_spectrum(spiked)[:6]) <= 1e-11


# ---------------------------------------------------------------------------------------
# Fallback: an iterative method that cannot certify still returns correct values
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ITERATIVE)
def test_fallback_when_budget_is_too_small(method: str) -> None:
    X = smooth_data(2000, 80, seed=10)
    ref = numpy_spectrum(X)
    res = covariance_spectrum(X, top=20, method=method, rtol=1e-15, max_passes=1, seed=10)
    assert res.method == "eigh" and res.fallback is not None and method in res.fallback
    assert res.requested == method
    assert max_rel(res.eigenvalues, ref[:20]) <= 1e-12


def test_top_d_minus_one_with_tiny_rtol() -> None:
    X = smooth_data(500, 24, seed=12)
    ref = numpy_spectrum(X)
    res = covariance_spectrum(X, top=23, method="krylov", rtol=1e-15, seed=12)
    assert np.max(np.abs(res.eigenvalues - ref[:23])) <= 1e-12 * ref[0]


def test_degenerate_spectrum() -> None:
    """Covariance exactly diag(4, 4, 4, 4, 1, ..., 1): the top-3 boundary cuts a cluster."""
    d = 20
    scale = np.ones(d)
    scale[:4] = 2.0
    # rows +-scale_j e_j: mean 0, covariance diag(scale^2) / d exactly
    X = np.vstack([np.diag(scale), -np.diag(scale)])
    ref = numpy_spectrum(X)
    for method in ALL:
        res = covariance_spectrum(X, top=3, method=method, rtol=1e-14, seed=13)
        np.testing.assert_allclose(res.eigenvalues, ref[:3], rtol=1e-13, err_msg=method)


def test_mixed_out_of_float32_range_falls_back() -> None:
    X = spiked_data(400, 20, [9.0], seed=14) * 1e30
    ref = numpy_spectrum(X)
    res = covariance_spectrum(X, top=2, method="mixed")
    assert res.method == "eigh" and "float32" in res.fallback
    assert max_rel(res.eigenvalues, ref[:2]) <= 1e-12


# ---------------------------------------------------------------------------------------
# The certified bound itself
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_ritz_error_bounds_hold(seed: int) -> None:
    """Rayleigh-Ritz from a perturbed invariant subspace: 0 <= lambda_i - theta_i <= bound."""
    rng = np.random.default_rng(seed)
    d, top, dim = 40, 4, 8
    lam = np.sort(np.r_[rng.uniform(5, 10, top), rng.uniform(0, 2, d - top)])[::-1]
    V = random_rotation(d, rng)
    C = (V * lam) @ V.T
    for size in (1e-1, 1e-3, 1e-6):
        Q = np.linalg.qr(V[:, :dim] + size * rng.standard_normal((d, dim)))[0]
        theta, S = np.linalg.eigh(Q.T @ C @ Q)
        theta, S = theta[::-1], S[:, ::-1]
        U = Q @ S
        bounds = ritz_error_bounds(theta, C @ U - U * theta, top)
        gap = lam[:top] - theta[:top]
        assert np.all(gap >= -1e-12)
        assert np.all(gap <= bounds + 1e-12)


def test_methods_constant() -> None:
    assert set(ALL) == set(METHODS)


# ---------------------------------------------------------------------------------------
# Bad input: ValueError (or TypeError) naming the offending value
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("X", "kwargs", "match"),
    [
        (np.arange(5.0), {}, r"shape \(5,\).*2-D"),
        (np.zeros((0, 3)), {}, r"shape \(0, 3\).*at least 1 row"),
        (np.zeros((3, 0)), {}, r"shape \(3, 0\).*at least 1 column"),
        (np.ones((4, 3)), {"top": 4}, r"top=4: expected an integer with 1 <= top <= 3"),
        (np.ones((4, 3)), {"top": 0}, r"top=0: expected an integer with 1 <= top <= 3"),
        (np.ones((4, 3)), {"method": "lanczos"}, r"method='lanczos'"),
        (np.ones((4, 3)), {"rtol": 0.0}, r"rtol=0\.0"),
        (np.ones((4, 3)), {"rtol": float("nan")}, r"rtol=nan"),
        (np.ones((4, 3)), {"chunk_rows": 0}, r"chunk_rows=0"),
    ],
)
def test_bad_input_value_error(X, kwargs, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        covariance_spectrum(X, **kwargs)


def test_bad_types() -> None:
    with pytest.raises(InputError, match="complex128"):
        covariance_spectrum(np.ones((3, 2), dtype=complex))
    with pytest.raises(InputError, match=r"top=2\.5"):
        covariance_spectrum(np.ones((3, 3)), top=2.5)


@pytest.mark.parametrize("method", ALL)
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_found_chunk_by_chunk(method: str, bad: float) -> None:
    X = spiked_data(600, 30, [9.0, 4.0], seed=15)
    X[437, 11] = bad  # not a pilot row, in a middle chunk
    with pytest.raises(ValueError, match=rf"X\[437, 11\] = {bad!r} is not finite"):
        covariance_spectrum(X, top=2, method=method, chunk_rows=50)


def test_non_finite_in_memmap(tmp_path) -> None:
    X = spiked_data(300, 10, [4.0], seed=16)
    X[0, 3] = np.nan  # a pilot row
    np.save(tmp_path / "bad.npy", X)
    with pytest.raises(ValueError, match=r"X\[0, 3\] = nan"):
        covariance_spectrum(np.load(tmp_path / "bad.npy", mmap_mode="r"), top=1)


@pytest.mark.parametrize("method", ALL)
@pytest.mark.parametrize("where", ["one entry", "pilot rows", "every entry"])
@pytest.mark.parametrize("value", [1e300, 1e155, float("nan"), float("inf")])
def test_huge_or_non_finite_values_raise_without_warnings(method, where, value) -> None:
    """Squares of 1e155 overflow float64 (1e310 > 1.8e308): one InputError, no RuntimeWarning.

    Entries in a middle chunk, in the rows the pilot mean and the Krylov start read first,
    or everywhere (the data scaled by ``value``).
    """
    X = spiked_data(600, 30, [9.0, 4.0], seed=15)
    if where == "one entry":
        X[437, 11] = value
    elif where == "pilot rows":
        X[:5, 11] = value
    else:
        X *= value
    finite = np.isfinite(value)
    match = "overflows float64" if finite else "is not finite"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning at all fails the test
        for centred in (True, False):
            with pytest.raises(InputError, match=match):
                covariance_spectrum(X, top=2, method=method, centred=centred, chunk_rows=50)


@pytest.mark.parametrize("method", ALL)
def test_tiny_values_without_warnings(method: str) -> None:
    """Data of size 1e-160: squares underflow to subnormals or 0, quietly; values >= 0."""
    X = spiked_data(600, 30, [9.0, 4.0], seed=15) * 1e-160
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = covariance_spectrum(X, top=2, method=method, chunk_rows=50)
    assert np.all(np.isfinite(res.eigenvalues)) and np.all(res.eigenvalues >= 0)
