"""The residual covariance of an output y given a condition x, from data (conditional VAE).

The conditional VAE's thresholds are the eigenvalues of Sigma_yy - Sigma_yx Sigma_xx^-1
Sigma_xy (derived in :mod:`theory.conditional`: the x-weights at the optimum are the
least-squares regression of y on x, C* = Sigma_yx Sigma_xx^-1).  From data this is the
1/N covariance of the residuals R = Y~ - X~ C*^T of that regression (X~, Y~ centred), which
is computed here by least squares (``numpy.linalg.lstsq``, an orthogonal factorisation:
no Sigma_xx^-1 is formed).  With a singular Sigma_xx (constant or collinear condition
columns) the minimum-norm solution gives Sigma_yy - Sigma_yx Sigma_xx^+ Sigma_xy, the
same residual: y can be regressed only on what x spans.
"""

from __future__ import annotations

import re

import numpy as np

from numerics.core._validation import InputError

#: One item of a column SPEC: an index ``i`` or a range ``a:b`` (0-based, b excluded).
_ITEM = re.compile(r"^\s*(\d+)\s*(?::\s*(\d+)\s*)?$")


def condition_columns(spec: str, d: int) -> np.ndarray:
    """The condition columns of ``spec`` (``0:32``, ``0,3,5``, ``0:4,8:12``) as a boolean mask.

    Raises
    ------
    InputError
        A malformed item, a column >= d, an empty range, or a SPEC that leaves no
        output column (or takes none).
    """
    mask = np.zeros(d, dtype=bool)
    for item in str(spec).split(","):
        m = _ITEM.match(item)
        if m is None:
            raise InputError(
                f"--condition-columns {spec!r}: expected indices or ranges such as 0:32 or 0,3,5"
            )
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) is not None else lo + 1
        if hi <= lo or hi > d:
            raise InputError(
                f"--condition-columns {spec!r}: {item.strip()} is outside the data's columns "
                f"0..{d - 1} (or empty): expected columns of the {d}-dimensional data"
            )
        mask[lo:hi] = True
    if mask.all():
        raise InputError(
            f"--condition-columns {spec!r}: takes all {d} columns; expected at least one "
            "output column (y) besides the condition (x)"
        )
    return mask


def residual_covariance(X: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The 1/N covariance of the residuals of y (columns not in ``mask``) regressed on x."""
    X = np.asarray(X, dtype=float)
    centred = X - X.mean(axis=0)
    x, y = centred[:, mask], centred[:, ~mask]
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    r = y - x @ coef
    return r.T @ r / X.shape[0]


def conditional_spectrum(X: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Eigenvalues of :func:`residual_covariance`, descending (rounding-level negatives: 0)."""
    values = np.linalg.eigvalsh(residual_covariance(X, mask))[::-1]
    return np.maximum(values, 0.0)
