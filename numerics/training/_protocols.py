"""Published experimental protocols, reproduced with the toolkit's trainers.

:func:`follow_up_protocol` reproduces, scaled down to about a minute on 2 cores, the
staircase of active latents of Li et al.'s follow-up (arXiv 2610.11257) on their
8-dimensional covariance-matched Gaussian mixture.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from numerics.core._validation import InputError
from numerics.data._datasets import synthetic
from numerics.spectra._covariance import covariance_spectrum
from numerics.training._mlp import train_mlp_sweep
from numerics.training._sweep import SweepResult

#: The follow-up's sweep (Li et al., arXiv 2610.11257): sigma'^2 from 0.65 to 1.05.
FOLLOW_UP_RANGE = (0.65, 1.05)

#: Scaled-down protocol (about a minute on 2 cores), and a quick version for tests.
FOLLOW_UP_SIZES = {
    "full": dict(
        n_samples=20_000, n_points=24, hidden=(32, 32), anchor_steps=12_000, steps=3_000,
        batch_size=512, lr=2e-3, lr_min=0.01, kl_warmup=2_000,
    ),
    "quick": dict(
        n_samples=5_000, n_points=12, hidden=(32, 32), anchor_steps=4_000, steps=1_500,
        batch_size=256, lr=2e-3, lr_min=0.01, kl_warmup=1_000,
    ),
}  # fmt: skip


class ProtocolRun(NamedTuple):
    """A protocol's trained sweep and the spectra its predictions come from."""

    sweep: SweepResult
    #: Eigenvalues of the sample covariance (1/N) of the data trained on, descending.
    eigenvalues: np.ndarray
    #: The generator's population eigenvalues (what an infinite sample would give).
    population_eigenvalues: np.ndarray
    #: Provenance of the data (``Dataset.record()``).
    data: dict[str, Any]
    #: The data trained on (rows are samples).
    X: np.ndarray


def follow_up_protocol(
    quick: bool = False, seed: int = 0, progress: bool = True, **overrides
) -> ProtocolRun:
    """The staircase of active latents of Li et al.'s follow-up, scaled down.

    Their protocol (arXiv 2610.11257): an MLP VAE with 4 latents and ReLU layers on
    the 8-dimensional covariance-matched two-component Gaussian mixture with
    population eigenvalues exp(-0.1 (i - 1)), Adam, sigma'^2 swept from 0.65 to 1.05;
    the number of active latents steps down 4 -> 0 at the top four eigenvalues of the
    sample covariance.  Here: ``synthetic("mixture", n=..., seed=seed)``, one training
    seed (``seed``), widths (32, 32), float32, a warm start from an anchor at
    sigma'^2 = 0.65 (KL annealing for its first steps) and cosine step sizes; see
    ``FOLLOW_UP_SIZES`` for the sizes (``overrides`` replaces any of them).

    Returns
    -------
    ProtocolRun
        The sweep; the sample eigenvalues (8, descending: the predicted steps are the
        first four) and the population ones.
    """
    sizes = dict(FOLLOW_UP_SIZES["quick" if quick else "full"])
    unknown = set(overrides) - set(sizes)
    if unknown:
        raise InputError(f"follow_up_protocol: unknown size(s) {sorted(unknown)}")
    sizes.update(overrides)
    dataset = synthetic("mixture", n=sizes.pop("n_samples"), seed=seed)
    X = dataset.X
    eigenvalues = covariance_spectrum(X).eigenvalues
    sigma2 = np.linspace(*FOLLOW_UP_RANGE, sizes.pop("n_points"))
    result = train_mlp_sweep(
        X, sigma2, latent_dim=4, seeds=(seed,), warm_start=True, schedule="cosine",
        dtype="float32", progress=progress, **sizes,
    )  # fmt: skip
    return ProtocolRun(result, eigenvalues, dataset.population_eigenvalues, dataset.record(), X)
