"""The two-level hierarchical linear VAE: specification and derivation.

Dang, Tran, Nguyen & Ho (ICLR 2024, arXiv 2306.05023, section 4.2: the "MHVAE" with two
latents; their code ``matrix_HVAE_*.py``).  Data x in R^d (covariance Sigma, eigenvalues
lambda), latents z_1 in R^k and z_2 in R^k::

    q(z_1 | x)   = N(V_1 (x - m), diag(s_1^2))        q(z_2 | z_1) = N(V_2 z_1, diag(s_2^2))
    p(x | z_1)   = N(W_1 z_1 + b, sigma'^2 I_d)       p(z_1 | z_2) = N(W_2 z_2, sigma'^2 I_k)
    p(z_2)       = N(0, eta^2 I_k)

minimising F = E[-log p(x | z_1)] + beta_1 E[log q(z_1 | x) - log p(z_1 | z_2)]
+ beta_2 E[log q(z_2 | z_1) - log p(z_2)], every expectation over the data and
q(z_1, z_2 | x) = q(z_1 | x) q(z_2 | z_1).  As in Dang et al. both decoders have the
variance sigma'^2 (their eta_dec^2); s_1^2 is fixed at zeta_1^2 (their sigma_1^2) or
learnable, s_2^2 learnable (their learnable Sigma_2) or fixed at zeta_2^2 (their
sigma_2^2).  ``beta`` of the toolkit is beta_1.

What is derived (:class:`HierarchicalDerivation`), for one latent pair (z_1j, z_2j)
paired with one eigen-direction (per-mode objective f; the reduction of F to a sum of
such objectives is checked on an aligned instance):

a. f, integrated exactly from its random integrand, and the matrix form of F (a claim,
   checked on a generic instance);
b. the top level: f depends on the first level only through the second moment
   E = v_1^2 lambda + s_1^2 of z_1, and its top-level part is beta_1 times the per-mode
   objective of a VAE (learnable or fixed encoder variance) with data variance E, KL
   weight beta_2 / beta_1, decoder variance sigma'^2 and prior eta^2 (identity checked):
   its stationary points and their Hessians are that VAE's (:mod:`theory.derivation`);
c. the first level: on each branch of the top level, the envelope f_b(w_1, v_1[, s_1^2]);
   its stationary points (v_1 = 0, or d f_b / dE = 0 at the optimal w_1) give every
   stationary point of f, with its existence conditions;
d. the Hessian at every point by Haynsworth's inertia additivity,
   In(H) = In(H_top) + In(H / H_top), where H / H_top is the Hessian of the envelope
   (implicit function theorem): which point is a minimum where;
e. the phase diagram: the global minimum in every region, the boundaries, the
   critical sigma'^2, beta_1, beta_2, and which level collapses first.

With a learnable first-level variance the objective is unbounded below for
beta_1 > beta_2 (derived along v_1 = w_1 = 0, s_1^2 -> infinity) and the top level has no
stationary point off collapse for beta_1 != beta_2: the top level always collapses.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass, field
from functools import cached_property

import sympy as sp

from theory import symbols as S
from theory.derivation import ModeDerivation, derive
from theory.expectation import second_moment_expectation, standard_normal_expectation
from theory.model import LinearVAE
from theory.objective import unpaired_objective
from theory.stability import inertia, sign_of
from theory.stationary import region_substitutions, solve_stationary

#: KL weight of the top level (beta of the toolkit is the first level's, beta_1).
beta2 = sp.Symbol("beta2", positive=True)
#: Fixed encoder variances of the first (zeta_1^2) and the top (zeta_2^2) level.
zeta2_1 = sp.Symbol("zeta2_1", positive=True)
zeta2_2 = sp.Symbol("zeta2_2", positive=True)
#: Per-mode weights and variances of the two levels.
w1, v1 = sp.Symbol("w_1", real=True), sp.Symbol("v_1", real=True)
w2, v2 = sp.Symbol("w_2", real=True), sp.Symbol("v_2", real=True)
s2_1, s2_2 = sp.Symbol("s2_z1", positive=True), sp.Symbol("s2_z2", positive=True)
#: Second moment of z_1 along the mode, E = v_1^2 lambda + s_1^2, and its square root.
E = sp.Symbol("E", positive=True)
t = sp.Symbol("t", positive=True)
eps1, eps2 = sp.Symbol("epsilon_1", real=True), sp.Symbol("epsilon_2", real=True)

#: LaTeX names of this module's symbols (with :data:`theory.symbols.LATEX_NAMES`).
LATEX_NAMES = {
    beta2: r"\beta_{2}",
    zeta2_1: r"\zeta_{1}^{2}",
    zeta2_2: r"\zeta_{2}^{2}",
    w1: "w_{1}",
    v1: "v_{1}",
    w2: "w_{2}",
    v2: "v_{2}",
    s2_1: "s_{1}^{2}",
    s2_2: "s_{2}^{2}",
    E: "E",
    t: "t",
    eps1: r"\varepsilon_{1}",
    eps2: r"\varepsilon_{2}",
}

#: First-level and top-level encoder-variance variants.
FIRST_VARIANCES: tuple[str, ...] = ("fixed", "learnable")
TOP_VARIANCES: tuple[str, ...] = ("learnable", "fixed")
#: The two states of a level at a stationary point.
STATES: tuple[str, ...] = ("collapsed", "active")
#: Quantities at every stationary point: the first- and top-level terms of F (kl1, kl2),
#: the informations 1/2 log(1 + signal / noise) of z_1 about x and of z_2 about z_1 (what
#: the trainers measure), Dang et al.'s singular values |v_1| sqrt(lambda) (first encoder,
#: their lambda_i) and |w_2| (second decoder, their omega_i), |w_1|, |v_2|, the two
#: encoder variances and F.
QUANTITIES: tuple[str, ...] = (
    "kl1", "kl2", "information1", "information2", "encoder_singular_value",
    "decoder2_singular_value", "decoder1_norm", "encoder2_norm", "first_variance",
    "top_variance", "neg_elbo",
)  # fmt: skip


def tex(expr: object, **settings: object) -> str:
    """LaTeX of ``expr`` with this module's names (beta_1 printed for the toolkit's beta)."""
    names = {**S.LATEX_NAMES, **LATEX_NAMES, S.beta: r"\beta_{1}"}
    return S.tex(expr, **{"symbol_names": names, **settings})


@dataclass(frozen=True)
class HierarchicalVAE:
    """The two-level hierarchical linear VAE (module docstring).

    Parameters
    ----------
    first : {"fixed", "learnable"}
        Encoder variance of z_1: fixed at zeta_1^2, or trained.
    top : {"learnable", "fixed"}
        Encoder variance of z_2: trained, or fixed at zeta_2^2.
    """

    first: str = "fixed"
    top: str = "learnable"

    def __post_init__(self) -> None:
        if self.first not in FIRST_VARIANCES:
            raise ValueError(f"first={self.first!r}: expected one of {', '.join(FIRST_VARIANCES)}")
        if self.top not in TOP_VARIANCES:
            raise ValueError(f"top={self.top!r}: expected one of {', '.join(TOP_VARIANCES)}")

    @property
    def family(self) -> str:
        """``hvae``: the command line's ``--family``."""
        return "hvae"

    @property
    def name(self) -> str:
        """Identifier: ``hierarchical-vae-<first>-<top>``."""
        return f"hierarchical-vae-{self.first}-{self.top}"

    @property
    def title(self) -> str:
        """Human-readable title."""
        first = "fixed $s_1^2=\\zeta_1^2$" if self.first == "fixed" else "learnable $s_1^2$"
        top = "learnable $s_2^2$" if self.top == "learnable" else "fixed $s_2^2=\\zeta_2^2$"
        return f"{first}, {top}"

    @property
    def first_variance(self) -> sp.Expr:
        """s_1^2 of the mode's first-level latent (a parameter, or zeta_1^2)."""
        return s2_1 if self.first == "learnable" else zeta2_1

    @property
    def top_variance(self) -> sp.Expr:
        """s_2^2 of the mode's top-level latent (a parameter, or zeta_2^2)."""
        return s2_2 if self.top == "learnable" else zeta2_2

    @property
    def first_parameters(self) -> tuple[sp.Symbol, ...]:
        """Trained first-level parameters of one mode."""
        return (w1, v1, s2_1) if self.first == "learnable" else (w1, v1)

    @property
    def top_parameters(self) -> tuple[sp.Symbol, ...]:
        """Trained top-level parameters of one mode."""
        return (w2, v2, s2_2) if self.top == "learnable" else (w2, v2)

    @property
    def mode_parameters(self) -> tuple[sp.Symbol, ...]:
        """Every trained parameter of one mode, first level first."""
        return (*self.first_parameters, *self.top_parameters)

    @property
    def law_arguments(self) -> tuple[sp.Symbol, ...]:
        """Arguments of every compiled law: (lambda, sigma'^2, beta_1, beta_2, eta^2[, zeta's])."""
        out = [S.lam, S.sigma2, S.beta, beta2, S.eta2]
        if self.first == "fixed":
            out.append(zeta2_1)
        if self.top == "fixed":
            out.append(zeta2_2)
        return tuple(out)

    @property
    def top_vae(self) -> LinearVAE:
        """The VAE the top level is (step b): its encoder variance is the top level's."""
        return LinearVAE(self.top)

    @property
    def top_substitution(self) -> dict[sp.Symbol, sp.Expr]:
        """That VAE's symbols in terms of this model's: lambda -> E, beta -> beta_2 / beta_1."""
        return {S.lam: E, S.beta: beta2 / S.beta, S.w: w2, S.v: v2, S.s2: s2_2, S.zeta2: zeta2_2}


