"""The conditional linear VAE: specification and derivation (Dang et al., ICLR 2024, section 4.1).

A condition x in R^{d_x} and an output y in R^{d_y}; the model (README, "Model families")::

    q(z | x, y) = N(A (x - m_x) + B (y - m_y), diag(s_1^2, ..., s_k^2))
    p(y | z, x) = N(U z + C (x - m_x) + b, sigma'^2 I_{d_y})         (sigma'^2 fixed: control)
    p(z)        = N(0, eta^2 I_k)

minimising F = E E_q[-log p(y | z, x)] + beta E KL(q(z | x, y) || p(z)).  The encoder
variances are those of a :class:`theory.model.LinearVAE` (learnable, or fixed).

What is derived here (:class:`ConditionalDerivation`), on a generic instance whose every
entry is a free symbol (d_x = d_y = k = 2):

1. the objective, integrated exactly from its random integrand (:mod:`theory.expectation`),
   and its closed matrix form (a claim, checked);
2. the stationary equations in the x-weights C (decoder) and A (encoder) and the bias b,
   which are linear: their solution b*, C*(A, B, U), A*(B);
3. the objective at those weights, F_red(B, U, S).  The matrix M of its quadratic form in
   the encoder's y-weights, M_ab = eta^2 d^2 E[KL] / dB_ja dB_jb, is read off by
   differentiation; it is then identified with the closed form
   Sigma_yy - Sigma_yx Sigma_xx^-1 Sigma_xy (the residual covariance of y given x), and
   F_red is proven equal to the VAE's matrix objective with covariance M.  Nothing
   about M is assumed: it emerges from minimising over the x-weights;
4. F - F_red is a quadratic form Q in (A - A*, C - C*) alone, positive definite when
   Sigma_xx is (its Schur complement is derived): at every stationary point the Hessian
   is congruent to diag(H_red, 2Q), so the CVAE's stationary points, their inertia and
   its thresholds are the VAE's on the residual covariance (:mod:`theory.derivation`).

Dang, Tran, Nguyen & Ho (arXiv 2306.05023, Theorem 2 and their code
``matrix_CVAE.py``) write W_1, W_2 for A, B, U_1, U_2 for U, C, eta_enc^2 for eta^2,
eta_dec^2 for sigma'^2 and theta_i for the eigenvalues of the residual covariance (their
E = D (I - Z^T Z) D^T); the document relates every convention.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import sympy as sp

from theory import objective as obj
from theory import symbols as S
from theory.derivation import Derivation, derive
from theory.expectation import second_moment_expectation, standard_normal_expectation
from theory.model import LinearVAE

#: Sizes of the generic instance on which the reduction is derived: d_x, d_y, k.
INSTANCE = (2, 2, 2)


@dataclass(frozen=True)
class ConditionalVAE:
    """The conditional linear VAE (module docstring).

    Parameters
    ----------
    encoder_variance, anisotropic
        As for :class:`theory.model.LinearVAE`: the encoder variances s_j^2.
    """

    encoder_variance: str = "learnable"
    anisotropic: bool = False

    def __post_init__(self) -> None:
        LinearVAE(self.encoder_variance, self.anisotropic)  # the same checks

    @property
    def family(self) -> str:
        """``cvae``: the command line's ``--family``."""
        return "cvae"

    @property
    def vae(self) -> LinearVAE:
        """The VAE with the same encoder variances (what the CVAE reduces to)."""
        return LinearVAE(self.encoder_variance, self.anisotropic)

    @property
    def name(self) -> str:
        """File name of the derivation: ``conditional-vae`` (learnable variances)."""
        kind = self.vae.kind
        return "conditional-vae" if kind == "learnable" else f"conditional-vae-{kind}"

    @property
    def title(self) -> str:
        """Human-readable title."""
        return f"the conditional linear VAE with {self.vae.title}"


def conditional_vae(encoder_variance: str = "learnable") -> ConditionalVAE:
    """The conditional linear VAE (Dang et al. 2024, 4.1); learnable variances by default."""
    vae = LinearVAE(encoder_variance)
    return ConditionalVAE(vae.encoder_variance, vae.anisotropic)


@dataclass(frozen=True)
class Instance:
    """A generic CVAE instance: every entry a free symbol."""

    Sxx: sp.Matrix
    Sxy: sp.Matrix
    Syy: sp.Matrix
    A: sp.Matrix
    B: sp.Matrix
    U: sp.Matrix
    C: sp.Matrix
    bias: sp.Matrix
    mean: sp.Matrix
    variances: list

    @property
    def covariance(self) -> sp.Matrix:
        """The joint covariance of (x, y)."""
        return sp.BlockMatrix([[self.Sxx, self.Sxy], [self.Sxy.T, self.Syy]]).as_explicit()


