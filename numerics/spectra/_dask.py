"""Covariance spectra of data larger than one machine: one pass on a Dask cluster.

Each task reads one block of rows and reduces it to its count n, mean m and scatter matrix
M = sum (x - m)(x - m)^T, by the corrected two-pass algorithm within the block (Chan,
Golub & LeVeque, "Algorithms for computing the sample variance: analysis and
recommendations", The American Statistician 37 (1983) 242-247, eq. 1.7):

    M = sum (x - m^)(x - m^)^T - (1/n) (sum (x - m^)) (sum (x - m^))^T,   m^ = computed mean.

Blocks are merged in a tree by their pairwise update (same paper, eq. 2.1; Chan, Golub &
LeVeque, Stanford report STAN-CS-79-773, 1979), for blocks A and B with n = n_A + n_B and
delta = m_B - m_A:

    m = m_A + (n_B / n) delta,      M = M_A + M_B + (n_A n_B / n) delta delta^T,

which never forms the cancelling difference X^T X / N - m m^T.  Every block is first
shifted by the mean of the first rows of X (Chan, Golub & LeVeque 1983, section 3), so
that the block means, and their differences, stay small and exactly stored.  The covariance is then
M / N (centred, 1/N) or M / N + m m^T (uncentred second moment), and its top eigenvalues
come from LAPACK as in the ``"eigh"`` method.  One read of the data; the d x d matrices of
the tasks stay on the workers until the last merge.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from numerics.core._validation import InputError, check_int
from numerics.data._chunked import require_dask
from numerics.spectra._covariance import SpectrumResult
from numerics.spectra._direct import clip, top_eigenvalues

#: Seconds allowed to reach a scheduler given by its address.
CONNECT_SECONDS = 5
#: Partial results merged by one task of the reduction tree.
_FAN_IN = 4
#: Rows read first for the pilot mean that shifts every block.
_PILOT_ROWS = 1024


@dataclass
class Moments:
    """Count, mean and scatter matrix of a block of rows (or of several, merged).

    ``bad`` is the first non-finite entry seen, as (row, column, value), in which case
    ``mean`` and ``scatter`` are None; ``biggest`` is the largest magnitude seen.
    """

    n: int
    mean: np.ndarray | None
    scatter: np.ndarray | None
    biggest: float
    bad: tuple[int, int, float] | None = None


def block_moments(block: np.ndarray, row0: int, shift: np.ndarray | None = None) -> Moments:
    """:class:`Moments` of the rows x - ``shift`` of one block whose first row is row ``row0``.

    The shift (a pilot mean, the same for every block) keeps the block means small: a
    mean of 1e9 is stored to an absolute 1e-7, which the merge's (m_B - m_A) would carry
    into the scatter (Chan, Golub & LeVeque 1983, section 3: shifted data).
    """
    block = np.asarray(block)
    n, d = block.shape
    if n == 0:  # an empty shard: nothing to merge
        return Moments(0, None, None, 0.0)
    B = _work_buffer(n, d)  # float64 rows, centred in place below
    # Huge finite entries overflow the sums to inf (and inf - inf to nan): expected, and
    # reported after the reduction as one InputError.
    with np.errstate(over="ignore", invalid="ignore"):
        np.subtract(block, 0.0 if shift is None else shift, out=B, casting="unsafe")
        colsum = B.sum(axis=0)
        # A NaN or inf entry makes its column sum non-finite (finite entries only by
        # overflow): only then is the block searched for it.
        if not np.isfinite(colsum).all():
            bad = np.argwhere(~np.isfinite(block))
            if bad.size:
                i, j = (int(k) for k in bad[0])
                return Moments(n, None, None, math.inf, (row0 + i, j, float(block[i, j])))
        biggest = max(abs(float(block.max())), abs(float(block.min())))
        mean = colsum / n
        B -= mean
        resid = B.sum(axis=0)  # sum (x - m^): rounding-level, the two-pass correction
        scatter = B.T @ B
        scatter -= np.outer(resid, resid) / n
        mean += resid / n
    return Moments(n, mean, scatter, biggest)


_BUFFERS = threading.local()


def _work_buffer(n: int, d: int) -> np.ndarray:
    """An n x d float64 array reused by the tasks of one worker thread.

    Fresh memory is page-faulted in on first touch: for 128 MiB blocks that cost as much
    as the block's float64 syrk (0.3 s measured), in every task.
    """
    buf = getattr(_BUFFERS, "array", None)
    if buf is None or buf.shape[1] != d or buf.shape[0] < n:
        buf = np.empty((n, d))
        _BUFFERS.array = buf
    return buf[:n]


def merge_moments(*parts: Moments) -> Moments:
    """Merge blocks by Chan, Golub & LeVeque's pairwise update (module docstring)."""
    out = parts[0]
    for part in parts[1:]:
        out = _merge_two(out, part)
    return out


