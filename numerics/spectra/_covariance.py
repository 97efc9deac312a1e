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

Layers (each module one job): :mod:`._rows` (chunked row access, input checks),
:mod:`._direct` (``"eigh"``, ``"gram"``), :mod:`._passes` (one float64 pass applying C),
:mod:`._krylov` (block Krylov and its certified Ritz bounds, documented there),
:mod:`._starts` (subsample and float32 start blocks), :mod:`._cost` (the cost model), and
this module, which checks the options and dispatches.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from numbers import Real
from typing import Any

import numpy as np

from numerics.core._validation import InputError, check_int
from numerics.spectra._cost import block_size, predicted_seconds
from numerics.spectra._direct import clip, eigh_method, gram_method
from numerics.spectra._krylov import IterativeOutcome, run_lanczos
from numerics.spectra._passes import Passes
from numerics.spectra._rows import (
    GRAM_CHUNK_BYTES,
    PASS_CHUNK_BYTES,
    Rows,
    check_data,
    rows_per_chunk,
)
from numerics.spectra._starts import mixed_start, relative_gap, subsample_start

__all__ = ["METHODS", "SpectrumResult", "covariance_spectrum", "predicted_seconds"]

#: Accepted values of ``method``.
METHODS = ("auto", "eigh", "gram", "krylov", "mixed")

# Relative gap (theta_m - theta_{m+1}) / theta_m of the subsample's Ritz values, for some
# m in top..b-1, above which "auto" expects block Krylov to converge in a few passes.
_AUTO_GAP = 0.25
# "auto" takes an iterative method only if predicted at most this fraction of the direct
# one's time: pass counts are predictions, and the direct methods' cost is certain.
_AUTO_MARGIN = 0.75
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
        ``"mixed"`` (``"eigh"`` after a fallback); ``"dask"`` from
        :func:`numerics.spectra._dask.dask_covariance_spectrum`.
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


@dataclass
class _Run:
    """One call of :func:`covariance_spectrum`: the data, the checked options, the predicted
    costs, and the decisions and passes so far."""

    rows: Rows
    centred: bool
    top: int
    method: str
    chunk_rows: int | None
    rtol: float
    seed: int
    max_passes: int | None
    b: int = 0
    cost: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # decisions, in SpectrumResult.notes
    handovers: list[str] = field(default_factory=list)  # why an iterative method gave up
    spent: int = 0  # full passes over X so far
    rng: np.random.Generator | None = None

    def direct(self, name: str, *, passes: int = 1) -> SpectrumResult:
        """Run a direct method and report it."""
        method = gram_method if name == "gram" else eigh_method
        values = method(self.rows, self.centred, self.top, self.chunk_rows)
        return self._result(values, name, None, passes, None)

    def finish(self, out: IterativeOutcome, name: str, extra_passes: int) -> SpectrumResult:
        """Report a certified iterative run (``extra_passes``: passes before it)."""
        kry = out.kry
        values = clip(kry.values().copy(), float(kry.theta[0]), self.rows.d)
        return self._result(values, name, kry.bounds.copy(), out.passes + extra_passes, out)

    def _result(
        self,
        values: np.ndarray,
        name: str,
        bounds: np.ndarray | None,
        passes: int,
        out: IterativeOutcome | None,
    ) -> SpectrumResult:
        return SpectrumResult(
            values,
            name,
            self.rows.n,
            self.rows.d,
            self.centred,
            None if bounds is None else float(bounds.max()),
            bounds,
            self.method,
            passes,
            0 if out is None else out.iterations,
            () if out is None else out.widths,
            None if out is None else out.kry.dim,
            "; ".join(self.handovers) or None,
            tuple(self.notes),
        )

    def budget_steps(self, seconds: float) -> int:
        """Float64 Krylov passes allowed: ``max_passes``, else what fits in ``seconds``."""
        if self.max_passes is not None:
            return self.max_passes
        return max(_MIN_BUDGET, min(_MAX_BUDGET, int(seconds / self.cost["pass"])))

    def passes(self, shift: np.ndarray, trace: float, lam_top: float) -> Passes:
        """A float64 pass over the rows shifted by ``shift``."""
        chunk = rows_per_chunk(self.rows.d, PASS_CHUNK_BYTES, self.chunk_rows)
        return Passes(
            self.rows,
            self.centred,
            chunk,
            shift,
            trace=trace,
            lam_top=lam_top,
            rtol=self.rtol,
        )


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
    run = _checked_run(X, centred, top, method, chunk_rows, rtol, seed, max_passes)
    run.b = block_size(run.top, run.rows.d)
    run.cost = predicted_seconds(run.rows.n, run.rows.d, run.top, run.b)
    choice = method
    if method == "auto":
        direct = _auto_direct(run)
        if direct is not None:
            return run.direct(direct)
        choice = "auto-iterative"
    if choice in ("eigh", "gram"):
        return run.direct(choice)
    run.rng = np.random.default_rng(run.seed)
    if choice in ("krylov", "auto-iterative"):
        result = _fit_krylov(run, requested=choice == "krylov")
        if result is not None:
            return result
    return _fit_mixed(run)


