"""Step b: stationary equations of the per-mode objective and all their solutions."""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from theory import symbols as S
from theory.stability import Inertia, sign_of

#: Region names around a critical boundary lambda_c, in the order they are shown.
REGIONS: tuple[str, ...] = ("below", "at", "above")


def region_substitutions(boundary: sp.Expr) -> dict[str, dict[sp.Symbol, sp.Expr]]:
    """Parametrise lambda below, at and above ``boundary`` by a gap r > 0.

    lambda = boundary / (1 + r)^2, boundary, boundary (1 + r)^2.  The square
    keeps square roots of lambda / boundary rational in r, so that SymPy can
    decide signs in both encoder-variance variants.
    """
    return {
        "below": {S.lam: boundary / (1 + S.gap) ** 2},
        "at": {S.lam: boundary},
        "above": {S.lam: boundary * (1 + S.gap) ** 2},
    }


def region_condition(region: str, boundary: sp.Expr) -> sp.Basic:
    """The relation on lambda that a region stands for."""
    return {
        "below": sp.StrictLessThan(S.lam, boundary),
        "at": sp.Eq(S.lam, boundary),
        "above": sp.StrictGreaterThan(S.lam, boundary),
    }[region]


def stationary_equations(objective: sp.Expr, parameters: tuple[sp.Symbol, ...]) -> list[sp.Expr]:
    """Gradient components dF/dp for each trained parameter p (all must vanish)."""
    return [sp.diff(objective, p) for p in parameters]


def solve_stationary(
    objective: sp.Expr, parameters: tuple[sp.Symbol, ...]
) -> list[dict[sp.Symbol, sp.Expr]]:
    """Every solution of the stationary equations, over the complex numbers.

    The parameters are replaced by assumption-free symbols while solving, so
    that no branch is dropped because SymPy judged it non-real; realness is
    decided afterwards, region by region (:func:`classify_solution`).
    """
    free = {p: sp.Dummy(p.name) for p in parameters}
    back = {d: p for p, d in free.items()}
    equations = [e.xreplace(free) for e in stationary_equations(objective, parameters)]
    solutions = sp.solve(equations, list(free.values()), dict=True)
    return [{back[d]: sp.simplify(val) for d, val in sol.items()} for sol in solutions]


@dataclass
class StationaryPoint:
    """One stationary point of the per-mode objective (or a mirror pair)."""

    name: str
    values: dict[sp.Symbol, sp.Expr]
    mirrored: bool = False
    exists: dict[str, bool] = field(default_factory=dict)
    coincides_with_collapsed: dict[str, bool] = field(default_factory=dict)
    hessian: sp.Matrix | None = None
    inertia: dict[str, Inertia] = field(default_factory=dict)

    @property
    def kind(self) -> dict[str, str]:
        """Classification (minimum/saddle/...) per region where the point exists."""
        return {r: i.kind for r, i in self.inertia.items()}


def _is_real_in(value: sp.Expr, sub: dict) -> bool | None:
    val = sp.simplify(value.subs(sub))
    real = val.is_real
    if real is None:
        real = sp.simplify(sp.im(val)) == 0 if val.is_finite else None
    return real


def solution_exists(
    values: dict[sp.Symbol, sp.Expr], sub: dict, positive: tuple[sp.Symbol, ...]
) -> bool:
    """True if every value is real (and positive for variance parameters) in a region."""
    for p, val in values.items():
        real = _is_real_in(val, sub)
        if real is None:
            raise ArithmeticError(f"cannot decide whether {p} = {val} is real")
        if not real:
            return False
        if p in positive:
            pos = sp.simplify(val.subs(sub)).is_positive
            if pos is None:
                raise ArithmeticError(f"cannot decide whether {p} = {val} is positive")
            if not pos:
                return False
    return True


def group_mirrors(
    solutions: list[dict[sp.Symbol, sp.Expr]], collapsed: dict[sp.Symbol, sp.Expr], above: dict
) -> list[StationaryPoint]:
    """Name the solutions and merge each (w, v) -> (-w, -v) mirror pair.

    The objective depends on w and v only through w^2, v^2 and w v, so
    solutions come in mirror pairs; the representative kept has w > 0 where
    it is real.
    """
    points: list[StationaryPoint] = []
    seen: list[tuple] = []
    active_count = 0
    for sol in solutions:
        if all(sp.simplify(sol[p] - collapsed[p]) == 0 for p in collapsed):
            points.insert(0, StationaryPoint("collapsed", dict(collapsed)))
            continue
        key = tuple(
            sp.simplify(e.subs(sol))
            for e in (S.w**2, S.v**2, S.w * S.v, *(p for p in sol if p not in (S.w, S.v)))
        )
        if any(all(sp.simplify(a - b) == 0 for a, b in zip(key, k, strict=True)) for k in seen):
            for pt in points:
                if pt.name != "collapsed" and all(
                    sp.simplify(sol[p] + pt.values[p]) == 0 for p in (S.w, S.v)
                ):
                    pt.mirrored = True
            continue
        seen.append(key)
        if sign_of(sol[S.w].subs(above)) == -1:
            sol = {p: (-val if p in (S.w, S.v) else val) for p, val in sol.items()}
        active_count += 1
        points.append(StationaryPoint(f"active-{active_count}", sol))
    return points
