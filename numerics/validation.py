"""Input checks shared by the library and the command line.

Every check raises ValueError or TypeError with one line that names the
offending value and says what was expected; the CLI prints that line.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from numbers import Integral, Real

import numpy as np

from theory import ENCODER_VARIANCES


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
        raise TypeError(f"eigenvalues {eigenvalues!r}: expected a sequence of numbers") from exc
    if arr.ndim != 1:
        raise ValueError(f"eigenvalues have shape {arr.shape}: expected a one-dimensional list")
    if arr.size == 0:
        raise ValueError("eigenvalues are empty: expected at least one eigenvalue")
    bad = arr[~np.isfinite(arr)]
    if bad.size:
        raise ValueError(f"eigenvalue {float(bad[0])!r} is not finite: expected finite values")
    if (arr < 0).any():
        raise ValueError(
            f"eigenvalue {float(arr[arr < 0][0])!r} is negative: a covariance has eigenvalues >= 0"
        )
    return np.sort(arr)[::-1].copy()


def check_positive(name: str, value: float) -> float:
    """Return ``value`` as a float, which must be finite and > 0."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name}={value!r}: expected a positive number")
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name}={value!r}: expected a finite number > 0")
    return value


def check_latent_dim(latent_dim: int | None, d: int) -> int:
    """Return k (default d), which must be an integer with 1 <= k <= d."""
    if latent_dim is None:
        return d
    if isinstance(latent_dim, bool) or not isinstance(latent_dim, Integral):
        raise TypeError(f"latent_dim={latent_dim!r}: expected an integer")
    if not 1 <= latent_dim <= d:
        raise ValueError(
            f"latent_dim={latent_dim}: expected 1 <= latent_dim <= {d} (the data dimension)"
        )
    return int(latent_dim)


def check_encoder_variance(name: str) -> str:
    """Return ``name`` if it is a supported encoder-variance variant."""
    if name not in ENCODER_VARIANCES:
        raise ValueError(
            f"encoder_variance={name!r}: expected one of {', '.join(ENCODER_VARIANCES)}"
        )
    return name
