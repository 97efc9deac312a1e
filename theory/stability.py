"""Hessians and the inertia of symbolic symmetric matrices.

The classification of a stationary point needs the signs of the Hessian's
eigenvalues, which are roots of an unwieldy polynomial.  For a *real
symmetric* matrix the characteristic polynomial has only real roots, so
Descartes' rule of signs is exact: the number of positive eigenvalues equals
the number of sign changes in its coefficient sequence (e.g. Householder,
"The Theory of Matrices in Numerical Analysis", 1964, section 3.3; Sylvester's
law of inertia).  Coefficient signs are decided by SymPy under the positivity
assumptions of the region being examined; a coefficient whose sign SymPy
cannot decide is tried both ways, and the count is accepted only if it does
not depend on that choice.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

import sympy as sp

# A plain Symbol: ``charpoly`` returns a PurePoly that does not keep a Dummy.
_x = sp.Symbol("x_charpoly")


class UndecidedSign(ArithmeticError):
    """Raised when SymPy cannot decide a sign the classification depends on."""


@functools.lru_cache(maxsize=4096)
def sign_of(expr: sp.Expr) -> int | None:
    """Sign (-1, 0, 1) of ``expr`` under its symbols' assumptions, or None.

    Memoised: the classifications ask for the same signs many times (the assumptions
    are part of each symbol, so an expression determines its sign)."""
    expr = sp.factor(sp.cancel(sp.together(expr)))
    if expr.is_zero:
        return 0
    if expr.is_positive:
        return 1
    if expr.is_negative:
        return -1
    num, den = sp.fraction(expr)
    signs = []
    for part in (num, den):
        if part.is_positive:
            signs.append(1)
        elif part.is_negative:
            signs.append(-1)
        else:
            return None
    return signs[0] * signs[1]


@dataclass(frozen=True)
class Inertia:
    """Numbers of positive, negative and zero eigenvalues."""

    positive: int
    negative: int
    zero: int

    @property
    def kind(self) -> str:
        """``minimum``, ``maximum``, ``saddle`` or ``degenerate``."""
        if self.negative and self.positive:
            return "saddle"
        if self.negative:
            return "maximum" if not self.zero else "degenerate"
        return "minimum" if not self.zero else "degenerate"


def _sign_changes(signs: list[int]) -> int:
    nonzero = [s for s in signs if s]
    return sum(1 for a, b in itertools.pairwise(nonzero) if a != b)


def inertia(matrix: sp.Matrix) -> Inertia:
    """Inertia of a real symmetric symbolic matrix by Descartes' rule.

    Raises
    ------
    UndecidedSign
        If the count depends on a coefficient sign SymPy cannot decide.
    ValueError
        If ``matrix`` is not symmetric.
    """
    if not (matrix - matrix.T).is_zero_matrix:
        raise ValueError("inertia needs a symmetric matrix")
    charpoly = matrix.charpoly(_x, simplify=sp.cancel).as_expr()
    positive = zero = degree = 0
    for factor, multiplicity in sp.factor_list(charpoly, _x)[1]:
        coeffs = sp.Poly(factor, _x).all_coeffs()
        while coeffs and sp.cancel(coeffs[-1]) == 0:
            coeffs.pop()
            zero += multiplicity
        degree += (len(coeffs) - 1) * multiplicity
        signs = [sign_of(c) for c in coeffs]
        unknown = [i for i, s in enumerate(signs) if s is None]
        counts = set()
        for choice in itertools.product((-1, 1), repeat=len(unknown)):
            trial = list(signs)
            for i, s in zip(unknown, choice, strict=True):
                trial[i] = s
            counts.add(_sign_changes(trial))
        if len(counts) != 1:
            raise UndecidedSign(f"cannot decide the signs of the coefficients of {factor}")
        positive += counts.pop() * multiplicity
    return Inertia(positive=positive, negative=degree - positive, zero=zero)
