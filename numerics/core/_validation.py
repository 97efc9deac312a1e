"""Input checks shared by the library and the command line.

Every check raises :class:`InputError` with one line that names the offending
parameter and value and says what was expected; the command line prints that
line and exits with status 2.  Any other exception is a bug, not bad input.
"""

from __future__ import annotations

import math
import os
import re
import sys
from collections.abc import Iterable
from fractions import Fraction
from numbers import Integral, Real
from typing import Any

import numpy as np

from theory import ENCODER_VARIANCES


class InputError(ValueError):
    """Bad input: one line naming the parameter, the value and what was expected."""


def available_memory() -> int:
    """Bytes of memory this process may still allocate (Linux: MemAvailable), at least 1 GiB.

    Falls back to the physical memory where /proc/meminfo is missing (macOS).
    """
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return max(int(line.split()[1]) * 1024, 1 << 30)
    except OSError:
        pass
    try:
        return max(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"), 1 << 30)
    except (ValueError, OSError, AttributeError):  # no sysconf: do not refuse anything
        return 1 << 62


def _size(nbytes: float) -> str:
    for unit, factor in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if nbytes >= factor:
            return f"{nbytes / factor:.3g} {unit}"
    return f"{nbytes:.0f} bytes"


def check_memory(what: str, nbytes: float) -> None:
    """Refuse a request whose arrays would not fit in memory, before allocating them.

    ``nbytes`` is an estimate of the largest simultaneous allocation; a request over
    the available memory would end in a MemoryError (or the kernel's OOM killer) after
    work was done, so it is bad input now.
    """
    free = available_memory()
    if nbytes > free:
        raise InputError(
            f"{what} needs about {_size(nbytes)}: expected a request that fits in this "
            f"machine's memory ({_size(free)} available)"
        )


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
    tiny = (arr > 0) & (arr < sys.float_info.min)  # subnormal: fewer digits, see parse_exact
    if tiny.any():
        raise InputError(
            f"eigenvalue {float(arr[tiny][0])!r} is below float64's normal range (2.2e-308): "
            "expected 0 or a larger value (rescale the data)"
        )
    return np.sort(arr)[::-1].copy()


def check_positive(name: str, value: float) -> float:
    """Return ``value`` as a float, which must be finite and > 0."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise InputError(f"{name}={value!r}: expected a positive number")
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise InputError(f"{name}={value!r}: expected a finite number > 0")
    if value < sys.float_info.min:  # subnormal: fewer significant digits, see parse_exact
        raise InputError(
            f"{name}={value!r}: expected a value in float64's normal range (> 2.2e-308)"
        )
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
    return check_choice("encoder_variance", name, ENCODER_VARIANCES)


#: A decimal or a fraction p/q of decimals, with an optional exponent.
_NUMBER = re.compile(
    r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?(/[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?)?$"
)
#: Exponents beyond this are refused before any exact arithmetic (Fraction("1e999999999")
#: would build a billion-digit integer); float64 spans about 1e-324 to 1e308.
_MAX_EXPONENT = 400


def parse_exact(text: str, name: str = "value") -> Fraction:
    """A decimal or a fraction such as ``1/3`` as an exact rational within float64's range.

    Raises
    ------
    InputError
        Not a number, not finite, or outside the range of float64 (a value float64
        cannot represent would be rounded to 0 or infinity, silently).
    """
    text = text.strip()
    m = _NUMBER.match(text)
    if m is None:
        if text.lower().lstrip("+-") in {"inf", "infinity", "nan"}:
            raise InputError(f"{name}={text}: expected a finite number")
        raise InputError(f"{name}={text!r}: expected a number such as 2.5, 1e-3 or 1/3")
    exponents = [int(e[1:]) for e in (m.group(2), m.group(5)) if e]
    if any(abs(e) > _MAX_EXPONENT for e in exponents) or len(text) > 1000:
        raise InputError(f"{name}={text}: expected a number within the float64 range")
    try:
        value = Fraction(text)
    except ZeroDivisionError:
        raise InputError(f"{name}={text}: division by zero: expected a number") from None
    try:
        as_float = float(value)
    except OverflowError:
        raise InputError(f"{name}={text}: exceeds the float64 range (largest 1.8e308)") from None
    if value != 0 and as_float == 0:
        raise InputError(f"{name}={text}: below the float64 range (smallest positive 4.9e-324)")
    if value != 0 and abs(as_float) < sys.float_info.min:
        # A subnormal double keeps fewer significant digits (4e-320 is stored as
        # 3.99996e-320): refused rather than silently changed.
        raise InputError(
            f"{name}={text}: below float64's normal range (2.2e-308), where it would lose "
            "digits: expected a larger value (rescale the units)"
        )
    return value


def parse_encoder_variance(text: str) -> tuple[str, list[Fraction | float] | None]:
    """``learnable``, ``fixed``, ``fixed:Z`` or ``fixed:Z1,Z2,...`` -> (variant, values).

    ``fixed`` alone has no values (zeta^2 = eta^2); ``fixed:Z`` one (isotropic
    zeta^2 = Z); ``fixed:Z1,...,Zk`` one per latent (anisotropic).  Values are checked
    to be finite and > 0.
    """
    variant, sep, rest = text.partition(":")
    expected = "expected learnable, fixed, fixed:Z or fixed:Z1,Z2,..."
    if variant not in ENCODER_VARIANCES or (sep and variant != "fixed"):
        raise InputError(f"encoder_variance={text!r}: {expected}")
    if not sep:
        return variant, None
    items = rest.split(",")
    if not rest.strip() or any(not t.strip() for t in items):
        raise InputError(f"encoder_variance={text!r}: {expected}")
    values = [parse_exact(t, "zeta2") for t in items]
    for v in values:
        check_positive("zeta2", float(v))
    return variant, values


def check_int(name: str, value: Any, minimum: int, maximum: int | None = None) -> int:
    """An integer ``minimum <= value [<= maximum]`` (bool is refused: ``True`` is not a count)."""
    expected = (
        f"an integer >= {minimum}"
        if maximum is None
        else f"an integer with {minimum} <= {name} <= {maximum}"
    )
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise InputError(f"{name}={value!r}: expected {expected}")
    if value < minimum or (maximum is not None and value > maximum):
        raise InputError(f"{name}={value!r}: expected {expected}")
    return int(value)


def check_range(name: str, lo: Any, hi: Any) -> tuple[float, float]:
    """A range of positive values, 0 < lo < hi, both finite."""
    ok = all(not isinstance(v, bool) and isinstance(v, Real) for v in (lo, hi))
    if not ok or not (math.isfinite(lo) and math.isfinite(hi) and 0 < lo < hi):
        raise InputError(f"{name}={lo!r}:{hi!r}: expected LO:HI with 0 < LO < HI, both finite")
    return float(lo), float(hi)


def check_fraction(name: str, value: Any) -> float:
    """A number in [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, Real) or not 0 <= value <= 1:
        raise InputError(f"{name}={value!r}: expected a number in [0, 1]")
    return float(value)


def check_choice(name: str, value: Any, choices: Iterable[str]) -> str:
    """One of ``choices``."""
    choices = tuple(choices)
    if value not in choices:
        raise InputError(f"{name}={value!r}: expected one of {', '.join(choices)}")
    return value


def check_seeds(seeds: Iterable[int]) -> tuple[int, ...]:
    """One or more distinct seeds >= 0."""
    try:
        seeds = tuple(seeds)
    except TypeError:
        raise InputError(f"seeds={seeds!r}: expected one or more distinct seeds >= 0") from None
    out = tuple(check_int("seed", r, 0) for r in seeds)
    if not out or len(set(out)) != len(out):
        raise InputError(f"seeds={seeds!r}: expected one or more distinct seeds >= 0")
    return out


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
    return check_sweep("sigma2", sigma2, "decoder variances")


def check_sweep(name: str, values, what: str) -> np.ndarray:
    """The control values ``name`` of a sweep (``what`` they are, for the message):
    finite, > 0, at least one; returned ascending."""
    try:
        s = np.atleast_1d(np.asarray(values, dtype=float))
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name}={values!r}: expected a number or a list of numbers") from exc
    if s.ndim != 1 or s.size == 0:
        raise InputError(f"{name} has shape {s.shape}: expected a non-empty list of numbers")
    bad = s[~(np.isfinite(s) & (s > 0))]
    if bad.size:
        raise InputError(f"{name}={float(bad[0])!r}: expected finite {what} > 0")
    return np.sort(s)
