"""Chunked stores, larger than one machine's memory: a Zarr array or a set of ``.npy`` shards.

Either becomes a :class:`~numerics.data._datasets.Dataset` whose ``X`` is a lazy
``dask.array.Array`` (rows are samples): nothing is read here but the shards' headers (or
the Zarr metadata), and each task of a later computation reads its own rows, so the data
are never loaded whole.  Accepted forms of the SOURCE text:

* ``PATH.zarr``, or a directory that is a Zarr array;
* a directory of ``.npy`` shards (every ``*.npy`` in it, in sorted order);
* a glob of ``.npy`` shards, e.g. ``'emb/part-*.npy'`` (quoted, so the shell leaves it);
* a single ``.npy`` file read as one shard (when a Dask cluster is asked for).

All shards must be 2-D arrays of numbers with the same number of columns.
"""

from __future__ import annotations

import glob
from pathlib import Path
from typing import Any

import numpy as np

from numerics.core._validation import InputError
from numerics.data._datasets import Dataset, _check_file

#: Float64 bytes of one task's rows (at least 2 d rows, so each task's d x d scatter
#: matrix costs no more to merge than its rows cost to read).
TASK_BYTES = 128 * 2**20

_GLOB_CHARS = frozenset("*?[")


def require_dask(what: str, modules: tuple[str, ...] = ("dask.array", "distributed")) -> None:
    """An InputError naming the ``dask`` extra when its packages are not installed."""
    import importlib

    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            raise InputError(
                f"{what} needs {name.split('.')[0]}: expected the dask extra, "
                "pip install 'vae-collapse[dask]'"
            ) from None


def is_chunked_source(text: str) -> bool:
    """Whether ``text`` names a chunked store: a ``.zarr`` path, a directory or a glob."""
    if any(c in _GLOB_CHARS for c in text):
        return True
    path = Path(text)
    return text.rstrip("/").lower().endswith(".zarr") or path.is_dir()


