"""Exact decimal printing of computed values with bounds that truly bound.

One printer serves the command line, the JSON outputs and the report:

* :func:`format_significant` rounds a binary (or rational) value to N significant
  digits *exactly* (ties to even);
* :func:`format_upper` prints a short decimal that is never below the value it bounds
  (rounded *up* to 3 significant digits, checked in exact rational arithmetic);
* :func:`print_with_bound` prints a value to N digits together with a bound on
  |printed - true| that includes the final rounding: if the true value lies within
  ``error`` of ``x``, it lies within ``error + |printed - x|`` of the printed decimal
  (triangle inequality), and that total is rounded up.

Every conversion goes through exact rationals (:class:`fractions.Fraction`); no step
rounds a bound downward.
"""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction
from numbers import Integral
from typing import Any

import mpmath
import numpy as np
from mpmath import libmp

from numerics.core._validation import InputError, check_int

#: Largest number of significant digits accepted.
MAX_DIGITS = 1000

#: Bits used for (upward-rounded) error bounds.
BOUND_PREC = 64

#: Significant digits of a printed bound.
BOUND_DIGITS = 3


def check_digits(digits: Any) -> int:
    """A number of significant digits, 1 <= digits <= MAX_DIGITS."""
    return check_int("digits", digits, 1, MAX_DIGITS)


def to_fraction(v: Any, where: str = "value") -> Fraction:
    """The exact rational value of ``v`` (int, Fraction, float, NumPy scalar, mpf, SymPy)."""
    if isinstance(v, Fraction):
        return v
    if isinstance(v, bool | np.bool_):
        return Fraction(int(v))
    if isinstance(v, Integral | np.integer):
        return Fraction(int(v))
    if isinstance(v, mpmath.mpf) or (type(v).__name__ == "mpf" and hasattr(v, "_mpf_")):
        # an mpf of any context: (sign, mantissa, exponent, bitcount), value +-man 2^exp
        if not mpmath.isfinite(v):
            raise InputError(f"{where} = {v} is not finite: expected finite values")
        sign, man, exp, _ = v._mpf_
        man = -man if sign else man
        return Fraction(man << exp) if exp >= 0 else Fraction(man, 1 << -exp)
    if isinstance(v, float | np.floating):
        if not np.isfinite(v):
            raise InputError(f"{where} = {float(v)!r} is not finite: expected finite values")
        return Fraction(*v.as_integer_ratio())
    if isinstance(v, Decimal):
        if not v.is_finite():
            raise InputError(f"{where} = {v!r} is not finite: expected finite values")
        return Fraction(v)
    # SymPy numbers (Integer, Rational, Float): exact through .p/.q or as_integer_ratio.
    if hasattr(v, "is_Rational") and getattr(v, "is_Rational", False):
        return Fraction(int(v.p), int(v.q))
    if hasattr(v, "is_Float") and getattr(v, "is_Float", False):
        if not v.is_finite:
            raise InputError(f"{where} = {v} is not finite: expected finite values")
        return to_fraction(mpmath.mp.make_mpf(v._mpf_), where)  # exact, any precision
    if hasattr(v, "is_number") and getattr(v, "is_number", False) and v.is_infinite:
        raise InputError(f"{where} = {v} is not finite: expected finite values")
    raise InputError(f"{where} = {v!r}: expected a real rational or floating-point number")


def mpf_rounded(q: Fraction, rnd: str, prec: int = BOUND_PREC) -> mpmath.mpf:
    """``q`` as an mpf with ``prec`` bits, rounded up ("u") or down ("d"); verified exactly."""
    rounding = libmp.round_ceiling if rnd == "u" else libmp.round_floor
    x = mpmath.mp.make_mpf(libmp.from_rational(q.numerator, q.denominator, prec, rounding))
    fx = to_fraction(x)
    # Exact check of the directed rounding (belt and braces).
    if (rnd == "u" and fx < q) or (rnd == "d" and fx > q):  # pragma: no cover
        raise ArithmeticError(f"directed rounding failed for {q}")
    return x


def _round_significant(q: Fraction, digits: int) -> tuple[int, int, int]:
    """(sign, n, k) with |q| rounded half-to-even to n * 10^k, 10^(digits-1) <= n < 10^digits."""
    sign = -1 if q < 0 else 1
    a = abs(q)
    # Decimal exponent E with 10^E <= a < 10^(E+1): estimate from bit lengths, then fix exactly.
    log2 = a.numerator.bit_length() - a.denominator.bit_length()
    E = math.floor(log2 * math.log10(2))

    def p10(k: int) -> Fraction:
        return Fraction(10**k) if k >= 0 else Fraction(1, 10**-k)

    while p10(E) > a:
        E -= 1
    while p10(E + 1) <= a:
        E += 1
    k = E - digits + 1
    n = round(a / p10(k))  # Fraction.__round__: exact, ties to even
    if n == 10**digits:  # carried into the next decade
        n //= 10
        k += 1
    return sign, n, k


