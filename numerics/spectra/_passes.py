"""One float64 pass over the rows of X applying the covariance to a block: ``C V = X_c^T (X_c V)``.

No centred copy of X is made: each row block is shifted by a pilot mean s, implicitly
(``X V - 1 s^T V``) or explicitly when the mean is so large that the implicit shift would
lose more than rtol / 10 (:meth:`Passes.set_shift`).
"""

from __future__ import annotations

import math

import numpy as np

from numerics.spectra._rows import EPS, Rows, check_finite_block


class Passes:
    """Applies C to a block of vectors in one float64 pass over the rows of X."""

    def __init__(
        self,
        rows: Rows,
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
        loss = 2.0 * EPS * math.sqrt(spread / max(self.lam_top, 1e-300))
        self.explicit = bool(self.centred and loss > self.rtol / 10)

    def apply(self, V: np.ndarray, *, with_sums: bool) -> tuple[np.ndarray, np.ndarray]:
        """Return (C V, m - s) with C the covariance (or second moment).

        ``with_sums`` appends a column of ones to X V, so the same GEMM yields the column
        sums of X - s: the mean, and a block-by-block finiteness check (a NaN or inf entry
        makes its column sum non-finite; finite entries only by overflow).  Later passes,
        shifted by that mean, skip it (m - s is then rounding, and returned as 0): an odd
        width costs ~20 % more in OpenBLAS's GEMM kernels than b = 20.
        """
        rows, b = self.rows, V.shape[1]
        k = b + 1 if with_sums else b
        # A NaN or inf entry, or huge finite ones, make the products non-finite: expected,
        # and reported block by block in _accumulate.
        with np.errstate(over="ignore", invalid="ignore"):
            acc, totals = self._accumulate(V, k, with_sums)
        if not self.explicit:
            acc -= np.outer(self.shift, totals)  # sum (x - s) y^T = X^T Y - s (1^T Y)
        acc /= rows.n
        self.count += 1
        delta = acc[:, b].copy() if with_sums else np.zeros(rows.d)
        CV = acc[:, :b]
        if self.centred and with_sums:
            CV -= np.outer(delta, delta @ V)  # C = (1/N) sum (x-s)(x-s)^T - (m-s)(m-s)^T
        return CV, delta

    def _accumulate(self, V: np.ndarray, k: int, with_sums: bool) -> tuple[np.ndarray, np.ndarray]:
        """sum over blocks of B^T [B V, 1] and the column sums of [B V, 1] (B = X or X - s)."""
        rows, s, b = self.rows, self.shift, V.shape[1]
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
                check_finite_block(block, start)
                rows.raise_non_finite(self.chunk, "the product X^T X V")
            acc += part
        return acc, totals