def _merge_two(a: Moments, b: Moments) -> Moments:
    n = a.n + b.n
    biggest = max(a.biggest, b.biggest)
    if a.bad is not None or b.bad is not None:
        bad = min((x for x in (a.bad, b.bad) if x is not None), key=lambda t: (t[0], t[1]))
        return Moments(n, None, None, biggest, bad)
    if a.n == 0:
        return Moments(n, b.mean, b.scatter, biggest)
    if b.n == 0:
        return Moments(n, a.mean, a.scatter, biggest)
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported at the end
        delta = b.mean - a.mean
        mean = a.mean + delta * (b.n / n)
        scatter = a.scatter + b.scatter
        scatter += np.outer(delta, delta * (a.n * b.n / n))
    return Moments(n, mean, scatter, biggest)


def as_dask_array(source: Any, rows: int | None = None) -> Any:
    """``source`` as a 2-D Dask array with whole rows per chunk.

    A Dask array is rechunked to one chunk of columns; a path or glob is opened lazily by
    :func:`numerics.data._chunked.load_chunked`; anything else (an in-memory array) is
    split into row chunks of :func:`numerics.data._chunked.task_rows` rows.
    """
    import dask.array as da

    from numerics.data._chunked import load_chunked, task_rows

    if isinstance(source, str | Path):
        return load_chunked(source, rows).X
    if isinstance(source, da.Array):
        X = source
    else:
        arr = np.asarray(source)
        if arr.ndim != 2:
            raise InputError(f"X has shape {arr.shape}: expected a 2-D array (rows are samples)")
        X = da.from_array(arr, chunks=(task_rows(max(arr.shape[1], 1), rows), -1))
    if X.ndim != 2:
        raise InputError(f"X has shape {X.shape}: expected a 2-D array (rows are samples)")
    if X.dtype.kind not in "fiu":
        raise InputError(f"X has dtype {X.dtype}: expected real numbers (integer or float)")
    if rows is not None:
        return X.rechunk({0: rows, 1: -1})
    return X.rechunk({1: -1})


