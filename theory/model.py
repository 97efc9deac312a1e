"""Model specifications of the linear VAE family and their factories.

A specification says *what* the model is - prior, encoder, decoder, which
quantities are trained - and nothing about its solution; everything else is
derived from it by :class:`theory.derivation.Derivation`.

The model (README, "Conventions and notation"; Lucas, Tucker, Grosse & Norouzi, "Don't Blame
the ELBO!", NeurIPS 2019, section 4; Wang & Ziyin, "Posterior Collapse of a
Linear Latent Variable Model", NeurIPS 2022, section 3)::

    p(z)   = N(0, eta^2 I_k)
    p(x|z) = N(W z + b, sigma'^2 I_d)                   (sigma'^2 fixed: control)
    q(z|x) = N(V (x - m), diag(s_1^2, ..., s_k^2))

minimising F = E_x E_q[-log p(x|z)] + beta E_x KL(q(z|x) || p(z)).
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from theory import symbols as S

#: Encoder-variance variants the engine derives completely.
ENCODER_VARIANCES: tuple[str, ...] = ("learnable", "fixed")


@dataclass(frozen=True)
class LinearVAE:
    """A member of the linear-VAE family.

    Parameters
    ----------
    encoder_variance : {"learnable", "fixed"}
        ``"learnable"``: each s_j^2 is trained (the seed paper's model).
        ``"fixed"``: s_j^2 = eta^2 for every latent and is not trained.

    Notes
    -----
    The per-mode view used by the engine pairs one latent with one
    eigen-direction u of the data covariance: the encoder mean is ``v y`` with
    ``y = u^T (x - m)``, the decoder mean along ``u`` is ``w z``. A new variant
    (learnable decoder variance, data-dependent encoder variance, ...) adds a
    field here and a branch in the properties below; the engine only asks the
    specification for its trained parameters and its distributions.
    """

    encoder_variance: str = "learnable"

    def __post_init__(self) -> None:
        if self.encoder_variance not in ENCODER_VARIANCES:
            raise ValueError(
                f"encoder_variance={self.encoder_variance!r}: expected one of "
                f"{', '.join(ENCODER_VARIANCES)}"
            )

    # -- identification -------------------------------------------------
    @property
    def name(self) -> str:
        """Short identifier, used for file names and the CLI."""
        return f"{self.encoder_variance}-encoder-variance"

    @property
    def title(self) -> str:
        """Human-readable title."""
        return f"Linear VAE with {self.encoder_variance} encoder variance"

    # -- per-mode model ---------------------------------------------------
    @property
    def mode_parameters(self) -> tuple[sp.Symbol, ...]:
        """Trained parameters of one latent paired with one eigen-direction."""
        if self.encoder_variance == "learnable":
            return (S.w, S.v, S.s2)
        return (S.w, S.v)

    @property
    def encoder_variance_expr(self) -> sp.Expr:
        """The encoder variance s^2 of one latent as an expression."""
        return S.s2 if self.encoder_variance == "learnable" else S.eta2

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
        """The posterior-collapse parameters: q(z|x) = p(z) for every x."""
        point = {S.w: sp.S.Zero, S.v: sp.S.Zero}
        if self.encoder_variance == "learnable":
            point[S.s2] = S.eta2
        return point


def learnable_encoder_variance() -> LinearVAE:
    """The seed paper's linear VAE: encoder variances are trained."""
    return LinearVAE(encoder_variance="learnable")


def fixed_encoder_variance() -> LinearVAE:
    """Linear VAE whose encoder variance is pinned to the prior's, s^2 = eta^2."""
    return LinearVAE(encoder_variance="fixed")


def linear_vae(encoder_variance: str = "learnable") -> LinearVAE:
    """Return the linear VAE with the named encoder-variance variant."""
    return LinearVAE(encoder_variance=encoder_variance)


def all_models() -> tuple[LinearVAE, ...]:
    """Every variant the engine derives, in a fixed order."""
    return tuple(LinearVAE(e) for e in ENCODER_VARIANCES)
