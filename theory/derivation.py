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
b. stationary equations of one mode and all their solutions, with existence conditions;
c. Hessian at each point, inertia, classification, collapse criterion;
d. optimum laws, one-sided derivatives and jumps, exponents, Landau;
e. the full model: which latent takes which eigen-direction (pairing), and the
   Hessian of the whole multi-latent objective at every aligned stationary point
   (:mod:`theory.landscape`).

The per-mode steps (b-d) belong to :class:`ModeDerivation`, shared by every model
with the same per-mode problem (the isotropic and anisotropic fixed variances);
:class:`Derivation` adds the full-model steps and forwards every per-mode
attribute, so ``derive(spec).optimum`` works for every model.
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

#: Quantities reported at the optimum of one mode.  ``kl`` is the KL divergence itself;
#: ``order_parameter`` is KL - KL(collapsed), which vanishes in the collapsed phase for
#: every model (with a fixed variance zeta^2 != eta^2 the collapsed KL is a positive floor).
QUANTITIES: tuple[str, ...] = (
    "kl",
    "order_parameter",
    "encoder_variance",
    "decoder_norm",
    "neg_elbo",
)


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
    ``quartic_at_boundary`` is the Landau quartic coefficient where the Hessian
    is singular; ``resolved_at_boundary`` says its sign settled the classification.
    """

    boundary: sp.Expr
    kind: dict[str, str]
    stable_condition: sp.Basic
    resolved_at_boundary: bool
    quartic_at_boundary: sp.Expr
    hessian_blocks_check: bool

    @property
    def degenerate_resolved_by(self) -> str:
        """One sentence on how the singular boundary was classified ('' if it was not)."""
        if not self.resolved_at_boundary:
            return ""
        return (
            "the Hessian is singular, and the quartic Landau coefficient is positive, so "
            "the collapsed point is still a minimum there"
        )


@dataclass(frozen=True)
class PairingRule:
    """Which latent takes which eigen-direction (an exchange argument the engine checks).

    With G(lambda, s^2) = f(active) - f(collapsed) <= 0 the gain of pairing a latent of
    fixed variance s^2 = zeta^2 with a direction of eigenvalue lambda (and G = 0 where
    the mode is collapsed), the global objective is a sum of G over the pairs plus
    terms that do not depend on the pairing.  If G and dG/dlambda vanish at the
    boundary lambda_c (G is C^1 across it), dG/dlambda < 0 on the active side, and the
    cross derivative d^2 G / dlambda dzeta^2 has one sign there, then dG/dlambda is
    monotone in zeta^2 everywhere, and the rearrangement inequality gives the rule.

    Attributes
    ----------
    gain : sympy.Expr
        G on the active side.
    continuous_at_boundary : bool
        G = dG/dlambda = 0 at lambda = lambda_c.
    slope_sign : int
        Sign of dG/dlambda on the active side (-1: latents take the largest eigenvalues).
    cross_derivative : sympy.Expr or None
        d^2 G / dlambda dzeta^2 (None: no fixed per-latent variance to order by).
    cross_sign : int or None
        Its sign on the active side.
    variance_order : {"ascending", "descending"} or None
        Sort latents by zeta^2 in this order and pair them with the eigenvalues in
        descending order (None: any pairing of the top eigenvalues).
    """

    gain: sp.Expr
    continuous_at_boundary: bool
    slope_sign: int | None
    cross_derivative: sp.Expr | None
    cross_sign: int | None

    @property
    def variance_order(self) -> str | None:
        """``ascending`` (smallest zeta^2 takes the largest eigenvalue), ``descending`` or None."""
        if self.cross_sign is None:
            return None
        return {1: "ascending", -1: "descending"}.get(self.cross_sign)

    @property
    def proven(self) -> bool:
        """Every hypothesis of the exchange argument was checked."""
        ok = self.continuous_at_boundary and self.slope_sign == -1
        return ok and (self.cross_derivative is None or self.cross_sign in (1, -1))


class ModeDerivation:
    """Steps a-d for one latent paired with one eigen-direction (the per-mode problem).

    Parameters
    ----------
    spec : LinearVAE
        A specification whose per-mode problem this is (``spec.mode_spec`` is used).
    """

    def __init__(self, spec: LinearVAE) -> None:
        self.spec = spec.mode_spec

    def __repr__(self) -> str:
        return f"ModeDerivation({self.spec!r})"

    # -- step a (per mode) ------------------------------------------------------
    @cached_property
    def integrands(self) -> obj.ObjectiveTerms:
        """Random per-mode integrands -log p(y|z) and log q(z|y) - log p(z)."""
        return obj.random_integrands(self.spec)

    @cached_property
    def mode_terms(self) -> obj.ObjectiveTerms:
        """Per-mode E[-log p(y|z)] and E[KL], integrated from :attr:`integrands`."""
        return obj.mode_objective(self.spec)

    @cached_property
    def mode_objective(self) -> sp.Expr:
        """Per-mode objective f(w, v[, s^2]; lambda) = E[-log p] + beta E[KL]."""
        return self.mode_terms.total

    @cached_property
    def unpaired_objective(self) -> sp.Expr:
        """Objective of an eigen-direction no latent is paired with."""
        return obj.unpaired_objective(self.spec)

    # -- step b -----------------------------------------------------------------
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

    def distinct_regions(self, point: StationaryPoint) -> list[str]:
        """Regions where ``point`` is real and distinct from the collapsed point."""
        return [
            r
            for r in REGIONS
            if point.exists[r]
            and (point.name == "collapsed" or not point.coincides_with_collapsed[r])
        ]

    def existence_condition(self, point: StationaryPoint) -> sp.Basic:
        """Relation on lambda under which ``point`` is a real, distinct point."""
        regions = self.distinct_regions(point)
        if not regions:
            return sp.false
        return sp.Or(*(region_condition(r, self.critical_boundary) for r in regions)).simplify()

    @cached_property
    def active_in_u(self) -> dict[sp.Symbol, sp.Expr]:
        """The active point with lambda = lambda_c u^2 (u > 1): free of nested radicals."""
        sub = {S.lam: self.critical_boundary * S.u**2}
        return {p: sp.simplify(v.subs(sub)) for p, v in self.point("active").values.items()}

    # -- step c (per mode) --------------------------------------------------------
    @cached_property
    def landau(self) -> LandauExpansion:
        """Landau expansion of f in the decoder amplitude w (step d, used in c)."""
        return landau_expansion(
            self.mode_objective, self.spec.mode_parameters, self.spec.collapsed_point
        )

    @cached_property
    def collapsed_kind(self) -> tuple[dict[str, str], bool, sp.Expr]:
        """Classification of the collapsed point per region, resolved at the boundary.

        Returns (kind per region, whether the quartic Landau coefficient settled the
        singular boundary, that coefficient there).
        """
        kind = dict(self.point("collapsed").kind)
        quartic = sp.factor(self.landau.coefficients.get(4, sp.S.Zero).subs(self.regions["at"]))
        resolved = kind.get("at") == "degenerate" and sign_of(quartic) == 1
        if resolved:
            kind["at"] = "minimum"
        return kind, resolved, quartic

    # -- step d -------------------------------------------------------------------
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
        collapsed_kl = terms.kl.subs(self.spec.collapsed_point)
        return {
            "kl": sp.simplify(sp.expand_log(terms.kl.subs(values), force=True)),
            "order_parameter": sp.simplify(
                sp.expand_log(terms.kl.subs(values) - collapsed_kl, force=True)
            ),
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
    def pairing(self) -> PairingRule:
        """The exchange argument for the pairing of latents with eigen-directions."""
        gain = self.activation_gain
        at = {S.lam: self.critical_boundary}
        slope = sp.diff(gain, S.lam)
        continuous = all(sp.simplify(e.subs(at)) == 0 for e in (gain, slope))
        above = self.regions["above"]
        slope_sign = sign_of(sp.simplify(slope.subs(above)))
        cross = cross_sign = None
        if not self.spec.learnable:
            cross = sp.simplify(sp.diff(slope, S.zeta2))
            cross_sign = sign_of(sp.simplify(cross.subs(above)))
        return PairingRule(gain, continuous, slope_sign, cross, cross_sign)

    @cached_property
    def derivatives(self) -> dict[sp.Symbol, dict[str, list[OneSided]]]:
        """One-sided derivatives (orders 0-2) at the critical sigma'^2 and beta."""
        out: dict[sp.Symbol, dict[str, list[OneSided]]] = {}
        laws = self.optimum
        floor = sp.simplify(laws.collapsed["kl"] - laws.collapsed["order_parameter"])
        for var, critical in ((S.sigma2, self.critical_sigma2), (S.beta, self.critical_beta)):
            per = {
                q: one_sided_derivatives(q, laws.active[q], laws.collapsed[q], var, critical)
                for q in QUANTITIES
                if q != "order_parameter"
            }
            # Phi = KL - floor with a floor independent of the controls (checked): the same
            # derivatives, and values shifted by the floor.
            if sp.diff(floor, var) != 0:
                raise ArithmeticError(f"the KL floor {floor} depends on {var}")
            per["order_parameter"] = [
                OneSided("order_parameter", var, ds.order,
                         tidy(ds.left - (floor if ds.order == 0 else 0)),
                         tidy(ds.right - (floor if ds.order == 0 else 0)))
                for ds in per["kl"]
            ]  # fmt: skip
            out[var] = {q: per[q] for q in QUANTITIES}
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
        """Critical exponents in sigma'^2 of the order parameter and the decoder norm."""
        return {
            q: critical_exponent(q, self.optimum.active[q], S.sigma2, self.critical_sigma2)
            for q in ("order_parameter", "decoder_norm")
        }


