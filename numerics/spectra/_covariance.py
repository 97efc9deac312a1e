"""Eigenvalues of a data covariance, from small arrays to large memory-mapped files.

The covariance of the rows of ``X``
(N samples x d variables) is the centred 1/N one (NOT 1/(N-1))::

    Sigma = (1/N) sum_n (x_n - m)(x_n - m)^T,        m = (1/N) sum_n x_n,

or, with ``centred=False``, the uncentred second moment (1/N) X^T X.  ``X`` is only ever
read in blocks of rows (``np.load(..., mmap_mode="r")`` files work unchanged); no centred
copy of ``X`` is made, and memory stays O(chunk * d + d^2).

Methods (``covariance_spectrum(method=...)``)
---------------------------------------------
``"eigh"``
    One pass accumulating the d x d covariance (BLAS ``syrk`` on row blocks shifted by a
    pilot mean), then LAPACK (``scipy.linalg.eigh`` with ``subset_by_index`` when only the
    top eigenvalues are wanted).  Exact up to rounding; the reference path.
``"gram"``
    The dual N x N Gram matrix of the centred rows (same non-zero eigenvalues), for N < d.
``"krylov"``
    Block Krylov (block Lanczos with full reorthogonalisation and Rayleigh-Ritz on the whole
    basis) in float64, applying the covariance to a block of b = top + p vectors in one pass
    over the rows (``X_c^T (X_c V)``), started from the leading Ritz vectors of a row
    subsample.  Stops on a certified residual bound (below); falls back to ``"eigh"`` when
    it cannot certify ``rtol`` within its budget of passes.
``"mixed"``
    One pass accumulating the covariance in float32 (twice the BLAS throughput of float64),
    whose leading eigenvectors are accurate to about the float32 rounding level; then the
    same float64 block Krylov, started from them, which usually certifies after a single
    pass because Ritz values are quadratically accurate in the subspace error.  Falls back
    to ``"eigh"`` like ``"krylov"``.
``"auto"``
    Chooses by the cost model :func:`predicted_seconds` (constants measured on the
    development machine, see its docstring): the direct methods for small data or when
    ``top`` is not much smaller than d; otherwise ``"krylov"`` when the leading Ritz values
    of the row subsample show a clear relative gap after the ``top``-th (fast Krylov
    convergence) and ``"mixed"`` when they do not.  A ``"krylov"`` run that, by its own
    observed convergence rate, would cost more than ``"mixed"`` switches to it.

Certification of the iterative methods
--------------------------------------
Rayleigh-Ritz on an orthonormal basis Q with the products C Q computed in float64 gives
Ritz pairs (theta_i, u_i), theta_1 >= theta_2 >= ..., and the residuals
r_i = C u_i - theta_i u_i exactly (up to rounding).  Let R_m = [r_1 ... r_m] and
eps_m = ||R_m||_2.  Then:

* Cauchy interlacing (Poincare; Parlett, *The Symmetric Eigenvalue Problem*, SIAM 1998,
  the interlace theorem of ch. 10): theta_i <= lambda_i, so the values are lower bounds.
* Kahan's residual bound for clustered Ritz values (Parlett ch. 11): m eigenvalues of C
  lie within eps_m of theta_1..theta_m (matched in order); for one vector this is the
  Krylov-Bogoliubov/Weinstein bound, Parlett Thm 4.5.1.
* Quadratic bound for the block: with eta_m = theta_m - (an upper bound of the largest
  eigenvalue of C compressed to span(u_1..u_m)^perp), every lambda_i, i <= m, satisfies
  lambda_i - theta_i <= 2 eps_m^2 / (eta_m + sqrt(eta_m^2 + 4 eps_m^2)) <= eps_m^2 / eta_m
  (C.-K. Li and R.-C. Li, "A note on eigenvalues of perturbed Hermitian matrices",
  Linear Algebra Appl. 395 (2005) 183-190, sharpening Mathias 1998).  It needs a gap
  only after theta_m, not between the wanted values: clusters among them are fine.
* Kato-Temple for one pair (T. Kato 1949; Parlett ch. 10): if lambda_{i+1} <= alpha <
  theta_i then lambda_i - theta_i <= ||r_i||^2 / (theta_i - alpha).

The upper bound on the unconverged part uses the next Ritz value:
lambda_{m+1} <= theta_{m+1} + eps_{m+1} (Kahan, matched in order); by Weyl's theorem the
compressed matrix's top eigenvalue mu then satisfies mu <= lambda_{m+1} + eps_m whenever
mu < theta_m, and mu >= theta_m would force eta_m <= 0, in which case only the linear
bound is used.  This matching assumes the Krylov space has not
missed an eigenvalue above theta_{m+1} -- the one assumption no method that only applies
C to vectors can remove (it fails with probability zero for a random start, which the
subsample start inherits).  Rounding in the float64 products (relative ~ sqrt(N) eps) is
not part of the bound; it is the same for the direct methods.  The run stops when every
bound is <= max(rtol * theta_i, d * eps * theta_1): the second term is the accuracy of a
backward-stable dense eigensolver, so no method is asked for more.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from numbers import Real
from typing import Any

import numpy as np
import scipy.linalg

from numerics.core._validation import InputError, check_int

__all__ = ["METHODS", "SpectrumResult", "covariance_spectrum", "predicted_seconds"]

#: Accepted values of ``method``.
METHODS = ("auto", "eigh", "gram", "krylov", "mixed")

_EPS = float(np.finfo(np.float64).eps)

# Chunk sizes in bytes of float64 rows.  Krylov passes reuse each chunk for the second
# product X_c^T Y, so it should stay in the 32 MiB L3 cache; syrk needs tall blocks to run
# near peak (2048-row chunks cost ~25 % more than 8192-row ones for d = 1000).
_PASS_CHUNK_BYTES = 16 * 2**20
_GRAM_CHUNK_BYTES = 64 * 2**20
# Row subsample for the Krylov start: at most this many bytes of float64 rows.
_SUBSAMPLE_BYTES = 16 * 2**20

# Cost model (seconds), measured on the development machine (2-core AMD EPYC, OpenBLAS
# 0.3.31, a shared VM: best of repeats in quiet moments).  Only ratios matter for choices:
#   * one float64 Krylov pass with a block of b vectors over N x d data:
#     N d (_C_PASS_READ + _C_PASS_COL b): 0.29 s for b = 8, 0.40 s for b = 20, 0.85 s for
#     b = 64 at N = 2e5, d = 1e3 (one read of X plus 4 N d b flops of skinny GEMM);
#   * float64 covariance by chunked syrk: _C_SYRK64 N d^2 (3.1-3.3 s at 2e5 x 1e3, the
#     same as numpy.cov: both are N d^2 flops at ~65 GFLOP/s);
#   * float32 covariance: _C_SYRK32 N d^2 + _C_CAST N d for the cast (1.7 + 0.2 s);
#   * dense symmetric eigensolver: _C_EIG d^3 (0.06 s at d = 1e3, vectors included);
#   * Rayleigh-Ritz, bounds and orthogonalisation: _C_STEP per Krylov step, and the
#     Python overhead of one chunk: _C_OVERHEAD.
_C_PASS_READ = 1.1e-9
_C_PASS_COL = 0.05e-9
_C_SYRK64 = 1.6e-11
_C_SYRK32 = 8.5e-12
_C_CAST = 1e-9
_C_EIG = 6e-11
_C_STEP = 0.01
_C_OVERHEAD = 2e-5

# Relative gap (theta_m - theta_{m+1}) / theta_m of the subsample's Ritz values, for some
# m in top..b-1, above which "auto" expects block Krylov to converge in a few passes.
_AUTO_GAP = 0.25
# "auto" takes an iterative method only if predicted at most this fraction of the direct
# one's time: pass counts are predictions, and the direct methods' cost is certain.
_AUTO_MARGIN = 0.75
# Passes "krylov" may spend before its predicted cost is checked against the alternative.
_MIN_PASSES = 2
# Range of the default budget of float64 Krylov passes (the cost model sets it in between).
_MIN_BUDGET = 8
_MAX_BUDGET = 50


@dataclass(frozen=True)
class SpectrumResult:
    """Top eigenvalues of a covariance and how they were obtained.

    Attributes
    ----------
    eigenvalues : numpy.ndarray
        float64, descending, length ``top``.
    method : str
        The method that produced the values: ``"eigh"``, ``"gram"``, ``"krylov"`` or
        ``"mixed"`` (``"eigh"`` after a fallback).
    n_samples, dim : int
        N and d.
    centred : bool
        Centred 1/N covariance (True) or uncentred second moment (False).
    residual_bound : float or None
        Iterative methods: the largest certified absolute error bound over the returned
        eigenvalues (see the module docstring); None for the direct methods.
    error_bounds : numpy.ndarray or None
        Iterative methods: the certified bound for each returned eigenvalue, which is a
        lower bound of the true one: ``eigenvalues[i] <= lambda_i <= eigenvalues[i] +
        error_bounds[i]``.  None for the direct methods.
    requested : str
        The ``method`` argument (``"auto"`` included).
    passes : int
        Full passes over the rows of X (the float32 covariance pass of ``"mixed"`` and the
        passes of an abandoned iterative attempt included).
    iterations : int
        Block Krylov steps on the full data (0 for the direct methods).
    block_widths : tuple of int
        Width of the block applied in each float64 Krylov pass (b = top + max(4, top/4)
        first; narrower once some values are certified).
    subspace_dim : int or None
        Dimension of the final Rayleigh-Ritz subspace.
    fallback : str or None
        Why an iterative method handed over to another method (``"krylov"`` to ``"mixed"``
        within ``"auto"``, or to ``"eigh"``), else None.
    notes : tuple of str
        The decisions taken on the way, e.g. why ``"auto"`` chose a method.
    """

    eigenvalues: np.ndarray
    method: str
    n_samples: int
    dim: int
    centred: bool
    residual_bound: float | None
    error_bounds: np.ndarray | None = None
    requested: str = "auto"
    passes: int = 1
    iterations: int = 0
    block_widths: tuple[int, ...] = ()
    subspace_dim: int | None = None
    fallback: str | None = None
    notes: tuple[str, ...] = ()


# --------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------


def _check_data(X: Any) -> np.ndarray:
    """Return ``X`` as an array (memmaps are kept as they are), after shape/dtype checks."""
    if not isinstance(X, np.ndarray):
        try:
            X = np.asarray(X, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InputError(
                f"X of type {type(X).__name__}: expected a 2-D array of real numbers"
            ) from exc
    if X.dtype.kind not in "iuf":
        raise InputError(f"X has dtype {X.dtype}: expected real numbers (integer or float)")
    if X.ndim != 2:
        raise InputError(
            f"X has shape {X.shape}: expected a 2-D array (rows are samples, columns variables)"
        )
    if X.shape[0] < 1:
        raise InputError(f"X has shape {X.shape}: expected at least 1 row")
    if X.shape[1] < 1:
        raise InputError(f"X has shape {X.shape}: expected at least 1 column")
    return X


class _Rows:
    """Row-block access to the data as float64 (a view when X is float64 already)."""

    def __init__(self, X: np.ndarray) -> None:
        self.X = X
        self.n, self.d = X.shape

    def block(self, start: int, stop: int) -> np.ndarray:
        return np.asarray(self.X[start:stop], dtype=np.float64)

    def chunks(self, rows: int) -> Iterator[tuple[int, np.ndarray]]:
        for start in range(0, self.n, rows):
            yield start, self.block(start, min(start + rows, self.n))

    def take(self, idx: np.ndarray) -> np.ndarray:
        """Rows ``idx`` (sorted) as a float64 copy, read run by run of consecutive rows."""
        breaks = np.flatnonzero(np.diff(idx) != 1) + 1
        pieces = [
            np.asarray(self.X[int(run[0]) : int(run[-1]) + 1], dtype=np.float64)
            for run in np.split(idx, breaks)
            if run.size
        ]
        return np.concatenate(pieces) if pieces else np.zeros((0, self.d))

    def columns(self, start: int, stop: int) -> np.ndarray:
        return np.array(self.X[:, start:stop], dtype=np.float64)

    def raise_non_finite(self, rows: int, what: str) -> None:
        """Locate and report the first non-finite entry; else report the overflow."""
        biggest = 0.0
        for start, chunk in self.chunks(rows):
            _check_finite_block(chunk, start)
            biggest = max(biggest, float(np.abs(chunk).max()))
        raise InputError(
            f"X has entries up to {biggest:.3g} in magnitude and {what} overflows float64: "
            "expected data that can be squared and summed (rescale it)"
        )


def _check_finite_block(block: np.ndarray, row0: int, col0: int = 0) -> None:
    """Raise naming the first non-finite entry of a block of X at (row0, col0)."""
    bad = ~np.isfinite(block)
    if bad.any():
        i, j = (int(k) for k in np.argwhere(bad)[0])
        raise InputError(
            f"X[{row0 + i}, {col0 + j}] = {float(block[i, j])!r} is not finite: "
            "expected finite values"
        )


def _rows_per_chunk(d: int, nbytes: int, chunk_rows: int | None) -> int:
    if chunk_rows is not None:
        return chunk_rows
    return max(64, nbytes // (8 * d))


def _pilot_rows(n: int, count: int, runs: int = 32) -> np.ndarray:
    """``count`` row indices spread over 0..n-1 as ``runs`` runs of consecutive rows.

    Spread, so data sorted by class is sampled fairly; in runs, so a memory-mapped file is
    read in a few contiguous pieces rather than ``count`` scattered rows.
    """
    count = min(n, count)
    runs = max(1, min(runs, count))
    lengths = np.full(runs, count // runs, dtype=np.int64)
    lengths[: count % runs] += 1
    # run starts spread evenly over the room left by the runs themselves: no overlaps
    room = n - count
    starts = np.cumsum(np.r_[0, lengths[:-1]]) + (np.arange(runs) * room) // max(1, runs - 1)
    return np.concatenate([np.arange(a, a + k) for a, k in zip(starts, lengths, strict=True)])


def _clip(values: np.ndarray, scale: float, d: int) -> np.ndarray:
    """Clip rounding-level negative eigenvalues of a PSD matrix to 0.

    A covariance is positive semi-definite, so a negative computed eigenvalue is rounding
    error, of size at most p(d) eps ||C|| for a backward-stable solver.  We zero values
    down to -1e3 d eps ||C|| (generous: such errors are O(sqrt(d) eps ||C||) in practice);
    anything more negative would signal a bug, and is left visible.
    """
    tol = 1e3 * d * _EPS * max(scale, 0.0)
    out = values.copy()
    out[(out < 0) & (out >= -tol)] = 0.0
    return out


# --------------------------------------------------------------------------------------
# Cost model
# --------------------------------------------------------------------------------------


def predicted_seconds(n: int, d: int, top: int, block: int | None = None) -> dict[str, float]:
    """Predicted run time of each method on N x d float64 data (development machine).

    Parameters
    ----------
    n, d : int
        Data shape.
    top : int
        Number of eigenvalues wanted.
    block : int, optional
        Krylov block width (default: the one :func:`covariance_spectrum` uses).

    Returns
    -------
    dict
        Seconds for ``"eigh"``, ``"gram"``, ``"mixed"`` (one float64 pass after the float32
        covariance), ``"krylov"`` (a nominal four passes, typical for a spectrum with a
        clear gap after the ``top``-th eigenvalue), and ``"pass"`` (one Krylov pass).

    Notes
    -----
    Constants measured with 2e5 x 1e3 data on a 2-core AMD EPYC (OpenBLAS 0.3.31): see the
    ``_C_*`` constants of this module.  Dense covariance: N d^2 flops (syrk), ~65 GFLOP/s
    in float64 and ~120 GFLOP/s in float32.  A Krylov pass of width b: 4 N d b flops of
    skinny GEMM (~45 GFLOP/s) plus one read of the 8 N d bytes of X (~21 GB/s).  So a pass
    of width 20 costs ~ 1/8 of the float64 covariance: the iterative methods win when they
    need fewer than ~8 passes, which the top 16 of data with a clear spectral gap do (about
    4) and data with no gap do not (the float32 covariance then gives the start, "mixed").
    """
    b = block if block is not None else _block_size(top, d)
    chunks = n / max(1, _rows_per_chunk(d, _PASS_CHUNK_BYTES, None))
    one_pass = n * d * (_C_PASS_READ + _C_PASS_COL * b) + _C_OVERHEAD * chunks + _C_STEP
    sub_rows = min(n, max(4 * b, min(2 * d, _SUBSAMPLE_BYTES // (8 * d))))
    subsample = 6 * (4 * sub_rows * d * b * 2e-11 + _C_STEP)
    eig = _C_EIG * d**3
    return {
        "eigh": _C_SYRK64 * n * d * d + eig,
        "gram": _C_SYRK64 * n * n * d + _C_EIG * n**3,
        "mixed": _C_SYRK32 * n * d * d + _C_CAST * n * d + eig + one_pass,
        "krylov": subsample + 4 * one_pass,
        "pass": one_pass,
    }


def _block_size(top: int, d: int) -> int:
    """Krylov block width: top plus a few vectors, so theta_{top+1} estimates the gap."""
    return min(d, top + max(4, top // 4))


# --------------------------------------------------------------------------------------
# Direct methods
# --------------------------------------------------------------------------------------


def _take_checked(rows: _Rows, idx: np.ndarray) -> np.ndarray:
    """Rows ``idx`` as a float64 copy, checked finite (reporting the original row index)."""
    sample = rows.take(idx)
    bad = ~np.isfinite(sample)
    if bad.any():
        i, j = (int(k) for k in np.argwhere(bad)[0])
        raise InputError(
            f"X[{int(idx[i])}, {j}] = {float(sample[i, j])!r} is not finite: expected finite values"
        )
    return sample


def _shift_of(rows: _Rows, centred: bool, pilot: int = 1024) -> np.ndarray:
    """Pilot mean of evenly spread rows (zero for the uncentred moment).

    Accumulating (x - s)(x - s)^T with s close to the mean avoids the cancellation of
    X^T X / N - m m^T, which loses log10(||m||^2 / lambda) digits when the mean is large;
    the remaining correction (m - s)(m - s)^T is then tiny.
    """
    if not centred:
        return np.zeros(rows.d)
    return _take_checked(rows, _pilot_rows(rows.n, pilot)).mean(axis=0)


def _covariance64(rows: _Rows, centred: bool, chunk: int) -> np.ndarray:
    """The d x d covariance (or second moment), accumulated in float64 row blocks."""
    s = _shift_of(rows, centred)
    G = np.zeros((rows.d, rows.d))
    colsum = np.zeros(rows.d)
    buf = np.empty((min(chunk, rows.n), rows.d))
    for start, block in rows.chunks(chunk):
        B = np.subtract(block, s, out=buf[: block.shape[0]])
        part = B.sum(axis=0)
        # Cheap finiteness check, block by block: a NaN or inf entry makes its column sum
        # non-finite (finite entries can only do so by overflow, reported as such).
        if not np.isfinite(part).all():
            _check_finite_block(B, start)
        colsum += part
        G += B.T @ B  # NumPy calls syrk for B.T @ B
    if not np.isfinite(G).all():
        rows.raise_non_finite(chunk, "their sum of squares")
    G /= rows.n
    if centred:
        delta = colsum / rows.n  # m - s
        G -= np.outer(delta, delta)
    return G


def _top_eigenvalues(C: np.ndarray, top: int) -> np.ndarray:
    d = C.shape[0]
    if top == d:
        values = np.linalg.eigvalsh(C)
    else:
        values = scipy.linalg.eigh(
            C, subset_by_index=[d - top, d - 1], eigvals_only=True, check_finite=False
        )
    return values[::-1].copy()


def _eigh_method(rows: _Rows, centred: bool, top: int, chunk: int | None) -> np.ndarray:
    C = _covariance64(rows, centred, _rows_per_chunk(rows.d, _GRAM_CHUNK_BYTES, chunk))
    values = _top_eigenvalues(C, top)
    return _clip(values, float(values[0]), rows.d)


def _gram_method(rows: _Rows, centred: bool, top: int, chunk: int | None) -> np.ndarray:
    """Eigenvalues from the dual N x N Gram matrix P A P / N, A = (X - s)(X - s)^T.

    P = I - 1 1^T / N removes any constant shift exactly (P (X - s) = P X), so the pilot
    shift s only serves to keep A's entries, and the double centring, free of cancellation.
    """
    n, d = rows.n, rows.d
    s = _shift_of(rows, centred)
    width = max(1, _rows_per_chunk(d, _GRAM_CHUNK_BYTES, chunk) * d // n)
    A = np.zeros((n, n))
    for start in range(0, d, width):
        B = rows.columns(start, min(d, start + width))
        _check_finite_block(B, 0, start)
        B -= s[start : start + B.shape[1]]
        A += B @ B.T
    if not np.isfinite(A).all():
        rows.raise_non_finite(_rows_per_chunk(d, _PASS_CHUNK_BYTES, chunk), "their sum of squares")
    if centred:
        r = A.mean(axis=1)
        A -= r[:, None]
        A -= r[None, :]
        A += r.mean()
        A = _deflate_ones(A)
    A /= n
    k = min(top, A.shape[0])
    out = np.zeros(top)  # the other eigenvalues of C are exact zeros (rank <= N - centred)
    if k:
        out[:k] = _top_eigenvalues(A, k)
    return _clip(out, float(out[0]), max(n, 1))


def _deflate_ones(A: np.ndarray) -> np.ndarray:
    """The doubly centred Gram matrix restricted to the complement of the ones vector.

    P A P annihilates 1 exactly, so 0 is an exact eigenvalue; in floating point the
    eigensolver returns it as +-1e-14 ||A|| instead.  With the Householder reflector H
    (symmetric, orthogonal) that maps 1 / sqrt(N) to e_1, H A H has its first row and
    column zero up to rounding; dropping them leaves the other N - 1 eigenvalues
    (Golub & Van Loan, Matrix Computations, 4th ed., section 5.1.2) and the zero is
    reported exactly.
    """
    n = A.shape[0]
    if n < 2:
        return A[:0, :0]
    v = np.full(n, 1 / np.sqrt(n))
    v[0] -= 1.0  # H = I - 2 v v^T / (v^T v) maps 1 / sqrt(N) to e_1
    w = A @ v * (2 / (v @ v))
    # H A H = A - v w^T - w v^T + (v^T w) (2 / v^T v) v v^T
    HAH = A - np.outer(v, w) - np.outer(w, v) + (v @ w) * (2 / (v @ v)) * np.outer(v, v)
    return HAH[1:, 1:]


# --------------------------------------------------------------------------------------
# Block Krylov with certified Rayleigh-Ritz bounds
# --------------------------------------------------------------------------------------


def _lili(eps: float, eta: float) -> float:
    """Li & Li (2005): eigenvalue shift of a block-diagonal matrix by off-diagonal eps."""
    return 2.0 * eps * eps / (eta + math.sqrt(eta * eta + 4.0 * eps * eps))


def ritz_error_bounds(theta: np.ndarray, R: np.ndarray, top: int) -> np.ndarray:
    """Certified bounds on lambda_i - theta_i >= 0 for the leading ``top`` Ritz values.

    Parameters
    ----------
    theta : numpy.ndarray
        All Ritz values of the subspace, descending (length D >= top).
    R : numpy.ndarray
        d x D residuals, column i = C u_i - theta_i u_i.
    top : int
        How many leading values to bound.

    Returns
    -------
    numpy.ndarray
        One bound per leading Ritz value (``inf`` where none applies), the smaller of the
        block bound (Kahan linear / Li-Li quadratic, the best over block sizes m >= top)
        and the Kato-Temple bound of the pair.  See the module docstring for the theorems
        and the one assumption (no eigenvalue missed by the subspace).
    """
    return _ritz_bounds(theta, R, top)[0]


def _ritz_bounds(theta: np.ndarray, R: np.ndarray, top: int) -> tuple[np.ndarray, bool]:
    """:func:`ritz_error_bounds`, and whether a positive gap after theta_top was found."""
    D = theta.shape[0]
    RtR = R.T @ R
    rho = np.sqrt(np.maximum(np.diag(RtR), 0.0))
    # Block sizes m = top..last are tried (a gap just after the cluster containing
    # theta_top is all that is needed; searching a block further costs more than it finds).
    last = min(D, top + max(4, top))
    # eps[m] = ||R[:, :m]||_2 for m = 1..last+1 (eps[0] = 0), from leading blocks of R^T R.
    eps = np.zeros(min(D, last + 1) + 1)
    for m in range(1, eps.shape[0]):
        top_sq = scipy.linalg.eigvalsh(RtR[:m, :m], subset_by_index=[m - 1, m - 1])[0]
        eps[m] = math.sqrt(max(float(top_sq), 0.0))
    block = math.inf
    has_gap = False
    for m in range(top, last + 1):
        bound_m = eps[m]  # Kahan: linear bound, needs no gap
        if m < D:
            # Upper bound on lambda_max of C compressed to span(u_1..u_m)^perp:
            # lambda_{m+1} <= theta_{m+1} + eps_{m+1}, plus eps_m for the compression.
            eta = float(theta[m - 1] - (theta[m] + eps[m + 1] + eps[m]))
            if eta > 0:
                has_gap = True
                bound_m = min(bound_m, _lili(eps[m], eta))
        block = min(block, bound_m)
    out = np.full(top, block)
    for i in range(min(top, D - 1)):
        alpha = theta[i + 1] + eps[i + 2]  # >= lambda_{i+2 (1-based)} by Kahan
        if theta[i] > alpha:
            out[i] = min(out[i], rho[i] ** 2 / (theta[i] - alpha))
    return out, has_gap


class _Krylov:
    """Rayleigh-Ritz on a growing orthonormal basis Q whose products C Q are exact.

    The basis grows by the residuals of the leading Ritz vectors (block Lanczos when all b
    are taken: their span is that of the new directions of C Q_j).  Vectors already
    certified are left out ("soft locking"): the last passes, where only the values next to
    the gap still move, then apply C to a narrower block.
    """

    def __init__(self, d: int, top: int, rtol: float, rng: np.random.Generator) -> None:
        self.d, self.top, self.rtol, self.rng = d, top, rtol, rng
        self.Q = np.zeros((d, 0))
        self.CQ = np.zeros((d, 0))
        self.theta = np.zeros(0)
        self.S = np.zeros((0, 0))
        self.R = np.zeros((d, 0))
        self.bounds = np.full(top, math.inf)
        self.has_gap = False
        self.residual_norms = np.zeros(0)

    @property
    def dim(self) -> int:
        return self.Q.shape[1]

    def add(self, Qj: np.ndarray, CQj: np.ndarray) -> None:
        self.Q = np.hstack([self.Q, Qj])
        self.CQ = np.hstack([self.CQ, CQj])
        H = self.Q.T @ self.CQ
        H = 0.5 * (H + H.T)  # Q^T C Q is symmetric; symmetrise away the rounding
        theta, S = np.linalg.eigh(H)
        self.theta, self.S = theta[::-1].copy(), S[:, ::-1].copy()
        U = self.Q @ self.S
        self.R = self.CQ @ self.S - U * self.theta
        self.residual_norms = np.linalg.norm(self.R, axis=0)
        if self.dim >= self.top:
            self.bounds, self.has_gap = _ritz_bounds(self.theta, self.R, self.top)

    def values(self) -> np.ndarray:
        return self.theta[: self.top]

    def tolerances(self) -> np.ndarray:
        """rtol theta_i, but never below the dense-solver accuracy d eps theta_1."""
        lead = max(float(self.theta[0]), 0.0) if self.dim else 0.0
        return np.maximum(self.rtol * np.maximum(self.values(), 0.0), self.d * _EPS * lead)

    def converged(self) -> bool:
        return self.dim >= self.top and bool(np.all(self.bounds <= self.tolerances()))

    def ritz_vectors(self, k: int) -> np.ndarray:
        return self.Q @ self.S[:, :k]

    def next_block(self, width: int) -> np.ndarray | None:
        """Orthonormal new directions, at most ``width`` (None when Q spans R^d).

        Taken from the residuals of the leading ``width`` Ritz vectors: the uncertified
        among the top ones first, then (while no gap after theta_top is established) the
        ones just below, which only serve the gap estimate; the count is rounded up to a
        multiple of 4 (OpenBLAS's GEMM kernels run narrow blocks of 4k columns fastest).
        """
        room = self.d - self.dim
        k = min(width, self.dim, room)
        if k <= 0:
            return None
        ratio = self.bounds / np.maximum(self.tolerances(), 1e-300)
        priority = []
        for i in range(k):
            if i < self.top:
                need = not (self.dim >= self.top and ratio[i] <= 1.0)
                priority.append((2 if need else 0, float(ratio[i]) if need else 0.0))
            else:
                priority.append((0 if self.has_gap else 1, float(self.residual_norms[i])))
        needed = sum(1 for p in priority if p[0] > 0)
        count = min(k, max(4, -(-needed // 4) * 4))
        chosen = sorted(range(k), key=lambda i: priority[i], reverse=True)[:count]
        W = self.R[:, sorted(chosen)].copy()
        W /= np.maximum(np.linalg.norm(W, axis=0), 1e-300)
        for _ in range(2):  # classical Gram-Schmidt twice is enough (Giraud et al. 2005)
            W -= self.Q @ (self.Q.T @ W)
        # A residual at rounding level has lost its direction to the projection: replace
        # such columns (and dependent ones) by random directions -- any subspace is valid
        # for Rayleigh-Ritz, and this keeps the basis growing.
        weak = np.linalg.norm(W, axis=0) < 1e-6
        if weak.any():
            W[:, weak] = self.rng.standard_normal((self.d, int(weak.sum())))
            for _ in range(2):
                W -= self.Q @ (self.Q.T @ W)
        Qn, Rn = np.linalg.qr(W)
        dependent = np.abs(np.diag(Rn)) < 1e-8 * np.linalg.norm(W, axis=0)
        if dependent.any():
            Z = self.rng.standard_normal((self.d, int(dependent.sum())))
            keep = Qn[:, ~dependent]
            basis = np.hstack([self.Q, keep])
            for _ in range(2):
                Z -= basis @ (basis.T @ Z)
            Qn = np.hstack([keep, np.linalg.qr(Z)[0]])
        return Qn


class _Passes:
    """Applies C to a block of vectors in one float64 pass over the rows of X."""

    def __init__(
        self,
        rows: _Rows,
        centred: bool,
        chunk: int,
        shift: np.ndarray,
        *,
        trace: float,
        lam_top: float,
        rtol: float,
    ) -> None:
        self.rows, self.centred, self.chunk = rows, centred, chunk
        self.trace, self.lam_top, self.rtol = trace, lam_top, rtol
        self.count = 0
        self.set_shift(shift)

    def set_shift(self, shift: np.ndarray) -> None:
        """Use the shift s, implicitly (X V - 1 s^T V) when that is accurate enough.

        The implicit shift needs no copy of the block, but each y = x^T v - s^T v then
        carries a rounding error up to eps ||x|| ||v|| (the dot-product error bound), with
        ||x||^2 ~ ||s||^2 + trace, against y ~ sqrt(lambda): eigenvalues near lambda_top
        lose a relative ~2 eps sqrt((||s||^2 + trace) / lambda_top).  Subtracting s from
        each block explicitly (a sweep over the cached block, ~ +50 % per pass measured)
        is done only when that loss could exceed rtol / 10, i.e. for a mean far larger
        than the wanted spread.
        """
        self.shift = shift
        spread = float(shift @ shift) + max(self.trace, 0.0)
        loss = 2.0 * _EPS * math.sqrt(spread / max(self.lam_top, 1e-300))
        self.explicit = bool(self.centred and loss > self.rtol / 10)

    def apply(self, V: np.ndarray, *, with_sums: bool) -> tuple[np.ndarray, np.ndarray]:
        """Return (C V, m - s) with C the covariance (or second moment).

        ``with_sums`` appends a column of ones to X V, so the same GEMM yields the column
        sums of X - s: the mean, and a block-by-block finiteness check (a NaN or inf entry
        makes its column sum non-finite; finite entries only by overflow).  Later passes,
        shifted by that mean, skip it (m - s is then rounding, and returned as 0): an odd
        width costs ~20 % more in OpenBLAS's GEMM kernels than b = 20.
        """
        rows, s, b = self.rows, self.shift, V.shape[1]
        k = b + 1 if with_sums else b
        acc = np.zeros((rows.d, k))
        size = min(self.chunk, rows.n)
        ext = np.empty((size, k))
        if with_sums:
            ext[:, b] = 1.0
        totals = np.zeros(k)
        sV = s @ V
        buf = np.empty((size, rows.d)) if self.explicit else None
        for start, block in rows.chunks(self.chunk):
            r = block.shape[0]
            if buf is not None:
                B = np.subtract(block, s, out=buf[:r])
                ext[:r, :b] = B @ V
            else:
                B = block
                ext[:r, :b] = B @ V
                ext[:r, :b] -= sV
                totals += ext[:r].sum(axis=0)
            part = B.T @ ext[:r]
            if not np.isfinite(part).all():
                _check_finite_block(block, start)
                rows.raise_non_finite(self.chunk, "the product X^T X V")
            acc += part
        if buf is None:
            acc -= np.outer(s, totals)  # sum (x - s) y^T = X^T Y - s (1^T Y)
        acc /= rows.n
        self.count += 1
        delta = acc[:, b].copy() if with_sums else np.zeros(rows.d)
        CV = acc[:, :b]
        if self.centred and with_sums:
            CV -= np.outer(delta, delta @ V)  # C = (1/N) sum (x-s)(x-s)^T - (m-s)(m-s)^T
        return CV, delta


def _orthonormal(V: np.ndarray) -> np.ndarray:
    return np.linalg.qr(V)[0]


def _subsample_start(
    rows: _Rows, centred: bool, top: int, b: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Leading Ritz vectors of the covariance of an evenly spread row subsample.

    Returns (V0 (d x b), subsample Ritz values, subsample mean, subsample trace).
    """
    d = rows.d
    count = min(rows.n, max(4 * b, min(2 * d, _SUBSAMPLE_BYTES // (8 * d))))
    S = _take_checked(rows, _pilot_rows(rows.n, count))
    mean = S.mean(axis=0) if centred else np.zeros(d)
    S -= mean
    trace = float(np.einsum("ij,ij->", S, S)) / count
    kry = _Krylov(d, min(top, d), 1e-3, rng)
    Q = _orthonormal(rng.standard_normal((d, b)))
    for _ in range(6):  # a start, not a result: the full passes refine it
        CQ = S.T @ (S @ Q) / count
        kry.add(Q, CQ)
        if kry.converged():
            break
        Q = kry.next_block(b)
        if Q is None:
            break
    return kry.ritz_vectors(b), kry.theta.copy(), mean, trace


def _relative_gap(theta: np.ndarray, top: int, b: int) -> float:
    """Largest (theta_m - theta_{m+1}) / theta_m over m = top..b-1 (1-based)."""
    best = 0.0
    for m in range(top, min(b, theta.shape[0] - 1) + 1):
        if m >= theta.shape[0]:
            break
        if theta[m - 1] > 0:
            best = max(best, float((theta[m - 1] - theta[m]) / theta[m - 1]))
    return best


@dataclass
class _IterativeOutcome:
    kry: _Krylov
    passes: int
    iterations: int
    widths: tuple[int, ...]
    converged: bool
    reason: str | None


def _run_lanczos(
    passes: _Passes,
    V0: np.ndarray,
    *,
    top: int,
    rtol: float,
    rng: np.random.Generator,
    max_steps: int,
    budget_seconds: float | None,
    pass_seconds: float,
) -> _IterativeOutcome:
    """Block Lanczos steps on the full data until certified or out of budget.

    ``budget_seconds`` (None: no check) is compared with the cost predicted from the
    observed decrease of the leading residual eps_top per pass, assuming the quadratic
    bound eps^2 / eta takes over: the run is abandoned early when it would not fit.
    """
    d = passes.rows.d
    kry = _Krylov(d, top, rtol, rng)
    Q = _orthonormal(V0)
    b = Q.shape[1]
    history: list[float] = []
    widths: list[int] = []
    steps = 0
    reason = None
    while True:
        CQ, delta = passes.apply(Q, with_sums=steps == 0)
        widths.append(Q.shape[1])
        steps += 1
        if steps == 1 and passes.centred:
            # The first pass gives the mean (to rounding); later passes shift by it.
            passes.set_shift(passes.shift + delta)
        kry.add(Q, CQ)
        if kry.converged():
            return _IterativeOutcome(kry, passes.count, steps, tuple(widths), True, None)
        if steps >= max_steps:
            reason = f"not certified to rtol={rtol:g} within {max_steps} passes"
            break
        eps_top = float(np.linalg.norm(kry.residual_norms[:top]))
        history.append(eps_top)
        if budget_seconds is not None and steps >= _MIN_PASSES and len(history) >= 2:
            rate = history[-1] / history[-2] if history[-2] > 0 else 0.0
            tol = float(np.min(kry.tolerances()))
            gaps = kry.theta[top - 1] - kry.theta[top:]
            eta = float(gaps[gaps > 0].max()) if (gaps > 0).any() else 0.0
            target = math.sqrt(max(tol, 1e-300) * max(eta, 1e-3 * float(kry.theta[0])))
            if rate >= 1.0:
                more = math.inf
            elif eps_top <= target:
                more = 1
            else:
                more = math.ceil(math.log(target / eps_top) / math.log(max(rate, 1e-300)))
            if (steps + more) * pass_seconds > budget_seconds:
                reason = (
                    f"predicted {steps + more} passes (residual rate {rate:.2g} per pass) "
                    f"exceed the budget of {budget_seconds / pass_seconds:.1f}"
                )
                break
        Q = kry.next_block(b)
        if Q is None:  # the basis spans R^d: Rayleigh-Ritz is exact, bounds are rounding
            reason = "basis spans the whole space but the bound exceeds the tolerance"
            break
    return _IterativeOutcome(kry, passes.count, steps, tuple(widths), False, reason)


def _mixed_start(
    rows: _Rows, centred: bool, top: int, b: int, chunk: int
) -> tuple[np.ndarray, np.ndarray, float, float] | None:
    """Leading eigenvectors of the covariance accumulated in float32 (None if unusable).

    Returns (V0, pilot shift, trace, estimate of lambda_top).  Data whose root-mean-square is
    outside [2^-40, 2^40] is not attempted: squares and sums of many squares must stay
    well inside float32's normal range (1e-38..3e38).  Each row block is shifted by a pilot
    mean and rounded to float32 in one ufunc; the block Gram (float32 syrk) is summed in
    float64 so the accumulated rounding stays at the float32 level of one block.
    """
    d = rows.d
    s = _shift_of(rows, centred)
    probe = _take_checked(rows, _pilot_rows(rows.n, 256)) - s
    rms = math.sqrt(float(np.mean(np.square(probe))))
    if rms != 0.0 and not 2.0**-40 < rms < 2.0**40:
        return None
    G = np.zeros((d, d))
    colsum = np.zeros(d)
    buf = np.empty((min(chunk, rows.n), d), dtype=np.float32)
    for start, block in rows.chunks(chunk):
        B = buf[: block.shape[0]]
        np.subtract(block, s, out=B, casting="same_kind")
        part = B.sum(axis=0, dtype=np.float64)
        if not np.isfinite(part).all():
            _check_finite_block(block, start)
            return None  # finite float64 data out of float32 range: not for this method
        colsum += part
        G += B.T @ B
    if not np.isfinite(G).all():
        return None
    G /= rows.n
    if centred:
        delta = colsum / rows.n
        G -= np.outer(delta, delta)
    w, V0 = scipy.linalg.eigh(G, subset_by_index=[d - b, d - 1], check_finite=False)
    return V0[:, ::-1].copy(), s, float(np.trace(G)), float(w[::-1][top - 1])


# --------------------------------------------------------------------------------------
# Public entry point
# --------------------------------------------------------------------------------------


def covariance_spectrum(
    X: Any,
    *,
    centred: bool = True,
    top: int | None = None,
    method: str = "auto",
    chunk_rows: int | None = None,
    rtol: float = 1e-12,
    seed: int = 0,
    max_passes: int | None = None,
) -> SpectrumResult:
    """Top eigenvalues of the covariance of the rows of ``X``.

    Parameters
    ----------
    X : array_like or numpy.memmap
        N x d data, rows are samples.  Read in row blocks; never copied whole.
    centred : bool, default True
        Centred 1/N covariance; False: uncentred second moment (1/N) X^T X.
    top : int, optional
        Number of leading eigenvalues (1..d); default all d.
    method : {"auto", "eigh", "gram", "krylov", "mixed"}
        See the module docstring.
    chunk_rows : int, optional
        Rows per block (default: 16 MiB blocks for Krylov passes, 64 MiB for the covariance).
    rtol : float, default 1e-12
        Iterative methods: certify each value to ``rtol`` relative (but not below
        d eps lambda_1, the dense solvers' accuracy).  Ignored by the direct methods.
    seed : int, default 0
        Seed of the random start block (NumPy ``default_rng``).
    max_passes : int, optional
        Iterative methods: at most this many float64 Krylov passes before falling back to
        ``"eigh"`` (default: from the cost model, so that giving up costs at most about
        what ``"eigh"`` would).

    Returns
    -------
    SpectrumResult

    Raises
    ------
    TypeError
        Non-numeric data or wrongly typed options.
    ValueError
        Wrong shape, no rows, a non-finite entry (found block by block), ``top`` outside
        1..d, an unknown method, or ``rtol`` not in (0, 1).
    """
    X = _check_data(X)
    n, d = X.shape
    top = d if top is None else check_int("top", top, 1, d)
    if not isinstance(method, str) or method not in METHODS:
        raise InputError(f"method={method!r}: expected one of {', '.join(METHODS)}")
    if chunk_rows is not None:
        chunk_rows = check_int("chunk_rows", chunk_rows, 1)
    if max_passes is not None:
        max_passes = check_int("max_passes", max_passes, 1)
    if isinstance(rtol, bool) or not isinstance(rtol, Real):
        raise InputError(f"rtol={rtol!r}: expected a number in (0, 1)")
    rtol = float(rtol)
    if not (0.0 < rtol < 1.0):
        raise InputError(f"rtol={rtol!r}: expected a number in (0, 1)")
    seed = check_int("seed", seed, 0)
    centred = bool(centred)
    rows = _Rows(X)

    notes: list[str] = []  # decisions, reported in SpectrumResult.notes
    handovers: list[str] = []  # reasons an iterative method gave up

    def direct(name: str, *, passes: int = 1) -> SpectrumResult:
        if name == "gram":
            values = _gram_method(rows, centred, top, chunk_rows)
        else:
            values = _eigh_method(rows, centred, top, chunk_rows)
        return SpectrumResult(
            values,
            name,
            n,
            d,
            centred,
            None,
            None,
            method,
            passes,
            0,
            (),
            None,
            "; ".join(handovers) or None,
            tuple(notes),
        )

    b = _block_size(top, d)
    cost = predicted_seconds(n, d, top, b)
    choice = method
    if method == "auto":
        direct_best = "gram" if cost["gram"] < cost["eigh"] else "eigh"
        iterative_best = min(cost["krylov"], cost["mixed"])
        if 2 * b > d or iterative_best > _AUTO_MARGIN * cost[direct_best]:
            notes.append(
                f"auto: {direct_best} (predicted {cost[direct_best]:.2g} s; iterative "
                f"{iterative_best:.2g} s, block {b} of d = {d})"
            )
            return direct(direct_best)
        choice = "auto-iterative"
    if choice in ("eigh", "gram"):
        return direct(choice)

    rng = np.random.default_rng(seed)
    pass_chunk = _rows_per_chunk(d, _PASS_CHUNK_BYTES, chunk_rows)
    gram_chunk = _rows_per_chunk(d, _GRAM_CHUNK_BYTES, chunk_rows)
    spent = 0  # full passes over X so far

    def budget_steps(seconds: float) -> int:
        if max_passes is not None:
            return max_passes
        return max(_MIN_BUDGET, min(_MAX_BUDGET, int(seconds / cost["pass"])))

    def finish(out: _IterativeOutcome, name: str, extra_passes: int) -> SpectrumResult:
        kry = out.kry
        values = _clip(kry.values().copy(), float(kry.theta[0]), d)
        bounds = kry.bounds.copy()
        return SpectrumResult(
            values,
            name,
            n,
            d,
            centred,
            float(bounds.max()),
            bounds,
            method,
            out.passes + extra_passes,
            out.iterations,
            out.widths,
            kry.dim,
            "; ".join(handovers) or None,
            tuple(notes),
        )

    if choice in ("krylov", "auto-iterative"):
        V0, sub_theta, mean, trace = _subsample_start(rows, centred, top, b, rng)
        gap = _relative_gap(sub_theta, top, b)
        use_krylov = choice == "krylov" or (cost["krylov"] < cost["mixed"] and gap >= _AUTO_GAP)
        if use_krylov and choice != "krylov":
            notes.append(
                f"auto: krylov (subsample relative gap {gap:.2g} >= {_AUTO_GAP}; predicted "
                f"seconds krylov {cost['krylov']:.2g}, mixed {cost['mixed']:.2g})"
            )
        if use_krylov:
            passes = _Passes(
                rows,
                centred,
                pass_chunk,
                mean,
                trace=trace,
                lam_top=float(sub_theta[top - 1]),
                rtol=rtol,
            )
            if choice == "krylov":
                steps, budget = budget_steps(cost["eigh"]), None
            else:
                steps = budget_steps(cost["mixed"])
                budget = None if max_passes is not None else cost["mixed"]
            out = _run_lanczos(
                passes,
                V0,
                top=top,
                rtol=rtol,
                rng=rng,
                max_steps=steps,
                budget_seconds=budget,
                pass_seconds=cost["pass"],
            )
            if out.converged:
                return finish(out, "krylov", 0)
            spent += out.passes
            handovers.append(f"krylov: {out.reason}")
            if choice == "krylov":
                return direct("eigh", passes=spent + 1)
        else:
            notes.append(
                f"auto: mixed chosen (subsample relative gap {gap:.2g}, predicted seconds "
                f"krylov {cost['krylov']:.2g}, mixed {cost['mixed']:.2g})"
            )

    # "mixed" (requested, or chosen/switched to by "auto")
    start = _mixed_start(rows, centred, top, b, gram_chunk)
    if start is None:
        handovers.append("mixed: data outside the float32 range")
        return direct("eigh", passes=spent + 1)
    spent += 1
    V0, shift, trace, lam_top = start
    passes = _Passes(rows, centred, pass_chunk, shift, trace=trace, lam_top=lam_top, rtol=rtol)
    out = _run_lanczos(
        passes,
        V0,
        top=top,
        rtol=rtol,
        rng=rng,
        max_steps=budget_steps(max(cost["eigh"] - cost["mixed"], 0.0)),
        budget_seconds=None,
        pass_seconds=cost["pass"],
    )
    if out.converged:
        return finish(out, "mixed", spent)
    handovers.append(f"mixed: {out.reason}")
    return direct("eigh", passes=spent + out.passes + 1)
