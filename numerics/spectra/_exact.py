"""Critical values in arbitrary precision, with a certified error bound.

* A spectrum given as numbers is exact (every decimal is a rational): the
  theory's critical law is evaluated in exact rational arithmetic (SymPy, through
  :mod:`numerics.core._bridge`) and only the final decimal rounding is an error,
  bounded exactly.
* A spectrum of data comes from :mod:`numerics.spectra._certified` (eigenvalues of
  the exact rational covariance with a rigorous bound); the critical law is then
  evaluated in mpmath interval arithmetic on the certified eigenvalue intervals, so
  the bound covers the eigenvalue error, the evaluation and the decimal rounding.

Every printed value and bound comes from :mod:`numerics.spectra._decimal`: the bound
is rounded up and is never below |printed value - exact value|.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import mpmath
import numpy as np

from numerics.core._bridge import compiled_laws
from numerics.core._model import resolve_model
from numerics.core._validation import InputError
from numerics.spectra._certified import certified_covariance_spectrum
from numerics.spectra._decimal import check_digits, print_with_bound, to_fraction


@dataclass(frozen=True)
class ExactThresholds:
    """Critical sigma'^2 as decimal strings with ``digits`` significant digits.

    ``certified_error[j]`` is a decimal >= |critical_sigma2[j] - exact value|, and the
    same for the eigenvalues; ``exact`` holds the exact rationals when the spectrum was
    given exactly.
    """

    digits: int
    eigenvalues: tuple[str, ...]
    eigenvalue_errors: tuple[str, ...]
    critical_sigma2: tuple[str, ...]
    certified_error: tuple[str, ...]
    exact: tuple[str, ...] | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (decimal strings, as printed)."""
        out = {
            "digits": self.digits,
            "eigenvalues": list(self.eigenvalues),
            "eigenvalue_certified_error": list(self.eigenvalue_errors),
            "critical_sigma2": list(self.critical_sigma2),
            "full_collapse_sigma2": self.critical_sigma2[0],
            "certified_error": list(self.certified_error),
        }
        if self.exact is not None:
            out["critical_sigma2_exact"] = list(self.exact)
        return out


def _rational(value: Any, name: str) -> Fraction:
    q = to_fraction(value, name)
    if q <= 0:
        raise InputError(f"{name}={value}: expected a finite number > 0")
    return q


def _from_exact_spectrum(
    eigenvalues: Sequence[Fraction], laws, beta: Fraction, eta2: Fraction, zetas, digits: int
) -> ExactThresholds:
    """Exact rationals: every error is the decimal rounding alone, computed exactly.

    ``zetas[r]`` is the fixed variance of the latent paired with the r-th eigenvalue
    (None for the learnable model).
    """
    lams = [to_fraction(v, "eigenvalue") for v in eigenvalues]
    crit = [
        laws.critical_sigma2_exact(lam, beta, eta2, z) for lam, z in zip(lams, zetas, strict=True)
    ]
    eig = [print_with_bound(v, 0, digits) for v in lams]
    out = [print_with_bound(v, 0, digits) for v in crit]
    return ExactThresholds(
        digits=digits,
        eigenvalues=tuple(p for p, _ in eig),
        eigenvalue_errors=tuple(e for _, e in eig),
        critical_sigma2=tuple(p for p, _ in out),
        certified_error=tuple(e for _, e in out),
        exact=tuple(str(c) for c in crit),
    )


def _interval_value(interval) -> tuple[Fraction, Fraction]:
    """(midpoint, half-width) of an outward-rounded mpmath interval, exactly."""
    a, b = interval._mpi_  # the endpoints as raw mpf tuples
    lo = to_fraction(mpmath.mp.make_mpf(a), "interval")
    hi = to_fraction(mpmath.mp.make_mpf(b), "interval")
    return (lo + hi) / 2, (hi - lo) / 2