def hierarchical_vae(first: str = "fixed", top: str = "learnable") -> HierarchicalVAE:
    """The two-level hierarchical VAE (Dang et al. 2024); default: s_1^2 fixed, s_2^2 learnable."""
    return HierarchicalVAE(first, top)


def all_hierarchical() -> tuple[HierarchicalVAE, ...]:
    """The variants the document derives, in its order."""
    return (
        hierarchical_vae("fixed", "learnable"),
        hierarchical_vae("fixed", "fixed"),
        hierarchical_vae("learnable", "learnable"),
    )


# -- step a -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class LevelTerms:
    """The three parts of the objective: F = reconstruction + beta_1 kl1 + beta_2 kl2."""

    reconstruction: sp.Expr
    kl1: sp.Expr
    kl2: sp.Expr

    @property
    def total(self) -> sp.Expr:
        """F."""
        return self.reconstruction + S.beta * self.kl1 + beta2 * self.kl2


def random_integrands(spec: HierarchicalVAE) -> LevelTerms:
    """-log p(y | z_1), log q(z_1 | y) - log p(z_1 | z_2), log q(z_2 | z_1) - log p(z_2).

    One mode: data coordinate y, z_1 = v_1 y + s_1 eps_1, z_2 = v_2 z_1 + s_2 eps_2.
    """
    s1, s2 = spec.first_variance, spec.top_variance
    z1 = v1 * S.y + sp.sqrt(s1) * eps1
    z2 = v2 * z1 + sp.sqrt(s2) * eps2

    def log_normal(x: sp.Expr, mean: sp.Expr, var: sp.Expr) -> sp.Expr:
        return -sp.log(2 * sp.pi * var) / 2 - (x - mean) ** 2 / (2 * var)

    return LevelTerms(
        reconstruction=-log_normal(S.y, w1 * z1, S.sigma2),
        kl1=(-sp.log(2 * sp.pi * s1) / 2 - eps1**2 / 2) - log_normal(z1, w2 * z2, S.sigma2),
        kl2=(-sp.log(2 * sp.pi * s2) / 2 - eps2**2 / 2) - log_normal(z2, 0, S.eta2),
    )


def mode_terms(spec: HierarchicalVAE) -> LevelTerms:
    """The per-mode objective's parts, integrated: over the noises by their moments, over
    the data with E[y] = 0, E[y^2] = lambda (degree two in y: only the covariance enters)."""
    raw = random_integrands(spec)

    def expect(expr: sp.Expr) -> sp.Expr:
        inner = standard_normal_expectation(sp.expand(expr), [eps1, eps2])
        out = second_moment_expectation(inner, [S.y], {(0, 0): S.lam})
        return sp.expand(sp.expand_log(out, force=True))

    return LevelTerms(expect(raw.reconstruction), expect(raw.kl1), expect(raw.kl2))


def _positive_core(expr: sp.Expr) -> sp.Expr:
    """``expr`` without the factors SymPy proves positive: what decides its sign."""
    expr = sp.factor(sp.cancel(sp.together(expr)))
    num, den = sp.fraction(expr)
    keep = []
    sign = 1
    for part, power in ((num, 1), (den, -1)):
        for f in sp.Mul.make_args(part):
            if f.is_positive:
                continue
            if f.is_negative:
                sign = -sign
                continue
            keep.append(f**power)
    core = sp.Mul(*keep)
    return sp.expand(sign * core) if not keep or len(keep) == 1 else sign * core


