"""Data sources: the bundled digits, synthetic generators and the user's files.

Every source becomes a :class:`Dataset`: the samples (rows) and a record of
where they came from and what was done to them, which every command prints.
"""

from __future__ import annotations

import inspect
import warnings
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from numerics.core._validation import InputError, check_memory
from numerics.data._synthetic import GENERATORS


@dataclass(frozen=True)
class Dataset:
    """Samples and their provenance.

    Attributes
    ----------
    X : ndarray or dask.array.Array, shape (n, d)
        Rows are samples (a read-only memory map for large .npy files; a lazy Dask array
        for chunked stores, see :mod:`numerics.data._chunked`, never loaded whole).
    source : str
        ``digits``, ``synthetic:NAME`` or the file path.
    params : dict
        Generator parameters, file key, ...
    population_eigenvalues : ndarray or None
        Known population spectrum (synthetic data only).
    """

    X: np.ndarray
    source: str
    params: dict[str, Any] = field(default_factory=dict)
    population_eigenvalues: np.ndarray | None = None

    @property
    def lazy(self) -> bool:
        """Whether X is a lazy (Dask) array rather than one in memory or memory-mapped."""
        return not isinstance(self.X, np.ndarray)

    @property
    def shape(self) -> tuple[int, int]:
        """(n_samples, dim)."""
        return tuple(self.X.shape)  # type: ignore[return-value]

    def record(self) -> dict[str, Any]:
        """JSON-ready provenance."""
        out: dict[str, Any] = {
            "source": self.source,
            "n_samples": int(self.X.shape[0]),
            "dim": int(self.X.shape[1]),
        }
        if self.params:
            out["params"] = {k: _jsonable(v) for k, v in self.params.items()}
        if self.population_eigenvalues is not None:
            out["population_eigenvalues"] = [float(x) for x in self.population_eigenvalues]
        return out


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.ndarray | tuple | list):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    return v


def load_digits() -> Dataset:
    """scikit-learn's bundled 8x8 handwritten digits, 1797 x 64 (no download)."""
    from sklearn.datasets import load_digits as _load

    return Dataset(X=_load().data.astype(np.float64), source="digits")


def _parse_value(text: str) -> Any:
    if "/" in text and all(p.strip() for p in text.split("/")):
        parts = text.split("/")
        if len(parts) == 2:
            try:
                return float(parts[0]) / float(parts[1])
            except (ValueError, ZeroDivisionError):
                pass
    if ";" in text:
        return [float(t) for t in text.split(";")]
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            continue
    if text.lower() in {"true", "false"}:
        return text.lower() == "true"
    raise InputError(f"parameter value {text!r}: expected a number or a ;-separated list")


def synthetic(name: str, **params: Any) -> Dataset:
    """A seeded synthetic data set; see :mod:`numerics.data._synthetic` for the names."""
    if name not in GENERATORS:
        raise InputError(
            f"synthetic data {name!r}: expected one of {', '.join(sorted(GENERATORS))}"
        )
    gen = GENERATORS[name]
    allowed = inspect.signature(gen).parameters
    for key in params:
        if key not in allowed:
            raise InputError(
                f"synthetic:{name} parameter {key!r}: expected one of {', '.join(allowed)}"
            )
    try:
        x, lam = gen(**params)
    except TypeError as exc:  # a required parameter is missing
        raise InputError(f"synthetic:{name}: {exc}".replace(f"{gen.__name__}() ", "")) from None
    full = {k: p.default for k, p in allowed.items() if p.default is not inspect.Parameter.empty}
    full.update(params)
    return Dataset(X=x, source=f"synthetic:{name}", params=full, population_eigenvalues=lam)


#: What a file of each suffix starts with (NumPy's .npy format; .npz is a zip archive).
_MAGIC = {".npy": b"\x93NUMPY", ".npz": b"PK"}