def format_significant(x: Any, digits: int) -> str:
    """``x`` as a decimal string with exactly ``digits`` significant digits.

    Rounding is exact (the binary value of ``x`` is compared with decimal ties exactly)
    and ties go to even.  Positional notation for decimal exponents -5 <= E < digits,
    scientific (``1.234e+56``) otherwise; trailing zeros are kept because they are
    significant.  Zero prints as ``"0"``.

    Parameters
    ----------
    x : mpmath.mpf (or int, float, Fraction)
        The value.
    digits : int
        Significant digits, 1 <= digits <= 1000.

    Notes
    -----
    If ``x`` carries a certified bound e, the printed decimal y satisfies
    ``|true - y| <= e + |x - y| <= e + 10^k / 2`` where 10^k is the unit of the last
    printed digit; :func:`printed_error_bound` returns that total.
    """
    digits = check_digits(digits)
    q = to_fraction(x, "x")
    if q == 0:
        return "0"
    sign, n, k = _round_significant(q, digits)
    s = str(n)
    E = k + digits - 1  # decimal exponent of the leading digit
    head = "-" if sign < 0 else ""
    if -5 <= E < digits:
        if E >= 0:
            body = s[: E + 1] + ("." + s[E + 1 :] if E + 1 < digits else "")
        else:
            body = "0." + "0" * (-E - 1) + s
    else:
        body = s[0] + ("." + s[1:] if digits > 1 else "") + f"e{E:+d}"
    return head + body


def printed_error_bound(x: Any, bound: Any, digits: int) -> mpmath.mpf:
    """Rigorous error of ``format_significant(x, digits)`` as a value of the true quantity.

    Parameters
    ----------
    x : mpmath.mpf
        The computed value (e.g. ``CertifiedSpectrum.eigenvalues[i]``).
    bound : mpmath.mpf
        Its certified error bound (e.g. ``CertifiedSpectrum.error_bounds[i]``), >= 0.
    digits : int
        Significant digits printed.

    Returns
    -------
    mpmath.mpf
        ``bound + 10^k / 2`` (half a unit of the last printed digit; 0 if x == 0),
        rounded upward.
    """
    digits = check_digits(digits)
    q = to_fraction(x, "x")
    b = to_fraction(bound, "bound")
    if b < 0:
        raise InputError(f"bound={bound}: expected an error bound >= 0")
    if q == 0:
        half_ulp = Fraction(0)
    else:
        _, _, k = _round_significant(q, digits)
        half_ulp = Fraction(10**k, 2) if k >= 0 else Fraction(1, 2 * 10**-k)
    return mpf_rounded(b + half_ulp, "u")


def _p10(k: int) -> Fraction:
    return Fraction(10**k) if k >= 0 else Fraction(1, 10**-k)


def format_upper(x: Any, digits: int = BOUND_DIGITS) -> str:
    """A decimal with ``digits`` significant digits that is >= ``x`` (x >= 0), e.g. ``2.39e-26``.

    Rounded toward +infinity exactly, so a printed bound never understates the value
    it bounds: ``Fraction(format_upper(x)) >= x`` always.
    """
    q = to_fraction(x, "bound")
    if q < 0:
        raise InputError(f"bound={x}: expected an error bound >= 0")
    if q == 0:
        return "0"
    _, n, k = _round_significant(q, digits)
    if n * _p10(k) < q:  # rounded down: take the next decimal up
        n += 1
        if n == 10**digits:
            n //= 10
            k += 1
    E = k + digits - 1
    s = str(n)
    return s[0] + ("." + s[1:] if len(s) > 1 else "") + f"e{E:+d}"


def print_with_bound(x: Any, error: Any, digits: int) -> tuple[str, str]:
    """(``x`` to ``digits`` significant digits, a bound on |printed - true|).

    ``error`` bounds |x - true|; the returned bound is ``error + |printed - x|``
    computed exactly and rounded up by :func:`format_upper`.  For an exact value pass
    ``error=0``: the bound is then the rounding error alone.
    """
    q = to_fraction(x, "x")
    e = to_fraction(error, "error")
    if e < 0:
        raise InputError(f"error={error}: expected an error bound >= 0")
    printed = format_significant(q, digits)
    return printed, format_upper(e + abs(Fraction(Decimal(printed)) - q))