#: Matrix symbols of the closed form (sizes d and k symbolic).
_d = sp.Symbol("d", integer=True, positive=True)
_MATRICES = {
    "W_1": (_d, S.k), "V_1": (S.k, _d), "W_2": (S.k, S.k), "V_2": (S.k, S.k),
    "Sigma": (_d, _d), "S_1": (S.k, S.k), "S_2": (S.k, S.k), "m": (_d, 1), "b": (_d, 1),
}  # fmt: skip


def _matrix_symbol(name: str, d=_d, k=S.k) -> sp.MatrixSymbol:
    rows, cols = _MATRICES[name]
    sizes = {_d: d, S.k: k, 1: 1}
    return sp.MatrixSymbol(name, sizes[rows], sizes[cols])


def matrix_objective(spec: HierarchicalVAE, d=_d, k=S.k) -> LevelTerms:
    """The closed matrix form of the three parts (a claim, :func:`check_matrix_form`).

    With C_1 = V_1 Sigma V_1^T + S_1 the second moment of z_1::

        E[-log p(x|z_1)]            = d/2 log(2 pi sigma'^2) + [tr((I - W_1 V_1) Sigma (.)^T)
                                      + tr(W_1 S_1 W_1^T) + |m - b|^2] / (2 sigma'^2)
        E[log q(z_1|x) - log p(z_1|z_2)] = k/2 log sigma'^2 - 1/2 log det S_1 - k/2
                                      + [tr((I - W_2 V_2) C_1 (.)^T) + tr(W_2 S_2 W_2^T)]
                                        / (2 sigma'^2)
        E[log q(z_2|z_1) - log p(z_2)]   = [tr(V_2 C_1 V_2^T) + tr S_2] / (2 eta^2) - k/2
                                      + k/2 log eta^2 - 1/2 log det S_2

    (Kingma & Welling 2014, Appendix B, for the Gaussian terms; Dang et al. 2024's
    ``matrix_HVAE_*.py`` write 2 sigma'^2 times the same, without constants.)
    """
    M = {n: _matrix_symbol(n, d, k) for n in _MATRICES}
    eye_d = sp.Identity(d) if isinstance(d, sp.Symbol) else sp.eye(d)
    eye_k = sp.Identity(k) if isinstance(k, sp.Symbol) else sp.eye(k)
    s1 = M["S_1"] if spec.first == "learnable" else zeta2_1 * eye_k
    s2 = M["S_2"] if spec.top == "learnable" else zeta2_2 * eye_k
    first = eye_d - M["W_1"] * M["V_1"]
    top = eye_k - M["W_2"] * M["V_2"]
    c1 = M["V_1"] * M["Sigma"] * M["V_1"].T + s1
    offset = M["m"] - M["b"]
    rec = d * sp.log(2 * sp.pi * S.sigma2) / 2 + (
        sp.Trace(first * M["Sigma"] * first.T) + sp.Trace(M["W_1"] * s1 * M["W_1"].T)
        + sp.Trace(offset.T * offset)
    ) / (2 * S.sigma2)  # fmt: skip
    kl1 = (
        k * sp.log(S.sigma2) / 2
        - sp.log(sp.Determinant(s1)) / 2
        - sp.Rational(1, 2) * k
        + (sp.Trace(top * c1 * top.T) + sp.Trace(M["W_2"] * s2 * M["W_2"].T)) / (2 * S.sigma2)
    )
    kl2 = (
        (sp.Trace(M["V_2"] * c1 * M["V_2"].T) + sp.Trace(s2)) / (2 * S.eta2)
        - (sp.Rational(1, 2) * k)
        + k * sp.log(S.eta2) / 2
        - sp.log(sp.Determinant(s2)) / 2
    )
    return LevelTerms(rec, kl1, kl2)


def _explicit(expr: sp.Expr, values: dict[str, sp.Matrix], d: int, k: int) -> sp.Expr:
    """The closed form at explicit matrices (traces and determinants evaluated)."""
    e = expr.xreplace({m: sp.ImmutableMatrix(values[m.name]) for m in expr.atoms(sp.MatrixSymbol)})
    e = e.doit()
    e = e.replace(lambda x: isinstance(x, sp.Trace), lambda x: sp.Matrix(x.arg.doit()).trace())
    e = e.replace(lambda x: isinstance(x, sp.Determinant), lambda x: sp.Matrix(x.arg).det())
    return sp.expand(sp.expand_log(e, force=True))


def _integrate_instance(spec: HierarchicalVAE, values: dict[str, sp.Matrix]) -> LevelTerms:
    """The three parts of an explicit instance, integrated from one sample of each latent."""
    d, k = values["W_1"].shape
    ys = sp.Matrix(sp.symbols(f"y_1:{d + 1}", real=True))
    n1 = sp.symbols(f"epsilon_1_1:{k + 1}", real=True)
    n2 = sp.symbols(f"epsilon_2_1:{k + 1}", real=True)
    s1 = [values["S_1"][j, j] for j in range(k)]
    s2 = [values["S_2"][j, j] for j in range(k)]
    z1 = values["V_1"] * ys + sp.Matrix([sp.sqrt(s1[j]) * n1[j] for j in range(k)])
    z2 = values["V_2"] * z1 + sp.Matrix([sp.sqrt(s2[j]) * n2[j] for j in range(k)])
    r = values["m"] + ys - values["W_1"] * z1 - values["b"]
    r1 = z1 - values["W_2"] * z2
    half_log = lambda v: sp.log(2 * sp.pi * v) / 2  # noqa: E731
    nll = d * half_log(S.sigma2) + (r.T * r)[0, 0] / (2 * S.sigma2)
    kl1 = sum(-half_log(s1[j]) - n1[j] ** 2 / 2 + half_log(S.sigma2) for j in range(k))
    kl1 += (r1.T * r1)[0, 0] / (2 * S.sigma2)
    kl2 = sum(-half_log(s2[j]) - n2[j] ** 2 / 2 + half_log(S.eta2) for j in range(k))
    kl2 += (z2.T * z2)[0, 0] / (2 * S.eta2)

    def expect(expr: sp.Expr) -> sp.Expr:
        inner = standard_normal_expectation(sp.expand(expr), [*n1, *n2])
        out = second_moment_expectation(inner, list(ys), values["Sigma"])
        return sp.expand(sp.expand_log(out, force=True))

    return LevelTerms(expect(nll), expect(kl1), expect(kl2))


