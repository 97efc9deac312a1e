"""Critical values in arbitrary precision, with a certified error bound.

* A spectrum given as numbers is exact (every decimal is a rational): the
  theory's critical law is evaluated in exact rational arithmetic by SymPy and
  only the final decimal rounding is an error, bounded exactly.
* A spectrum of data comes from :mod:`numerics.spectra._certified` (eigenvalues of the
  exact rational covariance with a rigorous bound); the critical law is then
  evaluated in mpmath interval arithmetic on the certified eigenvalue
  intervals, so the bound covers the eigenvalue error, the evaluation and the
  decimal rounding.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import mpmath
import sympy as sp

from numerics.app._sources import Source
from numerics.core._validation import InputError
from theory import derive, linear_vae
from theory import symbols as S


@dataclass(frozen=True)
class ExactThresholds:
    """Critical sigma'^2 as decimal strings with ``digits`` significant digits."""

    digits: int
    eigenvalues: tuple[str, ...]
    eigenvalue_errors: tuple[str, ...]
    critical_sigma2: tuple[str, ...]
    certified_error: tuple[str, ...]
    exact: tuple[str, ...] | None  # exact rationals, when the source was exact

    def to_dict(self) -> dict[str, Any]:
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


def _check_digits(digits: int) -> int:
    if isinstance(digits, bool) or not isinstance(digits, int) or not 1 <= digits <= 1000:
        raise InputError(f"digits={digits!r}: expected an integer from 1 to 1000")
    return digits


def _decimal(x: mpmath.mpf, digits: int) -> str:
    """``x`` rounded to ``digits`` significant digits (round half even, mpmath.nstr)."""
    return mpmath.nstr(x, digits, min_fixed=-mpmath.inf, max_fixed=mpmath.inf, strip_zeros=False)


def _rational_decimal(value: Fraction, digits: int) -> tuple[str, Fraction]:
    """(printed decimal, exact |printed - value|) for an exact rational."""
    with mpmath.workdps(digits + 30):
        printed = _decimal(mpmath.mpf(value.numerator) / value.denominator, digits)
    return printed, abs(Fraction(printed) - value)


def _upper(x: Fraction | mpmath.mpf) -> str:
    """A short decimal that is >= x (a bound must never be rounded down)."""
    if x == 0:
        return "0"
    with mpmath.workdps(30):
        v = mpmath.mpf(x.numerator) / x.denominator if isinstance(x, Fraction) else mpmath.mpf(x)
        s = mpmath.nstr(v * (1 + mpmath.mpf(10) ** -6), 3, min_fixed=1, max_fixed=0)
    return s


def exact_thresholds(
    source: Source,
    beta: Fraction,
    latent_dim: int,
    encoder_variance: str,
    digits: int,
) -> ExactThresholds:
    """Critical sigma'^2 of the top ``latent_dim`` modes to ``digits`` significant digits."""
    digits = _check_digits(digits)
    law = derive(linear_vae(encoder_variance)).critical_sigma2
    eta2 = sp.Integer(1)
    beta_exact = sp.Rational(beta.numerator, beta.denominator)
    if source.exact is not None:
        lams = source.exact[:latent_dim]
        crit = []
        for lam in lams:
            value = law.subs(
                {
                    S.lam: sp.Rational(lam.numerator, lam.denominator),
                    S.beta: beta_exact,
                    S.eta2: eta2,
                }
            )
            crit.append(Fraction(int(value.p), int(value.q)))
        eig = [_rational_decimal(v, digits) for v in lams]
        out = [_rational_decimal(v, digits) for v in crit]
        return ExactThresholds(
            digits=digits,
            eigenvalues=tuple(p for p, _ in eig),
            eigenvalue_errors=tuple(_upper(e) for _, e in eig),
            critical_sigma2=tuple(p for p, _ in out),
            certified_error=tuple(_upper(e) for _, e in out),
            exact=tuple(str(c) for c in crit),
        )
    if source.dataset is None:
        raise InputError("--digits needs an exact spectrum or data")
    from numerics.spectra._certified import certified_covariance_spectrum

    spec = certified_covariance_spectrum(
        source.dataset.X, digits=digits, centred=source.moment == "centred"
    )
    scale2 = Fraction(source.scale) ** 2
    fn = sp.lambdify((S.lam, S.beta, S.eta2), law, modules="mpmath", dummify=True)
    eig_strings, eig_errors, crit_strings, crit_errors = [], [], [], []
    with mpmath.workdps(spec.dps):
        iv = mpmath.iv
        iv.dps = spec.dps
        b = iv.mpf(beta.numerator) / beta.denominator
        s2 = iv.mpf(scale2.numerator) / scale2.denominator
        for lam, err in list(zip(spec.eigenvalues, spec.error_bounds, strict=True))[:latent_dim]:
            lam_iv = iv.mpf([lam - err, lam + err]) * s2
            for interval, strings, errors in (
                (lam_iv, eig_strings, eig_errors),
                (fn(lam_iv, b, iv.mpf(1)), crit_strings, crit_errors),
            ):
                mid = interval.mid
                printed = _decimal(mpmath.mpf(mid), digits)
                p = mpmath.mpf(printed)
                # Interval endpoints are outward-rounded: the true value lies in
                # [a, b], so |printed - true| <= max(b - printed, printed - a).
                bound = max(interval.b - p, p - interval.a)
                strings.append(printed)
                errors.append(_upper(mpmath.mpf(bound)))
    return ExactThresholds(
        digits=digits,
        eigenvalues=tuple(eig_strings),
        eigenvalue_errors=tuple(eig_errors),
        critical_sigma2=tuple(crit_strings),
        certified_error=tuple(crit_errors),
        exact=None,
    )
