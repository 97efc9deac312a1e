"""Optimum and collapse thresholds of a linear VAE for a given spectrum.

The model decouples along the eigenvectors of the data covariance
(``theory.objective``): latent j is paired with the j-th largest eigenvalue
(the activation gain decreases with lambda, ``Derivation.gain_decreases_with_lambda``)
and each pair is at the optimum of its own per-mode problem, active iff
lambda_j > lambda_c(sigma'^2, beta) (= beta sigma'^2 for both variants); data
directions beyond the k-th carry only their reconstruction cost.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from numerics.core._bridge import compiled_laws
from numerics.core._validation import (
    check_encoder_variance,
    check_latent_dim,
    check_positive,
    check_spectrum,
)


@dataclass(frozen=True)
class ModeOptimum:
    """The optimum of one latent, paired with eigenvalue ``eigenvalue``."""

    index: int
    eigenvalue: float
    active: bool
    kl: float
    encoder_variance: float
    decoder_norm: float
    neg_elbo: float


@dataclass(frozen=True)
class OptimumResult:
    """Global optimum of the linear VAE for a spectrum (see :func:`optimum`).

    Attributes
    ----------
    modes : tuple of ModeOptimum
        One entry per latent, in descending order of eigenvalue.
    kl_total : float
        Sum of the per-latent KL divergences.
    neg_elbo : float
        F at the optimum (per data point, Gaussian constant included).
    """

    sigma2: float
    beta: float
    eta2: float
    encoder_variance: str
    eigenvalues: tuple[float, ...]
    modes: tuple[ModeOptimum, ...]
    kl_total: float
    neg_elbo: float

    @property
    def n_active(self) -> int:
        """Number of active (non-collapsed) latents."""
        return sum(m.active for m in self.modes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (the keys documented in the README, "Command line")."""
        return {
            "sigma2": self.sigma2,
            "beta": self.beta,
            "model": {
                "encoder_variance": self.encoder_variance,
                "latent_dim": len(self.modes),
                "eta2": self.eta2,
            },
            "eigenvalues": list(self.eigenvalues),
            "modes": [asdict(m) for m in self.modes],
            "n_active": self.n_active,
            "kl_total": self.kl_total,
            "neg_elbo": self.neg_elbo,
        }


@dataclass(frozen=True)
class ThresholdResult:
    """Critical decoder variances of a spectrum (see :func:`thresholds`)."""

    beta: float
    eta2: float
    encoder_variance: str
    eigenvalues: tuple[float, ...]
    critical_sigma2: tuple[float, ...]

    @property
    def full_collapse_sigma2(self) -> float:
        """sigma'^2 above which every latent is collapsed: lambda_max / beta."""
        return self.critical_sigma2[0]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (the keys documented in the README, "Command line")."""
        return {
            "beta": self.beta,
            "model": {
                "encoder_variance": self.encoder_variance,
                "latent_dim": len(self.critical_sigma2),
                "eta2": self.eta2,
            },
            "eigenvalues": list(self.eigenvalues),
            "critical_sigma2": list(self.critical_sigma2),
            "full_collapse_sigma2": self.full_collapse_sigma2,
        }


def optimum(
    eigenvalues,
    sigma2: float,
    beta: float = 1.0,
    latent_dim: int | None = None,
    encoder_variance: str = "learnable",
    eta2: float = 1.0,
) -> OptimumResult:
    """Global optimum of the linear VAE whose data covariance has ``eigenvalues``.

    Parameters
    ----------
    eigenvalues : array_like
        Eigenvalues of the data covariance (any order; >= 0).
    sigma2 : float
        Decoder variance sigma'^2 (> 0).
    beta : float, default 1
        KL weight (> 0).
    latent_dim : int, optional
        Number of latents k (1 <= k <= d); default d.
    encoder_variance : {"learnable", "fixed"}
        Encoder-variance variant.
    eta2 : float, default 1
        Prior variance.

    Returns
    -------
    OptimumResult

    Examples
    --------
    >>> r = optimum([4, 2, 1], sigma2=1.5)
    >>> [round(m.kl, 6) for m in r.modes]
    [0.490415, 0.143841, 0.0]
    """
    lam = check_spectrum(eigenvalues)
    sigma2 = check_positive("sigma2", sigma2)
    beta = check_positive("beta", beta)
    eta2 = check_positive("eta2", eta2)
    k = check_latent_dim(latent_dim, lam.size)
    laws = compiled_laws(check_encoder_variance(encoder_variance))

    paired = lam[:k]
    active = laws.is_active(paired, sigma2, beta, eta2)
    values = {}
    for q in laws.active:
        values[q] = laws.collapsed[q](paired, sigma2, beta, eta2)
        # The active law is evaluated only where it holds: below the boundary its
        # square roots and logarithms have no real value.
        values[q][active] = laws.active_value(q, paired[active], sigma2, beta, eta2)
    unpaired = laws.unpaired_neg_elbo(lam[k:], sigma2, beta, eta2)
    modes = tuple(
        ModeOptimum(
            index=j + 1,
            eigenvalue=float(paired[j]),
            active=bool(active[j]),
            kl=float(values["kl"][j]),
            encoder_variance=float(values["encoder_variance"][j]),
            decoder_norm=float(values["decoder_norm"][j]),
            neg_elbo=float(values["neg_elbo"][j]),
        )
        for j in range(k)
    )
    return OptimumResult(
        sigma2=sigma2,
        beta=beta,
        eta2=eta2,
        encoder_variance=encoder_variance,
        eigenvalues=tuple(float(x) for x in lam),
        modes=modes,
        kl_total=float(values["kl"].sum()),
        neg_elbo=float(values["neg_elbo"].sum() + unpaired.sum()),
    )


def thresholds(
    eigenvalues,
    beta: float = 1.0,
    latent_dim: int | None = None,
    encoder_variance: str = "learnable",
    eta2: float = 1.0,
) -> ThresholdResult:
    """Critical sigma'^2 of every mode a latent can take (the top ``latent_dim``).

    Mode j collapses when sigma'^2 rises past ``critical_sigma2[j]``; all are
    collapsed above ``full_collapse_sigma2`` (Li et al., arXiv 2510.01621:
    collapse is stable iff beta sigma'^2 >= lambda_max).

    Examples
    --------
    >>> thresholds([4, 2, 1], beta=0.5).critical_sigma2
    (8.0, 4.0, 2.0)
    """
    lam = check_spectrum(eigenvalues)
    beta = check_positive("beta", beta)
    eta2 = check_positive("eta2", eta2)
    k = check_latent_dim(latent_dim, lam.size)
    laws = compiled_laws(check_encoder_variance(encoder_variance))
    critical = laws.critical_sigma2(lam[:k], 1.0, beta, eta2)
    return ThresholdResult(
        beta=beta,
        eta2=eta2,
        encoder_variance=encoder_variance,
        eigenvalues=tuple(float(x) for x in lam),
        critical_sigma2=tuple(float(x) for x in critical),
    )