def _variances(spec: HierarchicalVAE, k: int) -> tuple[list, list]:
    first = [sp.Symbol(f"s2_1{j + 1}", positive=True) for j in range(k)]
    top = [sp.Symbol(f"s2_2{j + 1}", positive=True) for j in range(k)]
    return (first if spec.first == "learnable" else [zeta2_1] * k,
            top if spec.top == "learnable" else [zeta2_2] * k)  # fmt: skip


def check_matrix_form(spec: HierarchicalVAE, d: int = 2, k: int = 2) -> bool:
    """The matrix form equals the integration of a generic d x k instance (every entry free)."""

    def mat(name: str, rows: int, cols: int) -> sp.Matrix:
        return sp.Matrix(rows, cols, lambda i, j: sp.Symbol(f"{name}_{i + 1}{j + 1}", real=True))

    cov = mat("Sigma", d, d)
    first, top = _variances(spec, k)
    values = {
        "W_1": mat("W1", d, k), "V_1": mat("V1", k, d), "W_2": mat("W2", k, k),
        "V_2": mat("V2", k, k), "Sigma": (cov + cov.T) / 2, "S_1": sp.diag(*first),
        "S_2": sp.diag(*top), "m": mat("m", d, 1), "b": mat("b", d, 1),
    }  # fmt: skip
    integrated = _integrate_instance(spec, values)
    claim = matrix_objective(spec, d, k)
    return all(
        sp.expand(_explicit(getattr(claim, part), values, d, k) - getattr(integrated, part)) == 0
        for part in ("reconstruction", "kl1", "kl2")
    )


def check_reduction(spec: HierarchicalVAE, d: int = 3, k: int = 2) -> bool:
    """Aligned parameters split F into per-mode objectives plus unpaired directions.

    In the eigenbasis (Sigma = diag(lambda_i)), latent pair j on direction j: W_1, V_1
    diagonal in their first k rows/columns, W_2, V_2 diagonal.
    """
    lams = sp.symbols(f"lambda_1:{d + 1}", positive=True)
    per = {p: sp.symbols(f"{p.name}_1:{k + 1}", real=True) for p in (w1, v1, w2, v2)}
    first, top = _variances(spec, k)
    W1, V1 = sp.zeros(d, k), sp.zeros(k, d)
    for j in range(k):
        W1[j, j], V1[j, j] = per[w1][j], per[v1][j]
    mean = sp.Matrix(sp.symbols(f"m_1:{d + 1}", real=True))
    values = {"W_1": W1, "V_1": V1, "W_2": sp.diag(*per[w2]), "V_2": sp.diag(*per[v2]),
              "Sigma": sp.diag(*lams), "S_1": sp.diag(*first), "S_2": sp.diag(*top),
              "m": mean, "b": mean}  # fmt: skip
    claim = matrix_objective(spec, d, k)
    total = sum(
        (c * _explicit(getattr(claim, part), values, d, k))
        for part, c in (("reconstruction", 1), ("kl1", S.beta), ("kl2", beta2))
    )
    one = mode_terms(spec).total
    expected = sum(
        one.xreplace({w1: per[w1][j], v1: per[v1][j], w2: per[w2][j], v2: per[v2][j],
                      spec.first_variance: first[j], spec.top_variance: top[j],
                      S.lam: lams[j]})
        for j in range(k)
    ) + sum(unpaired_objective(LinearVAE()).subs(S.lam, lams[i]) for i in range(k, d))  # fmt: skip
    return sp.expand(sp.expand_log(total - expected, force=True)) == 0


# -- steps b-e ----------------------------------------------------------------------------------
@dataclass
class Point:
    """A stationary point of the per-mode objective (mirror images (w, v) -> (-w, -v) of each
    level counted once).

    ``exists`` and ``minimum`` are margins: the point is real (and distinct) where every
    ``exists`` margin is positive, and a minimum where every ``minimum`` margin is too.
    ``first_kind`` and ``top_kind`` classify the two blocks of its Hessian (step d) on
    each side of their own margin: ``{"below": kind, "above": kind}`` for the margin
    negative / positive.
    """

    first: str
    top: str
    values: dict[sp.Symbol, sp.Expr]
    second_moment: sp.Expr
    exists: list[sp.Expr] = field(default_factory=list)
    minimum: list[sp.Expr] = field(default_factory=list)
    first_margin: sp.Expr | None = None
    top_margin: sp.Expr | None = None
    first_kind: dict[str, str] = field(default_factory=dict)
    top_kind: dict[str, str] = field(default_factory=dict)
    #: The first-level block, once derived (:meth:`HierarchicalDerivation.first_hessian`).
    first_block: sp.Matrix | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        """``first <state>, top <state>``."""
        return f"first {self.first}, top {self.top}"

    @property
    def key(self) -> str:
        """Short key: ``cc``, ``ac``, ``ca``, ``aa`` (first level, then top)."""
        return self.first[0] + self.top[0]


