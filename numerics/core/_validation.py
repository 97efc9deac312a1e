"""Input checks shared by the library and the command line.

Every check raises :class:`InputError` with one line that names the offending
parameter and value and says what was expected; the command line prints that
line and exits with status 2.  Any other exception is a bug, not bad input.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from numbers import Integral, Real

import numpy as np

from theory import ENCODER_VARIANCES


class InputError(ValueError):
    """Bad input: one line naming the parameter, the value and what was expected."""


def check_spectrum(eigenvalues: Iterable[float]) -> np.ndarray:
    """Return the eigenvalues as a float64 array sorted in descending order.

    Raises
    ------
    ValueError
        Empty, not one-dimensional, non-finite, or negative values.
    """
    try:
        arr = np.asarray(eigenvalues, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(f"eigenvalues {eigenvalues!r}: expected a sequence of numbers") from exc
    if arr.ndim != 1:
        raise InputError(f"eigenvalues have shape {arr.shape}: expected a one-dimensional list")
    if arr.size == 0:
        raise InputError("eigenvalues are empty: expected at least one eigenvalue")
    bad = arr[~np.isfinite(arr)]
    if bad.size:
        raise InputError(f"eigenvalue {float(bad[0])!r} is not finite: expected finite values")
    if (arr < 0).any():
        raise InputError(
            f"eigenvalue {float(arr[arr < 0][0])!r} is negative: a covariance has eigenvalues >= 0"
        )
    return np.sort(arr)[::-1].copy()


def check_positive(name: str, value: float) -> float:
    """Return ``value`` as a float, which must be finite and > 0."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise InputError(f"{name}={value!r}: expected a positive number")
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise InputError(f"{name}={value!r}: expected a finite number > 0")
    return value


def check_latent_dim(latent_dim: int | None, d: int) -> int:
    """Return k (default d), which must be an integer with 1 <= k <= d."""
    if latent_dim is None:
        return d
    if isinstance(latent_dim, bool) or not isinstance(latent_dim, Integral):
        raise InputError(f"latent_dim={latent_dim!r}: expected an integer")
    if not 1 <= latent_dim <= d:
        raise InputError(
            f"latent_dim={latent_dim}: expected 1 <= latent_dim <= {d} (the data dimension)"
        )
    return int(latent_dim)


def check_encoder_variance(name: str) -> str:
    """Return ``name`` if it is a supported encoder-variance variant."""
    if name not in ENCODER_VARIANCES:
        raise InputError(
            f"encoder_variance={name!r}: expected one of {', '.join(ENCODER_VARIANCES)}"
        )
    return name


def check_int(name: str, value, minimum: int) -> int:
    """An integer >= ``minimum`` (bool is refused: ``True`` is not a step count)."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise InputError(f"{name}={value!r}: expected an integer")
    if value < minimum:
        raise InputError(f"{name}={value!r}: expected an integer >= {minimum}")
    return int(value)


def check_samples(X) -> np.ndarray:
    """Training data: a finite 2-D float array of samples x features, >= 2 rows."""
    try:
        X = np.asarray(X, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(f"X: expected a 2-D array of numbers ({exc})") from None
    if X.ndim != 2 or X.shape[0] < 2 or X.shape[1] < 1:
        raise InputError(
            f"X has shape {X.shape}: expected a 2-D array of samples x features, >= 2 rows"
        )
    if not np.isfinite(X).all():
        raise InputError("X has non-finite values: expected finite data")
    return X


def check_sigma2_sweep(sigma2) -> np.ndarray:
    """Decoder variances of a sweep: finite, > 0, at least one; returned ascending."""
    try:
        s = np.atleast_1d(np.asarray(sigma2, dtype=float))
    except (TypeError, ValueError) as exc:
        raise InputError(f"sigma2={sigma2!r}: expected a number or a list of numbers") from exc
    if s.ndim != 1 or s.size == 0:
        raise InputError(f"sigma2 has shape {s.shape}: expected a non-empty list of numbers")
    bad = s[~(np.isfinite(s) & (s > 0))]
    if bad.size:
        raise InputError(f"sigma2={float(bad[0])!r}: expected finite decoder variances > 0")
    return np.sort(s)
