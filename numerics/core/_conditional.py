"""The conditional linear VAE's numbers: the VAE's laws on the residual spectrum.

:mod:`theory.conditional` derives that at the optimum over the x-weights the conditional
VAE's objective is the VAE's on the residual covariance of y given x, with a positive
definite excess in the x-weights: same stationary points, inertia, laws and thresholds,
with lambda the eigenvalues of Sigma_yy - Sigma_yx Sigma_xx^-1 Sigma_xy.  This module
asks the theory whether that reduction was verified (cached on disk like every law) and
then evaluates the VAE's laws (:mod:`numerics.core._optimum`, :mod:`numerics.core._maps`)
on the residual eigenvalues (from data: :mod:`numerics.spectra._condition`).
"""

from __future__ import annotations

from typing import Any

from numerics.core._bridge import family_expressions
from numerics.core._maps import MapResult, collapse_map
from numerics.core._model import resolve_model
from numerics.core._optimum import OptimumResult, ThresholdResult, optimum, thresholds
from theory.conditional import ConditionalVAE, derive_conditional
from theory.model import LinearVAE


def reduction(spec: ConditionalVAE) -> LinearVAE:
    """The VAE the conditional VAE reduces to, after the theory's checks (disk-cached).

    Raises
    ------
    ArithmeticError
        If any step of :class:`theory.conditional.ConditionalDerivation` failed its check.
    """

    def derived() -> dict:
        d = derive_conditional(spec)
        return {"verified": bool(d.verified), "vae": spec.vae.name}

    facts = family_expressions(spec.name, derived)
    if not facts["verified"] or facts["vae"] != spec.vae.name:
        raise ArithmeticError(f"{spec.name}: the reduction to the VAE did not verify")
    return spec.vae


def _checked(encoder_variance: Any, zeta2: Any = None) -> None:
    """The theory's reduction holds for the model these arguments name."""
    model = resolve_model(encoder_variance, zeta2, latent_dim=_count(encoder_variance, zeta2))
    reduction(ConditionalVAE(model.spec.encoder_variance, model.spec.anisotropic))


def _count(encoder_variance: Any, zeta2: Any) -> int:
    """How many latents the fixed values name (1 when they are one or none)."""
    if isinstance(encoder_variance, str) and ":" in encoder_variance:
        return len(encoder_variance.split(":", 1)[1].split(","))
    return len(zeta2) if isinstance(zeta2, list | tuple) else 1


def conditional_thresholds(
    residual_eigenvalues, beta: float = 1.0, **model: Any
) -> ThresholdResult:
    """Critical sigma'^2 of the conditional VAE: the VAE's at the residual eigenvalues."""
    _checked(model.get("encoder_variance", "learnable"), model.get("zeta2"))
    return thresholds(residual_eigenvalues, beta, **model)


def conditional_optimum(residual_eigenvalues, sigma2: float, beta: float = 1.0,
                        **model: Any) -> OptimumResult:  # fmt: skip
    """The conditional VAE's optimum: per latent, the VAE's at the residual eigenvalues.

    Examples
    --------
    Dang et al. (2024): Sigma_yy = diag(4, 2, 1), Sigma_xx = I, Sigma_xy = diag(1, 0.5, 0)
    have residual eigenvalues 3, 1.75, 1; at beta = 1, sigma'^2 = 1.5:

    >>> r = conditional_optimum([3, 1.75, 1], sigma2=1.5)
    >>> [round(m.kl, 6) for m in r.modes]
    [0.346574, 0.077075, 0.0]
    """
    _checked(model.get("encoder_variance", "learnable"), model.get("zeta2"))
    return optimum(residual_eigenvalues, sigma2, beta, **model)


def conditional_map(residual_eigenvalues, **options: Any) -> MapResult:
    """:func:`numerics.core._maps.collapse_map` at the residual eigenvalues."""
    _checked(options.get("encoder_variance", "learnable"), options.get("zeta2"))
    return collapse_map(residual_eigenvalues, **options)