def _from_data(
    X, centred: bool, scale: Fraction, k: int, laws, beta: Fraction, eta2: Fraction, zetas, digits
) -> ExactThresholds:
    """Certified eigenvalues of the data, then the critical law in interval arithmetic."""
    spec = certified_covariance_spectrum(X, digits=digits, centred=centred)
    law = laws.critical_sigma2_mpmath()
    eig, crit = [], []
    with mpmath.workdps(spec.dps):
        iv = mpmath.iv
        iv.dps = spec.dps
        b = iv.mpf(beta.numerator) / beta.denominator
        e2 = iv.mpf(eta2.numerator) / eta2.denominator
        s2 = iv.mpf((scale**2).numerator) / (scale**2).denominator
        pairs = list(zip(spec.eigenvalues, spec.error_bounds, strict=True))[:k]
        for (lam, err), z in zip(pairs, zetas, strict=True):
            # Endpoints at the working precision, rounded outward by interval arithmetic.
            lam_iv = (iv.mpf(lam) + iv.mpf([-err, err])) * s2
            # The true value lies in each outward-rounded interval: its midpoint is within
            # half its width of the truth.
            eig.append(print_with_bound(*_interval_value(lam_iv), digits))
            args = (lam_iv, b, e2) if z is None else (lam_iv, b, e2, _iv(iv, z))
            crit.append(print_with_bound(*_interval_value(law(*args)), digits))
    return ExactThresholds(
        digits=digits,
        eigenvalues=tuple(p for p, _ in eig),
        eigenvalue_errors=tuple(e for _, e in eig),
        critical_sigma2=tuple(p for p, _ in crit),
        certified_error=tuple(e for _, e in crit),
        exact=None,
    )


def _iv(iv, q: Fraction):
    """An exact rational as an (outward-rounded) mpmath interval."""
    return iv.mpf(q.numerator) / q.denominator


def exact_thresholds(
    eigenvalues: Sequence[Any] | None = None,
    *,
    data: Any = None,
    centred: bool = True,
    scale: Any = 1,
    beta: Any = 1,
    eta2: Any = 1,
    latent_dim: int | None = None,
    encoder_variance="learnable",
    digits: int = 30,
    zeta2=None,
) -> ExactThresholds:
    """Critical sigma'^2 of the top ``latent_dim`` modes to ``digits`` significant digits.

    Parameters
    ----------
    eigenvalues : sequence of exact numbers, optional
        The spectrum as exact rationals (ints, Fractions, floats - each float is the
        binary rational it stores); or
    data : array (n, d), optional
        Samples, whose exact covariance is eigen-solved with a certified bound.
    centred, scale : bool, number
        For ``data``: the centred 1/N covariance (or the uncentred second moment), of
        the data multiplied by ``scale``.
    beta, eta2 : number
        KL weight and prior variance, taken as exact rationals.
    latent_dim : int, optional
        Number of modes (default: all).
    encoder_variance, zeta2
        The model whose critical law is evaluated (as for ``numerics.core.optimum``);
        fixed variances are taken as exact rationals, and latents are paired with
        eigenvalues by the derived rule.
    digits : int
        Significant digits, 1 to 1000.

    Examples
    --------
    >>> r = exact_thresholds([4, 2, Fraction(1, 3)], beta=Fraction(7, 10), digits=25)
    >>> r.critical_sigma2[2], r.certified_error[2], r.exact[2]
    ('0.4761904761904761904761905', '2.39e-26', '10/21')
    """
    digits = check_digits(digits)
    if (eigenvalues is None) == (data is None):
        raise InputError("exact_thresholds: expected exactly one of eigenvalues or data")
    beta, eta2 = _rational(beta, "beta"), _rational(eta2, "eta2")
    lams = None
    if eigenvalues is not None:
        lams = sorted((to_fraction(v, "eigenvalue") for v in eigenvalues), reverse=True)
    d = len(lams) if lams is not None else int(np.shape(data)[1])
    model = resolve_model(encoder_variance, zeta2, eta2, latent_dim, d)
    laws = compiled_laws(model.spec)
    k = model.latent_dim
    zetas = [None] * k
    if model.zeta2_exact is not None:
        zetas = [model.zeta2_exact[j] for j in model.pairing(laws.variance_order)]
    if lams is not None:
        return _from_exact_spectrum(lams[:k], laws, beta, eta2, zetas, digits)
    return _from_data(
        data, bool(centred), _rational(scale, "scale"), k, laws, beta, eta2, zetas, digits
    )
