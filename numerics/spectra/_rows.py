"""Chunked row access to N x d data, and the input checks every spectrum method shares.

``X`` (rows are samples) is only ever read in blocks of rows, converted to float64 block by
block, so ``np.load(..., mmap_mode="r")`` files work unchanged and memory stays
O(chunk * d).  Non-finite entries are found block by block and reported with their index;
finite data whose sums overflow float64 are reported as such (:meth:`Rows.raise_non_finite`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from numerics.core._validation import InputError

#: Unit roundoff of float64 (the rounding level every tolerance is measured against).
EPS = float(np.finfo(np.float64).eps)

# Chunk sizes in bytes of float64 rows.  Krylov passes reuse each chunk for the second
# product X_c^T Y, so it should stay in the 32 MiB L3 cache; syrk needs tall blocks to run
# near peak (2048-row chunks cost ~25 % more than 8192-row ones for d = 1000).
PASS_CHUNK_BYTES = 16 * 2**20
GRAM_CHUNK_BYTES = 64 * 2**20
# Row subsample for the Krylov start: at most this many bytes of float64 rows.
SUBSAMPLE_BYTES = 16 * 2**20


def check_data(X: Any) -> np.ndarray:
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


class Rows:
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
            check_finite_block(chunk, start)
            biggest = max(biggest, float(np.abs(chunk).max()))
        raise InputError(
            f"X has entries up to {biggest:.3g} in magnitude and {what} overflows float64: "
            "expected data that can be squared and summed (rescale it)"
        )


def check_finite_block(block: np.ndarray, row0: int, col0: int = 0) -> None:
    """Raise naming the first non-finite entry of a block of X at (row0, col0)."""
    bad = ~np.isfinite(block)
    if bad.any():
        i, j = (int(k) for k in np.argwhere(bad)[0])
        raise InputError(
            f"X[{row0 + i}, {col0 + j}] = {float(block[i, j])!r} is not finite: "
            "expected finite values"
        )


def rows_per_chunk(d: int, nbytes: int, chunk_rows: int | None) -> int:
    """Rows per block: ``chunk_rows`` if given, else ``nbytes`` of float64 rows (>= 64)."""
    if chunk_rows is not None:
        return chunk_rows
    return max(64, nbytes // (8 * d))


def pilot_rows(n: int, count: int, runs: int = 32) -> np.ndarray:
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


def take_checked(rows: Rows, idx: np.ndarray) -> np.ndarray:
    """Rows ``idx`` as a float64 copy, checked finite (reporting the original row index)."""
    sample = rows.take(idx)
    bad = ~np.isfinite(sample)
    if bad.any():
        i, j = (int(k) for k in np.argwhere(bad)[0])
        raise InputError(
            f"X[{int(idx[i])}, {j}] = {float(sample[i, j])!r} is not finite: expected finite values"
        )
    return sample


def shift_of(rows: Rows, centred: bool, pilot: int = 1024) -> np.ndarray:
    """Pilot mean of evenly spread rows (zero for the uncentred moment).

    Accumulating (x - s)(x - s)^T with s close to the mean avoids the cancellation of
    X^T X / N - m m^T, which loses log10(||m||^2 / lambda) digits when the mean is large;
    the remaining correction (m - s)(m - s)^T is then tiny.
    """
    if not centred:
        return np.zeros(rows.d)
    sample = take_checked(rows, pilot_rows(rows.n, pilot))
    # A finite sum of huge finite rows may overflow to inf: the mean is then inf, and the
    # accumulations that use it report the overflow (as "their sum of squares").
    with np.errstate(over="ignore", invalid="ignore"):
        return sample.mean(axis=0)


def subsample_count(n: int, d: int, b: int) -> int:
    """Rows of the subsample behind the Krylov start block of width ``b``.

    At least 4 b (enough rows for b Ritz vectors), at most 2 d rows and SUBSAMPLE_BYTES of
    float64 rows, and never more than N.
    """
    return min(n, max(4 * b, min(2 * d, SUBSAMPLE_BYTES // (8 * d))))
