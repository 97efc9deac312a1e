"""The cost model behind ``covariance_spectrum(method="auto")``: predicted seconds per method.

Constants measured on the development machine (2-core AMD EPYC, OpenBLAS 0.3.31, a shared
VM: best of repeats in quiet moments).  Only ratios matter for choices:

* one float64 Krylov pass with a block of b vectors over N x d data:
  N d (_C_PASS_READ + _C_PASS_COL b): 0.29 s for b = 8, 0.40 s for b = 20, 0.85 s for
  b = 64 at N = 2e5, d = 1e3 (one read of X plus 4 N d b flops of skinny GEMM);
* float64 covariance by chunked syrk: _C_SYRK64 N d^2 (3.1-3.3 s at 2e5 x 1e3, the
  same as numpy.cov: both are N d^2 flops at ~65 GFLOP/s);
* float32 covariance: _C_SYRK32 N d^2 + _C_CAST N d for the cast (1.7 + 0.2 s);
* dense symmetric eigensolver: _C_EIG d^3 (0.06 s at d = 1e3, vectors included);
* Rayleigh-Ritz, bounds and orthogonalisation: _C_STEP per Krylov step, and the
  Python overhead of one chunk: _C_OVERHEAD.
"""

from __future__ import annotations

from numerics.spectra._rows import PASS_CHUNK_BYTES, rows_per_chunk, subsample_count

_C_PASS_READ = 1.1e-9
_C_PASS_COL = 0.05e-9
_C_SYRK64 = 1.6e-11
_C_SYRK32 = 8.5e-12
_C_CAST = 1e-9
_C_EIG = 6e-11
_C_STEP = 0.01
_C_OVERHEAD = 2e-5


def block_size(top: int, d: int) -> int:
    """Krylov block width: top plus a few vectors, so theta_{top+1} estimates the gap."""
    return min(d, top + max(4, top // 4))


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
    module docstring.  Dense covariance: N d^2 flops (syrk), ~65 GFLOP/s
    in float64 and ~120 GFLOP/s in float32.  A Krylov pass of width b: 4 N d b flops of
    skinny GEMM (~45 GFLOP/s) plus one read of the 8 N d bytes of X (~21 GB/s).  So a pass
    of width 20 costs ~ 1/8 of the float64 covariance: the iterative methods win when they
    need fewer than ~8 passes, which the top 16 of data with a clear spectral gap do (about
    4) and data with no gap do not (the float32 covariance then gives the start, "mixed").
    """
    b = block if block is not None else block_size(top, d)
    chunks = n / max(1, rows_per_chunk(d, PASS_CHUNK_BYTES, None))
    one_pass = n * d * (_C_PASS_READ + _C_PASS_COL * b) + _C_OVERHEAD * chunks + _C_STEP
    sub_rows = subsample_count(n, d, b)
    subsample = 6 * (4 * sub_rows * d * b * 2e-11 + _C_STEP)
    eig = _C_EIG * d**3
    return {
        "eigh": _C_SYRK64 * n * d * d + eig,
        "gram": _C_SYRK64 * n * n * d + _C_EIG * n**3,
        "mixed": _C_SYRK32 * n * d * d + _C_CAST * n * d + eig + one_pass,
        "krylov": subsample + 4 * one_pass,
        "pass": one_pass,
    }