class Derivation:
    """Inspectable derivation of the collapse transition of ``spec``.

    Per-mode attributes (``optimum``, ``hessian``, ``critical_sigma2``, ...) are
    those of :attr:`mode`, a :class:`ModeDerivation`; the full-model steps are
    attributes of this class.

    Parameters
    ----------
    spec : LinearVAE
        The model specification.
    """

    def __init__(self, spec: LinearVAE, mode: ModeDerivation | None = None) -> None:
        self.spec = spec
        self.mode = mode if mode is not None else ModeDerivation(spec)

    def __repr__(self) -> str:
        return f"Derivation({self.spec!r})"

    def __getattr__(self, name: str):
        # Only called when normal lookup fails: the per-mode steps live on self.mode.
        if name.startswith("__") or name == "mode":
            raise AttributeError(name)
        return getattr(self.mode, name)

    # -- step a (the full model) ----------------------------------------------------
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
    def reduction_verified(self) -> bool:
        """Aligned parameters split the objective into per-mode terms (d=3, k=2)."""
        return obj.check_reduction(self.spec)

    # -- step c (the full model) ------------------------------------------------------
    @cached_property
    def collapse_stability(self) -> CollapseStability:
        """Classification of the collapsed point and the collapse criterion."""
        kind, resolved, quartic = self.mode.collapsed_kind
        stable = [r for r in REGIONS if kind.get(r) == "minimum"]
        boundary = self.mode.critical_boundary
        condition = sp.Or(*(region_condition(r, boundary) for r in stable)).simplify()
        return CollapseStability(
            boundary=boundary,
            kind=kind,
            stable_condition=condition,
            resolved_at_boundary=resolved,
            quartic_at_boundary=quartic,
            hessian_blocks_check=self.landscape.verified,
        )

    # -- step e ---------------------------------------------------------------------------
    @cached_property
    def landscape(self):
        """Hessian of the full objective at every aligned stationary point (step e)."""
        from theory.landscape import Landscape

        return Landscape(self)

    # -- everything -----------------------------------------------------------------------
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
            "pairing",
            "derivatives",
            "non_analytic_orders",
            "exponents",
            "landau",
        ):
            getattr(self, name)
        self.landscape.run()
        return self


_MODES: dict[LinearVAE, ModeDerivation] = {}
_CACHE: dict[LinearVAE, Derivation] = {}


def derive(spec: LinearVAE) -> Derivation:
    """The (cached) :class:`Derivation` of ``spec``; steps are computed lazily.

    Models with the same per-mode problem share one :class:`ModeDerivation`.
    """
    if spec not in _CACHE:
        key = spec.mode_spec
        if key not in _MODES:
            _MODES[key] = ModeDerivation(key)
        _CACHE[spec] = Derivation(spec, _MODES[key])
    return _CACHE[spec]


__all__ = [
    "QUANTITIES",
    "CollapseStability",
    "Derivation",
    "Inertia",
    "ModeDerivation",
    "OptimumLaws",
    "PairingRule",
    "derive",
]
