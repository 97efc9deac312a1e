"""The result of a training sweep, shared by the linear and the MLP trainers.

What is measured per latent
---------------------------
``kl`` is each latent's KL(q(z_j|x) || p(z_j)) averaged over the data: the theory's order
parameter.  Latents are exchangeable, though, and with one reparameterised sample per
point training mixes them: near a transition the information of one mode leaks into
several latents by a rotation that costs almost nothing there, and per-latent KLs of
1e-3 to 1e-2 appear on latents that carry nothing of their own.  The transitions are
therefore measured on a rotation-invariant decomposition of what the encoder carries,
the *principal informations*

    I_j = 1/2 log(1 + e_j),   e_j the eigenvalues of S^-1/2 Cov_x(mu(x)) S^-1/2,

with mu the posterior means and S = diag(E_x s_j^2) the mean posterior variances.  For a
Gaussian encoder 1/2 sum_j log(1 + e_j) is the mutual information between x and z at
that covariance; at the optimum of the linear VAE with learnable variance each e_j is
(lambda_j - beta sigma'^2) / (beta sigma'^2) for an active mode and 0 for a collapsed
one, so I_j = 1/2 log(lambda_j / (beta sigma'^2)): exactly the mode's KL, whatever rotation
mixes the latents.  A collapsed direction has I_j = 0 whatever the latents' own KLs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

import numpy as np

#: A latent (direction) is active when its information exceeds this, in nats (README,
#: "Training confirmation").
ACTIVE_KL = 1e-3


def principal_informations(cov_mu: np.ndarray, mean_var: np.ndarray) -> np.ndarray:
    """I_j = 1/2 log(1 + e_j) per run, descending (module docstring).

    Parameters
    ----------
    cov_mu : ndarray (P, k, k)
        Covariance over the data of the posterior means.
    mean_var : ndarray (P, k)
        Mean posterior variance of each latent.
    """
    scale = 1.0 / np.sqrt(mean_var)
    e = np.linalg.eigvalsh(scale[:, :, None] * cov_mu * scale[:, None, :])[:, ::-1]
    # Rounding can make a zero eigenvalue slightly negative: information is >= 0.
    return 0.5 * np.log1p(np.maximum(e, 0.0))


def active_codes(mu: np.ndarray, logvar: np.ndarray, threshold: float = ACTIVE_KL) -> np.ndarray:
    """The posterior means along the active principal directions, (N, |A|).

    The principal directions of (Cov(mu), diag(E s^2)) whose information exceeds
    ``threshold``: what the active latents encode, whichever way training rotated them.
    """
    var = np.exp(logvar).mean(axis=0)
    scale = 1.0 / np.sqrt(var)
    cov = np.cov(mu.T, bias=True).reshape(mu.shape[1], mu.shape[1])
    e, u = np.linalg.eigh(scale[:, None] * cov * scale[None, :])
    keep = 0.5 * np.log1p(np.maximum(e, 0.0)) > threshold
    return (mu * scale) @ u[:, keep]


class Evaluation(NamedTuple):
    """What a trainer's ``evaluate`` measures on all data, per run (either trainer)."""

    kl: np.ndarray
    encoder_variance: np.ndarray
    neg_elbo: np.ndarray
    information: np.ndarray


class TrainedState(Protocol):
    """The trained models of a sweep, able to encode and reconstruct data."""

    def posterior(self, run: int, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(mu, logvar, reconstruction) of run ``run`` on the rows of X (data units):
        posterior means and log-variances (N, k), the decoder mean at the posterior
        mean (N, d)."""


@dataclass(frozen=True)
class SweepResult:
    """Trained VAEs over a sweep of decoder variances (and seeds).

    Attributes
    ----------
    sigma2 : ndarray, shape (S,)
        Sweep points, ascending.
    seeds : tuple of int
        One training run per seed at every sweep point.
    kl : ndarray, shape (S, R, k)
        KL(q(z|x) || p(z)) of each latent averaged over the data, sorted in
        descending order within each run (latents are exchangeable).
    encoder_variance : ndarray, shape (S, R, k)
        Encoder variance of each latent averaged over the data, same order as ``kl``.
    neg_elbo : ndarray, shape (S, R)
        The objective F per data point at the end of training, evaluated on all data.
    model : str
        ``linear`` or ``mlp``.
    options : dict
        Everything that defines the run (steps, lr, batch size, beta, ...).
    information : ndarray, shape (S, R, k)
        Principal informations (module docstring), descending: what transitions are
        measured on.
    state : TrainedState or None
        The trained models (run p = s * R + r), for posteriors and residual spectra.
    """

    sigma2: np.ndarray
    seeds: tuple[int, ...]
    kl: np.ndarray
    encoder_variance: np.ndarray
    neg_elbo: np.ndarray
    model: str
    options: dict[str, Any] = field(default_factory=dict)
    seconds: float = float("nan")
    information: np.ndarray | None = None
    state: TrainedState | None = field(default=None, repr=False, compare=False)
    #: What ``sigma2`` holds: the decoder variances (``sigma2``), or the KL weights
    #: (``beta``) of a sweep that learns sigma'^2 (:mod:`numerics.training._decoder_variance`).
    control: str = "sigma2"

    @classmethod
    def from_runs(
        cls,
        sigma2: np.ndarray,
        seeds: tuple[int, ...],
        kl: np.ndarray,
        encoder_variance: np.ndarray,
        neg_elbo: np.ndarray,
        model: str,
        options: dict[str, Any],
        seconds: float,
        information: np.ndarray | None = None,
        state: TrainedState | None = None,
    ) -> SweepResult:
        """From per-run arrays with the run axis first (run p = s * R + r).

        ``kl`` and ``encoder_variance`` are (S * R, k), ``neg_elbo`` (S * R,).  The
        latents of each run are put in descending order of KL: they are exchangeable,
        so rank j is the j-th most informative latent, the one the theory's j-th mode
        describes.  ``information`` (S * R, k) is sorted descending on its own.
        """
        S, R = len(sigma2), len(seeds)
        kl = np.asarray(kl).reshape(S, R, -1)
        variance = np.asarray(encoder_variance).reshape(S, R, -1)
        order = np.argsort(-kl, axis=-1, kind="stable")
        info = None
        if information is not None:
            info = -np.sort(-np.asarray(information).reshape(S, R, -1), axis=-1)
        return cls(
            sigma2=np.asarray(sigma2),
            seeds=tuple(seeds),
            kl=np.take_along_axis(kl, order, axis=-1),
            encoder_variance=np.take_along_axis(variance, order, axis=-1),
            neg_elbo=np.asarray(neg_elbo).reshape(S, R),
            model=model,
            options=options,
            seconds=seconds,
            information=info,
            state=state,
        )

    @property
    def measure(self) -> np.ndarray:
        """What activity and transitions are measured on: the principal informations
        when the trainer computed them, else the per-latent KLs."""
        return self.kl if self.information is None else self.information

    def active(self, threshold: float = ACTIVE_KL) -> np.ndarray:
        """Boolean (S, R, k): direction j active at each point and seed."""
        return self.measure > threshold

    def n_active(self, threshold: float = ACTIVE_KL) -> np.ndarray:
        """(S, R) number of active directions."""
        return self.active(threshold).sum(axis=-1)