class HierarchicalDerivation:
    """Inspectable derivation of the two-level hierarchical VAE (module docstring, a-e)."""

    def __init__(self, spec: HierarchicalVAE) -> None:
        self.spec = spec

    def __repr__(self) -> str:
        return f"HierarchicalDerivation({self.spec!r})"

    # -- step a ------------------------------------------------------------------------
    @cached_property
    def integrands(self) -> LevelTerms:
        """The random per-mode integrands."""
        return random_integrands(self.spec)

    @cached_property
    def terms(self) -> LevelTerms:
        """The per-mode objective's three parts, integrated."""
        return mode_terms(self.spec)

    @cached_property
    def objective(self) -> sp.Expr:
        """f = E[-log p(y|z_1)] + beta_1 (first-level term) + beta_2 (top-level term)."""
        return sp.expand(self.terms.total)

    @cached_property
    def matrix_objective(self) -> LevelTerms:
        """The closed matrix form (symbolic sizes)."""
        return matrix_objective(self.spec)

    @cached_property
    def matrix_form_verified(self) -> bool:
        """The matrix form equals the integrated generic instance (d = k = 2)."""
        return check_matrix_form(self.spec)

    @cached_property
    def reduction_verified(self) -> bool:
        """Aligned parameters split F into per-mode objectives (d = 3, k = 2)."""
        return check_reduction(self.spec)

    @cached_property
    def unpaired(self) -> sp.Expr:
        """f of a data direction no latent pair takes."""
        return unpaired_objective(LinearVAE())

    # -- step b ------------------------------------------------------------------------
    @cached_property
    def top_part(self) -> sp.Expr:
        """The terms of f that hold a top-level parameter, written in E (checked: only E)."""
        params = self.spec.top_parameters
        part = sum(term for term in sp.Add.make_args(self.objective) if term.has(*params))
        s1 = self.spec.first_variance
        in_e = sp.expand(part.subs(v1**2, (E - s1) / S.lam))
        if in_e.has(v1) or in_e.has(S.lam) or (self.spec.first == "learnable" and in_e.has(s1)):
            raise ArithmeticError(f"the top level depends on more than E: {in_e}")
        return in_e

    @cached_property
    def top_mode(self) -> ModeDerivation:
        """The per-mode derivation of the VAE the top level is."""
        return derive(self.spec.top_vae).mode

    @cached_property
    def top_identity_verified(self) -> bool:
        """top part - beta_1 f_VAE(lambda = E, beta = beta_2 / beta_1) holds no top parameter."""
        vae = self.top_mode.mode_objective.xreplace(self.spec.top_substitution)
        rest = sp.expand(sp.expand_log(self.top_part - S.beta * vae, force=True))
        return not rest.has(*self.spec.top_parameters)

    @cached_property
    def top_boundary(self) -> sp.Expr:
        """E_c: the top level is active iff E > E_c (the VAE's lambda_c at beta_2 / beta_1)."""
        return sp.simplify(self.top_mode.critical_boundary.xreplace(self.spec.top_substitution))

    @cached_property
    def top_points(self) -> dict[str, dict[sp.Symbol, sp.Expr]]:
        """The top level's stationary points (the VAE's, mapped), as functions of E."""
        sub = self.spec.top_substitution
        out = {}
        for state in STATES:
            values = self.top_mode.point(state).values
            out[state] = {sub[p]: sp.simplify(v.xreplace(sub)) for p, v in values.items()}
        return out

    @cached_property
    def top_kinds(self) -> dict[str, dict[str, str]]:
        """Classification of the top block per region of E (``below``/``above`` E_c)."""
        out = {}
        for state in STATES:
            kind = self.top_mode.collapsed_kind[0] if state == "collapsed" else None
            kind = kind or self.top_mode.point(state).kind
            out[state] = {r: kind[r] for r in ("below", "above") if r in kind}
        return out

    # -- step c ------------------------------------------------------------------------
    @cached_property
    def envelope(self) -> dict[str, sp.Expr]:
        """f_b(first-level parameters): f with the top level at its branch-b point."""
        out = {}
        s1 = self.spec.first_variance
        second = v1**2 * S.lam + s1
        rest = sp.expand(self.objective - self.top_part.subs(E, second))
        for state in STATES:
            value = self.top_part.xreplace(self.top_points[state])
            value = sp.expand(sp.expand_log(sp.simplify(value), force=True))
            out[state] = sp.expand(rest + value.subs(E, second))
        return out

    @cached_property
    def first_weight(self) -> dict[str, sp.Expr]:
        """w_1 solving d f_b / d w_1 = 0 (linear in w_1): v_1 lambda / E on every branch."""
        out = {}
        for state, f in self.envelope.items():
            roots = sp.solve(sp.diff(f, w1), w1)
            if len(roots) != 1:
                raise ArithmeticError(f"expected one optimal w_1, got {roots}")
            out[state] = sp.factor(roots[0])
        return out

    @cached_property
    def in_second_moment(self) -> dict[str, sp.Expr]:
        """f_b at the optimal w_1 as a function of t = sqrt(E) (fixed s_1^2): the first level
        is stationary iff v_1 = 0 or d f_b / dt = 0."""
        out = {}
        s1 = self.spec.first_variance
        for state, f in self.envelope.items():
            g = f.subs(w1, self.first_weight[state])
            g = g.subs(v1, sp.sqrt((t**2 - s1) / S.lam))
            out[state] = sp.expand(sp.expand_log(sp.simplify(g), force=True))
        return out

    def _first_points(self, state: str) -> list[dict[sp.Symbol, sp.Expr]]:
        """First-level stationary points on top branch ``state`` (one per mirror pair)."""
        f = self.envelope[state]
        if self.spec.first == "learnable":
            found = solve_stationary(f, self.spec.first_parameters)
            out, seen = [], []
            for sol in found:  # keep one of each mirror pair (v_1 -> -v_1, w_1 -> -w_1)
                key = (sp.simplify(sol[v1] ** 2), sp.simplify(sol[s2_1]))
                if key in seen:
                    continue
                seen.append(key)
                if sol[w1].could_extract_minus_sign():  # the representative with w_1 >= 0
                    sol = {**sol, w1: -sol[w1], v1: -sol[v1]}
                out.append({p: sp.simplify(v) for p, v in sol.items()})
            return out
        points = [{w1: sp.S.Zero, v1: sp.S.Zero}]
        slope = sp.numer(sp.together(sp.diff(self.in_second_moment[state], t)))
        for root in sp.solve(slope, t):
            second = sp.simplify(root**2)
            v = sp.sqrt((second - zeta2_1) / S.lam)
            points.append({v1: v, w1: sp.simplify(self.first_weight[state].subs(v1, v))})
        return points

    @cached_property
    def points(self) -> list[Point]:
        """Every stationary point of f (step c), with margins and block kinds (step d)."""
        out = []
        for top in STATES:
            for first_values in self._first_points(top):
                out.append(self._point(top, first_values))
        return out

    def point(self, key: str) -> Point:
        """The point with :attr:`Point.key` ``key`` (``cc``, ``ac``, ``ca``, ``aa``)."""
        for pt in self.points:
            if pt.key == key:
                return pt
        raise KeyError(key)

    def _point(self, top: str, first_values: dict[sp.Symbol, sp.Expr]) -> Point:
        s1 = first_values.get(s2_1, self.spec.first_variance)
        first = "collapsed" if first_values[v1] == 0 else "active"
        second = sp.simplify(first_values[v1] ** 2 * S.lam + s1)
        top_values = {p: sp.simplify(v.subs(E, second)) for p, v in self.top_points[top].items()}
        values = {**first_values, **top_values}
        pt = Point(first, top, values, second)
        pt.top_margin = _positive_core(second - self.top_boundary)
        if first == "active":
            pt.exists.append(_positive_core(second - s1))
        if top == "active":
            pt.exists.append(pt.top_margin)
        else:
            pt.minimum.append(-pt.top_margin)
        pt.top_kind = self.top_kinds[top]
        self._classify_first(pt)
        return pt

    def first_hessian(self, pt: Point) -> sp.Matrix:
        """Hessian of the envelope f_b in the first-level parameters at ``pt``: the Schur
        complement of the top block in the full Hessian (step d).  Derived once per point
        (the classification, the Schur check and the document all ask for it)."""
        if pt.first_block is None:
            f = self.envelope[pt.top]
            h = sp.hessian(f, self.spec.first_parameters).subs(pt.values)
            pt.first_block = h.applyfunc(lambda e: sp.factor(sp.simplify(e)))
        return pt.first_block

    def _classify_first(self, pt: Point) -> None:
        """Inertia of the first-level block on each side of its margin (Descartes' rule)."""
        h = self.first_hessian(pt)
        if pt.first == "collapsed":
            det = sp.factor(h.det())
            roots = [r for r in sp.solve(det, S.lam) if r.is_positive]
            if len(roots) != 1:
                raise ArithmeticError(f"expected one positive root of {det} in lambda")
            regions = region_substitutions(roots[0])
            pt.first_margin = _positive_core(S.lam - roots[0])
            for side in ("below", "above"):
                pt.first_kind[side] = inertia(h.subs(regions[side]).applyfunc(sp.cancel)).kind
            if pt.first_kind["below"] == "minimum":
                pt.minimum.append(-pt.first_margin)
            elif pt.first_kind["above"] == "minimum":
                pt.minimum.append(pt.first_margin)
            return
        pt.first_margin = pt.exists[0]
        pt.first_kind["above"] = inertia(self._on_active_side(h, pt)).kind
        if pt.first_kind["above"] != "minimum":
            pt.minimum.append(sp.S.NegativeOne)  # never a minimum

    def _on_active_side(self, h: sp.Matrix, pt: Point, simplified: bool = True) -> sp.Matrix:
        """``h`` where the first level is active, parametrised by a gap r > 0.

        By the second moment, E = s_1^2 (1 + r)^2 with lambda solved from E(lambda) = E
        (no fractional powers of r remain), or, when E does not vary with lambda, by
        lambda = lambda_c (1 + r)^2 at the root lambda_c of the existence margin.  With
        ``simplified`` each entry is brought to a factored form (for inertia and display);
        without, only substituted (for :func:`_vanishes`, which simplifies on its own).
        """
        s1 = pt.values.get(s2_1, self.spec.first_variance)
        roots = [r for r in sp.solve(pt.second_moment - E, S.lam) if r.is_positive]
        if len(roots) == 1:
            sub = h.subs(S.lam, roots[0]).subs(E, s1 * (1 + S.gap) ** 2)
        else:
            lam_c = [r for r in sp.solve(pt.exists[0], S.lam) if r.is_positive]
            sub = h.subs(S.lam, lam_c[0] * (1 + S.gap) ** 2)
        if not simplified:
            return sub
        return sub.applyfunc(lambda e: sp.factor(sp.powsimp(sp.simplify(e), force=True)))

    @cached_property
    def stationarity(self) -> dict[str, str]:
        """How each point was verified to solve every stationary equation of the full f.

        Where the point is real (on the active side of each existence margin, by the
        parametrisation of :meth:`_on_active_side`) the gradient is simplified to zero:
        ``symbolic``; where SymPy cannot clear the nested radicals, it is evaluated to
        50 digits at :data:`SAMPLES` points of that region, all positive symbols drawn as
        rationals: ``numeric`` (below 1e-40), else ``FAILED``.
        """
        grads = [sp.diff(self.objective, p) for p in self.spec.mode_parameters]
        out = {}
        for pt in self.points:
            column = sp.Matrix([g.subs(pt.values) for g in grads])
            if pt.first == "active":
                column = self._on_active_side(column, pt, simplified=False)
            out[pt.key] = _vanishes(list(column))
        return out

    @cached_property
    def stationarity_verified(self) -> bool:
        """Every point of :attr:`points` solves every stationary equation (:attr:`stationarity`)."""
        return all(v in ("symbolic", "numeric") for v in self.stationarity.values())

    @cached_property
    def schur_verified(self) -> bool:
        """At every point, the Schur complement of the top block in the full Hessian is the
        envelope's Hessian :meth:`first_hessian` (implicit function theorem), checked as in
        :attr:`stationarity` where the top block is invertible."""
        params = self.spec.mode_parameters
        n = len(self.spec.first_parameters)
        for pt in self.points:
            full = sp.hessian(self.objective, params).subs(pt.values)
            top = full[n:, n:]
            schur = full[:n, :n] - full[:n, n:] * top.inv() * full[n:, :n]
            diff = schur - self.first_hessian(pt)
            if pt.first == "active":
                diff = self._on_active_side(diff, pt, simplified=False)
            if _vanishes(list(diff)) == "FAILED":
                return False
        return True

    # -- laws at every point --------------------------------------------------------------
    @cached_property
    def laws(self) -> dict[str, dict[str, sp.Expr]]:
        """Quantities at every point (:data:`QUANTITIES`), keyed by :attr:`Point.key`."""
        return {pt.key: self._laws_at(pt) for pt in self.points}

    def _laws_at(self, pt: Point) -> dict[str, sp.Expr]:
        at = pt.values
        s1 = at.get(s2_1, self.spec.first_variance)
        s2 = at.get(s2_2, self.spec.top_variance)
        terms = self.terms

        def law(expr: sp.Expr) -> sp.Expr:
            return sp.expand(sp.expand_log(sp.simplify(expr), force=True))

        return {
            "kl1": law(terms.kl1.subs(at)),
            "kl2": law(terms.kl2.subs(at)),
            "information1": law(sp.log(pt.second_moment / s1) / 2),
            "information2": law(sp.log(1 + at[v2] ** 2 * pt.second_moment / s2) / 2),
            "encoder_singular_value": sp.simplify(sp.sqrt(pt.second_moment - s1)),
            "decoder2_singular_value": sp.simplify(at[w2]),
            "decoder1_norm": sp.simplify(at[w1]),
            "encoder2_norm": sp.simplify(at[v2]),
            "first_variance": sp.simplify(s1),
            "top_variance": sp.simplify(s2),
            "neg_elbo": law(self.objective.subs(at)),
        }

    # -- step e: the phase diagram --------------------------------------------------------
    @cached_property
    def margins(self) -> list[sp.Expr]:
        """Every distinct margin of every point (up to sign): the phase boundaries are their
        zero sets."""
        out: list[sp.Expr] = []
        for pt in self.points:
            for m in (*pt.exists, *pt.minimum):
                if m.is_number or any(sp.expand(m - o) == 0 or sp.expand(m + o) == 0 for o in out):
                    continue
                out.append(m)
        return out

    def critical(self, margin: sp.Expr, variable: sp.Symbol) -> list[sp.Expr]:
        """The positive roots of ``margin`` in ``variable`` (sigma'^2, beta_1, beta_2, lambda)."""
        if not margin.has(variable):
            return []
        return [sp.simplify(r) for r in sp.solve(margin, variable) if r.is_positive is not False]

    @cached_property
    def minimum_regions(self) -> dict[str, list[sp.Expr]]:
        """Where each point is the minimum: all of its margins positive (step e)."""
        return {pt.key: [*pt.exists, *pt.minimum] for pt in self.points}

    def phase_at(self, values: dict[sp.Symbol, sp.Expr]) -> str | None:
        """The point that is the minimum at explicit parameter ``values`` (None: none is)."""
        found = self.phases_at(values, strict=True)
        return found[0] if len(found) == 1 else None

    def phases_at(self, values: dict[sp.Symbol, sp.Expr], strict: bool = False) -> list[str]:
        """Points whose every margin is positive (``strict``) or non-negative at ``values``:
        on a boundary, the points that meet there."""

        def ok(m: sp.Expr) -> bool:
            v = m.xreplace(values)
            approx = sp.N(v, 30)
            if abs(approx) > sp.Float("1e-20"):  # the sign is plain at 30 digits
                return bool(approx > 0)
            return not strict and sp.simplify(v) == 0  # on the boundary: exactly zero?

        return [k for k, ms in self.minimum_regions.items() if all(ok(m) for m in ms)]

    @cached_property
    def partition_checked(self) -> int:
        """How many sample parameter points have exactly one minimum (raises otherwise).

        :data:`PARTITION_SAMPLES` points, every law argument a deterministic rational
        (:func:`_rational`; a learnable first level: beta_1 < beta_2); at each, exactly one
        point must have every margin of :attr:`minimum_regions` positive.
        """
        args = self.spec.law_arguments
        for n in range(PARTITION_SAMPLES):
            values = {x: _rational(n, i) for i, x in enumerate(args)}
            if self.spec.first == "learnable" and not values[S.beta] < values[beta2]:
                values[S.beta], values[beta2] = values[beta2] / 2, values[S.beta] * 2
            if self.phase_at(values) is None:
                raise ArithmeticError(f"{self.spec.name}: not exactly one minimum at {values}")
        return PARTITION_SAMPLES

    @cached_property
    def unbounded_slope(self) -> sp.Expr | None:
        """Learnable s_1^2 only: lim s_1^2 d f / d s_1^2 as s_1^2 -> infinity at v_1 = w_1 = 0
        with the top level active: f ~ slope log s_1^2, so f is unbounded below when the
        slope is negative (beta_1 > beta_2)."""
        if self.spec.first != "learnable":
            return None
        f = self.envelope["active"].subs({w1: 0, v1: 0})
        return sp.simplify(sp.limit(s2_1 * sp.diff(f, s2_1), s2_1, sp.oo))

    @cached_property
    def cases(self) -> list[tuple[sp.Basic, dict[sp.Symbol, sp.Expr]]]:
        """The sign cases of the margins that do not involve sigma'^2, each as (relation,
        parametrisation by a gap r > 0); one case with no relation when there is none.

        The gap enters as (1 + r)^n, n twice the common denominator of the margins'
        fractional exponents, so that every power of it is an integer power.
        """
        free = [m for m in self.margins if not m.has(S.sigma2)]
        out: list[tuple[sp.Basic, dict]] = []
        seen: list[tuple[sp.Symbol, sp.Expr]] = []
        for m in free:
            x = S.lam if m.has(S.lam) else beta2
            roots = self.critical(m, x)
            if len(roots) != 1 or any(x == y and sp.simplify(roots[0] - r) == 0 for y, r in seen):
                continue
            seen.append((x, roots[0]))
            up = (1 + S.gap) ** self._gap_power
            out.append((sp.StrictGreaterThan(x, roots[0]), {x: roots[0] * up}))
            out.append((sp.StrictLessThan(x, roots[0]), {x: roots[0] / up}))
        if len(seen) > 1:
            raise ArithmeticError(f"more than one sigma'^2-free boundary: {seen}")
        return out or [(sp.true, {})]

    @cached_property
    def _gap_power(self) -> int:
        dens = [p.exp.q for m in self.margins for p in m.atoms(sp.Pow) if p.exp.is_Rational]
        return 2 * math.lcm(1, *dens)

    @cached_property
    def sigma2_walks(self) -> list[tuple[sp.Basic, list[tuple[str | None, sp.Expr]]]]:
        """For every case of :attr:`cases`: the minimum's point as sigma'^2 grows from 0, as
        [(point key, the sigma'^2 where it ends), ...], the last ending at infinity.

        The critical values are the roots of the sigma'^2-dependent margins, ordered by the
        sign of their differences under the case; the point on each interval is the one all
        of whose margins are positive just above its left end (a margin that vanishes there
        has the sign of its derivative), or just below the first root on the first one.
        """
        walks = []
        for relation, sub in self.cases:
            roots: dict[sp.Expr, sp.Expr] = {}  # in the case's parametrisation -> as derived
            for m in self.margins:
                for r in self.critical(m, S.sigma2):
                    key = sp.powsimp(sp.expand_power_base(r.subs(sub), force=True), force=True)
                    if all(_powers(key - o) != 0 for o in roots):
                        roots[key] = r
            order = _sorted(list(roots))
            walk, ends = [], [*order, sp.oo]
            for i, end in enumerate(ends):
                at, side = (order[0], -1) if i == 0 and order else (ends[i - 1], 1)
                if not order:
                    at, side = None, 1
                walk.append((self._phase_near(sub, at, side), roots.get(end, end)))
            walks.append((relation, _merged(walk)))
        return walks

    @cached_property
    def continuous_transitions(self) -> bool:
        """At every transition of :attr:`sigma2_walks` the two points meet: E, |v_1|
        sqrt(lambda), |w_2| and F agree at the critical sigma'^2 (checked as in
        :attr:`stationarity`, in each case's parametrisation)."""
        quantities = ("encoder_singular_value", "decoder2_singular_value", "neg_elbo")
        for (_, sub), (_, walk) in zip(self.cases, self.sigma2_walks, strict=True):
            for (a, end), (b, _) in itertools.pairwise(walk):
                if a is None or b is None:
                    continue
                diffs = [(self.laws[a][q] - self.laws[b][q]).subs(S.sigma2, end).subs(sub)
                         for q in quantities]  # fmt: skip
                if _vanishes([_powers(e) for e in diffs]) == "FAILED":
                    return False
        return True

    def _phase_near(self, sub: dict, at: sp.Expr | None, side: int) -> str | None:
        """The minimum's point just beside sigma'^2 = ``at`` (``side`` -1 below, +1 above)."""
        found = []
        for key, ms in self.minimum_regions.items():
            signs = []
            for m in ms:
                m = m.subs(sub)
                if at is None:
                    signs.append(sign_of(m))
                    continue
                value = _sign(m.subs(S.sigma2, at))
                if value == 0:
                    value = side * _sign(sp.diff(m, S.sigma2).subs(S.sigma2, at))
                signs.append(value)
            if None in signs:
                raise ArithmeticError(f"undecided margin sign for {key} at sigma'^2 = {at}")
            if all(v == 1 for v in signs):
                found.append(key)
        return found[0] if len(found) == 1 else None


