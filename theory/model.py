"""Model specifications of the linear VAE family and their factories.

A specification says *what* the model is - prior, encoder, decoder, which
quantities are trained - and nothing about its solution; everything else is
derived from it by :class:`theory.derivation.Derivation`.  The factories at the
end of this module play the part of SymPy mechanics' ``models.py``: one small
function per member of the family.

The model (README, "Conventions and notation"; Lucas, Tucker, Grosse & Norouzi, "Don't Blame
the ELBO!", NeurIPS 2019, section 4; Wang & Ziyin, "Posterior Collapse of a
Linear Latent Variable Model", NeurIPS 2022, section 3; Dang, Tran, Nguyen & Ho,
"Beyond Vanilla Variational Autoencoders", ICLR 2024, arXiv 2306.05023, section 3)::

    p(z)   = N(0, eta^2 I_k)
    p(x|z) = N(W z + b, sigma'^2 I_d)                   (sigma'^2 fixed: control)
    q(z|x) = N(V (x - m), diag(s_1^2, ..., s_k^2))

minimising F = E_x E_q[-log p(x|z)] + beta E_x KL(q(z|x) || p(z)).  The encoder
variances s_j^2 are

* ``learnable``: trained, one per latent (the seed paper's model);
* ``fixed``, isotropic: s_j^2 = zeta^2 for every latent, not trained (zeta^2 = eta^2
  is the special case the command line calls ``fixed``);
* ``fixed``, anisotropic: s_j^2 = zeta_j^2, one fixed value per latent (Dang et al.,
  Theorem 1).

The per-mode problem (one latent paired with one eigen-direction) is the same for
both fixed models: the latent has its own fixed variance zeta^2.  They differ in how
the modes are assembled into the full model (which latent takes which direction).
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from theory import symbols as S

#: Short names of the encoder-variance variants (the command line's ``learnable``, ``fixed``).
ENCODER_VARIANCES: tuple[str, ...] = ("learnable", "fixed")


@dataclass(frozen=True)
class LinearVAE:
    """A member of the linear-VAE family.

    Parameters
    ----------
    encoder_variance : {"learnable", "fixed"}
        ``"learnable"``: each s_j^2 is trained (the seed paper's model).
        ``"fixed"``: s_j^2 is pinned and not trained.
    anisotropic : bool
        Only with ``"fixed"``: one fixed variance zeta_j^2 per latent instead of a
        common zeta^2.

    Notes
    -----
    The per-mode view used by the engine pairs one latent with one
    eigen-direction u of the data covariance: the encoder mean is ``v y`` with
    ``y = u^T (x - m)``, the decoder mean along ``u`` is ``w z``.
    """

    encoder_variance: str = "learnable"
    anisotropic: bool = False

    def __post_init__(self) -> None:
        if self.encoder_variance not in ENCODER_VARIANCES:
            raise ValueError(
                f"encoder_variance={self.encoder_variance!r}: expected one of "
                f"{', '.join(ENCODER_VARIANCES)}"
            )
        if self.anisotropic and self.encoder_variance != "fixed":
            raise ValueError("anisotropic=True: only a fixed encoder variance can be anisotropic")

    # -- identification -------------------------------------------------
    @property
    def learnable(self) -> bool:
        """True if the encoder variances are trained."""
        return self.encoder_variance == "learnable"

    @property
    def kind(self) -> str:
        """``learnable``, ``fixed-isotropic`` or ``fixed-anisotropic``."""
        if self.learnable:
            return "learnable"
        return "fixed-anisotropic" if self.anisotropic else "fixed-isotropic"

    @property
    def name(self) -> str:
        """Identifier used for file names: ``<kind>-encoder-variance``."""
        return f"{self.kind}-encoder-variance"

    @property
    def title(self) -> str:
        """Human-readable title."""
        return {
            "learnable": "learnable encoder variance",
            "fixed-isotropic": r"fixed isotropic encoder variance $s_j^2=\zeta^2$",
            "fixed-anisotropic": r"fixed anisotropic encoder variance $s_j^2=\zeta_j^2$",
        }[self.kind]

    @property
    def mode_spec(self) -> LinearVAE:
        """The specification whose per-mode problem this model has (anisotropic -> isotropic)."""
        return LinearVAE(self.encoder_variance) if self.anisotropic else self

    # -- per-mode model ---------------------------------------------------
    @property
    def mode_parameters(self) -> tuple[sp.Symbol, ...]:
        """Trained parameters of one latent paired with one eigen-direction."""
        return (S.w, S.v, S.s2) if self.learnable else (S.w, S.v)

    @property
    def encoder_variance_expr(self) -> sp.Expr:
        """The encoder variance s^2 of one latent as an expression (s^2 or zeta^2)."""
        return S.s2 if self.learnable else S.zeta2

    @property
    def law_arguments(self) -> tuple[sp.Symbol, ...]:
        """Arguments, in order, of every per-mode law numerics compiles.

        (lambda, sigma'^2, beta, eta^2), and the latent's fixed variance zeta^2 for the
        fixed models (for the anisotropic model: the variance of the latent the mode
        is paired with).
        """
        base = (S.lam, S.sigma2, S.beta, S.eta2)
        return base if self.learnable else (*base, S.zeta2)

    @property
    def prior_variance(self) -> sp.Expr:
        """Prior variance eta^2."""
        return S.eta2

    @property
    def decoder_variance(self) -> sp.Expr:
        """Decoder variance sigma'^2 (the control parameter)."""
        return S.sigma2

    def latent_sample(self) -> sp.Expr:
        """Reparameterised sample z = v y + s eps of one latent."""
        return S.v * S.y + sp.sqrt(self.encoder_variance_expr) * S.eps

    def decoder_mean(self, z: sp.Expr) -> sp.Expr:
        """Decoder mean along the eigen-direction, given the latent ``z``."""
        return S.w * z

    @property
    def collapsed_point(self) -> dict[sp.Symbol, sp.Expr]:
        """The collapsed parameters: q(z|x) does not depend on x.

        With a learnable variance the collapsed posterior is the prior (s^2 = eta^2);
        with a fixed one it is N(0, zeta^2), the prior only when zeta^2 = eta^2.
        """
        point = {S.w: sp.S.Zero, S.v: sp.S.Zero}
        if self.learnable:
            point[S.s2] = S.eta2
        return point

    # -- the full model -----------------------------------------------------
    def latent_variances(self, k: int) -> list[sp.Expr]:
        """Encoder variances s_1^2 .. s_k^2 of a generic k-latent instance.

        Learnable: fresh positive symbols; isotropic: zeta^2 each; anisotropic:
        zeta_1^2 .. zeta_k^2 (the indexed ``ZETA2``).
        """
        if self.learnable:
            return [sp.Symbol(f"s2_{j + 1}", positive=True) for j in range(k)]
        if self.anisotropic:
            return [S.ZETA2[j + 1] for j in range(k)]
        return [S.zeta2] * k


def learnable_encoder_variance() -> LinearVAE:
    """The seed paper's linear VAE: every encoder variance s_j^2 is trained."""
    return LinearVAE(encoder_variance="learnable")


def fixed_encoder_variance() -> LinearVAE:
    """Fixed isotropic encoder variance s_j^2 = zeta^2 (symbol ``zeta2``; may differ from eta^2)."""
    return LinearVAE(encoder_variance="fixed")


def fixed_anisotropic_encoder_variance() -> LinearVAE:
    """Fixed anisotropic encoder variance s_j^2 = zeta_j^2 (Dang et al. 2024, Theorem 1)."""
    return LinearVAE(encoder_variance="fixed", anisotropic=True)


#: Every name :func:`linear_vae` accepts, and the factory it calls.
_FACTORIES = {
    "learnable": learnable_encoder_variance,
    "fixed": fixed_encoder_variance,
    "fixed-isotropic": fixed_encoder_variance,
    "fixed-anisotropic": fixed_anisotropic_encoder_variance,
}


def linear_vae(encoder_variance: str = "learnable") -> LinearVAE:
    """The linear VAE named ``encoder_variance``.

    Accepts the short names ``learnable`` and ``fixed`` (isotropic), the kinds
    ``fixed-isotropic`` and ``fixed-anisotropic``, and every :attr:`LinearVAE.name`.
    """
    key = encoder_variance.removesuffix("-encoder-variance")
    if key not in _FACTORIES:
        raise ValueError(
            f"encoder_variance={encoder_variance!r}: expected one of {', '.join(_FACTORIES)}"
        )
    return _FACTORIES[key]()


def all_models() -> tuple[LinearVAE, ...]:
    """Every model the engine derives and documents, in a fixed order."""
    return (
        learnable_encoder_variance(),
        fixed_encoder_variance(),
        fixed_anisotropic_encoder_variance(),
    )
