"""The transition estimator on sweeps whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from numerics import optimum
from numerics.sweep import SweepResult
from numerics.transitions import measure_transitions

SPECTRUM = (4.0, 2.0, 1.0)


def _exact_sweep(sigma2: np.ndarray, variant: str, noise: float = 0.0, seeds: int = 1):
    rng = np.random.default_rng(0)
    kl = np.array(
        [[m.kl for m in optimum(SPECTRUM, s, encoder_variance=variant).modes] for s in sigma2]
    )
    kl = np.repeat(kl[:, None, :], seeds, axis=1)
    kl = np.clip(kl + noise * rng.standard_normal(kl.shape) * (kl > 0), 0, None)
    zeros = np.zeros(kl.shape[:2])
    return SweepResult(sigma2, tuple(range(seeds)), kl, np.ones_like(kl), zeros, "linear")


@pytest.mark.parametrize("variant", ["learnable", "fixed"])
def test_recovers_exact_transitions(variant):
    """Exact KL curves on a 2% log grid: the estimate is within 0.2% (curvature bias)."""
    sigma2 = np.geomspace(0.7, 5.5, 105)  # spacing 2%
    result = _exact_sweep(sigma2, variant)
    measured = measure_transitions(result, np.array(SPECTRUM))
    for m, lam in zip(measured, SPECTRUM, strict=True):
        assert m.method == "extrapolation"
        assert m.bracket[0] < lam <= m.bracket[1]
        assert abs(m.relative_error) < 2e-3


def test_noisy_seeds_give_a_spread():
    sigma2 = np.geomspace(0.7, 5.5, 60)
    result = _exact_sweep(sigma2, "learnable", noise=2e-3, seeds=4)
    measured = measure_transitions(result, np.array(SPECTRUM))
    for m, lam in zip(measured, SPECTRUM, strict=True):
        assert m.stderr is not None and m.stderr > 0
        assert abs(m.estimate - lam) < 5 * m.stderr + 0.02 * lam


def test_unresolved_when_the_sweep_misses_a_transition():
    sigma2 = np.geomspace(1.5, 3.0, 20)  # covers lambda = 2 only
    measured = measure_transitions(_exact_sweep(sigma2, "learnable"), np.array(SPECTRUM))
    assert [m.estimate is None for m in measured] == [True, False, True]
    assert measured[0].method == "unresolved"
