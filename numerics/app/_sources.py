"""Resolve a command's SOURCE (a spectrum, or data) into eigenvalues and a record.

Every transformation of the data - the uncentred second moment instead of the
covariance, a rescaling - happens only when asked and is recorded in
``Source.record``, which every command prints.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from numerics.core._validation import InputError, check_positive, check_spectrum
from numerics.data._datasets import Dataset, parse_data_source
from numerics.spectra._exact import ExactThresholds, exact_thresholds

#: Which second moment of the data the spectrum is taken of.
MOMENTS = ("centred", "uncentred")


@dataclass(frozen=True)
class Source:
    """Eigenvalues of a SOURCE with their provenance.

    ``exact`` holds the eigenvalues as exact rationals when they were given as
    numbers (``--spectrum 4,2,1/3``); ``dataset`` the samples when data were given.
    """

    eigenvalues: np.ndarray
    record: dict[str, Any]
    exact: tuple[Fraction, ...] | None = None
    dataset: Dataset | None = None
    moment: str = "centred"
    scale: float = 1.0
    extra: dict[str, Any] = field(default_factory=dict)

    def exact_thresholds(self, digits: int, **model: Any) -> ExactThresholds:
        """Critical sigma'^2 to ``digits`` digits with certified bounds (``model``: beta, ...).

        From the exact spectrum when one was given, else from the exact covariance of
        the data as they were read (moment and scale as recorded).
        """
        if self.exact is not None:
            return exact_thresholds(self.exact, digits=digits, **model)
        if self.dataset is None:
            raise InputError("--digits needs an exact spectrum or data")
        return exact_thresholds(
            data=self.dataset.X,
            centred=self.moment == "centred",
            scale=self.scale,
            digits=digits,
            **model,
        )


def parse_exact(text: str) -> Fraction | float:
    """A decimal or fraction as an exact rational (inf/nan stay floats, to be rejected)."""
    text = text.strip()
    try:
        return Fraction(text)
    except (ValueError, ZeroDivisionError):
        pass
    value = float(text)  # raises ValueError for garbage
    return value


def from_spectrum(values: list[Fraction | float]) -> Source:
    """A SOURCE given as eigenvalues."""
    lam = check_spectrum([float(v) for v in values])
    exact = (
        tuple(sorted((Fraction(v) for v in values), reverse=True))
        if all(isinstance(v, Fraction) for v in values)
        else None
    )
    return Source(eigenvalues=lam, record={"source": "spectrum"}, exact=exact)


def from_data(
    text: str,
    moment: str = "centred",
    scale: float | None = None,
    top: int | None = None,
) -> Source:
    """A SOURCE given as data: ``digits``, ``synthetic:NAME[:k=v,...]`` or a file."""
    from numerics.spectra._covariance import covariance_spectrum

    if moment not in MOMENTS:
        raise InputError(f"moment={moment!r}: expected one of {', '.join(MOMENTS)}")
    factor = 1.0 if scale is None else check_positive("scale", scale)
    dataset = parse_data_source(text)
    spec = covariance_spectrum(dataset.X, centred=moment == "centred", top=top)
    # Scaling the data by c scales every second moment, hence every eigenvalue, by c^2.
    lam = spec.eigenvalues * factor**2
    # Eigenvalues at the level of rounding are zero: a float64 eigensolver resolves
    # eigenvalues only to about d * eps * lambda_max in absolute terms (Golub & Van
    # Loan, Matrix Computations, 4th ed., Thm 8.1.15 with the Wilkinson backward
    # error), so anything smaller cannot be told from 0 - and a spurious 1e-16
    # "eigenvalue" would create a spurious critical point at sigma'^2 = 1e-16.
    zero_tol = lam.size * np.finfo(float).eps * (lam[0] if lam.size else 0.0)
    lam = np.where(lam <= zero_tol, 0.0, lam)
    record = dataset.record() | {
        "moment": moment,
        "covariance": "(1/N) sum (x - m)(x - m)^T"
        if moment == "centred"
        else "(1/N) sum x x^T (uncentred)",
        "scale": factor,
        "spectrum_method": spec.method,
        "zero_tolerance": float(zero_tol),
        "zero_eigenvalues": int((lam == 0).sum()),
    }
    if top is not None:
        record["top"] = int(top)
    if not all(math.isfinite(x) for x in lam):
        raise InputError(f"data {text!r}: the covariance has non-finite eigenvalues")
    return Source(eigenvalues=lam, record=record, dataset=dataset, moment=moment, scale=factor)
