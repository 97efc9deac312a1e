"""Display forms of derived expressions: equal to them, easier to read.

Every function here returns an expression equal to its argument (under the
positivity assumptions of the symbols); :func:`display` also checks that, so a
document never shows a form the engine has not proven equal to the derived one.

* :func:`combine_logs`: one logarithm per coefficient, e.g. log(2)/2 + log(pi)/2 +
  log(sigma2)/2 -> log(2 pi sigma2)/2, and log(lambda)/2 - log(beta sigma2)/2 ->
  log(lambda/(beta sigma2))/2.
* :func:`merge_radicals`: c sqrt(x) -> sqrt(c^2 x) for positive c, which turns
  (beta sigma2/eta2) sqrt(lambda eta2/(beta sigma2 zeta2)) into
  sqrt(beta sigma2 lambda/(eta2 zeta2)).
"""

from __future__ import annotations

from collections import defaultdict
from functools import cache

import sympy as sp


class Sqrt(sp.Function):
    """sqrt(x) that SymPy does not split into a product of roots (display only)."""

    nargs = 1

    def _latex(self, printer) -> str:
        return rf"\sqrt{{{printer._print(self.args[0])}}}"

    def _eval_is_positive(self) -> bool | None:
        return self.args[0].is_positive


def plain(expr: sp.Expr) -> sp.Expr:
    """``expr`` with every display :class:`Sqrt` back to SymPy's sqrt."""
    return expr.replace(lambda x: isinstance(x, Sqrt), lambda x: sp.sqrt(x.args[0]))


def combine_logs(expr: sp.Expr) -> sp.Expr:
    """Group the logarithms of ``expr`` by coefficient (up to sign) into one log each."""
    expr = sp.expand_mul(sp.expand_log(expr, force=True))
    groups: dict[sp.Expr, sp.Expr] = defaultdict(lambda: sp.S.One)
    rest = []
    for term in sp.Add.make_args(expr):
        logs = [f for f in sp.Mul.make_args(term) if isinstance(f, sp.log)]
        if len(logs) != 1:
            rest.append(term)
            continue
        coeff = sp.Mul(*(f for f in sp.Mul.make_args(term) if f is not logs[0]))
        arg = logs[0].args[0]
        if coeff.could_extract_minus_sign():
            coeff, arg = -coeff, 1 / arg
        groups[coeff] = groups[coeff] * arg
    out = sp.Add(*rest)
    for coeff, arg in groups.items():
        out += coeff * sp.log(sp.factor(sp.powsimp(arg, force=True)))
    return out


def merge_radicals(expr: sp.Expr) -> sp.Expr:
    """In each term, move positive factors under the one square root the term holds."""
    terms = []
    for term in sp.Add.make_args(sp.expand_mul(expr)):
        coeff, rest = term.as_coeff_Mul()
        factors = sp.Mul.make_args(rest)
        half = [f for f in factors if f.is_Pow and f.exp in (sp.S.Half, -sp.S.Half)]
        others = sp.Mul(*(f for f in factors if f not in half))
        if half and others.is_positive:
            inner = sp.Mul(*(f.base ** (2 * f.exp) for f in half))
            # Sqrt, not sqrt: SymPy would split the root of a product of positive
            # symbols back into a product of roots.
            terms.append(coeff * Sqrt(_grouped(sp.factor(sp.cancel(others**2 * inner)))))
        else:
            terms.append(term)
    return sp.Add(*terms)


def _grouped(radicand: sp.Expr) -> sp.Expr:
    """Multiply out the factors that share their symbols: (u - 1)(u + 1) -> u^2 - 1."""
    num, den = sp.fraction(radicand)
    out = []
    for part in (num, den):
        groups: dict[frozenset, sp.Expr] = defaultdict(lambda: sp.S.One)
        for f in sp.Mul.make_args(part):
            groups[frozenset(f.free_symbols) if f.is_Add or (f.is_Pow and f.base.is_Add)
                   else frozenset([f])] *= f  # fmt: skip
        out.append(sp.Mul(*(sp.expand(g) if g.has(sp.Add) else g for g in groups.values())))
    return out[0] / out[1]


def matrix_entry(expr: sp.Expr) -> sp.Expr:
    """A Hessian entry: factored, with one square root per term."""
    out = factored(expr)
    if out.has(sp.Pow) and any(not p.exp.is_Integer for p in out.atoms(sp.Pow)):
        merged = merge_radicals(out)
        return merged if _equal(merged, expr) else out
    return out


def _activity_ratios(expr: sp.Expr) -> dict:
    """u = 1 + t^2 for every activity ratio u, u_j, u_l in ``expr`` (they are > 1)."""
    ratios = [x for x in expr.free_symbols if x.name in ("u", "u_j", "u_l")]
    return {x: 1 + sp.Symbol(f"t_{x.name}", positive=True) ** 2 for x in ratios}


def _equal(a: sp.Expr, b: sp.Expr) -> bool:
    diff = plain(a) - plain(b)
    # Activity ratios exceed 1 by definition: sqrt(u - 1) sqrt(u + 1) = sqrt(u^2 - 1).
    diff = diff.subs(_activity_ratios(diff))
    diff = diff.replace(lambda x: x.is_Pow and not x.exp.is_Integer,
                        lambda x: sp.factor(x.base) ** x.exp)  # fmt: skip
    diff = sp.expand_log(diff, force=True)
    if sp.cancel(sp.expand(diff)) == 0:  # the cheap proof first
        return True
    diff = sp.simplify(diff)
    return diff == 0 or sp.simplify(sp.radsimp(diff)) == 0


@cache
def display(expr: sp.Expr, logs: bool = True, radicals: bool = True) -> sp.Expr:
    """A readable form of ``expr``, checked equal to it (else ``expr`` simplified).

    The result may hold :class:`Sqrt`: it is for printing (:func:`plain` undoes it).
    """
    if not isinstance(expr, sp.Expr) or expr.is_number:
        return expr
    out = sp.simplify(expr)
    if not out.has(sp.log, sp.Pow) or all(
        p.exp.is_Integer for p in out.atoms(sp.Pow)
    ):  # a rational function: factored, when that is no longer
        candidate = sp.factor(out)
        if sp.count_ops(candidate) <= sp.count_ops(out):
            out = candidate
    if radicals:
        out = merge_radicals(out)
    if logs and out.has(sp.log):
        out = combine_logs(out)
    return out if _equal(out, expr) else sp.simplify(expr)


def factored(expr: sp.Expr) -> sp.Expr:
    """``expr`` factored, when it is a rational function (Hessian entries, determinants)."""
    return sp.factor(sp.cancel(expr))
