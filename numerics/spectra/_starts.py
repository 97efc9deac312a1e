"""Start blocks of the iterative methods, from a row subsample or a float32 covariance.

* :func:`subsample_start` (``"krylov"``): a few block Krylov steps on the covariance of an
  evenly spread row subsample; its Ritz values also tell ``"auto"`` whether there is a gap
  after the ``top``-th eigenvalue (:func:`relative_gap`).
* :func:`mixed_start` (``"mixed"``): the leading eigenvectors of the covariance accumulated
  in float32 (twice the BLAS throughput of float64), accurate to about the float32
  rounding level, so that the float64 Rayleigh-Ritz usually certifies after one pass.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.linalg

from numerics.spectra._krylov import Krylov, orthonormal
from numerics.spectra._rows import (
    PASS_CHUNK_BYTES,
    Rows,
    check_finite_block,
    pilot_rows,
    rows_per_chunk,
    shift_of,
    subsample_count,
    take_checked,
)


def subsample_start(
    rows: Rows, centred: bool, top: int, b: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Leading Ritz vectors of the covariance of an evenly spread row subsample.

    Returns (V0 (d x b), subsample Ritz values, subsample mean, subsample trace).
    """
    d = rows.d
    count = subsample_count(rows.n, d, b)
    S = take_checked(rows, pilot_rows(rows.n, count))
    # Huge finite rows overflow the mean or the trace to inf/nan: expected, checked below.
    with np.errstate(over="ignore", invalid="ignore"):
        mean = S.mean(axis=0) if centred else np.zeros(d)
        S -= mean
        trace = float(np.einsum("ij,ij->", S, S)) / count
    if not math.isfinite(trace):
        # The centred sum of squares of the subsample is at most that of all rows.
        rows.raise_non_finite(rows_per_chunk(d, PASS_CHUNK_BYTES, None), "their sum of squares")
    kry = Krylov(d, min(top, d), 1e-3, rng)
    Q = orthonormal(rng.standard_normal((d, b)))
    for _ in range(6):  # a start, not a result: the full passes refine it
        CQ = S.T @ (S @ Q) / count
        kry.add(Q, CQ)
        if kry.converged():
            break
        Q = kry.next_block(b)
        if Q is None:
            break
    return kry.ritz_vectors(b), kry.theta.copy(), mean, trace


def relative_gap(theta: np.ndarray, top: int, b: int) -> float:
    """Largest (theta_m - theta_{m+1}) / theta_m over m = top..b-1 (1-based)."""
    best = 0.0
    for m in range(top, min(b, theta.shape[0] - 1) + 1):
        if m >= theta.shape[0]:
            break
        if theta[m - 1] > 0:
            best = max(best, float((theta[m - 1] - theta[m]) / theta[m - 1]))
    return best


def mixed_start(
    rows: Rows, centred: bool, top: int, b: int, chunk: int
) -> tuple[np.ndarray, np.ndarray, float, float] | None:
    """Leading eigenvectors of the covariance accumulated in float32 (None if unusable).

    Returns (V0, pilot shift, trace, estimate of lambda_top).  Data whose root-mean-square is
    outside [2^-40, 2^40] is not attempted: squares and sums of many squares must stay
    well inside float32's normal range (1e-38..3e38).  Each row block is shifted by a pilot
    mean and rounded to float32 in one ufunc; the block Gram (float32 syrk) is summed in
    float64 so the accumulated rounding stays at the float32 level of one block.
    """
    d = rows.d
    s = shift_of(rows, centred)
    # Squares of huge entries overflow to inf: the rms is then out of range, as intended.
    with np.errstate(over="ignore", invalid="ignore"):
        probe = take_checked(rows, pilot_rows(rows.n, 256)) - s
        rms = math.sqrt(float(np.mean(np.square(probe))))
    if rms != 0.0 and not 2.0**-40 < rms < 2.0**40:
        return None
    # Finite float64 entries beyond float32's range become inf when rounded: detected below.
    with np.errstate(over="ignore", invalid="ignore"):
        G, colsum = _gram32(rows, s, chunk)
    if G is None or not np.isfinite(G).all():
        return None
    G /= rows.n
    if centred:
        delta = colsum / rows.n
        G -= np.outer(delta, delta)
    w, V0 = scipy.linalg.eigh(G, subset_by_index=[d - b, d - 1], check_finite=False)
    return V0[:, ::-1].copy(), s, float(np.trace(G)), float(w[::-1][top - 1])


def _gram32(rows: Rows, s: np.ndarray, chunk: int) -> tuple[np.ndarray | None, np.ndarray]:
    """sum over blocks of B^T B with B = float32(block - s), and the column sums of B.

    G is None when finite float64 data fall outside the float32 range (not for this method);
    a NaN or inf entry of X is reported with its index.
    """
    d = rows.d
    G = np.zeros((d, d))
    colsum = np.zeros(d)
    buf = np.empty((min(chunk, rows.n), d), dtype=np.float32)
    for start, block in rows.chunks(chunk):
        B = buf[: block.shape[0]]
        np.subtract(block, s, out=B, casting="same_kind")
        part = B.sum(axis=0, dtype=np.float64)
        if not np.isfinite(part).all():
            check_finite_block(block, start)
            return None, colsum  # finite float64 data out of float32 range
        colsum += part
        G += B.T @ B
    return G, colsum