#: Sample points of the numeric fallback of :func:`_vanishes` (rationals, reproducible).
SAMPLES = 4
#: Parameter points at which :attr:`HierarchicalDerivation.partition_checked` checks that
#: exactly one stationary point is a minimum.
PARTITION_SAMPLES = 60


def _vanishes(exprs: list[sp.Expr]) -> str:
    """``symbolic`` if every expression simplifies to 0, else ``numeric`` if each is below
    1e-40 at :data:`SAMPLES` rational points (50 digits), else ``FAILED``."""
    if all(_powers(e) == 0 or sp.simplify(sp.radsimp(e)) == 0 for e in exprs):  # cheap first
        return "symbolic"
    symbols = sorted(set().union(*(e.free_symbols for e in exprs)), key=str)
    for n in range(SAMPLES):
        # Deterministic, distinct positive rationals for every symbol (all are positive).
        at = {x: sp.Rational(3 + 2 * i + 5 * n, 4 + i + 3 * n) for i, x in enumerate(symbols)}
        if any(abs(sp.N(e.xreplace(at), 50)) > sp.Float("1e-40") for e in exprs):
            return "FAILED"
    return "numeric"


def _sorted(values: list[sp.Expr]) -> list[sp.Expr]:
    """``values`` in increasing order, decided by the signs of their differences."""
    out: list[sp.Expr] = []
    for v in values:
        i = 0
        while i < len(out):
            sign = _sign(v - out[i])
            if sign is None:
                raise ArithmeticError(f"cannot order {v} and {out[i]}")
            if sign < 0:
                break
            i += 1
        out.insert(i, v)
    return out