@contextlib.contextmanager
def dask_client(scheduler: Any = None, workers: int | None = None) -> Iterator[Any]:
    """A ``distributed.Client``: to ``scheduler`` (an address or a Client), else to a new
    local cluster of ``workers`` single-threaded worker processes (default: one per CPU).

    Distributed starts worker processes with one BLAS thread each, so N workers use N
    cores.  An unreachable address is an InputError after CONNECT_SECONDS.
    """
    import logging

    require_dask("a Dask cluster (--scheduler, --workers)")
    from distributed import Client, LocalCluster

    if isinstance(scheduler, Client):
        yield scheduler
        return
    if scheduler is not None:
        _check_address(scheduler)  # a malformed one: an InputError, not a hanging Client
        try:
            client = Client(scheduler, timeout=CONNECT_SECONDS, set_as_default=False)
        except (OSError, TimeoutError) as exc:  # refused, unreachable or silent
            raise InputError(
                f"scheduler={scheduler!r}: no Dask scheduler answered within "
                f"{CONNECT_SECONDS} s: expected the address of a running one, "
                "e.g. tcp://127.0.0.1:8786"
            ) from exc
        with client:
            yield client
        return
    count = workers if workers is not None else (os.cpu_count() or 1)
    with (
        LocalCluster(
            n_workers=count,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",  # a free port: the scheduler serves HTTP anyway
            # workers racing the closing scheduler log tracebacks at shutdown; task errors
            # reach the client as exceptions all the same
            silence_logs=logging.CRITICAL,
        ) as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        yield client


def _check_address(address: Any) -> None:
    """An InputError unless ``address`` parses as a scheduler address (before connecting:
    a Client built on a malformed one hangs for seconds when it is collected)."""
    require_dask("a Dask scheduler (--scheduler)")
    from distributed.comm.addressing import parse_address, parse_host_port

    try:
        if not isinstance(address, str):
            raise ValueError(f"a {type(address).__name__}, not a string")
        scheme, location = parse_address(address)
        if scheme in ("tcp", "tls"):
            parse_host_port(location)
    except ValueError as exc:
        raise InputError(
            f"scheduler={address!r}: expected the address of a Dask scheduler, "
            f"e.g. tcp://127.0.0.1:8786 ({exc})"
        ) from None


def _is_client(obj: Any) -> bool:
    return type(obj).__name__ == "Client" and type(obj).__module__.startswith("distributed")


def check_cluster_options(scheduler: Any, workers: Any) -> int | None:
    """Check ``scheduler`` (an address or a Client), ``workers`` (an integer >= 1) and that
    not both are given; return ``workers``."""
    if scheduler is not None and not _is_client(scheduler):
        _check_address(scheduler)
    if workers is not None:
        workers = check_int("workers", workers, 1)
        if scheduler is not None:
            raise InputError(
                f"workers={workers} with scheduler={scheduler!r}: expected one of them "
                "(a running scheduler brings its own workers)"
            )
    return workers


def dask_covariance_spectrum(
    source: Any,
    top: int | None = None,
    centred: bool = True,
    scheduler: Any = None,
    workers: int | None = None,
    *,
    rows: int | None = None,
) -> SpectrumResult:
    """Top eigenvalues of the covariance of data too large for one machine, on Dask.

    Parameters
    ----------
    source : dask.array.Array, array_like, str or Path
        N x d data, rows are samples: a Dask array; a Zarr array, a directory or glob of
        ``.npy`` shards, or one ``.npy`` file (opened lazily, see
        :mod:`numerics.data._chunked`); or an in-memory array (split into row chunks).
    top : int, optional
        Number of leading eigenvalues (1..d); default all d.
    centred : bool, default True
        Centred 1/N covariance; False: the uncentred second moment (1/N) X^T X.
    scheduler : str or distributed.Client, optional
        Address of a running Dask scheduler (or a Client); default: a local cluster.
    workers : int, optional
        Worker processes of the local cluster (default one per CPU); not with ``scheduler``.
    rows : int, optional
        Rows per task (default: 128 MiB of float64 rows, at least 2 d).

    Returns
    -------
    SpectrumResult
        ``method="dask"``, one pass; ``notes`` say where it ran.

    Raises
    ------
    InputError
        Bad options (checked before any work), an unreachable scheduler, bad shards (see
        :func:`numerics.data._chunked.load_chunked`), a non-finite entry (named by its row
        and column), or sums of squares that overflow float64.
    """
    require_dask("dask_covariance_spectrum")
    workers = check_cluster_options(scheduler, workers)
    if rows is not None:
        rows = check_int("rows", rows, 1)
    X = as_dask_array(source, rows)
    n, d = (int(s) for s in X.shape)
    if n < 1 or d < 1:
        raise InputError(f"X has shape {X.shape}: expected at least 1 row and 1 column")
    top = d if top is None else check_int("top", top, 1, d)
    with dask_client(scheduler, workers) as client:
        where = _describe(client)
        shift = _pilot_shift(client.compute(X[: min(n, _PILOT_ROWS)]).result())
        moments = client.compute(_reduction(X, shift)).result()
    C = _covariance_of(moments, shift, bool(centred))
    values = top_eigenvalues(C, top)
    tasks = len(X.chunks[0])
    return SpectrumResult(
        clip(values, float(values[0]), d),
        "dask",
        n,
        d,
        bool(centred),
        None,
        requested="dask",
        passes=1,
        notes=(f"dask: one pass, {tasks} tasks of up to {max(X.chunks[0])} rows, on {where}",),
    )


def _pilot_shift(rows: np.ndarray) -> np.ndarray:
    """Mean of the first rows (zero if they are not finite: the pass reports those)."""
    P = np.asarray(rows, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        s = P.mean(axis=0)
    return s if np.isfinite(s).all() else np.zeros(P.shape[1])


def _reduction(X: Any, shift: np.ndarray) -> Any:
    """The delayed tree: block moments, merged _FAN_IN at a time."""
    import dask

    offsets = np.concatenate([[0], np.cumsum(X.chunks[0])[:-1]])
    blocks = X.to_delayed()[:, 0]
    shift_ = dask.delayed(shift)  # sent to the workers once
    parts = [
        dask.delayed(block_moments, pure=True)(b, int(o), shift_)
        for b, o in zip(blocks, offsets, strict=True)
    ]
    while len(parts) > 1:
        parts = [
            dask.delayed(merge_moments, pure=True)(*parts[i : i + _FAN_IN])
            for i in range(0, len(parts), _FAN_IN)
        ]
    return parts[0]


def _covariance_of(m: Moments, shift: np.ndarray, centred: bool) -> np.ndarray:
    """The covariance (or second moment) from the merged moments, or the InputError."""
    if m.bad is not None:
        row, col, value = m.bad
        raise InputError(f"X[{row}, {col}] = {value!r} is not finite: expected finite values")
    with np.errstate(over="ignore", invalid="ignore"):
        C = m.scatter / m.n
        mean = shift + m.mean
        if not centred:
            C += np.outer(mean, mean)
    if not (np.isfinite(C).all() and np.isfinite(mean).all()):
        raise InputError(
            f"X has entries up to {m.biggest:.3g} in magnitude and their sum of squares "
            "overflows float64: expected data that can be squared and summed (rescale it)"
        )
    return C


def _describe(client: Any) -> str:
    """``N workers at ADDRESS`` for the record."""
    info = client.scheduler_info()
    return f"{len(info.get('workers', {}))} workers at {info.get('address', '?')}"