def _check_file(path: Path, what: str = "data file") -> str:
    """The suffix of a data file that can be read: a regular, readable file of a known
    format whose first bytes are that format's.  A FIFO or a device (e.g. a symlink to
    /dev/zero) would block or never end, so only regular files are read.  ``what``
    names the file in messages."""
    name = repr(str(path))
    if not (path.exists() or path.is_symlink()):
        raise InputError(f"{what} {name} does not exist")
    if not path.is_file():
        raise InputError(f"{what} {name} is not a regular file: expected a .npy, .npz or .csv file")
    suffix = path.suffix.lower()
    if suffix not in (".npy", ".npz", ".csv"):
        raise InputError(f"{what} {name}: expected a .npy, .npz or .csv file")
    try:
        with path.open("rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        raise InputError(f"{what} {name} is unreadable: {exc.strerror}") from None
    magic = _MAGIC.get(suffix)
    if magic is not None and not head.startswith(magic):
        raise InputError(
            f"{what} {name} is not a {suffix} file (its first bytes are not {magic!r})"
        )
    return suffix


def _load_npz(path: Path, params: dict[str, Any]) -> np.ndarray:
    # Open the file here: np.load leaves its own handle open when the archive is damaged.
    with path.open("rb") as fh, np.load(fh, allow_pickle=False) as archive:
        keys = list(archive.keys())
        key = "X" if "X" in keys else keys[0] if len(keys) == 1 else None
        if key is None:
            raise InputError(
                f"data file {str(path)!r} holds arrays {keys}: expected one array or one named X"
            )
        info = archive.zip.getinfo(f"{key}.npy")
        check_memory(f"data file {str(path)!r}", 2.0 * info.file_size)
        params["key"] = key
        return archive[key]


def load_arrays(path: str | Path, what: str = "posterior file") -> dict[str, np.ndarray]:
    """Every array of a .npz file (no pickles), checked like a data file."""
    path = Path(path)
    suffix = _check_file(path, what)
    if suffix != ".npz":
        raise InputError(f"{what} {str(path)!r}: expected a .npz file of named arrays")
    try:
        with path.open("rb") as fh, np.load(fh, allow_pickle=False) as archive:
            total = sum(info.file_size for info in archive.zip.infolist())
            check_memory(f"{what} {str(path)!r}", 2.0 * total)
            return {key: archive[key] for key in archive.keys()}
    except InputError:
        raise
    except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile, zlib.error) as exc:
        raise InputError(f"{what} {str(path)!r} is unreadable: {exc}") from None


def load_file(path: str | Path) -> Dataset:
    """Rows of a .npy (memory-mapped), .npz (one array, or key ``X``) or .csv file."""
    path = Path(path)
    suffix = _check_file(path)
    params: dict[str, Any] = {}
    try:
        if suffix == ".npy":
            # A memory map: the spectrum code reads it in chunks, never all at once.
            x = np.load(path, mmap_mode="r", allow_pickle=False)
        elif suffix == ".npz":
            x = _load_npz(path, params)
        else:
            check_memory(f"data file {str(path)!r}", 8.0 * path.stat().st_size)
            x = _load_csv(path)
    except InputError:
        raise
    except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile, zlib.error) as exc:
        # A damaged or truncated file: numpy and zipfile say why in their own words.
        raise InputError(f"data file {str(path)!r} is unreadable: {exc}") from None
    if x.dtype.kind not in "fiu":
        raise InputError(f"data file {str(path)!r} has dtype {x.dtype}: expected numbers")
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 1:
        raise InputError(
            f"data file {str(path)!r} has shape {x.shape}: expected a 2-D array of "
            "samples x features with at least 2 rows"
        )
    return Dataset(X=x, source=str(path), params=params)


def _load_csv(path: Path) -> np.ndarray:
    """A numeric CSV; a first line that does not parse as numbers is a header."""
    with path.open() as fh:
        first = fh.readline()
    try:
        [float(t) for t in first.strip().split(",")]
        skip = 0
    except ValueError:
        skip = 1
    with warnings.catch_warnings():
        # An empty file is reported below by its shape, in one line, not as a warning.
        warnings.simplefilter("ignore", UserWarning)
        return np.loadtxt(path, delimiter=",", skiprows=skip, ndmin=2)


def parse_data_source(text: str) -> Dataset:
    """``digits``, ``synthetic:NAME[:key=value,...]``, a file path or a chunked store.

    A chunked store (a ``.zarr`` path, a directory, or a glob of ``.npy`` shards) gives a
    lazy Dataset (:func:`numerics.data._chunked.load_chunked`).
    """
    from numerics.data._chunked import is_chunked_source, load_chunked

    if not text.strip():
        raise InputError(f"--data {text!r}: expected digits, synthetic:NAME[:k=v,...] or a file")
    if text == "digits":
        return load_digits()
    if text.startswith("synthetic:"):
        _, _, rest = text.partition(":")
        name, _, args = rest.partition(":")
        params = {}
        for item in filter(None, args.split(",")):
            key, sep, value = item.partition("=")
            if not sep:
                raise InputError(
                    f"{item!r} in {text!r}: expected key=value, e.g. synthetic:exponential:d=16"
                )
            params[key.strip()] = _parse_value(value.strip())
        return synthetic(name, **params)
    if is_chunked_source(text):
        return load_chunked(text)
    return load_file(text)
