"""The decoder variance sigma'^2 as a trained parameter.

The models of :mod:`theory.model` take sigma'^2 as the control.  Here it is trained with
the rest, as in probabilistic PCA (Tipping & Bishop, "Probabilistic principal component
analysis", J. R. Statist. Soc. B 61, 1999, Eqs. 7-8) and in the linear VAE of Lucas,
Tucker, Grosse & Norouzi ("Don't blame the ELBO!", NeurIPS 2019, section 4).  The
derivation reuses the per-mode laws of the fixed-sigma'^2 model (:class:`ModeDerivation`)
and adds, step by step:

1. the residual E of every direction: what its optimum leaves unexplained,
   E = sigma'^2 - 2 sigma'^4 df/dsigma'^2 at fixed parameters (collapsed and unpaired
   directions leave lambda; an active one less), with the envelope identity checked;
2. the self-consistent sigma'^2 of an active set A: dF/dsigma'^2 = 0 summed over the d
   directions, a polynomial in a power of sigma'^2 whose one positive root is counted by
   Descartes' rule (at beta = 1 and a learnable encoder variance: the mean of the
   discarded eigenvalues, Tipping & Bishop's maximum-likelihood noise);
3. the Hessian with sigma'^2 as a parameter: sigma'^2 couples only to the own blocks of
   active latents (checked on an instance), its Schur complement on them is the profile
   curvature (a second-order envelope identity, checked per mode), and its sign at every
   self-consistent point;
4. uniqueness: the profile slope h(sigma'^2) = 2 sigma'^4 dF*/dsigma'^2 of the optimum at
   fixed sigma'^2 is continuous and convex (per-mode facts, checked), so it has one zero:
   one local minimum, the global one;
5. the critical beta at which the r-th latent collapses at that optimum, and the fully
   collapsed state: the invariant set W = V = 0, its self-consistent sigma'^2 = tr Sigma / d,
   and when it is a minimum.

Sums over modes are written with one symbol per dependence on the mode's eigenvalue (and,
for anisotropic fixed variances, on its zeta_j^2) - for example T = sum_{i in A} sqrt(lambda_i)
- so that every statement about an arbitrary active set is one SymPy expression.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cache, cached_property

import sympy as sp

from theory import objective as obj
from theory import symbols as S
from theory.derivation import Derivation, derive
from theory.landscape import Latent, hessian_at
from theory.model import LinearVAE
from theory.stability import sign_of

#: Number of data dimensions d.
d = sp.Symbol("d", integer=True, positive=True)
#: Number of active latents |A|.
m = sp.Symbol("m", integer=True, nonnegative=True)
#: Sum of the eigenvalues of the directions outside A (the discarded ones).
R = sp.Symbol("R", positive=True)
#: Rank r of the latent whose critical beta is derived (modes 1..r-1 above it are active).
r = sp.Symbol("r", integer=True, positive=True)
#: Number of modes above the r-th, r - 1 (a symbol of its own: SymPy then knows it is >= 0).
n = sp.Symbol("n", integer=True, nonnegative=True)
#: Sum of the eigenvalues from the r-th on (the r-th included).
R_r = sp.Symbol("R_r", positive=True)
#: The power of sigma'^2 in which the self-consistency equation is a polynomial.
tau = sp.Symbol("tau", positive=True)
#: A positive gap: the existence condition written as "leading coefficient = delta > 0".
delta = sp.Symbol("delta", positive=True)
#: The trace of the data covariance.
trace = sp.Symbol("tr_Sigma", positive=True)

#: LaTeX of the symbols above.
LATEX_NAMES = {
    d: "d",
    m: "m",
    R: "R",
    r: "r",
    n: "(r-1)",
    R_r: "R_{r}",
    tau: r"\tau",
    delta: r"\delta",
    trace: r"\operatorname{tr}\Sigma",
}


@dataclass
class SumTable:
    """Symbols of sums over a set of modes: one per dependence on the mode's own numbers.

    ``count`` stands for the sum of 1 (the number of modes in the set); every other
    dependence ``dep`` (an expression in ``per_mode``) gets a fresh symbol, its LaTeX
    ``\\sum_{<where>} dep_i``.  ``fixed`` maps dependences to given symbols (R = sum of
    lambda over the discarded directions).
    """

    where: str
    prefix: str
    label: str
    count: sp.Expr
    per_mode: tuple[sp.Symbol, ...]
    fixed: dict = field(default_factory=dict)
    symbols: dict = field(default_factory=dict)

    def symbol(self, dep: sp.Expr) -> sp.Expr:
        """The symbol of sum_{i in the set} dep(lambda_i, ...)."""
        if dep == 1:
            return self.count
        if dep in self.fixed:
            return self.fixed[dep]
        if dep not in self.symbols:
            self.symbols[dep] = sp.Symbol(f"{self.prefix}_{len(self.symbols) + 1}", positive=True)
        return self.symbols[dep]

    def total(self, expr: sp.Expr) -> sp.Expr:
        """sum over the set of ``expr`` (a per-mode expression), in the table's symbols.

        Each term of ``expr`` is split into a factor free of the per-mode symbols and one
        that depends on them; the sum of the term is the first times the symbol of the
        second (the sum is linear).
        """
        expanded = sp.expand(sp.expand_log(expr, force=True), power_base=True)
        out = sp.S.Zero
        for term in sp.Add.make_args(expanded):
            free, dep = term.as_independent(*self.per_mode, as_Add=False)
            out += free * self.symbol(dep)
        return out

    def latex_names(self) -> dict:
        """LaTeX of every symbol made so far: T, L, M, ... subscripted with ``label``."""
        return {s: f"{'TLMN'[i % 4]}_{{{self.label}}}"
                for i, s in enumerate(self.symbols.values())}  # fmt: skip

    def definitions(self) -> list[str]:
        """``T_{A}=\\sum_{i\\in A} dep_i`` for every symbol made so far (LaTeX)."""
        sub = {S.lam: sp.Symbol("lambda_i", positive=True), S.zeta2: S.ZETA2[sp.Symbol("i")]}
        names = self.latex_names()
        return [f"{names[s]}=\\sum_{{{self.where}}}" + S.tex(dep.xreplace(sub))
                for dep, s in self.symbols.items()]  # fmt: skip


@dataclass(frozen=True)
class SelfConsistency:
    """The self-consistent sigma'^2 of an active set (step 2).

    ``equation`` is h(sigma'^2) = 0, h = 2 sigma'^4 dF/dsigma'^2 summed over the d
    directions; ``polynomial`` the same in tau = sigma'^2^(1/q) (``power`` = q);
    ``leading`` its leading coefficient, whose positivity is the existence condition
    (every other coefficient is negative, so Descartes' rule counts one positive root
    exactly when it is positive); ``sigma2`` the root, as sigma'^2; ``verified`` says it
    solves the equation.
    """

    equation: sp.Expr
    power: int
    polynomial: sp.Expr
    leading: sp.Expr
    condition: sp.Basic
    sigma2: sp.Expr
    verified: bool


@dataclass(frozen=True)
class Uniqueness:
    """Per-mode facts that make h convex and continuous (step 4)."""

    continuous: bool  # E_act = lambda at the boundary
    slope_at_boundary: sp.Expr  # dE_act / dsigma'^2 at the boundary (>= 0)
    slope_sign: int | None
    curvature: sp.Expr  # d^2 E_act / dsigma'^2^2 on the active side (<= 0)
    curvature_sign: int | None
    at_zero: sp.Expr  # E_act as sigma'^2 -> 0

    @property
    def proven(self) -> bool:
        """h is continuous and convex, and tends to -R_top as sigma'^2 -> 0."""
        return (
            self.continuous
            and self.slope_sign in (0, 1)
            and self.curvature_sign in (0, -1)
            and self.at_zero == 0
        )


class DecoderVarianceDerivation:
    """The steps of the module docstring for one encoder-variance model ``spec``."""

    def __init__(self, spec: LinearVAE) -> None:
        self.spec = spec
        self.base: Derivation = derive(spec)
        per_mode = (S.lam, S.zeta2) if spec.anisotropic else (S.lam,)
        self.active_sums = SumTable(r"i\in A", "T", "A", m, per_mode)
        self.complement_sums = SumTable(r"i\notin A", "Q", r"\bar A", d - m, (S.lam,), {S.lam: R})
        self.above_sums = SumTable("i<r", "U", "<r", n, per_mode)
        self.below_sums = SumTable(r"i\geq r", "P", r"\geq r", d - n, (S.lam,), {S.lam: R_r})

    def __repr__(self) -> str:
        return f"DecoderVarianceDerivation({self.spec!r})"

    @property
    def name(self) -> str:
        """File stem of the document section: ``<encoder kind>``."""
        return self.spec.kind

    # -- step 1 ------------------------------------------------------------------------
    def _residual_at(self, objective: sp.Expr, values: dict) -> sp.Expr:
        slope = sp.diff(objective, S.sigma2).subs(values)
        return sp.simplify(S.sigma2 - 2 * S.sigma2**2 * slope)

    @cached_property
    def residual(self) -> dict[str, sp.Expr]:
        """E of an ``active``, ``collapsed`` and ``unpaired`` direction at its optimum."""
        f = self.base.mode_objective
        return {
            "active": self._residual_at(f, self.base.point("active").values),
            "collapsed": self._residual_at(f, self.spec.collapsed_point),
            "unpaired": self._residual_at(self.base.unpaired_objective, {}),
        }

    @cached_property
    def envelope_verified(self) -> bool:
        """df/dsigma'^2 at the optimum equals the derivative of the optimum's law (both sides)."""
        f, laws = self.base.mode_objective, self.base.optimum
        ok = True
        for side, values in (
            ("active", self.base.point("active").values),
            ("collapsed", self.spec.collapsed_point),
        ):
            diff = sp.diff(f, S.sigma2).subs(values) - sp.diff(laws.__dict__[side]["neg_elbo"],
                                                                  S.sigma2)  # fmt: skip
            ok = ok and sp.simplify(diff) == 0
        return ok

    @cached_property
    def discarded_residual_is_lambda(self) -> bool:
        """Collapsed and unpaired directions leave their whole eigenvalue unexplained."""
        return all(sp.simplify(self.residual[s] - S.lam) == 0 for s in ("collapsed", "unpaired"))

    # -- step 2 ------------------------------------------------------------------------
    @cached_property
    def stationarity(self) -> sp.Expr:
        """h(sigma'^2) = d sigma'^2 - sum_A E_act - R: 2 sigma'^4 dF/dsigma'^2 of the state A."""
        if not self.discarded_residual_is_lambda:
            raise ArithmeticError("a discarded direction does not leave lambda unexplained")
        return sp.expand(d * S.sigma2 - self.active_sums.total(self.residual["active"]) - R)

    @cached_property
    def self_consistency(self) -> SelfConsistency:
        """The one positive root of h (see :class:`SelfConsistency`)."""
        return positive_root(self.stationarity, S.sigma2)

    @cached_property
    def ppca(self) -> dict[str, bool] | None:
        """At beta = 1 (eta^2 = 1), the learnable encoder variance is probabilistic PCA.

        Tipping & Bishop (1999), Eq. 8: sigma'^2 is the mean R / (d - m) of the d - m
        discarded eigenvalues; Eq. 7: a retained column of W has |w|^2 = lambda - sigma'^2;
        and F at the optimum is their maximised negative log-likelihood per data point,
        1/2 [d log 2 pi + sum_A log lambda_i + (d - m) log sigma'^2 + d].  None for a fixed
        encoder variance (its posterior is not the exact one).
        """
        if not self.spec.learnable:
            return None
        one = {S.beta: 1, S.eta2: 1}
        sigma2 = self.self_consistency.sigma2.subs(one)
        norm = self.base.optimum.active["decoder_norm"] ** 2
        total = self.profile_objective.subs(one)
        logs = self.active_sums.symbol(sp.log(S.lam))
        tb = (d * sp.log(2 * sp.pi) + logs + (d - m) * sp.log(sigma2) + d) / 2
        return {
            "noise": sp.simplify(sigma2 - R / (d - m)) == 0,
            "columns": sp.simplify(norm.subs(one) - (S.lam - S.sigma2)) == 0,
            "likelihood": _zero(sp.expand_log(total.subs(S.sigma2, sigma2) - tb, force=True)),
        }

    @cached_property
    def profile_objective(self) -> sp.Expr:
        """F of the state A at fixed sigma'^2, summed over the d directions (learnable only).

        With a learnable encoder variance a collapsed latent costs what an unpaired
        direction costs (its KL is 0), so the complement's sum needs no pairing.
        """
        laws = self.base.optimum
        if not self.spec.learnable:
            raise ArithmeticError("the profile objective is summed for the learnable model only")
        active = self.active_sums.total(laws.active["neg_elbo"])
        rest = self.complement_sums.total(self.base.unpaired_laws["neg_elbo"])
        return active + rest

    # -- step 3 ------------------------------------------------------------------------
    @cached_property
    def law_curvature(self) -> dict[str, sp.Expr]:
        """d^2 F / dsigma'^2^2 of one direction at its optimum: ``active``, ``discarded``."""
        laws = self.base.optimum
        return {
            "active": sp.expand(sp.diff(laws.active["neg_elbo"], S.sigma2, 2)),
            "discarded": sp.expand(sp.diff(self.base.unpaired_laws["neg_elbo"], S.sigma2, 2)),
        }

    @cached_property
    def summed_curvature(self) -> sp.Expr:
        """sum over the d directions of the laws' d^2 F / dsigma'^2^2 at a state, any sigma'^2."""
        c = self.active_sums.total(self.law_curvature["active"])
        return c + self.complement_sums.total(self.law_curvature["discarded"])

    @cached_property
    def curvature_at_stationarity(self) -> sp.Expr:
        """:attr:`summed_curvature` with R eliminated by h = 0: a function of sigma'^2_A."""
        (solved,) = sp.solve(self.stationarity, R)
        return sp.factor(sp.simplify(self.summed_curvature.subs(R, solved)))

    @cached_property
    def profile_curvature(self) -> sp.Expr:
        """The Schur complement of sigma'^2 at the self-consistent point of A (step 3)."""
        at = self.summed_curvature.subs(S.sigma2, self.self_consistency.sigma2)
        return sp.factor(sp.simplify(at))

    @cached_property
    def curvature_sign(self) -> int | None:
        """Sign of :attr:`profile_curvature` wherever the point exists."""
        return sign_of(_on_condition(self.profile_curvature, self.self_consistency))

    @cached_property
    def schur_identity_verified(self) -> bool:
        """d^2f/dsigma'^2^2 - c^T H^-1 c at the active point = the law's second derivative.

        H is the per-mode Hessian in the trained parameters and c = d grad f / dsigma'^2,
        both at the active point (written with u, free of nested radicals): the curvature
        of the profile is the Schur complement of sigma'^2 in the Hessian with sigma'^2.
        """
        mode = self.base.mode
        params = self.spec.mode_parameters
        point, u_of_t = _rational_point(mode.active_in_u)
        lam_t = {S.lam: mode.critical_boundary * u_of_t**2}
        f = mode.mode_objective
        # Every positive constant as a square (beta = b^2, ...): the remaining radicals
        # become rational, and the identity is one of rational functions.
        squares = {x: sp.Symbol(f"q_{x.name}", positive=True) ** 2
                   for x in (S.beta, S.sigma2, S.eta2, S.zeta2)}  # fmt: skip

        def at(expr):
            return sp.cancel(expr.subs(lam_t).subs(point).subs(squares))

        H = sp.hessian(f, params).applyfunc(at)
        c = sp.Matrix([sp.diff(f, p, S.sigma2) for p in params]).applyfunc(at)
        schur = at(sp.diff(f, S.sigma2, 2)) - (c.T * H.LUsolve(c))[0, 0]
        return sp.cancel(sp.together(schur - at(self.law_curvature["active"]))) == 0

    @cached_property
    def coupling_verified(self) -> bool:
        """On a d = 4, k = 4 instance, sigma'^2 couples only to the own blocks of active latents.

        Two latents active (on directions 0 and 1), two collapsed, two free directions: the
        mixed derivatives d^2 F / dsigma'^2 dp vanish at the point for every parameter p
        except W_ii, V_ii (and s_i) of an active latent on its own direction i.
        """
        land = self.base.landscape
        us = sp.symbols("u_1 u_2", positive=True)
        lams = sp.symbols("lambda_3 lambda_4", positive=True)
        var = [land.var_j, land.var_l, land.var_j, land.var_l]
        latents = [Latent(var[0], 0, us[0]), Latent(var[1], 1, us[1]), Latent(var[2]),
                   Latent(var[3])]  # fmt: skip
        total, params, point, (W, V, s) = land.instance([None, None, *lams], latents)
        own = {W[0, 0], V[0, 0], W[1, 1], V[1, 1]}
        if self.spec.learnable:
            own |= {s[0], s[1]}
        mixed = gradient_at(sp.diff(total, S.sigma2), params, point)
        return all(_zero(value) for p, value in mixed.items() if p not in own)

    # -- step 4 ------------------------------------------------------------------------
    @cached_property
    def uniqueness(self) -> Uniqueness:
        """Continuity and convexity of h, mode by mode (module docstring, step 4)."""
        E = self.residual["active"]
        crit = self.base.critical_sigma2
        slope = sp.simplify(sp.diff(E, S.sigma2).subs(S.sigma2, crit))
        curv = sp.simplify(sp.diff(E, S.sigma2, 2))
        # On the active side sigma'^2 < sigma'^2_c: write sigma'^2 = sigma'^2_c / (1 + r)^2.
        curv_active = sp.simplify(curv.subs(S.sigma2, crit / (1 + S.gap) ** 2))
        return Uniqueness(
            continuous=sp.simplify(E.subs(S.sigma2, crit) - S.lam) == 0,
            slope_at_boundary=slope,
            slope_sign=sign_of(slope),
            curvature=curv,
            curvature_sign=sign_of(curv_active),
            at_zero=sp.limit(E, S.sigma2, 0, "+"),
        )

    # -- step 5 ------------------------------------------------------------------------
    @cached_property
    def critical_equation(self) -> sp.Expr:
        """h at the boundary of the r-th mode (modes 1..r-1 active): zero at beta_c,r."""
        crit = self.base.critical_sigma2
        above = self.above_sums.total(self.residual["active"])
        h = d * S.sigma2 - above - R_r
        return sp.expand(h.subs(S.sigma2, crit))

    @cached_property
    def critical_beta(self) -> sp.Expr:
        """beta_c,r: the r-th latent is active at the optimum iff beta < beta_c,r."""
        roots = [b for b in sp.solve(self.critical_equation, S.beta) if sign_of(b) == 1]
        if len(roots) != 1:
            raise ArithmeticError(f"expected one positive critical beta, got {roots}")
        return sp.factor(roots[0])

    @cached_property
    def critical_equation_slope(self) -> int | None:
        """Sign of d h_r / d beta: -1 means the r-th latent is active exactly below beta_c,r."""
        return sign_of(sp.diff(self.critical_equation, S.beta))

    @cached_property
    def critical_beta_at_least_one(self) -> int | None:
        """Sign of beta_c,r - 1 at eta^2 = 1 given lambda_i <= lambda_r for i >= r.

        R_r = (d - r + 1) lambda_r - D with D >= 0, the tail's deficit below lambda_r.  For
        the learnable encoder variance the numerator of beta_c,r - 1 is D itself, so no
        latent collapses at beta = 1 unless the tail is flat (D = 0: beta_c,r = 1).
        Returns the sign for D > 0, or None where it is not definite (fixed variances).
        """
        D = sp.Symbol("D", positive=True)
        num, den = sp.fraction(sp.together(self.critical_beta.subs(S.eta2, 1) - 1))
        signs = (sign_of(den), sign_of(sp.factor(num.subs(R_r, (d - n) * S.lam - D))))
        return None if None in signs else signs[0] * signs[1]

    @cached_property
    def invariant_manifold_verified(self) -> bool:
        """dF/dW = dF/dV = 0 at W = V = 0 for every s^2, sigma'^2, beta (generic d = 3, k = 2).

        So no gradient method leaves the collapsed set: training that starts there stays
        collapsed whatever sigma'^2 it starts from.
        """
        W, V, cov, mean, _ = obj._generic_instance(3, 2)
        s2 = self.spec.latent_variances(2)
        terms = obj.matrix_objective(self.spec, W, V, cov, obj.diagonal(s2), mean, mean, 3, 2)
        params = [*W, *V]
        total = terms.total.doit()
        # The log-variance terms do not involve W or V: drop them before taking the
        # polynomial gradient.
        total = sp.Add(*(t for t in sp.Add.make_args(sp.expand(total)) if t.has(*params)))
        gradient = gradient_at(total, params, {p: sp.S.Zero for p in params})
        return all(_zero(g) for g in gradient.values())

    @cached_property
    def collapsed_sigma2(self) -> sp.Expr:
        """sigma'^2 of the fully collapsed state (m = 0, R = tr Sigma): tr Sigma / d."""
        return sp.simplify(self.self_consistency.sigma2.subs({m: 0, R: trace}).subs(
            {s: 0 for s in self.active_sums.symbols.values()}))  # fmt: skip

    @cached_property
    def collapsed_stable_beta(self) -> sp.Expr:
        """The beta above which the fully collapsed state is a minimum: beta_c,1.

        The collapsed state of a fixed sigma'^2 is a minimum iff lambda_max <= lambda_c
        (step c of the fixed-sigma'^2 derivation); at sigma'^2 = tr Sigma / d this is
        beta >= the root of lambda_max = lambda_c, which equals beta_c,r at r = 1.
        """
        bound = self.base.critical_boundary.subs(S.sigma2, self.collapsed_sigma2)
        roots = sp.solve(sp.Eq(S.lam_max, bound), S.beta)
        if len(roots) != 1:
            raise ArithmeticError(f"expected one collapse-stability beta, got {roots}")
        return sp.factor(roots[0])

    @cached_property
    def collapsed_matches_first(self) -> bool:
        """beta of collapse stability = beta_c,1 (r = 1: no mode above, R_1 = tr Sigma)."""
        first = self.critical_beta.subs({n: 0, R_r: trace, S.lam: S.lam_max})
        first = first.subs({s: 0 for s in self.above_sums.symbols.values()})
        return sp.simplify(first - self.collapsed_stable_beta) == 0

    def run(self) -> DecoderVarianceDerivation:
        """Compute every step now."""
        for name in (
            "residual", "envelope_verified", "self_consistency", "ppca", "profile_curvature",
            "curvature_sign", "schur_identity_verified", "coupling_verified", "uniqueness",
            "critical_beta", "critical_equation_slope", "critical_beta_at_least_one",
            "invariant_manifold_verified", "collapsed_sigma2", "collapsed_stable_beta",
            "collapsed_matches_first",
        ):  # fmt: skip
            getattr(self, name)
        return self


def _rational_point(values: dict) -> tuple[dict, sp.Expr]:
    """The active point with u parametrised so that its radical in u is rational.

    sqrt(u - 1): u = 1 + t^2 (t > 0); sqrt(u^2 - 1): u = (1 + t^2) / (2 t) with 0 < t < 1,
    where sqrt(u^2 - 1) = (1 - t^2) / (2 t) > 0.  Returns the values and u(t).
    """
    t = sp.Symbol("t", positive=True)
    radicals = {p for v in values.values() for p in v.atoms(sp.Pow)
                if p.exp == sp.S.Half and p.base.has(S.u)}  # fmt: skip
    bases = {sp.expand(p.base) for p in radicals}
    if bases <= {S.u - 1}:
        u_of_t, root = 1 + t**2, t
    elif bases <= {S.u**2 - 1}:
        u_of_t, root = (1 + t**2) / (2 * t), (1 - t**2) / (2 * t)
    else:
        raise ArithmeticError(f"no rational parametrisation for the radicals {radicals}")
    out = {p: v.xreplace({r: root for r in radicals}).subs(S.u, u_of_t) for p, v in values.items()}
    return out, u_of_t


def gradient_at(expr: sp.Expr, params: list, point: dict) -> dict:
    """d expr / dp at ``point`` for every p in ``params``, where expr is polynomial in them.

    Differentiated monomial by monomial: a monomial contributes to dp only if p is its one
    factor that vanishes at the point or none vanishes (much faster than
    :func:`sympy.diff` on the large instance objectives).
    """
    poly = sp.Poly(sp.expand(expr), *params)
    values = [point[p] for p in params]
    out = {p: sp.S.Zero for p in params}
    for monom, coeff in poly.terms():
        vanishing = [i for i, e in enumerate(monom) if e and values[i] == 0]
        if len(vanishing) > 1 or (vanishing and monom[vanishing[0]] > 1):
            continue
        for a in vanishing or [i for i, e in enumerate(monom) if e]:
            rest = sp.Mul(*(values[i] ** (e - (i == a)) for i, e in enumerate(monom) if e))
            out[params[a]] += coeff * monom[a] * rest
    return out


def _zero(expr: sp.Expr) -> bool:
    """``expr`` is identically zero.

    Activity ratios u > 1 are written u = 1 + t^2 (so sqrt(u - 1) = t); a radical that is
    left, sqrt(P) with P a polynomial, is replaced by a symbol Q and the numerator reduced
    modulo Q^2 - P: an exact test in the field the radical generates.  Failing that,
    :func:`sympy.simplify`.
    """
    expr = sp.sympify(expr)
    ratios = [x for x in expr.free_symbols if x.name in ("u", "u_1", "u_2")]
    expr = expr.subs({x: 1 + sp.Symbol(f"t_{x.name}", positive=True) ** 2 for x in ratios})
    expr = expr.replace(lambda x: x.is_Pow and not x.exp.is_Integer,
                        lambda x: sp.factor(x.base) ** x.exp)  # fmt: skip
    if sp.cancel(sp.expand(expr)) == 0:
        return True
    radicals = {p for p in expr.atoms(sp.Pow) if p.exp == sp.S.Half and p.base.is_Add}
    if len(radicals) == 1:
        (root,) = radicals
        q = sp.Dummy("Q")
        num = sp.numer(sp.together(expr.xreplace({root: q, 1 / root: 1 / q})))
        if not num.has(root) and sp.rem(sp.expand(num), q**2 - root.base, q) == 0:
            return True
    return sp.simplify(expr) == 0


def _on_condition(expr: sp.Expr, sc: SelfConsistency) -> sp.Expr:
    """``expr`` with the existence condition built in: the leading coefficient = delta > 0."""
    if sc.condition is sp.true:
        return expr
    solved = sp.solve(sp.Eq(sc.leading, delta), d)
    if len(solved) != 1:
        raise ArithmeticError(f"cannot write {sc.leading} > 0 as a positive gap in d")
    return sp.factor(sp.simplify(expr.subs(d, solved[0])))


def positive_root(h: sp.Expr, var: sp.Symbol) -> SelfConsistency:
    """The positive root of h(var) = 0 when h is a polynomial in a power of var.

    Every coefficient but the leading one must be negative (checked); the leading one is
    positive or its positivity becomes the condition.  Then the coefficient signs change
    once, and Descartes' rule of signs (exact for one change) gives exactly one positive
    root.  Which root of the solved polynomial it is, is read at one sample point where
    the condition holds (the roots do not cross: their product is negative).
    """
    h = sp.expand(h)
    exps = [t.as_coeff_exponent(var)[1] for t in sp.Add.make_args(h)]
    q = math.lcm(*(sp.Rational(e).q for e in exps))
    poly = sp.Poly(sp.expand(h.subs(var, tau**q)), tau)
    coeffs = poly.all_coeffs()
    if any(sign_of(c) not in (-1, 0) for c in coeffs[1:]):
        raise ArithmeticError(f"{poly}: the lower coefficients are not all negative")
    lead = coeffs[0]
    lead_sign = sign_of(lead)
    condition = sp.true if lead_sign == 1 else sp.StrictGreaterThan(lead, 0)
    roots = sp.solve(poly.as_expr(), tau)
    sample = _sample(poly.as_expr(), condition)
    positive = [x for x in roots if _positive_at(x, sample)]
    if len(positive) != 1:
        raise ArithmeticError(f"expected one positive root of {poly}, got {positive}")
    root = sp.simplify(positive[0])
    solution = sp.simplify(root**q)
    verified = sp.simplify(h.subs(var, solution)) == 0
    return SelfConsistency(h, q, poly.as_expr(), lead, condition, solution, verified)


def _sample(expr: sp.Expr, condition: sp.Basic) -> dict:
    """Positive values of every symbol of ``expr`` at which ``condition`` holds."""
    values = [sp.Rational(7, 5), sp.Rational(3, 4), sp.Rational(5, 3), sp.Rational(2, 7)]
    syms = sorted(expr.free_symbols - {tau}, key=lambda s: s.name)
    sample = {s: values[i % len(values)] for i, s in enumerate(syms)}
    sample[d] = sp.Integer(50)  # many dimensions: the leading coefficient d - ... is > 0
    sample[m] = sp.Integer(2)
    if not bool(condition.subs(sample)):
        raise ArithmeticError(f"the sample point does not satisfy {condition}")
    return sample


def _positive_at(root: sp.Expr, sample: dict) -> bool:
    value = complex(sp.N(root.subs(sample)))
    return abs(value.imag) < 1e-12 * max(1.0, abs(value.real)) and value.real > 0


@cache
def derive_decoder_variance(spec: LinearVAE) -> DecoderVarianceDerivation:
    """The (cached) :class:`DecoderVarianceDerivation` of ``spec``."""
    return DecoderVarianceDerivation(spec)


def decoder_variance_models() -> tuple[LinearVAE, ...]:
    """The encoder-variance models whose learnable-sigma'^2 derivation is documented."""
    from theory.model import fixed_encoder_variance, learnable_encoder_variance

    return (learnable_encoder_variance(), fixed_encoder_variance())


__all__ = [
    "DecoderVarianceDerivation",
    "SelfConsistency",
    "SumTable",
    "Uniqueness",
    "decoder_variance_models",
    "derive_decoder_variance",
    "hessian_at",
    "positive_root",
]