def task_rows(d: int, rows: int | None = None) -> int:
    """Rows per task: ``rows`` if given, else TASK_BYTES of float64 rows and at least 2 d."""
    if rows is not None:
        return rows
    return max(64, TASK_BYTES // (8 * d), 2 * d)


def load_chunked(text: str | Path, rows: int | None = None) -> Dataset:
    """A lazy Dataset over a Zarr array, a directory or glob of ``.npy`` shards, or one ``.npy``.

    Parameters
    ----------
    text : str or Path
        See the module docstring.
    rows : int, optional
        Rows per task (default :func:`task_rows`).

    Returns
    -------
    Dataset
        ``X`` is a ``dask.array.Array`` with one chunk of columns and row chunks of about
        ``rows`` rows; ``params`` records the format and the number of shards.

    Raises
    ------
    InputError
        No such store, an empty glob or directory, an unreadable shard, a shard that is not
        a 2-D array of numbers or whose column count differs from the first one's, fewer
        than 2 rows.
    """
    text = str(text)
    path = Path(text)
    require_dask(f"data {text!r}", ("dask.array",))
    if text.rstrip("/").lower().endswith(".zarr") or _is_zarr_dir(path):
        require_dask(f"data {text!r}", ("zarr",))
        X, params = _zarr_array(text, rows)
    else:
        X, params = _npy_shards(text, _shard_paths(text), rows)
    if X.shape[0] < 2 or X.shape[1] < 1:
        raise InputError(
            f"data {text!r} has shape {X.shape}: expected a 2-D array of samples x features "
            "with at least 2 rows"
        )
    return Dataset(X=X, source=text, params=params)


def _is_zarr_dir(path: Path) -> bool:
    return path.is_dir() and ((path / "zarr.json").is_file() or (path / ".zarray").is_file())


def _zarr_array(text: str, rows: int | None) -> tuple[Any, dict[str, Any]]:
    """The Zarr array at ``text``, rechunked to whole rows of about ``rows`` rows per task."""
    import dask.array as da
    import zarr

    if not Path(text).exists():
        raise InputError(f"data {text!r} does not exist")
    try:
        z = zarr.open_array(text, mode="r")
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(f"data {text!r} is not a readable Zarr array: {exc}") from None
    if len(z.shape) != 2 or np.dtype(z.dtype).kind not in "fiu":
        raise InputError(
            f"data {text!r} is a Zarr array of shape {z.shape} and dtype {z.dtype}: "
            "expected a 2-D array of numbers (rows are samples)"
        )
    X = da.from_zarr(z)
    stored = int(z.chunks[0])
    # whole multiples of the stored chunks, so each task reads whole chunks
    want = max(stored, (task_rows(z.shape[1], rows) // stored) * stored)
    X = X.rechunk({0: want, 1: -1})
    return X, {"format": "zarr", "stored_chunks": [int(c) for c in z.chunks]}


def _shard_paths(text: str) -> list[Path]:
    """The ``.npy`` files named by a glob, a directory or one file (sorted)."""
    if any(c in _GLOB_CHARS for c in text):
        paths = sorted(Path(p) for p in glob.glob(text) if Path(p).is_file())
        if not paths:
            raise InputError(f"data {text!r}: no file matches: expected .npy shards")
        return paths
    path = Path(text)
    if path.is_dir():
        paths = sorted(p for p in path.glob("*.npy") if p.is_file())
        if not paths:
            raise InputError(
                f"data directory {text!r} holds no .npy shards and is not a Zarr array"
            )
        return paths
    if not path.exists():
        raise InputError(f"data file {text!r} does not exist")
    return [path]


def _npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of a ``.npy`` file, from its header alone, after the checks of a
    data file (a regular, readable file whose first bytes are a .npy file's)."""
    if _check_file(path, "shard") != ".npy":
        raise InputError(f"shard {str(path)!r}: expected a .npy file")
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise InputError(f"shard {str(path)!r} is unreadable: {exc}") from None
    return arr.shape, arr.dtype


def _npy_shards(text: str, paths: list[Path], rows: int | None) -> tuple[Any, dict[str, Any]]:
    """One lazy array over the shards, each task reading a run of rows of one shard."""
    import dask
    import dask.array as da

    first_cols = None
    headers = []
    for path in paths:  # all headers first: a bad shard fails before any work
        if path.suffix.lower() != ".npy":
            raise InputError(f"shard {str(path)!r}: expected a .npy file")
        shape, dtype = _npy_header(path)
        if len(shape) != 2 or dtype.kind not in "fiu":
            raise InputError(
                f"shard {str(path)!r} has shape {shape} and dtype {dtype}: expected a 2-D "
                "array of numbers (rows are samples)"
            )
        if first_cols is None:
            first_cols = shape[1]
        elif shape[1] != first_cols:
            raise InputError(
                f"shard {str(path)!r} has {shape[1]} columns: expected {first_cols}, like "
                f"{str(paths[0])!r}"
            )
        headers.append((path, shape, dtype))
    dtype = np.result_type(*(h[2] for h in headers))
    step = task_rows(first_cols, rows)
    pieces = []
    for path, (n, d), _ in headers:
        for start in range(0, n, step):
            stop = min(n, start + step)
            block = dask.delayed(read_rows, pure=True)(str(path), start, stop, dtype.str)
            pieces.append(da.from_delayed(block, shape=(stop - start, d), dtype=dtype))
    X = da.concatenate(pieces, axis=0) if pieces else da.zeros((0, first_cols), dtype=dtype)
    return X, {"format": "npy shards", "shards": len(paths)}


def read_rows(path: str, start: int, stop: int, dtype: str) -> np.ndarray:
    """Rows ``start:stop`` of the ``.npy`` file ``path`` (run by the task that needs them)."""
    arr = np.load(path, mmap_mode="r", allow_pickle=False)
    return np.array(arr[start:stop], dtype=np.dtype(dtype))