def _merged(walk: list[tuple[str | None, sp.Expr]]) -> list[tuple[str | None, sp.Expr]]:
    """Consecutive intervals with the same point as one."""
    out: list[tuple[str | None, sp.Expr]] = []
    for key, end in walk:
        if out and out[-1][0] == key:
            out[-1] = (key, end)
        else:
            out.append((key, end))
    return out


@functools.lru_cache(maxsize=4096)  # the same expressions recur across steps d and e
def _powers(expr: sp.Expr) -> sp.Expr:
    """``expr`` with powers of products split and recombined (all symbols positive), over
    a common denominator."""
    e = sp.powsimp(sp.expand_power_base(sp.powdenest(expr, force=True), force=True), force=True)
    return sp.cancel(sp.together(e))


@functools.lru_cache(maxsize=4096)
def _sign(expr: sp.Expr) -> int | None:
    """:func:`sign_of` after :func:`_powers`, and after ``simplify`` where that is not enough."""
    sign = sign_of(_powers(expr))
    return sign if sign is not None else sign_of(sp.simplify(_powers(expr)))


#: Quantities whose derivatives in sigma'^2 are kept (maps report their jumps).
JUMP_QUANTITIES: tuple[str, ...] = ("kl1", "kl2", "neg_elbo")


def law_expressions(spec: HierarchicalVAE) -> dict:
    """Every SymPy expression the numerics evaluate for ``spec`` (steps c-e), as a plain dict.

    ``points`` (keys, in order), each point's ``first``/``top`` state, ``exists`` and
    ``minimum`` margins, ``laws`` (:data:`QUANTITIES`), ``derivatives`` (orders 1 and 2
    in sigma'^2 of :data:`JUMP_QUANTITIES`), ``unpaired`` (F of a direction no latent pair
    takes, and its derivatives), and ``roots``: the positive roots of every margin in
    sigma'^2, beta_1 and beta_2 (the candidate critical values).
    """
    d = HierarchicalDerivation(spec)
    if not d.stationarity_verified:
        raise ArithmeticError(f"{spec.name}: a derived point is not stationary")
    points = d.points
    unpaired = d.unpaired
    return {
        "arguments": spec.law_arguments,
        "points": [pt.key for pt in points],
        "first": {pt.key: pt.first for pt in points},
        "top": {pt.key: pt.top for pt in points},
        "exists": {pt.key: list(pt.exists) for pt in points},
        "minimum": {pt.key: list(pt.minimum) for pt in points},
        "laws": d.laws,
        "derivatives": {
            key: {q: [sp.diff(laws[q], S.sigma2, n) for n in (1, 2)] for q in JUMP_QUANTITIES}
            for key, laws in d.laws.items()
        },
        "unpaired": [sp.diff(unpaired, S.sigma2, n) for n in (0, 1, 2)],
        "roots": {
            var.name: [r for m in d.margins for r in d.critical(m, var)]
            for var in (S.sigma2, S.beta, beta2)
        },
    }


def _rational(n: int, i: int) -> sp.Rational:
    """A reproducible pseudo-random rational in (1/89, 97) for sample n, argument i (a linear
    congruential generator: generic values, so no sample falls on a boundary)."""
    state = (12345 + 7919 * n + 104729 * i) % 2**31
    state = (1103515245 * state + 12345) % 2**31
    num = 1 + state % 97
    state = (1103515245 * state + 12345) % 2**31
    return sp.Rational(num, 1 + state % 89)


_CACHE: dict[HierarchicalVAE, HierarchicalDerivation] = {}


def derive_hierarchical(spec: HierarchicalVAE | None = None) -> HierarchicalDerivation:
    """The (cached) :class:`HierarchicalDerivation` of ``spec`` (default: Dang et al.'s)."""
    spec = spec or hierarchical_vae()
    if spec not in _CACHE:
        _CACHE[spec] = HierarchicalDerivation(spec)
    return _CACHE[spec]