def _matrix(name: str, rows: int, cols: int) -> sp.Matrix:
    return sp.Matrix(rows, cols, lambda i, j: sp.Symbol(f"{name}_{i + 1}{j + 1}", real=True))


def _symmetric(name: str, n: int) -> sp.Matrix:
    return sp.Matrix(
        n, n, lambda i, j: sp.Symbol(f"{name}_{min(i, j) + 1}{max(i, j) + 1}", real=True)
    )


def generic_instance(spec: ConditionalVAE, dx: int, dy: int, k: int) -> Instance:
    """The instance of sizes (dx, dy, k) with symbolic covariances, weights and means."""
    return Instance(
        Sxx=_symmetric("Sigma_xx", dx),
        Sxy=_matrix("Sigma_xy", dx, dy),
        Syy=_symmetric("Sigma_yy", dy),
        A=_matrix("A", k, dx),
        B=_matrix("B", k, dy),
        U=_matrix("U", dy, k),
        C=_matrix("C", dy, dx),
        bias=sp.Matrix(sp.symbols(f"b_1:{dy + 1}", real=True)),
        mean=sp.Matrix(sp.symbols(f"m_1:{dy + 1}", real=True)),
        variances=spec.vae.latent_variances(k),
    )


def integrated_objective(spec: ConditionalVAE, inst: Instance) -> obj.ObjectiveTerms:
    """E[-log p(y | z, x)] and E[KL] of ``inst``, integrated from one reparameterised sample.

    z = A x~ + B y~ + diag(s) eps with centred x~, y~; the expectation over eps uses the
    standard normal moments, the one over the data only the joint covariance (the
    integrands are of degree two in the data: :func:`second_moment_expectation` refuses more).
    """
    dx, dy, k = inst.A.shape[1], inst.B.shape[1], inst.A.shape[0]
    xs = sp.Matrix(sp.symbols(f"x_1:{dx + 1}", real=True))
    ys = sp.Matrix(sp.symbols(f"y_1:{dy + 1}", real=True))
    eps = sp.symbols(f"epsilon_1:{k + 1}", real=True)
    s2 = inst.variances
    z = inst.A * xs + inst.B * ys + sp.Matrix([sp.sqrt(s2[j]) * eps[j] for j in range(k)])
    r = inst.mean + ys - inst.U * z - inst.C * xs - inst.bias
    sigma2, eta2 = spec.vae.decoder_variance, spec.vae.prior_variance
    nll = sp.Rational(dy, 2) * sp.log(2 * sp.pi * sigma2) + (r.T * r)[0, 0] / (2 * sigma2)
    log_q = sum(-sp.log(2 * sp.pi * s2[j]) / 2 - eps[j] ** 2 / 2 for j in range(k))
    log_p = sum(-sp.log(2 * sp.pi * eta2) / 2 - z[j] ** 2 / (2 * eta2) for j in range(k))

    def expect(expr: sp.Expr) -> sp.Expr:
        inner = standard_normal_expectation(expr, eps)
        return second_moment_expectation(inner, [*xs, *ys], inst.covariance)

    return obj.ObjectiveTerms(reconstruction=expect(nll), kl=expect(log_q - log_p))


def _solve_linear(expr: sp.Expr, unknowns: list[sp.Symbol]) -> dict[sp.Symbol, sp.Expr]:
    """The unique solution of d expr / d u = 0 for the ``unknowns`` (the equations are linear)."""
    solutions = sp.solve([sp.diff(expr, u) for u in unknowns], unknowns, dict=True)
    if len(solutions) != 1 or set(solutions[0]) != set(unknowns):
        raise ArithmeticError(f"expected one solution for {unknowns}, got {solutions}")
    return {u: sp.factor(sp.cancel(v)) for u, v in solutions[0].items()}


def _is_zero(expr) -> bool:
    if isinstance(expr, sp.MatrixBase):
        return all(_is_zero(e) for e in expr)
    return sp.cancel(sp.expand(sp.expand_log(expr, force=True))) == 0


#: Matrix symbols of the closed forms (sizes d_x, d_y, k symbolic).
_dx, _dy = sp.symbols("d_x d_y", integer=True, positive=True)
SIGMA_XX = sp.MatrixSymbol("Sigma_xx", _dx, _dx)
SIGMA_XY = sp.MatrixSymbol("Sigma_xy", _dx, _dy)
SIGMA_YY = sp.MatrixSymbol("Sigma_yy", _dy, _dy)
A_M = sp.MatrixSymbol("A", S.k, _dx)
B_M = sp.MatrixSymbol("B", S.k, _dy)
U_M = sp.MatrixSymbol("U", _dy, S.k)
C_M = sp.MatrixSymbol("C", _dy, _dx)


