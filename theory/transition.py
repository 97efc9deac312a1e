"""Step d: the optimum across a critical point and its non-analyticity.

Given the laws of a quantity on the active side and on the collapsed side of
a critical point, this module derives the one-sided derivatives there, their
jumps, the order of the first non-analytic derivative, the critical exponent
of the order parameter and the Landau expansion of F in the decoder amplitude
(Landau & Lifshitz, Statistical Physics I, section 143; the seed paper,
Li et al. 2025, section 3).
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from theory import symbols as S


@dataclass(frozen=True)
class OneSided:
    """Left/right values of the n-th derivative of a quantity at a critical point.

    ``left`` is the active side (control below its critical value), ``right``
    the collapsed side.  ``jump = right - left``.
    """

    quantity: str
    variable: sp.Symbol
    order: int
    left: sp.Expr
    right: sp.Expr

    @property
    def jump(self) -> sp.Expr:
        """right - left; infinite where one side diverges."""
        return sp.simplify(self.right - self.left)


def tidy(expr: sp.Expr) -> sp.Expr:
    """Simplify, then split logarithms of products so constants stay readable."""
    if expr.is_infinite:
        return expr
    return sp.expand(sp.expand_log(sp.simplify(expr), force=True))


def _side_value(expr: sp.Expr, var: sp.Symbol, at: sp.Expr, direction: str) -> sp.Expr:
    """Value of ``expr`` at ``var = at`` (tidied), as a one-sided limit where it is singular."""
    singular = (sp.zoo, sp.nan, sp.oo, -sp.oo)
    direct = expr.subs(var, at)
    if not direct.has(*singular):
        direct = tidy(direct)  # simplification may still reveal a hidden 0 in a denominator
    if direct.has(*singular):
        # Approach along var = at (1 -/+ tau), tau -> 0+, rather than through
        # sympy.limit(..., dir="-"), which gets the sign wrong for square roots of
        # expressions in positive symbols (SymPy 1.14: limit of -1/sqrt(l - s) as
        # s -> l- returns +oo).
        side = -1 if direction == "-" else 1
        return _one_sided_limit(expr.subs(var, at * (1 + side * S.tau)))
    return direct


def _one_sided_limit(expr: sp.Expr) -> sp.Expr:
    """lim expr as tau -> 0+, from the leading term c tau^p (sympy.limit if that fails)."""
    try:
        lead = sp.powsimp(sp.factor(expr), force=True).as_leading_term(S.tau)
        coeff, power = lead.as_coeff_exponent(S.tau)
    except (ValueError, NotImplementedError, TypeError):
        return sp.limit(expr, S.tau, 0, "+")
    if coeff.has(S.tau) or not power.is_number or coeff == 0:
        return sp.limit(expr, S.tau, 0, "+")
    if power > 0:
        return sp.S.Zero
    if power == 0:
        return tidy(coeff)
    sign = sp.sign(sp.simplify(coeff))
    if sign not in (1, -1):
        return sp.limit(expr, S.tau, 0, "+")
    return sign * sp.oo


def one_sided_derivatives(
    quantity: str,
    active: sp.Expr,
    collapsed: sp.Expr,
    variable: sp.Symbol,
    critical: sp.Expr,
    max_order: int = 2,
) -> list[OneSided]:
    """Derivatives of order 0..max_order on both sides of ``variable = critical``.

    The active law holds for ``variable < critical`` (left), the collapsed one
    for ``variable > critical`` (right), as for sigma'^2 and beta.
    """
    out = []
    for n in range(max_order + 1):
        left = _side_value(sp.diff(active, variable, n), variable, critical, "-")
        right = _side_value(sp.diff(collapsed, variable, n), variable, critical, "+")
        out.append(OneSided(quantity, variable, n, left, right))
    return out


def non_analytic_order(derivatives: list[OneSided]) -> int | None:
    """Lowest derivative order whose left and right values differ (None: none up to max)."""
    for d in derivatives:
        if d.left.is_infinite or d.right.is_infinite or sp.simplify(d.left - d.right) != 0:
            return d.order
    return None


@dataclass(frozen=True)
class CriticalExponent:
    """Q(active) ~ amplitude * tau^exponent with tau = 1 - variable/critical -> 0+."""

    quantity: str
    exponent: sp.Expr
    amplitude: sp.Expr


def critical_exponent(
    quantity: str, active: sp.Expr, variable: sp.Symbol, critical: sp.Expr
) -> CriticalExponent:
    """Leading power of ``active - active(critical)`` as ``variable -> critical-``."""
    at_critical = _side_value(active, variable, critical, "-")
    near = sp.simplify((active - at_critical).subs(variable, critical * (1 - S.tau)))
    lead = sp.simplify(near.as_leading_term(S.tau))
    amplitude, exponent = lead.as_coeff_exponent(S.tau)
    return CriticalExponent(quantity, sp.simplify(exponent), sp.simplify(amplitude))


@dataclass(frozen=True)
class LandauExpansion:
    """F(w) = sum_n coefficients[n] w^n after minimising out the other parameters."""

    slaved: dict[sp.Symbol, sp.Expr]
    coefficients: dict[int, sp.Expr]
    order: int

    def series(self) -> sp.Expr:
        """The truncated expansion as an expression in the decoder amplitude w."""
        return sum(c * S.w**n for n, c in self.coefficients.items()) + sp.O(S.w ** (self.order + 1))


def landau_expansion(
    objective: sp.Expr,
    parameters: tuple[sp.Symbol, ...],
    collapsed: dict[sp.Symbol, sp.Expr],
    order: int = 4,
) -> LandauExpansion:
    """Expand F in the decoder amplitude w with the other parameters slaved to w.

    The non-amplitude parameters solve their own stationary equations at fixed
    w; of those solutions the branch that reduces to the collapsed point at
    w = 0 is kept.
    """
    others = [p for p in parameters if p != S.w]
    solutions = sp.solve([sp.diff(objective, p) for p in others], others, dict=True)
    slaved = None
    for sol in solutions:
        if all(sp.simplify(sol[p].subs(S.w, 0) - collapsed[p]) == 0 for p in others):
            slaved = {p: sp.simplify(sol[p]) for p in others}
            break
    if slaved is None:
        raise ArithmeticError("no slaved branch reduces to the collapsed point")
    reduced = objective.subs(slaved)
    series = sp.series(reduced, S.w, 0, order + 1).removeO()
    coefficients = {n: sp.factor(sp.simplify(series.coeff(S.w, n))) for n in range(0, order + 1)}
    coefficients = {n: c for n, c in coefficients.items() if c != 0}
    return LandauExpansion(slaved, coefficients, order)
