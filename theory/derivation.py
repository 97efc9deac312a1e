"""The derivation of a linear VAE's collapse transition, step by step.

:class:`Derivation` is to a :class:`theory.model.LinearVAE` what SymPy's
``Linearizer`` is to a mechanical system: an object whose attributes are the
intermediate results, each computed on first access and kept, so that a user
can inspect any step::

    >>> from theory import derive, learnable_encoder_variance
    >>> d = derive(learnable_encoder_variance())
    >>> d.mode_terms.kl                                   # step a: E[KL] of one mode
    log(eta2)/2 - log(s2)/2 - 1/2 + lambda*v**2/(2*eta2) + s2/(2*eta2)
    >>> [p.name for p in d.stationary_points]             # step b
    ['collapsed', 'active']
    >>> d.collapse_stability.stable_condition             # step c
    lambda <= beta*sigma2
    >>> d.optimum.active["kl"]                            # step d
    -log(beta)/2 + log(lambda)/2 - log(sigma2)/2

Steps:

a. expected objective (matrix form, checked; per-mode reduction, checked);
b. stationary equations and all their solutions, with existence conditions;
c. Hessian at each point, inertia, classification, collapse criterion;
d. optimum laws, one-sided derivatives and jumps, exponents, Landau.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import sympy as sp

from theory import objective as obj
from theory import symbols as S
from theory.model import LinearVAE
from theory.stability import Inertia, inertia, sign_of
from theory.stationary import (
    REGIONS,
    StationaryPoint,
    group_mirrors,
    region_condition,
    region_substitutions,
    solution_exists,
    solve_stationary,
    stationary_equations,
)
from theory.transition import (
    CriticalExponent,
    LandauExpansion,
    OneSided,
    critical_exponent,
    landau_expansion,
    non_analytic_order,
    one_sided_derivatives,
    tidy,
)

#: Quantities reported at the optimum of one mode.
QUANTITIES: tuple[str, ...] = ("kl", "encoder_variance", "decoder_norm", "neg_elbo")


@dataclass(frozen=True)
class OptimumLaws:
    """Per-mode optimum: laws on each side of the critical boundary."""

    active: dict[str, sp.Expr]
    collapsed: dict[str, sp.Expr]
    active_condition: sp.Basic


@dataclass(frozen=True)
class CollapseStability:
    """Stability of the collapsed point as a function of lambda (step c).

    ``kind`` maps each region (lambda below / at / above the boundary) to the
    classification; ``stable_condition`` is the derived criterion on one mode,
    and the full collapsed point is stable iff it holds for lambda_max.
    """

    boundary: sp.Expr
    kind: dict[str, str]
    stable_condition: sp.Basic
    degenerate_resolved_by: str
    hessian_blocks_check: bool


class Derivation:
    """Inspectable derivation of the collapse transition of ``spec``.

    Parameters
    ----------
    spec : LinearVAE
        The model specification.
    """

    def __init__(self, spec: LinearVAE) -> None:
        self.spec = spec

    def __repr__(self) -> str:
        return f"Derivation({self.spec!r})"

    # -- step a -------------------------------------------------------------
    @cached_property
    def integrands(self) -> obj.ObjectiveTerms:
        """Random per-mode integrands -log p(y|z) and log q(z|y) - log p(z)."""
        return obj.random_integrands(self.spec)

    @cached_property
    def matrix_objective(self) -> obj.ObjectiveTerms:
        """Closed matrix form of E[-log p] and E[KL] (matrix symbols)."""
        return obj.symbolic_matrix_objective(self.spec)

    @cached_property
    def matrix_form_verified(self) -> bool:
        """The matrix form equals the integrated objective (generic d=3, k=2)."""
        return obj.check_matrix_form(self.spec)

    @cached_property
    def optimal_bias(self) -> dict[sp.Symbol, sp.Expr]:
        """Solution of dF/db = 0 on a generic instance (b = m)."""
        return obj.optimal_bias(self.spec)

    @cached_property
    def mode_terms(self) -> obj.ObjectiveTerms:
        """Per-mode E[-log p(y|z)] and E[KL], integrated from :attr:`integrands`."""
        return obj.mode_objective(self.spec)

    @cached_property
    def mode_objective(self) -> sp.Expr:
        """Per-mode objective f(w, v, s^2; lambda) = E[-log p] + beta E[KL]."""
        return self.mode_terms.total

    @cached_property
    def unpaired_objective(self) -> sp.Expr:
        """Objective of an eigen-direction no latent is paired with."""
        return obj.unpaired_objective(self.spec)

    @cached_property
    def reduction_verified(self) -> bool:
        """Aligned parameters split the objective into per-mode terms (d=3, k=2)."""
        return obj.check_reduction(self.spec)

    # -- step b -------------------------------------------------------------
    @cached_property
    def stationary_equations(self) -> list[sp.Expr]:
        """dF/dp = 0 for each trained per-mode parameter p."""
        return stationary_equations(self.mode_objective, self.spec.mode_parameters)

    @cached_property
    def hessian(self) -> sp.Matrix:
        """Symbolic Hessian of the per-mode objective in the trained parameters."""
        return sp.hessian(self.mode_objective, self.spec.mode_parameters)

    @cached_property
    def critical_boundary(self) -> sp.Expr:
        """lambda_c: where the Hessian at the collapsed point becomes singular.

        The positive root in lambda of det H(collapsed) = 0.
        """
        det = sp.factor(self.hessian.subs(self.spec.collapsed_point).det())
        roots = [r for r in sp.solve(det, S.lam) if r.is_positive]
        if len(roots) != 1:
            raise ArithmeticError(f"expected one positive root of {det} in lambda, got {roots}")
        return roots[0]

    @cached_property
    def regions(self) -> dict[str, dict[sp.Symbol, sp.Expr]]:
        """Substitutions for lambda below, at and above :attr:`critical_boundary`."""
        return region_substitutions(self.critical_boundary)

    @cached_property
    def stationary_points(self) -> list[StationaryPoint]:
        """All solutions of :attr:`stationary_equations`, classified per region."""
        params = self.spec.mode_parameters
        raw = solve_stationary(self.mode_objective, params)
        points = group_mirrors(raw, self.spec.collapsed_point, self.regions["above"])
        positive = tuple(p for p in params if p.is_positive)
        collapsed = self.spec.collapsed_point
        for pt in points:
            for region in REGIONS:
                sub = self.regions[region]
                pt.exists[region] = solution_exists(pt.values, sub, positive)
                pt.coincides_with_collapsed[region] = all(
                    sp.simplify((pt.values[p] - collapsed[p]).subs(sub)) == 0 for p in params
                )
            pt.hessian = self.hessian.subs(pt.values)
            for region in REGIONS:
                if pt.exists[region]:
                    h = pt.hessian.subs(self.regions[region]).applyfunc(sp.cancel)
                    pt.inertia[region] = inertia(h)
            if pt.name != "collapsed":
                real_somewhere = any(
                    pt.exists[r] and not pt.coincides_with_collapsed[r] for r in REGIONS
                )
                pt.name = "active" if real_somewhere else "non-real"
        return points

    def point(self, name: str) -> StationaryPoint:
        """The stationary point called ``name`` (``collapsed``, ``active``, ...)."""
        for pt in self.stationary_points:
            if pt.name == name:
                return pt
        raise KeyError(name)

    def existence_condition(self, point: StationaryPoint) -> sp.Basic:
        """Relation on lambda under which ``point`` is a real, distinct point."""
        regions = [
            r
            for r in REGIONS
            if point.exists[r]
            and (point.name == "collapsed" or not point.coincides_with_collapsed[r])
        ]
        if not regions:
            return sp.false
        return sp.Or(*(region_condition(r, self.critical_boundary) for r in regions)).simplify()

    # -- step c -------------------------------------------------------------
    @cached_property
    def landau(self) -> LandauExpansion:
        """Landau expansion of f in the decoder amplitude w (step d, used in c)."""
        return landau_expansion(
            self.mode_objective, self.spec.mode_parameters, self.spec.collapsed_point
        )

    @cached_property
    def collapse_stability(self) -> CollapseStability:
        """Classification of the collapsed point and the collapse criterion."""
        collapsed = self.point("collapsed")
        kind = dict(collapsed.kind)
        resolved = ""
        if kind.get("at") == "degenerate":
            quartic = self.landau.coefficients.get(4, sp.S.Zero).subs(self.regions["at"])
            if sign_of(quartic) == 1:
                kind["at"] = "minimum"
                resolved = (
                    "the Hessian is singular at the boundary; the quartic Landau coefficient "
                    "is positive there, so the collapsed point is still a minimum"
                )
        stable = [r for r in REGIONS if kind.get(r) == "minimum"]
        condition = sp.Or(*(region_condition(r, self.critical_boundary) for r in stable)).simplify()
        return CollapseStability(
            boundary=self.critical_boundary,
            kind=kind,
            stable_condition=condition,
            degenerate_resolved_by=resolved,
            hessian_blocks_check=self._check_full_collapsed_hessian(),
        )

    def _check_full_collapsed_hessian(self, d: int = 3, k: int = 2) -> bool:
        """Full (d=3, k=2) Hessian at collapse = per-mode blocks for every (i, j) pair.

        In the eigenbasis, the Hessian of the full objective at the collapsed
        point is block diagonal: a (W_ij, V_ji) block for every pair of a data
        direction i and a latent j, equal to the per-mode (w, v) block with
        lambda = lambda_i, plus the encoder-variance entries.  So the collapsed
        point of the full model is stable iff the per-mode criterion holds for
        every eigenvalue, i.e. for lambda_max.
        """
        lams = sp.symbols(f"lambda_1:{d + 1}", positive=True)
        W = sp.Matrix(d, k, lambda i, j: sp.Symbol(f"W_{i}{j}", real=True))
        V = sp.Matrix(k, d, lambda j, i: sp.Symbol(f"V_{j}{i}", real=True))
        s2 = obj._encoder_variances(self.spec, k)
        zero = sp.zeros(d, 1)
        total = obj.expected_objective(self.spec, W, V, sp.diag(*lams), zero, zero, s2).total
        pair_params = [p for i in range(d) for j in range(k) for p in (W[i, j], V[j, i])]
        var_params = list(s2) if S.s2 in self.spec.mode_parameters else []
        params = pair_params + var_params
        at = {p: 0 for p in pair_params} | {p: S.eta2 for p in var_params}
        full = sp.hessian(total, params).subs(at)
        per_mode = self.hessian.subs(self.spec.collapsed_point)
        expected = sp.zeros(len(params))
        for n, (i, _j) in enumerate((i, j) for i in range(d) for j in range(k)):
            block = per_mode[:2, :2].subs(S.lam, lams[i])
            expected[2 * n : 2 * n + 2, 2 * n : 2 * n + 2] = block
        for n in range(len(var_params)):  # learnable variances: their own diagonal entry
            m = len(pair_params) + n
            expected[m, m] = per_mode[2, 2]
        return (full - expected).applyfunc(sp.cancel).is_zero_matrix

    # -- step d -------------------------------------------------------------
    @cached_property
    def critical_sigma2(self) -> sp.Expr:
        """sigma'^2 at which a mode of eigenvalue lambda collapses."""
        return self._solve_boundary_for(S.sigma2)

    @cached_property
    def critical_beta(self) -> sp.Expr:
        """beta at which a mode of eigenvalue lambda collapses."""
        return self._solve_boundary_for(S.beta)

    def _solve_boundary_for(self, var: sp.Symbol) -> sp.Expr:
        roots = [r for r in sp.solve(S.lam - self.critical_boundary, var) if r.is_positive]
        if len(roots) != 1:
            raise ArithmeticError(f"expected one positive critical {var}, got {roots}")
        return roots[0]

    def _laws_at(self, values: dict[sp.Symbol, sp.Expr]) -> dict[str, sp.Expr]:
        terms = self.mode_terms
        return {
            "kl": sp.simplify(sp.expand_log(terms.kl.subs(values), force=True)),
            "encoder_variance": sp.simplify(self.spec.encoder_variance_expr.subs(values)),
            "decoder_norm": sp.simplify(values[S.w]),
            "neg_elbo": tidy(self.mode_objective.subs(values)),
        }

    @cached_property
    def optimum(self) -> OptimumLaws:
        """Per-mode optimum on each side of the boundary.

        Active side: the active point is the minimum there (step c) and the
        collapsed point a saddle; collapsed side: the collapsed point is the
        only real stationary point.
        """
        active = self.point("active")
        if active.kind.get("above") != "minimum":
            raise ArithmeticError("the active point is not a minimum above the boundary")
        return OptimumLaws(
            active=self._laws_at(active.values),
            collapsed=self._laws_at(self.spec.collapsed_point),
            active_condition=self.existence_condition(active),
        )

    @cached_property
    def law_derivatives(self) -> dict[tuple[str, str, str, int], sp.Expr]:
        """Derivatives of the optimum laws, keyed (variable, side, quantity, order).

        ``variable`` is ``"sigma2"`` or ``"beta"``, ``side`` is ``"active"``,
        ``"collapsed"`` or ``"unpaired"`` (quantity ``neg_elbo`` only); orders 0-2.
        """
        out = {}
        sides = {
            "active": self.optimum.active,
            "collapsed": self.optimum.collapsed,
            "unpaired": self.unpaired_laws,
        }
        for var in (S.sigma2, S.beta):
            for side, laws in sides.items():
                for q, law in laws.items():
                    for n in range(3):
                        # Not simplified: simplify may fold logs into powers such as
                        # (2 pi sigma2)**sigma2, which overflow in floating point.
                        out[(var.name, side, q, n)] = sp.diff(law, var, n)
        return out

    @cached_property
    def unpaired_laws(self) -> dict[str, sp.Expr]:
        """Quantities of a data direction with no latent (only neg_elbo is non-zero)."""
        return {"neg_elbo": tidy(self.unpaired_objective)}

    @cached_property
    def activation_gain(self) -> sp.Expr:
        """f(active) - f(collapsed): what a latent gains by taking a mode."""
        return sp.simplify(self.optimum.active["neg_elbo"] - self.optimum.collapsed["neg_elbo"])

    @cached_property
    def gain_decreases_with_lambda(self) -> bool:
        """d gain / d lambda < 0 above the boundary: latents take the largest modes."""
        slope = sp.diff(self.activation_gain, S.lam).subs(self.regions["above"])
        return sign_of(slope) == -1

    @cached_property
    def derivatives(self) -> dict[sp.Symbol, dict[str, list[OneSided]]]:
        """One-sided derivatives (orders 0-2) at the critical sigma'^2 and beta."""
        out: dict[sp.Symbol, dict[str, list[OneSided]]] = {}
        laws = self.optimum
        for var, critical in ((S.sigma2, self.critical_sigma2), (S.beta, self.critical_beta)):
            out[var] = {
                q: one_sided_derivatives(q, laws.active[q], laws.collapsed[q], var, critical)
                for q in QUANTITIES
            }
        return out

    @cached_property
    def non_analytic_orders(self) -> dict[sp.Symbol, dict[str, int | None]]:
        """Order of the first derivative that jumps, per control and quantity."""
        return {
            var: {q: non_analytic_order(ds) for q, ds in per_q.items()}
            for var, per_q in self.derivatives.items()
        }

    @cached_property
    def exponents(self) -> dict[str, CriticalExponent]:
        """Critical exponents in sigma'^2 of KL (order parameter) and decoder norm."""
        return {
            q: critical_exponent(q, self.optimum.active[q], S.sigma2, self.critical_sigma2)
            for q in ("kl", "decoder_norm")
        }

    # -- everything ---------------------------------------------------------
    def run(self) -> Derivation:
        """Compute every step now (otherwise each is computed on first access)."""
        for name in (
            "matrix_objective",
            "matrix_form_verified",
            "optimal_bias",
            "reduction_verified",
            "stationary_points",
            "collapse_stability",
            "optimum",
            "gain_decreases_with_lambda",
            "derivatives",
            "non_analytic_orders",
            "exponents",
            "landau",
        ):
            getattr(self, name)
        return self


_CACHE: dict[LinearVAE, Derivation] = {}


def derive(spec: LinearVAE) -> Derivation:
    """The (cached) :class:`Derivation` of ``spec``; steps are computed lazily."""
    if spec not in _CACHE:
        _CACHE[spec] = Derivation(spec)
    return _CACHE[spec]


__all__ = ["QUANTITIES", "CollapseStability", "Derivation", "Inertia", "OptimumLaws", "derive"]