def residual_closed_form() -> sp.MatrixExpr:
    """Sigma_yy - Sigma_yx Sigma_xx^-1 Sigma_xy: the claim :attr:`ConditionalDerivation.residual`
    is identified with (checked on the generic instance)."""
    return SIGMA_YY - SIGMA_XY.T * SIGMA_XX.I * SIGMA_XY


def x_weights_closed_form() -> dict[str, sp.MatrixExpr]:
    """The solutions of the x-weight equations in matrix form (claims, checked).

    ``C``: the decoder's x-weight at given A, B, U, (I - U B) Sigma_yx Sigma_xx^-1 - U A;
    ``A``: the encoder's x-weight at given B, -B Sigma_yx Sigma_xx^-1 (then C* =
    Sigma_yx Sigma_xx^-1: the least-squares regression of y on x).
    """
    regression = SIGMA_XY.T * SIGMA_XX.I
    eye = sp.Identity(_dy)
    return {"C": (eye - U_M * B_M) * regression - U_M * A_M, "A": -B_M * regression}


def _values(inst: Instance) -> dict[str, sp.Matrix]:
    """The instance's matrices by the names of the closed forms' matrix symbols."""
    cov = obj.diagonal(inst.variances)
    return {"Sigma_xx": inst.Sxx, "Sigma_xy": inst.Sxy, "Sigma_yy": inst.Syy, "A": inst.A,
            "B": inst.B, "U": inst.U, "C": inst.C, "m": inst.mean, "b": inst.bias, "S": cov,
            "Z": cov}  # fmt: skip


def _explicit(expr, inst: Instance):
    """A closed form (matrix or scalar) evaluated on the instance's matrices."""
    k, dx, dy = inst.A.shape[0], inst.A.shape[1], inst.B.shape[1]
    e = expr.subs({_dx: dx, _dy: dy, S.k: k})
    values = _values(inst)
    e = e.xreplace({m: sp.ImmutableMatrix(values[m.name]) for m in e.atoms(sp.MatrixSymbol)})
    e = e.doit()
    # Traces and determinants of explicit products that doit left as they were.
    e = e.replace(lambda x: isinstance(x, sp.Trace), lambda x: sp.Matrix(x.arg.doit()).trace())
    e = e.replace(lambda x: isinstance(x, sp.Determinant), lambda x: sp.Matrix(x.arg).det())
    if isinstance(e, sp.MatrixBase | sp.MatrixExpr):
        return sp.Matrix(e).applyfunc(sp.cancel)
    return sp.expand(e)


def residual_of(Sxx: sp.Matrix, Sxy: sp.Matrix, Syy: sp.Matrix) -> sp.Matrix:
    """The residual covariance of explicit covariance blocks (the checked closed form)."""
    return sp.Matrix(Syy - Sxy.T * Sxx.inv() * Sxy).applyfunc(sp.simplify)