def _checked_run(
    X: Any,
    centred: bool,
    top: int | None,
    method: str,
    chunk_rows: int | None,
    rtol: float,
    seed: int,
    max_passes: int | None,
) -> _Run:
    """The arguments of :func:`covariance_spectrum`, checked (InputError otherwise)."""
    X = check_data(X)
    d = X.shape[1]
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
    return _Run(Rows(X), bool(centred), top, method, chunk_rows, rtol, seed, max_passes)


def _auto_direct(run: _Run) -> str | None:
    """``"auto"``: the direct method to use, or None when an iterative one should run."""
    cost, b, d = run.cost, run.b, run.rows.d
    direct_best = "gram" if cost["gram"] < cost["eigh"] else "eigh"
    iterative_best = min(cost["krylov"], cost["mixed"])
    if 2 * b > d or iterative_best > _AUTO_MARGIN * cost[direct_best]:
        run.notes.append(
            f"auto: {direct_best} (predicted {cost[direct_best]:.2g} s; iterative "
            f"{iterative_best:.2g} s, block {b} of d = {d})"
        )
        return direct_best
    return None


def _fit_krylov(run: _Run, *, requested: bool) -> SpectrumResult | None:
    """Block Krylov from the subsample start; None hands over to ``"mixed"`` (``"auto"``).

    ``requested``: ``method="krylov"`` (always Krylov, falling back to ``"eigh"``); else
    ``"auto"``, which takes Krylov only with a clear subsample gap and a lower predicted cost.
    """
    cost, top, b = run.cost, run.top, run.b
    V0, sub_theta, mean, trace = subsample_start(run.rows, run.centred, top, b, run.rng)
    gap = relative_gap(sub_theta, top, b)
    use_krylov = requested or (cost["krylov"] < cost["mixed"] and gap >= _AUTO_GAP)
    costs = f"predicted seconds krylov {cost['krylov']:.2g}, mixed {cost['mixed']:.2g}"
    if not use_krylov:
        run.notes.append(f"auto: mixed chosen (subsample relative gap {gap:.2g}, {costs})")
        return None
    if not requested:
        run.notes.append(f"auto: krylov (subsample relative gap {gap:.2g} >= {_AUTO_GAP}; {costs})")
    passes = run.passes(mean, trace, float(sub_theta[top - 1]))
    if requested:
        steps, budget = run.budget_steps(cost["eigh"]), None
    else:
        steps = run.budget_steps(cost["mixed"])
        budget = None if run.max_passes is not None else cost["mixed"]
    out = run_lanczos(
        passes,
        V0,
        top=top,
        rtol=run.rtol,
        rng=run.rng,
        max_steps=steps,
        budget_seconds=budget,
        pass_seconds=cost["pass"],
    )
    if out.converged:
        return run.finish(out, "krylov", 0)
    run.spent += out.passes
    run.handovers.append(f"krylov: {out.reason}")
    return run.direct("eigh", passes=run.spent + 1) if requested else None


def _fit_mixed(run: _Run) -> SpectrumResult:
    """Float32 covariance start, then float64 block Krylov; ``"eigh"`` when it cannot."""
    gram_chunk = rows_per_chunk(run.rows.d, GRAM_CHUNK_BYTES, run.chunk_rows)
    start = mixed_start(run.rows, run.centred, run.top, run.b, gram_chunk)
    if start is None:
        run.handovers.append("mixed: data outside the float32 range")
        return run.direct("eigh", passes=run.spent + 1)
    run.spent += 1
    V0, shift, trace, lam_top = start
    out = run_lanczos(
        run.passes(shift, trace, lam_top),
        V0,
        top=run.top,
        rtol=run.rtol,
        rng=run.rng,
        max_steps=run.budget_steps(max(run.cost["eigh"] - run.cost["mixed"], 0.0)),
        budget_seconds=None,
        pass_seconds=run.cost["pass"],
    )
    if out.converged:
        return run.finish(out, "mixed", run.spent)
    run.handovers.append(f"mixed: {out.reason}")
    return run.direct("eigh", passes=run.spent + out.passes + 1)
