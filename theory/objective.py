"""Step a: the expected negative ELBO, in matrix form and per mode.

The objective per data point (README, "Conventions and notation") is::

    F = E_x E_q[-log p(x|z)] + beta * E_x KL(q(z|x) || p(z)).

Nothing here is typed as a closed form and trusted: :func:`expected_objective`
builds the random integrand of a concrete linear VAE (explicit matrices of
symbols) and integrates it with :mod:`theory.expectation`.  The closed matrix
form of :func:`matrix_objective` is a *claim*; :func:`check_matrix_form`
proves it equal to the integrated objective for a generic instance, and
:func:`check_reduction` proves that, in the eigenbasis of the covariance and
with latents aligned to eigen-directions, it splits into independent per-mode
objectives.  That aligned solutions contain the global optima of the linear
VAE is Lucas et al. (NeurIPS 2019), section 4.1 and Appendix C; the test-suite
confirms it by unrestricted numerical minimisation of the full objective.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import sympy as sp

from theory import symbols as S
from theory.expectation import second_moment_expectation, standard_normal_expectation
from theory.model import LinearVAE


@dataclass(frozen=True)
class ObjectiveTerms:
    """The two parts of the objective, F = reconstruction + beta * kl."""

    reconstruction: sp.Expr
    kl: sp.Expr

    @property
    def total(self) -> sp.Expr:
        """F = reconstruction + beta * KL."""
        return self.reconstruction + S.beta * self.kl


def _encoder_variances(spec: LinearVAE, k: int) -> list[sp.Expr]:
    return spec.latent_variances(k)


def random_integrands(spec: LinearVAE) -> ObjectiveTerms:
    """Per-mode integrands before any expectation: -log p(y|z) and log q - log p.

    With z = v y + s eps (one reparameterised sample), these are the random
    quantities whose expectation over eps and over the data is the objective.
    """
    z = spec.latent_sample()
    s2 = spec.encoder_variance_expr
    neg_log_lik = sp.log(2 * sp.pi * S.sigma2) / 2 + (S.y - spec.decoder_mean(z)) ** 2 / (
        2 * S.sigma2
    )
    log_q = -sp.log(2 * sp.pi * s2) / 2 - S.eps**2 / 2
    log_p = -sp.log(2 * sp.pi * spec.prior_variance) / 2 - z**2 / (2 * spec.prior_variance)
    return ObjectiveTerms(reconstruction=neg_log_lik, kl=log_q - log_p)


def latent_kl() -> sp.Expr:
    """KL(N(mu, s^2) || N(0, eta^2)) of one latent, integrated from its random integrand.

    With z = mu + s eps, the integrand log q(z) - log p(z) is integrated over eps
    exactly (:func:`standard_normal_expectation`); the result is the textbook Gaussian
    KL (Kingma & Welling 2014, Appendix B), here derived rather than assumed.  The
    trainers evaluate it (through :mod:`numerics.core._bridge`) at every data point.
    """
    z = S.mu + sp.sqrt(S.s2) * S.eps
    log_q = -sp.log(2 * sp.pi * S.s2) / 2 - S.eps**2 / 2
    log_p = -sp.log(2 * sp.pi * S.eta2) / 2 - z**2 / (2 * S.eta2)
    kl = standard_normal_expectation(log_q - log_p, [S.eps])
    return sp.expand(sp.expand_log(kl, force=True))


def reconstruction_constant(spec: LinearVAE) -> sp.Expr:
    """The Gaussian normaliser of -log p(x|z) per data dimension, 1/2 log(2 pi sigma'^2).

    The value of the unpaired direction's objective on data without variance
    (lambda = 0): what -log p costs when the reconstruction is exact.
    """
    return unpaired_objective(spec).subs(S.lam, 0)


def expected_objective(
    spec: LinearVAE,
    decoder: sp.Matrix,
    encoder: sp.Matrix,
    covariance: sp.Matrix,
    mean: sp.Matrix,
    bias: sp.Matrix,
    encoder_variances: list[sp.Expr] | None = None,
) -> ObjectiveTerms:
    """Integrate the objective of an explicit linear VAE exactly.

    Parameters
    ----------
    spec : LinearVAE
        The variant (decides whether encoder variances are trained).
    decoder, encoder : sympy.Matrix
        W (d x k) and V (k x d).
    covariance : sympy.Matrix
        Sigma (d x d), E[(x - m)(x - m)^T].
    mean, bias : sympy.Matrix
        m and b (d x 1).
    encoder_variances : list, optional
        s_j^2; default: :meth:`LinearVAE.latent_variances`.
    """
    d, k = decoder.shape
    ys = sp.symbols(f"y_1:{d + 1}", real=True)
    noises = sp.symbols(f"epsilon_1:{k + 1}", real=True)
    s2 = _encoder_variances(spec, k) if encoder_variances is None else encoder_variances
    eta2, sigma2 = spec.prior_variance, spec.decoder_variance
    x = mean + sp.Matrix(ys)
    z = encoder * sp.Matrix(ys) + sp.Matrix(k, 1, [sp.sqrt(s2[j]) * noises[j] for j in range(k)])
    residual = x - decoder * z - bias
    neg_log_lik = sp.Rational(d, 2) * sp.log(2 * sp.pi * sigma2) + (residual.T * residual)[0, 0] / (
        2 * sigma2
    )
    log_q = sum(-sp.log(2 * sp.pi * s2[j]) / 2 - noises[j] ** 2 / 2 for j in range(k))
    log_p = sum(-sp.log(2 * sp.pi * eta2) / 2 - z[j] ** 2 / (2 * eta2) for j in range(k))

    def expect(expr: sp.Expr) -> sp.Expr:
        inner = standard_normal_expectation(expr, noises)
        return second_moment_expectation(inner, ys, covariance)

    return ObjectiveTerms(reconstruction=expect(neg_log_lik), kl=expect(log_q - log_p))


def variance_kl(spec: LinearVAE, encoder_cov, k) -> sp.Expr:
    """The part of E[KL] that depends on the encoder variances alone.

    Learnable: 1/2 [tr(S)/eta^2 - k + k log eta^2 - log det S] (Kingma & Welling 2014,
    Appendix B).  Fixed: a constant, 1/2 sum_j [zeta_j^2/eta^2 - 1 - log(zeta_j^2/eta^2)],
    written as such (k times one term when isotropic, a sum over latents when not):
    the floor of the KL, zero only when every zeta_j^2 = eta^2.
    """
    eta2 = spec.prior_variance
    if spec.learnable:
        return (
            sp.Trace(encoder_cov) / eta2
            - k
            + k * sp.log(eta2)
            - sp.log(sp.Determinant(encoder_cov))
        ) / 2

    def floor(x: sp.Expr) -> sp.Expr:
        return (x / eta2 - 1 - sp.log(x / eta2)) / 2

    if not spec.anisotropic:
        return k * floor(S.zeta2)
    total = sp.Sum(floor(S.ZETA2[S.j]), (S.j, 1, k))
    return total.doit() if isinstance(k, int) else total


def matrix_objective(
    spec: LinearVAE,
    decoder,
    encoder,
    covariance,
    encoder_cov,
    mean,
    bias,
    d,
    k,
) -> ObjectiveTerms:
    """The closed matrix form of the expected objective (a claim, checked).

    ::

        E[-log p] = d/2 log(2 pi sigma'^2)
                    + [tr((I - W V) Sigma (I - W V)^T) + tr(W S W^T) + |m - b|^2] / (2 sigma'^2)
        E[KL]     = tr(V Sigma V^T) / (2 eta^2) + (variance part, :func:`variance_kl`)

    (Kingma & Welling 2014, Appendix B, for the Gaussian KL; Lucas et al. 2019,
    eq. 7, for the linear VAE.)  Works on matrix symbols (display) and on
    explicit matrices (checks): pass ``d`` and ``k`` as symbols or integers.
    """
    eye_d = sp.Identity(d) if isinstance(d, sp.Symbol) else sp.eye(d)
    residual = eye_d - decoder * encoder
    offset = mean - bias
    recon = sp.Rational(1, 2) * d * sp.log(2 * sp.pi * spec.decoder_variance) + (
        sp.Trace(residual * covariance * residual.T)
        + sp.Trace(decoder * encoder_cov * decoder.T)
        + sp.Trace(offset.T * offset)
    ) / (2 * spec.decoder_variance)
    kl = sp.Trace(encoder * covariance * encoder.T) / (2 * spec.prior_variance) + variance_kl(
        spec, encoder_cov, k
    )
    return ObjectiveTerms(reconstruction=recon, kl=kl)


def symbolic_matrix_objective(spec: LinearVAE) -> ObjectiveTerms:
    """:func:`matrix_objective` on matrix symbols of symbolic size d x k.

    The encoder covariance is S (learnable), zeta^2 I (isotropic) or Z =
    diag(zeta_1^2, ..., zeta_k^2) (anisotropic).
    """
    d, k = sp.symbols("d", integer=True, positive=True), S.k
    if spec.learnable:
        enc_cov = sp.MatrixSymbol("S", k, k)
    elif spec.anisotropic:
        enc_cov = sp.MatrixSymbol("Z", k, k)
    else:
        enc_cov = S.zeta2 * sp.Identity(k)
    return matrix_objective(
        spec,
        sp.MatrixSymbol("W", d, k),
        sp.MatrixSymbol("V", k, d),
        sp.MatrixSymbol("Sigma", d, d),
        enc_cov,
        sp.MatrixSymbol("m", d, 1),
        sp.MatrixSymbol("b", d, 1),
        d,
        k,
    )


def diagonal(values: list[sp.Expr]) -> sp.Matrix:
    """diag(values); unlike :func:`sympy.diag`, accepts indexed entries such as zeta2[1]."""
    n = len(values)
    return sp.Matrix(n, n, lambda i, j: values[i] if i == j else sp.S.Zero)


def _generic_instance(d: int, k: int):
    def mat(name: str, rows: int, cols: int) -> sp.Matrix:
        return sp.Matrix(rows, cols, lambda i, j: sp.Symbol(f"{name}_{i + 1}{j + 1}", real=True))

    cov = mat("Sigma", d, d)
    cov = (cov + cov.T) / 2  # a covariance is symmetric; the claim holds for any
    return mat("W", d, k), mat("V", k, d), cov, mat("m", d, 1), mat("b", d, 1)


def _is_zero(expr: sp.Expr) -> bool:
    return sp.expand(sp.expand_log(expr, force=True)) == 0


@cache
def _integrated_generic(spec: LinearVAE, d: int, k: int) -> ObjectiveTerms:
    if not spec.learnable and not spec.anisotropic:
        # The isotropic model is the anisotropic one with every zeta_j^2 = zeta^2: the
        # same integral, with the variances set equal afterwards.
        aniso = _integrated_generic(LinearVAE("fixed", anisotropic=True), d, k)
        same = {S.ZETA2[j + 1]: S.zeta2 for j in range(k)}
        return ObjectiveTerms(aniso.reconstruction.xreplace(same), aniso.kl.xreplace(same))
    W, V, cov, m, b = _generic_instance(d, k)
    return expected_objective(spec, W, V, cov, m, b)


def check_matrix_form(spec: LinearVAE, d: int = 3, k: int = 2) -> bool:
    """Prove the matrix form equal to the integrated objective for generic d x k."""
    W, V, cov, m, b = _generic_instance(d, k)
    s2 = _encoder_variances(spec, k)
    integrated = _integrated_generic(spec, d, k)
    closed = matrix_objective(spec, W, V, cov, diagonal(s2), m, b, d, k)
    return _is_zero(integrated.reconstruction - closed.reconstruction.doit()) and _is_zero(
        integrated.kl - closed.kl.doit()
    )


def optimal_bias(spec: LinearVAE, d: int = 3, k: int = 2) -> dict[sp.Symbol, sp.Expr]:
    """Solve dF/db = 0 on a generic instance: the optimal bias is b = m."""
    b = _generic_instance(d, k)[4]
    total = _integrated_generic(spec, d, k).total
    return sp.solve([sp.diff(total, bi) for bi in b], list(b), dict=True)[0]


def mode_objective(spec: LinearVAE) -> ObjectiveTerms:
    """Objective of one latent paired with one eigen-direction of eigenvalue lambda."""
    one = sp.Matrix([[sp.S.Zero]])
    return expected_objective(
        spec,
        sp.Matrix([[S.w]]),
        sp.Matrix([[S.v]]),
        sp.Matrix([[S.lam]]),
        one,
        one,
        [spec.encoder_variance_expr],
    )


def unpaired_objective(spec: LinearVAE) -> sp.Expr:
    """Objective of an eigen-direction no latent is paired with (no KL term)."""
    zero = sp.Matrix([[sp.S.Zero]])
    terms = expected_objective(
        spec, sp.zeros(1, 0), sp.zeros(0, 1), sp.Matrix([[S.lam]]), zero, zero, []
    )
    return terms.reconstruction


def check_reduction(spec: LinearVAE, d: int = 3, k: int = 2) -> bool:
    """Prove that aligned parameters split the objective into per-mode terms.

    In the eigenbasis Sigma = diag(lambda_1, ..., lambda_d); latent j is paired
    with direction j (W = [diag(w); 0], V = [diag(v), 0]) and the bias is
    optimal.  The integrated objective must equal the sum of
    :func:`mode_objective` over the k paired directions plus
    :func:`unpaired_objective` over the d - k others.
    """
    lams = sp.symbols(f"lambda_1:{d + 1}", positive=True)
    ws = sp.symbols(f"w_1:{k + 1}", real=True)
    vs = sp.symbols(f"v_1:{k + 1}", real=True)
    s2 = _encoder_variances(spec, k)
    W = sp.zeros(d, k)
    V = sp.zeros(k, d)
    for j in range(k):
        W[j, j], V[j, j] = ws[j], vs[j]
    m = sp.Matrix(sp.symbols(f"m_1:{d + 1}", real=True))
    total = expected_objective(spec, W, V, sp.diag(*lams), m, m, s2).total
    per_mode = mode_objective(spec).total
    unpaired = unpaired_objective(spec)
    var = spec.encoder_variance_expr
    expected = sum(
        per_mode.subs({S.w: ws[j], S.v: vs[j], var: s2[j], S.lam: lams[j]}, simultaneous=True)
        for j in range(k)
    ) + sum(unpaired.subs(S.lam, lams[i]) for i in range(k, d))
    return _is_zero(total - expected)
