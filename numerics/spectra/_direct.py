"""Direct methods: the d x d covariance (``"eigh"``) or the dual N x N Gram matrix (``"gram"``).

One pass over the rows accumulates the covariance (BLAS ``syrk`` on row blocks shifted by
a pilot mean), then LAPACK gives the top eigenvalues.  Exact up to rounding: the reference
path, and the fallback of the iterative methods.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from numerics.spectra._rows import (
    EPS,
    GRAM_CHUNK_BYTES,
    PASS_CHUNK_BYTES,
    Rows,
    check_finite_block,
    rows_per_chunk,
    shift_of,
)

# NumPy's ``B @ B.T`` (its syrk shortcut) crashes OpenBLAS 0.3.31 for large outputs (here:
# 18000 x 18000 from 279 columns; numpy/numpy#19685); above this output size the dual Gram
# matrix is formed with a plain GEMM on a copy of B^T instead.
_SYRK_MAX_OUTPUT = 16384


def clip(values: np.ndarray, scale: float, d: int) -> np.ndarray:
    """Clip rounding-level negative eigenvalues of a PSD matrix to 0.

    A covariance is positive semi-definite, so a negative computed eigenvalue is rounding
    error, of size at most p(d) eps ||C|| for a backward-stable solver.  We zero values
    down to -1e3 d eps ||C|| (generous: such errors are O(sqrt(d) eps ||C||) in practice);
    anything more negative would signal a bug, and is left visible.
    """
    tol = 1e3 * d * EPS * max(scale, 0.0)
    out = values.copy()
    out[(out < 0) & (out >= -tol)] = 0.0
    return out


def covariance64(rows: Rows, centred: bool, chunk: int) -> np.ndarray:
    """The d x d covariance (or second moment), accumulated in float64 row blocks."""
    s = shift_of(rows, centred)
    G = np.zeros((rows.d, rows.d))
    colsum = np.zeros(rows.d)
    buf = np.empty((min(chunk, rows.n), rows.d))
    # Huge finite entries overflow the sums to inf (and inf - inf to nan): expected, and
    # detected below, where they are reported as one InputError.
    with np.errstate(over="ignore", invalid="ignore"):
        for start, block in rows.chunks(chunk):
            B = np.subtract(block, s, out=buf[: block.shape[0]])
            part = B.sum(axis=0)
            # Cheap finiteness check, block by block: a NaN or inf entry makes its column sum
            # non-finite (finite entries can only do so by overflow, reported as such).
            if not np.isfinite(part).all():
                check_finite_block(block, start)
            colsum += part
            G += B.T @ B  # NumPy calls syrk for B.T @ B
    if not np.isfinite(G).all() or not np.isfinite(colsum).all():
        rows.raise_non_finite(chunk, "their sum of squares")
    G /= rows.n
    if centred:
        delta = colsum / rows.n  # m - s
        G -= np.outer(delta, delta)
    return G


def top_eigenvalues(C: np.ndarray, top: int) -> np.ndarray:
    """The ``top`` largest eigenvalues of the symmetric C, descending (LAPACK)."""
    d = C.shape[0]
    if top == d:
        values = np.linalg.eigvalsh(C)
    else:
        values = scipy.linalg.eigh(
            C, subset_by_index=[d - top, d - 1], eigvals_only=True, check_finite=False
        )
    return values[::-1].copy()


def eigh_method(rows: Rows, centred: bool, top: int, chunk: int | None) -> np.ndarray:
    """Top eigenvalues from the d x d covariance."""
    C = covariance64(rows, centred, rows_per_chunk(rows.d, GRAM_CHUNK_BYTES, chunk))
    values = top_eigenvalues(C, top)
    return clip(values, float(values[0]), rows.d)


def gram_method(rows: Rows, centred: bool, top: int, chunk: int | None) -> np.ndarray:
    """Eigenvalues from the dual N x N Gram matrix P A P / N, A = (X - s)(X - s)^T.

    P = I - 1 1^T / N removes any constant shift exactly (P (X - s) = P X), so the pilot
    shift s only serves to keep A's entries, and the double centring, free of cancellation.
    """
    n, d = rows.n, rows.d
    s = shift_of(rows, centred)
    width = max(1, rows_per_chunk(d, GRAM_CHUNK_BYTES, chunk) * d // n)
    A = np.zeros((n, n))
    # Overflow of huge finite entries is expected and detected after the loop.
    with np.errstate(over="ignore", invalid="ignore"):
        for start in range(0, d, width):
            B = rows.columns(start, min(d, start + width))
            check_finite_block(B, 0, start)
            B -= s[start : start + B.shape[1]]
            A += B @ (B.T if n <= _SYRK_MAX_OUTPUT else np.ascontiguousarray(B.T))
    if not np.isfinite(A).all():
        rows.raise_non_finite(rows_per_chunk(d, PASS_CHUNK_BYTES, chunk), "their sum of squares")
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
        out[:k] = top_eigenvalues(A, k)
    return clip(out, float(out[0]), max(n, 1))


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
