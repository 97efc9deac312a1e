"""Optimum and collapse thresholds of a linear VAE for a given spectrum.

The model decouples along the eigenvectors of the data covariance
(``theory.objective``).  Latents take the top k eigen-directions (the activation gain
decreases with lambda); which latent takes which is the derived pairing rule
(``Derivation.pairing``, :meth:`numerics.core._model.Model.pairing`: with fixed
variances zeta_j^2 the smallest takes the largest eigenvalue).  Each pair is at the
optimum of its own per-mode problem, active iff lambda > lambda_c (beta sigma'^2 for
the learnable model, beta sigma'^2 zeta_j^2 / eta^2 for the fixed ones); data
directions beyond the k-th carry only their reconstruction cost.

Reported quantities: ``kl`` is the KL divergence of a latent; ``order_parameter``
is KL - KL(collapsed), which vanishes in the collapsed phase (with a fixed variance
zeta^2 != eta^2 the collapsed KL is a positive floor; see ``theory.derivation``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from numerics.core._bridge import compiled_laws
from numerics.core._model import Model, resolve_model
from numerics.core._validation import InputError, check_positive, check_spectrum


@dataclass(frozen=True)
class ModeOptimum:
    """The optimum of the latent paired with the ``index``-th largest eigenvalue."""

    index: int
    eigenvalue: float
    latent: int
    active: bool
    kl: float
    order_parameter: float
    encoder_variance: float
    decoder_norm: float
    neg_elbo: float


@dataclass(frozen=True)
class OptimumResult:
    """Global optimum of the linear VAE for a spectrum (see :func:`optimum`).

    Attributes
    ----------
    modes : tuple of ModeOptimum
        One entry per latent, in descending order of the eigenvalue it is paired with.
    kl_total : float
        Sum of the per-latent KL divergences (the collapsed floor included).
    order_parameter_total : float
        Sum of KL - KL(collapsed): zero exactly in the fully collapsed phase.
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
    order_parameter_total: float = 0.0
    model: Model | None = field(default=None, repr=False)

    @property
    def n_active(self) -> int:
        """Number of active (non-collapsed) latents."""
        return sum(m.active for m in self.modes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (the keys documented in the README, "Command line")."""
        return {
            "sigma2": self.sigma2,
            "beta": self.beta,
            "model": self.model.record() if self.model else None,
            "eigenvalues": list(self.eigenvalues),
            "modes": [asdict(m) for m in self.modes],
            "n_active": self.n_active,
            "kl_total": self.kl_total,
            "order_parameter_total": self.order_parameter_total,
            "neg_elbo": self.neg_elbo,
        }


@dataclass(frozen=True)
class ThresholdResult:
    """Critical decoder variances of a spectrum (see :func:`thresholds`).

    ``critical_sigma2[r]`` belongs to the latent paired with the r-th largest eigenvalue
    (``latents[r]``, 1-based).
    """

    beta: float
    eta2: float
    encoder_variance: str
    eigenvalues: tuple[float, ...]
    critical_sigma2: tuple[float, ...]
    latents: tuple[int, ...] = ()
    model: Model | None = field(default=None, repr=False)

    @property
    def full_collapse_sigma2(self) -> float:
        """sigma'^2 above which every latent is collapsed: the largest critical value."""
        return max(self.critical_sigma2)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (the keys documented in the README, "Command line")."""
        return {
            "beta": self.beta,
            "model": self.model.record() if self.model else None,
            "eigenvalues": list(self.eigenvalues),
            "latents": list(self.latents),
            "critical_sigma2": list(self.critical_sigma2),
            "full_collapse_sigma2": self.full_collapse_sigma2,
        }


def _setup(eigenvalues, latent_dim, encoder_variance, eta2, zeta2):
    lam = check_spectrum(eigenvalues)
    model = resolve_model(encoder_variance, zeta2, eta2, latent_dim, lam.size)
    laws = compiled_laws(model.spec)
    order = model.pairing(laws.variance_order)
    return lam, model, laws, order, model.zeta2_by_direction(laws.variance_order)


def _mode_values(laws, lam, k, active, sigma2, beta, eta2, z) -> tuple[dict, np.ndarray]:
    """Per-mode laws of the paired directions (each on its side) and the unpaired F."""
    paired = lam[:k]
    values = {}
    for q in laws.active:
        values[q] = laws.law_value("collapsed", q, paired, sigma2, beta, eta2, z)
        # The active law is evaluated only where it holds: below the boundary its
        # square roots and logarithms have no real value.
        za = None if z is None else z[active]
        values[q][active] = laws.active_value(q, paired[active], sigma2, beta, eta2, za)
    # An unpaired direction has no latent, hence no zeta^2: any value fills the slot.
    unpaired = laws.unpaired_neg_elbo(*laws.values(lam[k:], sigma2, beta, eta2, 1.0))
    return values, unpaired


#: Above lambda / lambda_c = 2**1000 a mode's float laws are not trusted (their
#: intermediate ratios approach float64's limit): it is evaluated in mpmath instead.
_FLOAT_GAP_LIMIT = 2.0**1000


def _beyond_float_laws(values, laws, paired, gap, sigma2, beta, eta2, z) -> None:
    """Re-evaluate in mpmath (``CompiledLaws.mpmath_value``) every mode whose float values
    overflowed or whose ratio lambda / lambda_c is near float64's limit, in place.

    E.g. lambda = 1e300, sigma'^2 = 1e-300: KL = 1/2 log 1e600 = 690.8, |w| = 1e150 are
    doubles although lambda / (beta sigma'^2) is not; the encoder variance 1e-600 rounds
    to 0, float64's nearest value.
    """
    redo = ~np.all([np.isfinite(v) for v in values.values()], axis=0) | (gap > _FLOAT_GAP_LIMIT)
    for r in np.flatnonzero(redo):
        side = "active" if gap[r] > 0 else "collapsed"
        zr = None if z is None else z[r]
        for q in values:
            values[q][r] = laws.mpmath_value(side, q, paired[r], sigma2, beta, eta2, zr)


def _check_finite(values: dict[str, np.ndarray], unpaired: np.ndarray, sigma2: float) -> None:
    """Every reported value is a finite double, or the input is refused in one line.

    The laws are finite wherever they hold; an overflow means a true value beyond
    float64's range (e.g. F's lambda / (2 sigma'^2) with lambda = 1e300, sigma'^2 = 1e-10).
    """
    totals = {"kl_total": values["kl"].sum(), "neg_elbo": values["neg_elbo"].sum()}
    totals["neg_elbo"] += unpaired.sum()
    for name, v in (*values.items(), *totals.items(), ("neg_elbo", unpaired)):
        if not np.isfinite(v).all():
            raise InputError(
                f"{name} at sigma2={sigma2:g} is beyond float64's range: expected eigenvalues "
                "and parameters closer in scale (rescale the units)"
            )


def optimum(
    eigenvalues,
    sigma2: float,
    beta: float = 1.0,
    latent_dim: int | None = None,
    encoder_variance="learnable",
    eta2: float = 1.0,
    zeta2=None,
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
    encoder_variance : str or theory.LinearVAE
        ``learnable``, ``fixed`` (zeta^2 = eta^2 unless ``zeta2``), ``fixed:Z``,
        ``fixed:Z1,...,Zk``, or a specification (:func:`numerics.core._model.resolve_model`).
    eta2 : float, default 1
        Prior variance.
    zeta2 : float or sequence, optional
        Fixed encoder variances: one (isotropic) or one per latent (anisotropic).

    Returns
    -------
    OptimumResult

    Examples
    --------
    >>> r = optimum([4, 2, 1], sigma2=1.5)
    >>> [round(m.kl, 6) for m in r.modes]
    [0.490415, 0.143841, 0.0]
    >>> r = optimum([4, 2, 1], sigma2=1, encoder_variance="fixed", zeta2=[0.25, 0.64, 1])
    >>> [round(m.decoder_norm, 6) for m in r.modes]
    [1.732051, 0.876223, 0.0]
    """
    sigma2 = check_positive("sigma2", sigma2)
    beta = check_positive("beta", beta)
    lam, model, laws, order, z = _setup(eigenvalues, latent_dim, encoder_variance, eta2, zeta2)
    eta2, k = model.eta2, model.latent_dim
    paired = lam[:k]
    gap = laws.gap(paired, sigma2, beta, eta2, z)
    active = gap > 0
    # Overflow happens only for values beyond float64, which _check_finite refuses.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        values, unpaired = _mode_values(laws, lam, k, active, sigma2, beta, eta2, z)
    _beyond_float_laws(values, laws, paired, gap, sigma2, beta, eta2, z)
    _check_finite(values, unpaired, sigma2)
    modes = tuple(
        ModeOptimum(
            index=r + 1,
            eigenvalue=float(paired[r]),
            latent=int(order[r]) + 1,
            active=bool(active[r]),
            **{q: float(values[q][r]) for q in laws.active},
        )
        for r in range(k)
    )
    return OptimumResult(
        sigma2=sigma2,
        beta=beta,
        eta2=eta2,
        encoder_variance=model.label,
        eigenvalues=tuple(float(x) for x in lam),
        modes=modes,
        kl_total=float(values["kl"].sum()),
        neg_elbo=float(values["neg_elbo"].sum() + unpaired.sum()),
        order_parameter_total=float(values["order_parameter"].sum()),
        model=model,
    )


def thresholds(
    eigenvalues,
    beta: float = 1.0,
    latent_dim: int | None = None,
    encoder_variance="learnable",
    eta2: float = 1.0,
    zeta2=None,
) -> ThresholdResult:
    """Critical sigma'^2 of every mode a latent takes (the top ``latent_dim``).

    The latent paired with the r-th largest eigenvalue collapses when sigma'^2 rises
    past ``critical_sigma2[r]``; all are collapsed above ``full_collapse_sigma2``
    (Li et al., arXiv 2510.01621: collapse is stable iff beta sigma'^2 >= lambda_max,
    for fixed variances beta sigma'^2 zeta_j^2 / eta^2 >= lambda_j for every pair).
    Arguments as for :func:`optimum`.

    Examples
    --------
    >>> thresholds([4, 2, 1], beta=0.5).critical_sigma2
    (8.0, 4.0, 2.0)
    """
    beta = check_positive("beta", beta)
    lam, model, laws, order, z = _setup(eigenvalues, latent_dim, encoder_variance, eta2, zeta2)
    k = model.latent_dim
    critical = laws.critical_value("sigma2", lam[:k], 1.0, beta, model.eta2, z)
    return ThresholdResult(
        beta=beta,
        eta2=model.eta2,
        encoder_variance=model.label,
        eigenvalues=tuple(float(x) for x in lam),
        critical_sigma2=tuple(float(x) for x in critical),
        latents=tuple(int(j) + 1 for j in order),
        model=model,
    )