class ConditionalDerivation:
    """Inspectable derivation of the conditional VAE (module docstring, steps 1-4).

    Parameters
    ----------
    spec : ConditionalVAE
        The specification.
    sizes : tuple of int
        (d_x, d_y, k) of the generic instance.
    """

    def __init__(self, spec: ConditionalVAE, sizes: tuple[int, int, int] = INSTANCE) -> None:
        self.spec = spec
        self.sizes = sizes

    def __repr__(self) -> str:
        return f"ConditionalDerivation({self.spec!r})"

    @cached_property
    def instance(self) -> Instance:
        """The generic instance."""
        return generic_instance(self.spec, *self.sizes)

    # -- step 1 ----------------------------------------------------------------------
    @cached_property
    def objective(self) -> obj.ObjectiveTerms:
        """The integrated objective of the instance."""
        return integrated_objective(self.spec, self.instance)

    @cached_property
    def total(self) -> sp.Expr:
        """F = E[-log p] + beta E[KL] of the instance."""
        return sp.expand(self.objective.total)

    @cached_property
    def matrix_objective(self) -> obj.ObjectiveTerms:
        """The closed matrix form (matrix symbols; a claim, :attr:`matrix_form_verified`)."""
        eye = sp.Identity(_dy)
        inner = eye - U_M * B_M
        outer = U_M * A_M + C_M
        var = self.spec.vae
        k = S.k
        cov = sp.MatrixSymbol("S", k, k) if var.learnable else sp.MatrixSymbol("Z", k, k)
        if not var.learnable and not var.anisotropic:
            cov = S.zeta2 * sp.Identity(k)
        offset = sp.MatrixSymbol("m", _dy, 1) - sp.MatrixSymbol("b", _dy, 1)
        recon = sp.Rational(1, 2) * _dy * sp.log(2 * sp.pi * S.sigma2) + (
            sp.Trace(inner * SIGMA_YY * inner.T)
            - 2 * sp.Trace(inner * SIGMA_XY.T * outer.T)
            + sp.Trace(outer * SIGMA_XX * outer.T)
            + sp.Trace(U_M * cov * U_M.T)
            + sp.Trace(offset.T * offset)
        ) / (2 * S.sigma2)
        kl = (
            sp.Trace(A_M * SIGMA_XX * A_M.T)
            + 2 * sp.Trace(A_M * SIGMA_XY * B_M.T)
            + sp.Trace(B_M * SIGMA_YY * B_M.T)
        ) / (2 * S.eta2) + obj.variance_kl(var, cov, k)
        return obj.ObjectiveTerms(reconstruction=recon, kl=kl)

    @cached_property
    def matrix_form_verified(self) -> bool:
        """The matrix form equals the integrated objective of the instance."""
        m, integrated, inst = self.matrix_objective, self.objective, self.instance
        return _is_zero(_explicit(m.reconstruction, inst) - integrated.reconstruction) and (
            _is_zero(_explicit(m.kl, inst) - integrated.kl)
        )

    # -- step 2 ----------------------------------------------------------------------
    @cached_property
    def optimal_bias(self) -> dict[sp.Symbol, sp.Expr]:
        """dF/db = 0: b* = m_y."""
        return _solve_linear(self.total, list(self.instance.bias))

    @cached_property
    def decoder_x_weight(self) -> dict[sp.Symbol, sp.Expr]:
        """dF/dC = 0 at b*: C*(A, B, U), entry by entry."""
        at_bias = sp.expand(self.total.xreplace(self.optimal_bias))
        return _solve_linear(at_bias, list(self.instance.C))

    @cached_property
    def _after_c(self) -> sp.Expr:
        at = {**self.optimal_bias, **self.decoder_x_weight}
        return sp.expand(sp.together(self.total.xreplace(at)))

    @cached_property
    def encoder_x_weight(self) -> dict[sp.Symbol, sp.Expr]:
        """dF/dA = 0 at b*, C*(A): A*(B), entry by entry."""
        return _solve_linear(self._after_c, list(self.instance.A))

    @cached_property
    def x_weights_verified(self) -> bool:
        """The entry-wise solutions equal :func:`x_weights_closed_form` on the instance."""
        inst = self.instance
        forms = x_weights_closed_form()
        c = _explicit(forms["C"], inst)
        a = _explicit(forms["A"], inst)
        c_solved = inst.C.xreplace(self.decoder_x_weight)
        a_solved = inst.A.xreplace(self.encoder_x_weight)
        return _is_zero(c - c_solved) and _is_zero(a - a_solved)

    @cached_property
    def optimal_x_weights(self) -> dict[sp.Symbol, sp.Expr]:
        """b*, C* and A* together, C* at A*: C* = Sigma_yx Sigma_xx^-1."""
        a = self.encoder_x_weight
        c = {u: sp.factor(sp.cancel(v.xreplace(a))) for u, v in self.decoder_x_weight.items()}
        return {**self.optimal_bias, **c, **a}

    # -- step 3 ----------------------------------------------------------------------
    @cached_property
    def reduced(self) -> obj.ObjectiveTerms:
        """E[-log p] and E[KL] at b*, C*, A*: functions of B, U and the variances."""
        at = self.optimal_x_weights
        terms = self.objective

        def reduce(expr: sp.Expr) -> sp.Expr:
            return sp.expand(sp.cancel(sp.together(expr.xreplace(at))))

        return obj.ObjectiveTerms(reduce(terms.reconstruction), reduce(terms.kl))

    @cached_property
    def residual(self) -> sp.Matrix:
        """M_ab = eta^2 d^2 E[KL_red] / dB_1a dB_1b: read off the reduced objective."""
        B = self.instance.B
        kl = self.reduced.kl
        n = B.shape[1]
        # KL_red = tr(B M B^T) / (2 eta^2) + ...: for symmetric M the second derivative in
        # the first row of B is M_ac / eta^2, on and off the diagonal.
        return sp.Matrix(n, n, lambda a, c: sp.factor(S.eta2 * sp.diff(kl, B[0, a], B[0, c])))

    @cached_property
    def residual_verified(self) -> bool:
        """:attr:`residual` is :func:`residual_closed_form` on the instance."""
        return _is_zero(self.residual - _explicit(residual_closed_form(), self.instance))

    @cached_property
    def reduction_verified(self) -> bool:
        """F_red is the VAE's matrix objective with covariance :attr:`residual`."""
        inst = self.instance
        k = self.sizes[2]
        vae = obj.matrix_objective(
            self.spec.vae, inst.U, inst.B, self.residual, obj.diagonal(inst.variances),
            inst.mean, inst.mean, self.sizes[1], k,
        )  # fmt: skip
        red = self.reduced
        return _is_zero(vae.reconstruction.doit() - red.reconstruction) and _is_zero(
            vae.kl.doit() - red.kl
        )

    # -- step 4 ----------------------------------------------------------------------
    @cached_property
    def excess(self) -> tuple[sp.Expr, list[sp.Symbol]]:
        """F - F_red as a function of the displacements (A - A*, C - C*), and those symbols."""
        inst = self.instance
        dA = _matrix("Delta_A", *inst.A.shape)
        dC = _matrix("Delta_C", *inst.C.shape)
        opt = self.optimal_x_weights
        shift = {a: opt[a] + d for a, d in zip(inst.A, dA, strict=True)}
        shift |= {c: opt[c] + d for c, d in zip(inst.C, dC, strict=True)}
        shift |= self.optimal_bias
        diff = self.total.xreplace(shift) - self.reduced.total
        return sp.expand(sp.cancel(sp.together(diff))), [*dA, *dC]

    @cached_property
    def excess_is_quadratic(self) -> bool:
        """F - F_red is a quadratic form in the displacements (no constant or linear part)."""
        expr, deltas = self.excess
        poly = sp.Poly(expr, *deltas)
        return all(sum(m) == 2 for m in poly.monoms())

    @cached_property
    def excess_hessian(self) -> sp.Matrix:
        """Hessian of F - F_red in (vec A, vec C): constant, 2 Q."""
        expr, deltas = self.excess
        return sp.hessian(expr, deltas).applyfunc(sp.factor)

    @cached_property
    def excess_schur(self) -> tuple[sp.Matrix, sp.Matrix]:
        """(the C block of 2Q, its Schur complement on the A block).

        Both come out as Kronecker products with Sigma_xx (checked in
        :attr:`excess_positive_definite`): 2Q is positive definite iff Sigma_xx is
        (Haynsworth's inertia additivity).
        """
        h = self.excess_hessian
        na = self.instance.A.shape[0] * self.instance.A.shape[1]
        haa, hac, hcc = h[:na, :na], h[:na, na:], h[na:, na:]
        schur = (haa - hac * hcc.inv() * hac.T).applyfunc(sp.factor)
        return hcc, schur

    @cached_property
    def excess_positive_definite(self) -> bool:
        """C block = (1/sigma'^2) I (x) Sigma_xx, Schur complement = (beta/eta^2) I (x) Sigma_xx."""
        inst = self.instance
        hcc, schur = self.excess_schur
        dy, k = inst.C.shape[0], inst.A.shape[0]
        kron_c = sp.kronecker_product(sp.eye(dy), inst.Sxx) / S.sigma2
        kron_a = sp.kronecker_product(sp.eye(k), inst.Sxx) * S.beta / S.eta2
        return _is_zero(hcc - kron_c) and _is_zero(schur - kron_a)

    # -- the VAE it reduces to ---------------------------------------------------------
    @cached_property
    def vae(self) -> Derivation:
        """The derivation of the VAE on the residual covariance (:func:`theory.derive`)."""
        return derive(self.spec.vae)

    @cached_property
    def verified(self) -> bool:
        """Every check of steps 1-4 passed."""
        return all(
            (self.matrix_form_verified, self.x_weights_verified, self.residual_verified,
             self.reduction_verified, self.excess_is_quadratic, self.excess_positive_definite)
        )  # fmt: skip

    def run(self) -> ConditionalDerivation:
        """Compute every step now."""
        self.verified  # noqa: B018 - computes every check
        self.vae.run()
        return self


_CACHE: dict[ConditionalVAE, ConditionalDerivation] = {}


def derive_conditional(spec: ConditionalVAE | None = None) -> ConditionalDerivation:
    """The (cached) :class:`ConditionalDerivation` of ``spec`` (default: learnable variances)."""
    spec = spec or conditional_vae()
    if spec not in _CACHE:
        _CACHE[spec] = ConditionalDerivation(spec)
    return _CACHE[spec]
