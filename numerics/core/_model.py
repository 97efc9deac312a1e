"""A concrete member of the linear-VAE family: its specification and its numbers.

:func:`resolve_model` turns what a caller gives - a specification
(``theory.learnable_encoder_variance()``, ...) or a name (``learnable``, ``fixed``,
``fixed:0.25,0.64,1``), the fixed variances zeta^2 and the prior variance eta^2 -
into a :class:`Model`: the specification the laws are derived for, one fixed
variance per latent, and the pairing of latents with eigen-directions that the
theory derives (``Derivation.pairing``: the smallest zeta^2 takes the largest
eigenvalue).  Every result records :meth:`Model.record` as its ``model``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from numbers import Real
from typing import Any

import numpy as np

from numerics.core._validation import (
    InputError,
    check_latent_dim,
    check_positive,
    parse_encoder_variance,
)
from theory import (
    LinearVAE,
    fixed_anisotropic_encoder_variance,
    fixed_encoder_variance,
    learnable_encoder_variance,
    linear_vae,
)


@dataclass(frozen=True)
class Model:
    """Specification plus numbers: prior variance, fixed variances, number of latents.

    Attributes
    ----------
    spec : LinearVAE
        The specification whose laws are evaluated.
    latent_dim : int
        Number of latents k.
    eta2 : float
        Prior variance.
    zeta2 : tuple of float or None
        Fixed encoder variance of each latent (None: learnable).
    zeta2_exact : tuple of Fraction or None
        The same values as exact rationals (the decimals given, or a float's binary value).
    """

    spec: LinearVAE
    latent_dim: int
    eta2: float
    zeta2: tuple[float, ...] | None = None
    zeta2_exact: tuple[Fraction, ...] | None = None

    @property
    def label(self) -> str:
        """``learnable``, ``fixed`` (isotropic) or ``fixed-anisotropic``."""
        return "fixed-anisotropic" if self.spec.anisotropic else self.spec.encoder_variance

    def describe(self) -> str:
        """One line for the command line, e.g. ``fixed, zeta2 = 0.25, 0.64, 1``."""
        if self.zeta2 is None:
            return "learnable"
        values = self.zeta2 if self.spec.anisotropic else self.zeta2[:1]
        return f"{self.label}, zeta2 = {', '.join(f'{z:g}' for z in values)}"

    def record(self) -> dict[str, Any]:
        """The ``model`` entry of every JSON output."""
        return {
            "encoder_variance": self.label,
            "specification": self.spec.name,
            "zeta2": None if self.zeta2 is None else list(self.zeta2),
            "eta2": self.eta2,
            "latent_dim": self.latent_dim,
        }

    def zeta2_array(self) -> np.ndarray | None:
        """Fixed variances per latent as an array (None: learnable)."""
        return None if self.zeta2 is None else np.array(self.zeta2, dtype=float)

    def pairing(self, variance_order: str | None) -> np.ndarray:
        """``order[r]`` = the latent (0-based) that takes the r-th largest eigenvalue.

        ``variance_order`` is the derived rule (``PairingRule.variance_order``):
        ``ascending`` pairs the smallest zeta^2 with the largest eigenvalue; ties keep
        the latents' order.  Learnable and isotropic latents are interchangeable.
        """
        k = self.latent_dim
        if self.zeta2 is None or not self.spec.anisotropic or variance_order is None:
            return np.arange(k)
        z = np.asarray(self.zeta2, dtype=float)
        key = z if variance_order == "ascending" else -z
        return np.argsort(key, kind="stable")

    def zeta2_by_direction(self, variance_order: str | None) -> np.ndarray | None:
        """Fixed variance of the latent paired with each of the top k directions."""
        z = self.zeta2_array()
        return None if z is None else z[self.pairing(variance_order)]


def _spec_of(encoder_variance: str | LinearVAE) -> tuple[LinearVAE, list | None]:
    if isinstance(encoder_variance, LinearVAE):
        return encoder_variance, None
    if not isinstance(encoder_variance, str):
        raise InputError(
            f"encoder_variance={encoder_variance!r}: expected a name or a LinearVAE specification"
        )
    if ":" in encoder_variance:
        variant, values = parse_encoder_variance(encoder_variance)
        return linear_vae(variant), values
    try:
        return linear_vae(encoder_variance), None
    except ValueError:
        raise InputError(
            f"encoder_variance={encoder_variance!r}: expected learnable, fixed, fixed:Z or "
            "fixed:Z1,Z2,..."
        ) from None


def _values(zeta2: Any) -> list | None:
    if zeta2 is None:
        return None
    if isinstance(zeta2, Real | Fraction) and not isinstance(zeta2, bool):
        return [zeta2]
    if isinstance(zeta2, Sequence | np.ndarray) and not isinstance(zeta2, str):
        return list(np.asarray(zeta2, dtype=object).ravel())
    raise InputError(f"zeta2={zeta2!r}: expected a positive number or one per latent")


def resolve_model(
    encoder_variance: str | LinearVAE = "learnable",
    zeta2: Any = None,
    eta2: float = 1.0,
    latent_dim: int | None = None,
    d: int | None = None,
) -> Model:
    """The :class:`Model` a caller means (see the module docstring).

    Parameters
    ----------
    encoder_variance : str or LinearVAE
        ``learnable``, ``fixed`` (zeta^2 = eta^2 unless ``zeta2`` is given), ``fixed:Z``,
        ``fixed:Z1,...,Zk``, ``fixed-anisotropic``, or a specification.
    zeta2 : number or sequence, optional
        Fixed variances: one value (isotropic) or one per latent (anisotropic).
    eta2 : float
        Prior variance (> 0).
    latent_dim, d : int, optional
        Number of latents (default ``d``) and the data dimension it may not exceed.

    Raises
    ------
    InputError
        A learnable model given variances, a wrong number of variances, a value that is
        not finite and > 0, an unknown name.
    """
    eta2_given = eta2  # kept exact: the default zeta^2 is eta^2 as given (e.g. 7/10)
    eta2 = check_positive("eta2", eta2)
    spec, parsed = _spec_of(encoder_variance)
    if parsed is not None and zeta2 is not None:
        raise InputError(f"encoder_variance={encoder_variance!r} and zeta2: give the values once")
    values = parsed if parsed is not None else _values(zeta2)
    k = check_latent_dim(latent_dim, d if d is not None else latent_dim or 1)
    if spec.learnable:
        if values is not None:
            raise InputError(f"zeta2={values}: a learnable encoder variance takes no fixed values")
        return Model(learnable_encoder_variance(), k, eta2)
    if values is None:
        if spec.anisotropic:
            raise InputError("fixed-anisotropic: expected one zeta2 per latent")
        values = [eta2_given]
    for v in values:
        check_positive("zeta2", float(v) if isinstance(v, Real | Fraction) else v)
    if len(values) not in (1, k) or (spec.anisotropic and len(values) != k):
        raise InputError(
            f"zeta2 has {len(values)} values for {k} latents: expected one value or one per latent"
        )
    aniso = len(values) > 1 or spec.anisotropic
    new_spec = fixed_anisotropic_encoder_variance() if aniso else fixed_encoder_variance()
    full = values * k if len(values) == 1 else values
    # Every float is a binary rational: Fraction(v) is exact for floats, ints and Fractions.
    exact = tuple(Fraction(v) for v in full)
    return Model(new_spec, k, eta2, tuple(float(v) for v in full), exact)
