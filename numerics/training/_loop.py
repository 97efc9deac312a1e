"""Shared machinery of the trainers: Adam over a sweep axis, minibatches, divergence.

Every parameter array carries the sweep axis first (one slice per sweep point
and seed), so one update trains all points of a sweep at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


class TrainingDiverged(ArithmeticError):
    """A sweep point produced NaN or inf; the message names the point and the step."""


@dataclass
class Adam:
    """Adam (Kingma & Ba, ICLR 2015, Algorithm 1) on a dict of arrays, elementwise.

    Parameters
    ----------
    lr : float or ndarray
        Step size; an array of shape (P,) gives each sweep point its own.
    """

    lr: float | np.ndarray = 1e-3
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    t: int = 0
    m: dict[str, np.ndarray] = field(default_factory=dict)
    v: dict[str, np.ndarray] = field(default_factory=dict)

    def step(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        """Update ``params`` in place from ``grads``."""
        self.t += 1
        c1 = 1 - self.beta1**self.t
        c2 = 1 - self.beta2**self.t
        for name, g in grads.items():
            if name not in self.m:
                self.m[name] = np.zeros_like(g)
                self.v[name] = np.zeros_like(g)
            m, v = self.m[name], self.v[name]
            m *= self.beta1
            m += (1 - self.beta1) * g
            v *= self.beta2
            v += (1 - self.beta2) * g * g
            lr = self.lr
            if np.ndim(lr):  # one step size per sweep point: broadcast over the rest
                lr = np.reshape(lr, (-1,) + (1,) * (g.ndim - 1))
            params[name] -= lr * (m / c1) / (np.sqrt(v / c2) + self.eps)


def minibatches(n: int, batch_size: int, rng: np.random.Generator):
    """Endless stream of index arrays: a fresh permutation each epoch.

    Every batch has exactly ``batch_size`` rows (the vectorised trainers keep one
    array shape for the whole run), so the last ``n % batch_size`` rows of each
    permutation wait for the next epoch.  Which rows wait is random every epoch, so
    each row is equally likely in every batch: the stochastic gradient stays unbiased.
    """
    if batch_size >= n:
        while True:
            yield np.arange(n)
    while True:
        order = rng.permutation(n)
        for start in range(0, n - batch_size + 1, batch_size):
            yield order[start : start + batch_size]


def check_finite(values: np.ndarray, step: int, labels: list[str]) -> None:
    """Raise :class:`TrainingDiverged` naming the first sweep point with a non-finite value.

    ``values`` has the sweep axis first; ``labels[p]`` describes sweep point p.
    """
    bad = ~np.isfinite(values.reshape(values.shape[0], -1)).all(axis=1)
    if bad.any():
        p = int(np.flatnonzero(bad)[0])
        raise TrainingDiverged(
            f"training diverged at {labels[p]} at step {step} (non-finite loss or "
            f"parameters; {int(bad.sum())} of {bad.size} sweep points): lower --lr"
        )


def sweep_labels(sigma2: np.ndarray, seeds: tuple[int, ...]) -> list[str]:
    """One label per run, sweep point p = s * R + r: what a divergence message names."""
    return [f"sigma2={s:g}, seed {r}" for s in sigma2 for r in seeds]


def progress_bar(total: int, enabled: bool, desc: str):
    """A tqdm bar over ``total`` steps, or None when disabled or tqdm is missing."""
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # optional: no bar without tqdm
        return None
    return tqdm(total=total, desc=desc, unit="step", leave=False)


def seed_noise(
    rngs: list[np.random.Generator],
    n_sigma2: int,
    shape: tuple[int, ...],
    dtype: Any = np.float64,
) -> np.ndarray:
    """Standard normal draws for every run, run p = s * R + r drawing from seed r.

    Common random numbers: each seed draws ``shape`` once per step and every sweep
    point of that seed uses the same draws, so a sweep gives what its points trained
    one at a time give.  Returns (n_sigma2 * R, *shape); with one seed (1, *shape),
    which broadcasts over the sweep axis without a copy.
    """
    draws = np.stack([rng.standard_normal(shape, dtype=dtype) for rng in rngs])
    if len(rngs) == 1:
        return draws
    return np.broadcast_to(draws, (n_sigma2, *draws.shape)).reshape(-1, *shape)
