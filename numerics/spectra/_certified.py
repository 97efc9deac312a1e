"""Eigenvalues of an exact covariance in arbitrary precision, with a certified error bound.

Every float64 is an exact binary rational, so the covariance of float data is an exact
rational matrix.  :func:`exact_covariance` computes it exactly (integer arithmetic), and
:func:`certified_eigenvalues` returns its eigenvalues to any number of digits together
with a *rigorous* bound on the error of every one of them, including clustered and
multiple eigenvalues (README, "Your data": certified digits).

Conventions
-----------
The covariance is the centred 1/N one (README, "Conventions and notation")::

    Sigma = (1/N) sum_n (x_n - m)(x_n - m)^T = (N X^T X - s s^T) / N^2,   s = column sums,

and, only when asked (``centred=False``), the uncentred second moment (1/N) X^T X.

The certificate
---------------
Let A be an exact symmetric rational m x m matrix with eigenvalues
lambda_1(A) >= ... >= lambda_m(A).  Let V be *any* real m x m matrix and theta any real
m-vector; here V is the computed eigenvector matrix rounded to the fixed-point grid
2^-p Z (so V = P / 2^p with P an integer matrix, an exact rational matrix) and theta_i
are the Rayleigh quotients of its columns rounded to binary floats (exact rationals too).
Nothing below depends on how V and theta were obtained.  Define, **exactly**
(integer / rational arithmetic, no rounding)::

    M = V^T A V (symmetric),   G = M - Theta,   F = V^T V - I,   Theta = diag(theta),

and let g >= ||G||_F >= ||G||_2 and delta >= ||F||_F >= ||F||_2, delta < 1.  Write
theta_(1) >= ... >= theta_(m) for theta sorted in descending order.

1. *Weyl's inequalities* (Horn & Johnson, Matrix Analysis, 2nd ed., Thm 4.3.1):
   for symmetric X and Y, lambda_i(X) + lambda_min(Y) <= lambda_i(X + Y) <= lambda_i(X) +
   lambda_max(Y), so |lambda_i(X + Y) - lambda_i(X)| <= ||Y||_2.  With X = Theta (whose
   sorted eigenvalues are theta_(i)) and Y = G: ``|lambda_i(M) - theta_(i)| <= g``.
2. Weyl again on V^T V = I + F: every eigenvalue of V^T V lies in [1 - delta, 1 + delta].
   As delta < 1, V^T V is positive definite and V is nonsingular.
3. *Ostrowski's theorem* (Horn & Johnson, Thm 4.5.9) with S = V^T: for nonsingular S,
   ``lambda_i(S A S^T) = mu_i lambda_i(A)`` with mu_i in [lambda_min(S S^T),
   lambda_max(S S^T)] = [lambda_min(V^T V), lambda_max(V^T V)], a subset of
   [1 - delta, 1 + delta] by step 2.  Here S A S^T = V^T A V = M.
4. Hence ``lambda_i(A) - lambda_i(M) = lambda_i(M) (1 - mu_i) / mu_i`` and
   ``|lambda_i(A) - lambda_i(M)| <= |lambda_i(M)| delta / (1 - delta)
   <= (|theta_(i)| + g) delta / (1 - delta)`` (step 1 bounds |lambda_i(M)|).
5. Triangle inequality with step 1: for every i at once,

       |lambda_i(A) - theta_(i)| <= e_i := g + (|theta_(i)| + g) delta / (1 - delta).

The bound holds for all eigenvalues simultaneously and needs no gap: multiple and
clustered eigenvalues are covered (only the *subspace* of a cluster has to be accurate
for G to be small).  Rigour of the arithmetic: M, G and F are computed exactly in
integers (A = A_int / D, V = P / 2^p); the integer matrix products run on float64 BLAS
by splitting every integer into signed 16-bit limbs, so that each partial sum is an
integer below 2^53 and is therefore exact in any summation order, and are recombined
with Python integers (:func:`_exact_matmul`, tested against plain Python-integer
products).  ||G||_F^2 and ||F||_F^2 are exact rationals; g and delta are binary floats
rounded upward and *verified exactly* (g^2 >= ||G||_F^2); e_i is evaluated in exact
rational arithmetic and converted to an mpf rounded upward, again verified exactly.  No
rounding enters the certificate except upward-directed rounding that is checked.

Exact zeros (deflation)
-----------------------
If row (and, by symmetry, column) j of A is exactly zero, the unit vector e_j is an
eigenvector with eigenvalue exactly 0.  Permuting these z rows last, A = B (+) 0_z and
spec(A) = spec(B) U {0}^z exactly.  Only B is eigen-solved.  Constant columns of the data
give such zero rows in the centred covariance (zero columns in the uncentred one).

Merging: the certificate gives lambda_i(B) in [l_i, u_i] = [theta_(i) - e_i,
theta_(i) + e_i].  Order statistics are monotone (if a_i <= b_i for all i under some
pairing, then the k-th largest of a is <= the k-th largest of b), so the k-th largest
eigenvalue of A lies between the k-th largest of {l_i} U {0}^z and the k-th largest of
{u_i} U {0}^z.  The reported k-th eigenvalue is the k-th largest of {theta_i} U {0}^z and
its bound is its larger distance to those two ends (computed exactly).  When no interval
[l_i, u_i] contains 0 this is e_i for the computed values and exactly 0 for the deflated
zeros, which are then flagged in ``exact_zero``.

How V is computed (speed only; the certificate does not care)
--------------------------------------------------------------
By default, float64 ``numpy.linalg.eigh`` gives a starting V, improved by the iterative
refinement of Ogita & Aishima ("Iterative refinement for symmetric eigenvalue
decomposition", Japan J. Indust. Appl. Math. 35 (2018) 1007-1035, Algorithm 1), which
roughly doubles the number of correct digits per step and needs only matrix products,
done here exactly on integers (numpy object arrays) at a fixed-point precision that grows
with the accuracy.  The step is applied to A - sigma I (same eigenvectors) with sigma the
centre of the spectrum; clusters of eigenvalues closer than the current accuracy (where
Algorithm 1 only re-orthogonalises) are rotated by the eigenvectors of their Rayleigh
block, computed recursively (the idea of the sequel, Japan J. Indust. Appl. Math. 36
(2019) 435-459).  If that stalls, ``mpmath.eigsy`` at the working precision is used and
refined; ``method="eigsy"`` goes straight to mpmath (much slower: about 6 s against
0.2 s for the 61 x 61 digits block at 40 digits, on 2 cores).

Target: every e_i <= 10^-digits * max(|theta_i|, 10^-digits * max_j |theta_j|), i.e.
``digits`` significant digits, except for eigenvalues below 10^-digits of the spectral
radius, which get ``digits`` digits *absolute* with respect to it (such eigenvalues, e.g.
the zeros of a rank-deficient covariance that are not zero rows, cannot be resolved
relatively).  The working precision starts at digits + 20 + log10(d) decimal digits and
the guard is doubled (up to three times) until the target is met; otherwise the (still
rigorous) bounds are returned with ``target_met=False``.

Printing
--------
:func:`format_significant` rounds *exactly* (half to even) to N significant digits.  The
printed decimal y differs from the true eigenvalue by at most error_bound + |x - y| <=
error_bound + half an ulp of the printed decimal (the unit of its last digit);
:func:`printed_error_bound` returns that total, rounded upward.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import time
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import mpmath
import numpy as np
from mpmath import libmp

from numerics.core._validation import InputError
from numerics.spectra._decimal import (
    BOUND_PREC as _BOUND_PREC,
)
from numerics.spectra._decimal import (
    MAX_DIGITS,
    format_significant,
    printed_error_bound,
)
from numerics.spectra._decimal import (
    check_digits as _check_digits,
)
from numerics.spectra._decimal import (
    mpf_rounded as _mpf_round,
)
from numerics.spectra._decimal import (
    to_fraction as _to_fraction,
)

try:  # optional (installed with scikit-learn): single-threaded BLAS for small problems
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover
    threadpool_limits = None

__all__ = [
    "MAX_DIGITS",
    "CertifiedSpectrum",
    "certified_covariance_spectrum",
    "certified_eigenvalues",
    "exact_covariance",
    "format_significant",
    "printed_error_bound",
]


_ZERO = mpmath.mpf(0)

#: Eigenvalues closer than 2^-_CLUSTER_BITS of the spectral scale are refined as a cluster.
_CLUSTER_BITS = 32

#: Matrices at least this large use multi-threaded BLAS for the exact products.
_THREADED_SIZE = 256

#: Guard digits added to ``digits`` for the working precision (doubled on each retry).
_GUARD_DIGITS = 20


@dataclass(frozen=True)
class CertifiedSpectrum:
    """Eigenvalues of an exact symmetric matrix with rigorous error bounds.

    Attributes
    ----------
    eigenvalues : tuple of mpmath.mpf
        Computed eigenvalues in descending order.  Each is an exact binary rational
        carrying about ``dps`` digits; do arithmetic on them under
        ``mpmath.workdps(dps)`` to keep those digits.
    error_bounds : tuple of mpmath.mpf
        Rigorous: ``|true_i - eigenvalues[i]| <= error_bounds[i]`` for every i at once,
        where true_1 >= ... >= true_d are the exact eigenvalues sorted descending.
    dps : int
        Working precision (decimal digits) of the final computation.
    exact_zero : tuple of bool
        True where the eigenvalue is proven to be exactly 0 (a zero row/column of the
        matrix, e.g. a constant column of the data); its bound is then 0.
    residual_norm : mpmath.mpf
        g >= ||V^T A V - Theta||_F (zero rows deflated), see the module docstring.
    orthogonality_defect : mpmath.mpf
        delta >= ||V^T V - I||_F.
    deflated : tuple of int
        Indices of the zero rows/columns of the matrix that were deflated.
    target_met : bool
        Whether every bound meets the ``digits`` target (module docstring).
    method : str
        How the eigenvectors were obtained: ``"refine"`` (float64 + Ogita-Aishima
        refinement), ``"eigsy"`` (mpmath.eigsy, then refinement) or ``"trivial"``.
    refinement_steps : int
        Refinement steps performed in total.
    seconds : float
        Wall-clock time of the eigen-solve and certification.
    """

    eigenvalues: tuple[mpmath.mpf, ...]
    error_bounds: tuple[mpmath.mpf, ...]
    dps: int
    exact_zero: tuple[bool, ...]
    residual_norm: mpmath.mpf = _ZERO
    orthogonality_defect: mpmath.mpf = _ZERO
    deflated: tuple[int, ...] = ()
    target_met: bool = True
    method: str = "trivial"
    refinement_steps: int = 0
    seconds: float = 0.0

    def interval(self, i: int) -> tuple[mpmath.mpf, mpmath.mpf]:
        """A rigorous enclosure [lo, hi] of the i-th largest true eigenvalue (outward rounded)."""
        x, e = _to_fraction(self.eigenvalues[i]), _to_fraction(self.error_bounds[i])
        return _mpf_round(x - e, "d"), _mpf_round(x + e, "u")


# ---------------------------------------------------------------------------------------
# Input checks and exact conversions
# ---------------------------------------------------------------------------------------


def _mpf_nearest(q: Fraction, prec: int) -> mpmath.mpf:
    return mpmath.mp.make_mpf(
        libmp.from_rational(q.numerator, q.denominator, prec, libmp.round_nearest)
    )


def _sqrt_up(q: Fraction) -> Fraction:
    """A binary rational r >= sqrt(q), about 64 bits, checked exactly (r^2 >= q)."""
    if q < 0:  # pragma: no cover - only called on sums of squares
        raise ArithmeticError(f"sqrt of negative {q}")
    if q == 0:
        return Fraction(0)
    x = libmp.from_rational(q.numerator, q.denominator, _BOUND_PREC, libmp.round_ceiling)
    r = _to_fraction(mpmath.mp.make_mpf(libmp.mpf_sqrt(x, _BOUND_PREC, libmp.round_ceiling)))
    while r * r < q:  # pragma: no cover - mpf_sqrt rounds up; this only guards it
        r *= 1 + Fraction(1, 1 << (_BOUND_PREC - 4))
    return r


@dataclass
class _IntColumns:
    """Data as exact integers: X[:, j] = Y[:, j] * scales[j].

    Either ``Y = M * 2^shift`` elementwise with int64 arrays M (|M| < 2^62) and shift >= 0
    (floats and integers: no Python integers are ever built), or ``Y`` itself as an object
    array of Python ints (exotic inputs).
    """

    scales: list[Fraction]
    M: np.ndarray | None = None
    shift: np.ndarray | None = None
    Y: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return (self.M if self.Y is None else self.Y).shape

    def limbs(self, r0: int, r1: int) -> np.ndarray:
        """Signed 16-bit limbs of rows r0:r1 of Y, shape (L, r1 - r0, d), float64."""
        if self.Y is not None:
            return _object_limbs(self.Y[r0:r1])
        return _shifted_limbs(self.M[r0:r1], self.shift[r0:r1])


def _integer_columns(X: Any, row0: int = 0) -> _IntColumns:
    """Exact integer columns of the data (see :class:`_IntColumns`), with input checks.

    ``row0``: the row of X where these rows start (for the error message of a block).
    """
    try:
        arr = np.asarray(X)
    except (ValueError, TypeError) as exc:
        raise InputError(f"X: expected a 2-D array of real numbers ({exc})") from exc
    if arr.ndim != 2:
        raise InputError(
            f"X has shape {arr.shape}: expected a 2-D array (rows are samples, columns features)"
        )
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise InputError(f"X has shape {arr.shape}: expected at least one row and one column")
    kind = arr.dtype.kind
    d = arr.shape[1]
    if kind == "c":
        raise InputError(f"X has complex dtype {arr.dtype}: expected real numbers")
    if kind in "biu":
        if arr.dtype.itemsize < 8 or (-(2**62) < int(arr.min()) and int(arr.max()) < 2**62):
            M = arr.astype(np.int64)
            return _IntColumns([Fraction(1)] * d, M=M, shift=np.zeros_like(M))
        return _IntColumns([Fraction(1)] * d, Y=np.array(arr.tolist(), dtype=object))
    if kind == "f" and arr.dtype.itemsize <= 8:
        A = arr.astype(np.float64)  # exact: float16/32 embed exactly in float64
        bad = np.argwhere(~np.isfinite(A))
        if bad.size:
            i, j = (int(t) for t in bad[0])
            raise InputError(
                f"X[{row0 + i}, {j}] = {float(A[i, j])!r} is not finite: expected finite values"
            )
        return _float_columns(A)
    if kind in "fO":  # long double or Python objects: exact element by element
        N = arr.shape[0]
        fr = [[_to_fraction(arr[i, j], f"X[{i}, {j}]") for j in range(d)] for i in range(N)]
        Y = np.empty((N, d), dtype=object)
        scales = []
        for j in range(d):
            L = math.lcm(*(fr[i][j].denominator for i in range(N)))
            for i in range(N):
                Y[i, j] = fr[i][j].numerator * (L // fr[i][j].denominator)
            scales.append(Fraction(1, L))
        return _IntColumns(scales, Y=Y)
    raise InputError(f"X has dtype {arr.dtype}: expected real numbers")


def _float_columns(A: np.ndarray) -> _IntColumns:
    """Exact integer columns of a finite float64 array: A[:, j] = (M << shift)[:, j] 2^c_j."""
    mant, ex = np.frexp(A)
    M = np.ldexp(mant, 53).astype(np.int64)  # |M| < 2^53, exact: A = M * 2^(ex - 53)
    E = ex.astype(np.int64) - 53
    nz = M != 0
    # Strip trailing zero bits so that integer-valued data stay small integers.
    low = np.where(nz, M & -M, 1)
    tz = np.frexp(low.astype(np.float64))[1].astype(np.int64) - 1
    M = np.where(nz, M >> tz, 0)
    E = np.where(nz, E + tz, 0)
    big = np.iinfo(np.int64).max
    c = np.where(nz, E, big).min(axis=0)
    c = np.where(c == big, 0, c)  # all-zero column
    shift = np.where(nz, E - c, 0)
    return _IntColumns([Fraction(2) ** int(cj) for cj in c], M=M, shift=shift)


# ---------------------------------------------------------------------------------------
# Exact integer matrix products on float64 BLAS (16-bit limbs)
# ---------------------------------------------------------------------------------------
# An integer matrix is split as Y = sum_k Y_k 2^(16 k) with signed limbs |Y_k| < 2^16.
# A limb product sum over n <= 2^20 terms is an integer < 2^52, exact in float64 whatever
# the summation order of the BLAS; such partial results are added in int64 (no overflow
# for fewer than 2^11 terms of each weight) and recombined with Python integers.

_LIMB_BITS = 16
_MAX_INNER = 1 << 20  # rows per float64 product, so that every partial sum is < 2^52
_FLUSH_TERMS = 1 << 9  # int64 accumulators are flushed to Python ints after this many terms
_BLOCK_ENTRIES = 1 << 22  # float64 entries per BLAS result block (32 MB)
_MAX_LIMB_PAIRS = 2500  # beyond (about 800-bit times 800-bit entries) use Python integers
_MAX_LIMB_RATIO = 8  # ... and also for very unbalanced lengths
_MAX_GRAM_LIMBS = 256  # Gram matrices of longer integers use Python integers


def _object_limbs(A: np.ndarray) -> np.ndarray:
    """Signed 16-bit limbs of an object array of Python ints: shape (L, *A.shape)."""
    flat = [int(x) for x in A.ravel().tolist()]
    nb = max((abs(x).bit_length() for x in flat), default=0)
    L = max(1, -(-nb // _LIMB_BITS))
    buf = b"".join(abs(x).to_bytes(2 * L, "little") for x in flat)
    u = np.frombuffer(buf, dtype="<u2").reshape(len(flat), L).astype(np.float64)
    neg = np.fromiter((x < 0 for x in flat), dtype=bool, count=len(flat))
    u[neg] *= -1.0
    return np.ascontiguousarray(u.T).reshape(L, *A.shape)


def _shifted_limbs(M: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Signed 16-bit limbs of M * 2^shift (int64 arrays, |M| < 2^62, shift >= 0)."""
    A = np.abs(M).astype(np.uint64)
    sign = np.sign(M).astype(np.float64)
    nbits = np.frexp(A.astype(np.float64))[1].astype(np.int64) + shift  # >= bit length
    L = max(1, -(-int(nbits.max(initial=0)) // _LIMB_BITS))
    out = np.empty((L, *M.shape))
    for k in range(L):
        dk = _LIMB_BITS * k - shift  # limb k holds bits dk .. dk+15 of A
        right = A >> np.clip(dk, 0, 63).astype(np.uint64)
        left = A << np.clip(-dk, 0, 63).astype(np.uint64)  # wraps, low bits stay exact
        limb = np.where(dk >= 0, right, left) & np.uint64(0xFFFF)
        limb = np.where((dk >= 64) | (dk <= -_LIMB_BITS), np.uint64(0), limb)
        out[k] = limb.astype(np.float64) * sign
    return out


def _max_bits(A: np.ndarray) -> int:
    return max((abs(int(x)).bit_length() for x in A.flat), default=0)


def _recombine(G: dict[int, np.ndarray]) -> np.ndarray:
    """sum_s G[s] 2^(16 s) as an object array of Python ints."""
    total = None
    for s, g in G.items():
        term = g.astype(object) * (1 << (_LIMB_BITS * s))
        total = term if total is None else total + term
    return total


def _exact_matmul(A: np.ndarray, B: np.ndarray, *, tiny: int = 32**3) -> np.ndarray:
    """A @ B exactly for integer matrices (object arrays of Python ints).

    Products with at most ``tiny`` multiply-adds use Python integers directly.
    """
    n, k = A.shape
    m = B.shape[1]
    if n * k * m <= tiny:
        return A.astype(object) @ B.astype(object)
    LA, LB = _object_limbs(A), _object_limbs(B)
    la, lb = LA.shape[0], LB.shape[0]
    if la * lb > _MAX_LIMB_PAIRS or max(la, lb) > _MAX_LIMB_RATIO * min(la, lb):
        # very long or very unbalanced integers: Python's own multiplication is faster
        return A.astype(object) @ B.astype(object)
    if min(la, lb) * (-(-k // _MAX_INNER)) >= 1 << 10:  # pragma: no cover
        return A.astype(object) @ B.astype(object)  # int64 accumulation could overflow
    # Few large BLAS calls (small ones are slow when BLAS threads compete for the cores):
    # all limbs of B side by side, limbs of A stacked in groups bounded by _BLOCK_ENTRIES.
    Astack = LA.reshape(la * n, k)
    Bstack = np.concatenate(list(LB), axis=1)  # (k, lb m)
    group = max(1, _BLOCK_ENTRIES // max(1, n * lb * m))
    G: dict[int, np.ndarray] = {}
    for c0 in range(0, k, _MAX_INNER):
        c1 = min(k, c0 + _MAX_INNER)
        for g0 in range(0, la, group):
            g1 = min(la, g0 + group)
            C = (Astack[g0 * n : g1 * n, c0:c1] @ Bstack[c0:c1]).astype(np.int64)
            C = C.reshape(g1 - g0, n, lb, m)
            for a in range(g0, g1):
                for b in range(lb):
                    blk = C[a - g0, :, b, :]
                    G[a + b] = G[a + b] + blk if a + b in G else blk.copy()
    return _recombine(G)


def _gram_and_sums(cols: _IntColumns) -> tuple[np.ndarray, list[int]]:
    """Y^T Y (object array of Python ints) and the column sums of Y, exactly."""
    N, d = cols.shape
    G: dict[int, np.ndarray] = {}
    sums = [0] * d
    count = 0
    # Row chunks: <= 2^20 rows (exactness) and about 2^24 limb entries (memory).
    L0 = cols.limbs(0, 1).shape[0]
    chunk = max(1, min(_MAX_INNER, (1 << 24) // max(1, L0 * d)))
    for r0 in range(0, N, chunk):
        r1 = min(N, r0 + chunk)
        if cols.Y is not None and _max_bits(cols.Y[r0:r1]) > _LIMB_BITS * _MAX_GRAM_LIMBS:
            # Huge integers (exotic rational input): Python integers, which also keeps the
            # int64 accumulators below far from overflow.
            Yc = cols.Y[r0:r1]
            C = Yc.T @ Yc
            G[0] = G[0] + C if 0 in G else C
            sums = [s + int(v) for s, v in zip(sums, Yc.sum(axis=0), strict=True)]
            continue
        Ls = cols.limbs(r0, r1)
        L = Ls.shape[0]
        for a in range(L):
            col = Ls[a].sum(axis=0).astype(np.int64).tolist()  # < 2^36: exact
            sums = [s + (v << (_LIMB_BITS * a)) for s, v in zip(sums, col, strict=True)]
        if (L * d) ** 2 <= _BLOCK_ENTRIES:  # one BLAS call for all limb pairs
            flat = np.concatenate(list(Ls), axis=1)  # (rows, L d)
            CC = (flat.T @ flat).astype(np.int64).reshape(L, d, L, d)
            pairs = [(a, b, CC[a, :, b, :]) for a in range(L) for b in range(L)]
        else:
            pairs = []
            for a in range(L):
                for b in range(a, L):
                    C = (Ls[a].T @ Ls[b]).astype(np.int64)
                    pairs.append((a, b, C + C.T if b != a else C))
        for a, b, C in pairs:
            G[a + b] = G[a + b] + C if a + b in G else C.copy()
        count += L
        # Flush the int64 accumulators well before they could overflow: fewer than
        # _FLUSH_TERMS + L < 2^10 terms of each weight, each < 2^53.
        if count >= _FLUSH_TERMS:
            G = {0: _recombine(G)}
            count = 0
    if not G:  # pragma: no cover
        return np.zeros((d, d), dtype=object), sums
    return _recombine(G), sums


def exact_covariance(X: Any, centred: bool = True) -> list[list[Fraction]]:
    """The covariance of the rows of ``X``, computed exactly as rationals.

    Parameters
    ----------
    X : array_like, shape (N, d)
        Data, rows are samples.  Floats are taken at their exact binary value; integers,
        ``Fraction`` and SymPy rationals (object arrays) are exact too.
    centred : bool, default True
        True: Sigma = (1/N) sum (x_n - m)(x_n - m)^T = (N X^T X - s s^T) / N^2 with s the
        column sums (README, "Conventions and notation").  False: the uncentred second moment
        (1/N) X^T X.

    Returns
    -------
    list of list of Fraction
        The d x d matrix, exactly.

    Raises
    ------
    ValueError
        X not 2-D, empty, complex or containing a non-finite value.

    Notes
    -----
    Each column j is written exactly as Y[:, j] * c_j with Y integer and c_j a common
    scale (a power of two for floats), so X^T X = C (Y^T Y) C with C = diag(c) and the
    only work is one exact integer Gram matrix, computed on float64 BLAS from signed
    16-bit limbs of Y (every partial sum is an integer < 2^53, hence exact) in row
    chunks, and recombined with Python integers.  Cost: about L^2 / 2 float products of
    size d x N x d, L = number of limbs (1 for small integers such as the digits pixels,
    4-6 for typical float64 data, up to ~130 for columns spanning the whole float range).
    """
    if not isinstance(X, np.ndarray) and hasattr(X, "to_delayed"):  # a lazy Dask array
        YtY, s, scales, N = _exact_sums_of_blocks(X)
    else:
        cols = _integer_columns(X)
        scales = cols.scales
        N = cols.shape[0]
        YtY, s = _gram_and_sums(cols)
    d = len(scales)
    if centred:
        den = N * N
        num = [[N * int(YtY[j, k]) - s[j] * s[k] for k in range(d)] for j in range(d)]
    else:
        den = N
        num = [[int(YtY[j, k]) for k in range(d)] for j in range(d)]
    return [[Fraction(num[j][k], den) * scales[j] * scales[k] for k in range(d)] for j in range(d)]


def _exact_sums_of_blocks(X: Any) -> tuple[np.ndarray, list[int], list[Fraction], int]:
    """Exact Y^T Y, column sums and scales of a lazy array, one block of rows at a time.

    Each block is written exactly as integers times per-column scales (its own); the
    running sums are kept in units of the common scale u_j = gcd(scale_j, block scale_j)
    (a rational gcd, so both are integer multiples of it: for floats, powers of two and
    u_j the smaller), rescaling the running integers exactly when u_j changes.  Memory:
    one block and the d x d integers; the result equals the in-memory one exactly.
    """
    G: np.ndarray | None = None
    sums: list[int] = []
    scales: list[Fraction] = []
    N = 0
    X = X.rechunk({1: -1})
    for i, rows in enumerate(X.chunks[0]):
        block = np.asarray(X.blocks[i, 0].compute())
        if block.shape[0] == 0:
            continue
        cols = _integer_columns(block, row0=N)
        Gb, sb = _gram_and_sums(cols)
        if G is None:
            G, sums, scales = Gb, list(sb), list(cols.scales)
        else:
            common = [_rational_gcd(a, b) for a, b in zip(scales, cols.scales, strict=True)]
            old = np.array([int(a / u) for a, u in zip(scales, common, strict=True)], dtype=object)
            new = np.array(
                [int(b / u) for b, u in zip(cols.scales, common, strict=True)], dtype=object
            )
            G = G * np.outer(old, old) + Gb * np.outer(new, new)
            sums = [a * f + b * g for a, f, b, g in zip(sums, old, sb, new, strict=True)]
            scales = common
        N += rows
    if G is None:
        raise InputError(f"X has shape {X.shape}: expected at least one row and one column")
    return G, sums, scales, N


def _rational_gcd(a: Fraction, b: Fraction) -> Fraction:
    """The largest rational u with a / u and b / u integers (a, b > 0)."""
    return Fraction(
        math.gcd(a.numerator * b.denominator, b.numerator * a.denominator),
        a.denominator * b.denominator,
    )


def _as_exact_symmetric(A: Any) -> tuple[np.ndarray, int]:
    """(A_int, D) with A = A_int / D exactly, A_int an object array of Python ints."""
    rows = A.tolist() if hasattr(A, "tolist") else A
    try:
        rows = [list(r) for r in rows]
    except TypeError as exc:
        raise InputError(f"A: expected a square matrix (a list of rows) ({exc})") from exc
    n = len(rows)
    if n == 0 or any(len(r) != n for r in rows):
        shape = (n, *sorted({len(r) for r in rows}))
        raise InputError(f"A has shape {shape}: expected a non-empty square matrix")
    fr = [[_to_fraction(rows[i][j], f"A[{i}, {j}]") for j in range(n)] for i in range(n)]
    for i in range(n):
        for j in range(i):
            if fr[i][j] != fr[j][i]:
                raise InputError(
                    f"A[{i}, {j}] = {fr[i][j]} != A[{j}, {i}] = {fr[j][i]}: "
                    "expected an exactly symmetric matrix"
                )
    D = math.lcm(*(q.denominator for r in fr for q in r))
    num = np.empty((n, n), dtype=object)
    for i in range(n):
        for j in range(n):
            num[i, j] = fr[i][j].numerator * (D // fr[i][j].denominator)
    return num, D


# ---------------------------------------------------------------------------------------
# Certificate for a block without zero rows
# ---------------------------------------------------------------------------------------


@dataclass
class _Certificate:
    thetas: list[Fraction]  # descending, exact values of binary floats
    bounds: list[Fraction]  # e_i (exact rationals), same order
    g: Fraction
    delta: Fraction
    met: bool
    K: np.ndarray  # P^T A_int P
    T: np.ndarray  # P^T P


def _certify(num: np.ndarray, D: int, P: np.ndarray, p: int, digits: int) -> _Certificate:
    """The Weyl-Ostrowski certificate of the module docstring for V = P / 2^p.

    V^T V = T / 4^p and V^T A V = K / (D 4^p) with T = P^T P and K = P^T A_int P computed
    exactly in integers; ||G||_F^2 and ||F||_F^2 are then exact rationals.
    """
    m = num.shape[0]
    one = 1 << (2 * p)
    S = D * one  # V^T A V = K / S
    T = _exact_matmul(P.T, P)
    K = _exact_matmul(P.T, _exact_matmul(num, P))
    Tl, Kl = T.tolist(), K.tolist()
    # theta_i: Rayleigh quotient of column i, rounded to a binary float a_i 2^e_i (any value
    # would do for the certificate; this one makes the diagonal of G small).
    prec = p + 16
    lam = []
    for i in range(m):
        sgn, man, exp, _ = libmp.from_rational(Kl[i][i], D * Tl[i][i], prec, libmp.round_nearest)
        lam.append((-man if sgn else man, exp))
    # ||G||_F^2 over the common denominator S^2 4^(-e0): exact integers, one final Fraction.
    e0 = min(0, *(e for _, e in lam))
    sh = -e0
    off = sum(Kl[i][j] * Kl[i][j] for i in range(m) for j in range(m) if i != j)
    diag = sum(((Kl[i][i] << sh) - ((a << (e - e0)) * S)) ** 2 for i, (a, e) in enumerate(lam))
    G2 = Fraction((off << (2 * sh)) + diag, (S * S) << (2 * sh))
    F2 = Fraction(
        sum((Tl[i][j] - (one if i == j else 0)) ** 2 for i in range(m) for j in range(m)),
        one * one,
    )
    g, delta = _sqrt_up(G2), _sqrt_up(F2)
    th = sorted(
        (Fraction(a << e) if e >= 0 else Fraction(a, 1 << -e) for a, e in lam), reverse=True
    )
    if delta >= 1:
        return _Certificate(th, [Fraction(0)] * m, g, delta, False, K, T)
    ratio = delta / (1 - delta)
    bounds = [g + (abs(t) + g) * ratio for t in th]  # step 5 of the module docstring
    scale = max(abs(t) for t in th)
    tol = Fraction(1, 10**digits)
    met = all(e <= tol * max(abs(t), tol * scale) for t, e in zip(th, bounds, strict=True))
    return _Certificate(th, bounds, g, delta, met, K, T)


def _oa_step(
    num: np.ndarray, D: int, P: np.ndarray, p: int, K: np.ndarray, T: np.ndarray, depth: int = 0
) -> tuple[np.ndarray, int]:
    """One refinement step of Ogita & Aishima (2018), Algorithm 1, in fixed point.

    V = P / 2^p, A = num / D, and K = P^T num P, T = P^T P (exact integers).  With
    R = I - V^T V and S = V^T A V: lambda_i = s_ii / (1 - r_ii); for pairs in different
    clusters (runs of sorted lambda with gaps > omega = 2 (||S - diag(lambda)|| +
    ||A|| ||R||)) the correction is E_ij = (s_ij + lambda_j r_ij) / (lambda_j - lambda_i),
    otherwise E_ij = r_ij / 2; V <- V + V E.  Within a cluster that step only
    re-orthogonalises, so the cluster's columns are then rotated by the eigenvectors of its
    (first-order) Rayleigh block S + lambda R, computed recursively to full precision (the
    idea of Ogita & Aishima, Japan J. Indust. Appl. Math. 36 (2019) 435-459).  Everything
    is integer arithmetic: R and E in units 2^-p, S and lambda in units 2^(c - p) with
    2^c ~ max |lambda|.  Only the speed of convergence depends on this step, never the
    certificate.

    Returns
    -------
    P_new : ndarray
        The refined V, times 2^p.
    acc : int
        Estimated number of correct bits of the *input* V.
    """
    m = num.shape[0]
    one = 1 << (2 * p)
    unit = 1 << p
    half = 1 << (p - 1)
    Kl, Tl = K.tolist(), T.tolist()
    Sd = D * one
    # Scale 2^c >= max |s_ij| (about ||A||), so that s and lambda keep p bits relative to it.
    c = max(abs(x).bit_length() for row in Kl for x in row) - Sd.bit_length() + 2
    if p - c >= 0:
        s = [[(Kl[i][j] << (p - c)) // Sd for j in range(m)] for i in range(m)]
    else:
        s = [[Kl[i][j] // (Sd << (c - p)) for j in range(m)] for i in range(m)]
    r = [[((one if i == j else 0) - Tl[i][j]) >> p for j in range(m)] for i in range(m)]
    lam = [(s[i][i] << p) // max(unit - r[i][i], 1) for i in range(m)]
    off = math.isqrt(
        sum((s[i][j] - (lam[i] if i == j else 0)) ** 2 for i in range(m) for j in range(m))
    )
    rn = math.isqrt(sum(x * x for row in r for x in row))
    anorm = max(max(abs(x) for x in lam), 1)
    omega = 2 * (off + ((anorm * rn) >> p)) + 2
    acc = p - max((off << p) // anorm, rn, 1).bit_length()
    # Clusters: runs of sorted lambda with consecutive gaps <= max(omega, 2^-32 2^c).  The
    # second term: the Newton correction E_ij has an error of ~ 2^(c-p) / gap, which for a
    # relative gap below 2^-32 would spoil the orthogonality of V by more than 2^(32-p);
    # inside a cluster the rotation below costs no orthogonality.
    clusters, label = _clusters(lam, max(omega, 1 << max(0, p - _CLUSTER_BITS)))
    E = np.empty((m, m), dtype=object)
    for i in range(m):
        for j in range(m):
            if label[i] != label[j]:  # then |lambda_j - lambda_i| > sep >= omega
                E[i, j] = ((s[i][j] << p) + lam[j] * r[i][j]) // (lam[j] - lam[i])  # units 2^-p
            else:
                E[i, j] = r[i][j] // 2
    P = P + np.array(
        [[(v + half) >> p for v in row] for row in _exact_matmul(P, E).tolist()], dtype=object
    )
    for cl in clusters:
        if len(cl) >= 2:
            _rotate_cluster(P, cl, s, r, lam, p, depth)
    return P, acc


def _clusters(lam: list[int], sep: int) -> tuple[list[list[int]], list[int]]:
    """Runs of sorted ``lam`` with consecutive gaps <= ``sep``, and each index's run number."""
    order = sorted(range(len(lam)), key=lambda i: lam[i])
    label = [0] * len(lam)
    clusters: list[list[int]] = [[order[0]]]
    for prev, i in itertools.pairwise(order):
        if lam[i] - lam[prev] > sep:
            clusters.append([])
        clusters[-1].append(i)
        label[i] = len(clusters) - 1
    return clusters, label


def _rotate_cluster(
    P: np.ndarray,
    cl: list[int],
    s: list[list[int]],
    r: list[list[int]],
    lam: list[int],
    p: int,
    depth: int,
) -> None:
    """Rotate the columns ``cl`` of P (in place) by the eigenvectors of their Rayleigh block.

    The block is the first-order Rayleigh matrix S + lambda R of the re-orthogonalised
    columns (the lambda R term removes the non-orthogonality of V, as in E_ij of
    :func:`_oa_step`), eigen-solved recursively to full precision.
    """
    half = 1 << (p - 1)
    lbar = sum(lam[i] for i in cl) // len(cl)
    # Shifted by -2 lbar I (which keeps eigenvectors) so that H is of the cluster's width.
    H = np.array(
        [
            [
                s[i][j]
                + s[j][i]
                + ((lbar * (r[i][j] + r[j][i])) >> p)
                - (2 * lbar if i == j else 0)
                for j in cl
            ]
            for i in cl
        ],
        dtype=object,
    )
    W = _integer_eigenvectors(H, p, depth + 1)
    PC = _exact_matmul(P[:, cl], W)
    P[:, cl] = np.array([[(v + half) >> p for v in row] for row in PC.tolist()], dtype=object)


def _integer_eigenvectors(H: np.ndarray, p: int, depth: int = 0) -> np.ndarray:
    """Orthonormal eigenvectors of a symmetric integer matrix to about p bits, times 2^p.

    Float64 start, then Ogita-Aishima steps (:func:`_oa_step`, which recurses into
    clusters) until the accuracy stops improving; finally Newton-Schulz polishing.
    """
    k = H.shape[0]
    P = _float_eigenvectors(H.tolist(), p)
    if k == 1 or depth > 4 or not any(H.flat):
        return _polish_orthogonal(P, p)
    slack = 2 * k.bit_length() + 24
    prev, stalls = -1, 0
    for _ in range(3 * (3 + max(1, p // 16).bit_length())):
        P_new, acc = _oa_step(
            H, 1, P, p, _exact_matmul(P.T, _exact_matmul(H, P)), _exact_matmul(P.T, P), depth
        )
        if acc >= p - slack:
            break
        stalls = stalls + 1 if acc <= prev else 0
        if stalls >= 3:
            break
        prev, P = acc, P_new
    return _polish_orthogonal(P, p)


def _float_eigenvectors(H: list[list[int]], p: int) -> np.ndarray:
    """Float64 eigenvectors of the symmetric integer matrix H, as integers P = V 2^p."""
    k = len(H)
    sigma = round(Fraction(sum(H[i][i] for i in range(k)), k))  # a shift keeps eigenvectors
    Hs = [[H[i][j] - (sigma if i == j else 0) for j in range(k)] for i in range(k)]
    bits = max(abs(x) for row in Hs for x in row).bit_length()
    sh = max(0, bits - 60)  # bring the entries into float range, keeping the top bits
    Hf = np.array([[float(x >> sh) for x in row] for row in Hs])
    _, V = np.linalg.eigh((Hf + Hf.T) / 2)
    Vi = np.rint(np.ldexp(V, 52)).astype(np.int64).astype(object)
    return Vi * (1 << (p - 52))


def _polish_orthogonal(W: np.ndarray, p: int) -> np.ndarray:
    """Newton-Schulz steps W <- W + W (I - W^T W) / 2 on W = W_int / 2^p, to about p bits.

    Each step squares the orthogonality defect, so a float64-accurate W needs a few.
    """
    k = W.shape[0]
    one = 1 << (2 * p)
    for _ in range(3 + max(1, p // 16).bit_length()):
        T = _exact_matmul(W.T, W).tolist()
        R = np.array(
            [[((one if i == j else 0) - T[i][j]) >> p for j in range(k)] for i in range(k)],
            dtype=object,
        )
        if max(abs(x) for x in R.flat) <= 4:
            break
        W = W + np.array(
            [[v >> (p + 1) for v in row] for row in _exact_matmul(W, R).tolist()], dtype=object
        )
    return W


def _initial_float(num: np.ndarray, D: int, p: int) -> np.ndarray:
    """Float64 eigenvectors of A = num / D (shifted and scaled into float range), as V 2^p."""
    return _float_eigenvectors(num.tolist(), p)


def _initial_eigsy(num: np.ndarray, D: int, dps: int, p: int) -> np.ndarray:
    """mpmath.eigsy eigenvectors of A = num / D at ``dps`` digits, as P = V 2^p."""
    ctx = mpmath.MPContext()
    ctx.dps = dps
    A = ctx.matrix([[ctx.mpf(int(v)) / D for v in row] for row in num.tolist()])
    _, Q = ctx.eigsy(A)
    m = num.shape[0]
    return np.array(
        [[int(ctx.nint(ctx.ldexp(Q[i, j], p))) for j in range(m)] for i in range(m)],
        dtype=object,
    )


def _accuracy_bits(cert: _Certificate) -> int:
    """Roughly how many correct bits V has: -log2 max(delta, g / max|theta|)."""
    scale = max((abs(t) for t in cert.thetas), default=Fraction(0))
    worst = cert.delta
    if scale:
        worst = max(worst, cert.g / scale)
    if worst == 0:
        return 1 << 30
    return max(0, worst.denominator.bit_length() - worst.numerator.bit_length())


def _solve_block(
    num: np.ndarray, D: int, digits: int, method: str
) -> tuple[_Certificate, int, str, int]:
    """Eigen-solve and certify a block with no zero rows; raise precision until met.

    The refinement runs at a growing fixed-point precision (about twice the current
    accuracy, as each step doubles it) up to the working precision p, so that only the
    last steps pay for full-precision products.
    """
    m = num.shape[0]
    guard = _GUARD_DIGITS + math.ceil(math.log10(m + 1))
    best: tuple[_Certificate, int, str, int] | None = None
    steps = 0
    routes = ["refine", "eigsy"] if method == "auto" else [method]
    slack = 2 * m.bit_length() + 24  # bits lost to the sizes of the sums at the precision floor
    for route in routes:
        g_guard = guard
        P, p_cur = None, 0
        for _attempt in range(4):  # raise the precision up to three times
            dps = digits + g_guard
            p = max(64, math.ceil(dps * math.log2(10)) + 8)
            if route == "eigsy":  # (re)computed at each working precision
                p_cur = p
                P = _initial_eigsy(num, D, dps, p)
            elif P is None:
                p_cur = min(p, 128)
                P = _initial_float(num, D, p_cur)
            prev_acc, stalls, route_failed = None, 0, False
            for _ in range(3 * (3 + math.ceil(math.log2(dps / 8)))):
                cert = _certify(num, D, P, p_cur, digits)
                if best is None or _worse(best[0], cert):
                    best = (cert, _dps_of(p_cur), route, steps)
                if cert.met:
                    return cert, _dps_of(p_cur), route, steps
                acc = _accuracy_bits(cert)
                if p_cur == p and acc >= p - slack:
                    break  # at the precision floor of the grid: raise the precision
                # Each step should roughly double the correct bits.  Three steps in a row that
                # do not (e.g. a cluster of eigenvalues closer than the current accuracy, where
                # the step is not yet in its quadratic regime) abandon this route.
                if prev_acc is not None and acc < prev_acc + max(8, prev_acc // 4):
                    stalls += 1
                    if stalls >= 3:
                        route_failed = True
                        break
                else:
                    stalls = 0
                prev_acc = acc
                p_next = min(p, max(p_cur, 2 * acc + 64))
                if p_next > p_cur:  # same V on a finer grid: K and T scale by 4^shift
                    sh = p_next - p_cur
                    P = P * (1 << sh)
                    cert.K = cert.K * (1 << (2 * sh))
                    cert.T = cert.T * (1 << (2 * sh))
                    p_cur = p_next
                # Refine on A - sigma I (same eigenvectors, better conditioned when the
                # spectrum sits far from 0): P^T (num - sigma_num I) P = K - sigma_num T.
                lo, hi = cert.thetas[-1], cert.thetas[0]
                sig = round((lo + hi) / 2 * D)
                shifted = num - sig * np.eye(m, dtype=np.int64).astype(object)
                P, _ = _oa_step(shifted, D, P, p_cur, cert.K - sig * cert.T, cert.T)
                steps += 1
            if route_failed:
                break
            g_guard *= 2
        if not route_failed:
            break  # the precision budget is spent; another eigen-solver would not help
    assert best is not None
    cert, dps, route, _ = best
    return cert, dps, route, steps


def _dps_of(p: int) -> int:
    """Decimal digits held by a fixed-point grid of p bits."""
    return math.floor(p * math.log10(2))


def _worse(a: _Certificate, b: _Certificate) -> bool:
    """Whether certificate ``a`` is worse than ``b`` (larger worst relative bound)."""

    def key(c: _Certificate) -> Fraction:
        if c.delta >= 1:
            return Fraction(10) ** 9999
        scale = max((abs(t) for t in c.thetas), default=Fraction(0)) or Fraction(1)
        return max(e / scale for e in c.bounds)

    return key(a) > key(b)


def certified_eigenvalues(A_exact: Any, digits: int, *, method: str = "auto") -> CertifiedSpectrum:
    """Eigenvalues of an exact symmetric matrix to ``digits`` digits, with rigorous bounds.

    Parameters
    ----------
    A_exact : matrix-like, shape (d, d)
        Exactly symmetric, with exact entries: ``Fraction``, ``int``, SymPy rationals, or
        floats (taken at their exact binary value).  A list of rows, a NumPy array or a
        SymPy ``Matrix``.
    digits : int
        Significant digits wanted, 1 <= digits <= 1000.
    method : {"auto", "refine", "eigsy"}, keyword-only
        How the eigenvectors are found (speed only; the bound is rigorous either way):
        float64 + Ogita-Aishima refinement, falling back to ``mpmath.eigsy`` ("auto");
        one of the two alone.

    Returns
    -------
    CertifiedSpectrum
        Eigenvalues (descending), error bounds valid for all at once, exact zeros.

    Raises
    ------
    ValueError
        Bad ``digits``; A empty, not square, not exactly symmetric or non-finite.

    Notes
    -----
    The bound is e_i = g + (|theta_i| + g) delta / (1 - delta) from Weyl's inequality and
    Ostrowski's theorem; see the module docstring for the derivation and the rigour of
    the arithmetic.
    """
    digits = _check_digits(digits)
    if method not in ("auto", "refine", "eigsy"):
        raise InputError(f"method={method!r}: expected 'auto', 'refine' or 'eigsy'")
    t0 = time.perf_counter()
    num, D = _as_exact_symmetric(A_exact)
    n = num.shape[0]
    zero_rows = [i for i in range(n) if all(v == 0 for v in num[i, :])]
    zero_set = set(zero_rows)
    keep = [i for i in range(n) if i not in zero_set]
    z = len(zero_rows)
    if keep:
        B = num[np.ix_(keep, keep)]
        # The BLAS products here are small and many; threads then mostly contend (4x slower
        # on a loaded 2-core machine), so use one thread below _THREADED_SIZE.
        single = threadpool_limits is not None and len(keep) < _THREADED_SIZE
        with threadpool_limits(1, user_api="blas") if single else contextlib.nullcontext():
            cert, dps, route, steps = _solve_block(B, D, digits, method)
        thetas, bounds, g, delta, met = cert.thetas, cert.bounds, cert.g, cert.delta, cert.met
        if delta >= 1:  # pragma: no cover - would need a catastrophic eigen-solver failure
            raise ArithmeticError("could not certify the eigenvalues: ||V^T V - I|| >= 1")
    else:
        thetas, bounds, g, delta, met = [], [], Fraction(0), Fraction(0), True
        dps, route, steps = digits + _GUARD_DIGITS, "trivial", 0
    # Merge with the exact zeros via monotone order statistics (module docstring).
    values = sorted([*thetas, *([Fraction(0)] * z)], reverse=True)
    lows = sorted([*(t - e for t, e in zip(thetas, bounds, strict=True)), *([0] * z)])[::-1]
    highs = sorted([*(t + e for t, e in zip(thetas, bounds, strict=True)), *([0] * z)])[::-1]
    errs = [max(h - v, v - lo) for v, lo, h in zip(values, lows, highs, strict=True)]
    prec = max(_BOUND_PREC, max((_bits(v) for v in values), default=0))
    eigenvalues = tuple(_mpf_nearest(v, prec) for v in values)
    # The thetas are binary floats, so this conversion is exact; check it.
    if any(_to_fraction(x) != v for x, v in zip(eigenvalues, values, strict=True)):
        raise ArithmeticError("inexact conversion of a certified eigenvalue")  # pragma: no cover
    return CertifiedSpectrum(
        eigenvalues=eigenvalues,
        error_bounds=tuple(_mpf_round(Fraction(e), "u") for e in errs),
        dps=dps,
        exact_zero=tuple(lo == 0 and h == 0 for lo, h in zip(lows, highs, strict=True)),
        residual_norm=_mpf_round(g, "u"),
        orthogonality_defect=_mpf_round(delta, "u"),
        deflated=tuple(zero_rows),
        target_met=met,
        method=route,
        refinement_steps=steps,
        seconds=time.perf_counter() - t0,
    )


def _bits(q: Fraction) -> int:
    """Bits needed to hold the binary rational ``q`` exactly."""
    n, d = q.numerator, q.denominator
    return max(abs(n).bit_length(), 1) + (0 if d == 1 else 1)


def certified_covariance_spectrum(X: Any, digits: int, centred: bool = True) -> CertifiedSpectrum:
    """Certified eigenvalues of the exact covariance of the rows of ``X``.

    Parameters
    ----------
    X : array_like, shape (N, d)
        Data, rows are samples (see :func:`exact_covariance`).
    digits : int
        Significant digits wanted, 1 <= digits <= 1000.
    centred : bool, default True
        Centred 1/N covariance (default) or the uncentred second moment (1/N) X^T X.

    Returns
    -------
    CertifiedSpectrum
        Constant columns (zero columns if ``centred=False``) give eigenvalues flagged
        ``exact_zero`` with bound 0.
    """
    digits = _check_digits(digits)
    return certified_eigenvalues(exact_covariance(X, centred=centred), digits)
