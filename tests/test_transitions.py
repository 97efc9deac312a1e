"""The transition estimator on sweeps whose answer is known."""

from __future__ import annotations

import re

import numpy as np
import pytest

from numerics import optimum
from numerics.training._sweep import SweepResult
from numerics.training._transitions import measure_transitions

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


@pytest.mark.parametrize(
    ("variant", "rtol"),
    [
        # KL = 1/2 log(lambda / sigma'^2) is a line in log sigma'^2: exact up to rounding.
        ("learnable", 1e-12),
        # KL = 1/2 (sqrt(lambda / sigma'^2) - 1) is convex in log sigma'^2: the line
        # through KL in [0.01, 0.04] falls short by its curvature, about 0.1%.
        ("fixed", 2e-3),
    ],
)
def test_recovers_exact_transitions(variant, rtol):
    sigma2 = np.geomspace(0.7, 5.5, 105)  # spacing 2%
    result = _exact_sweep(sigma2, variant)
    measured = measure_transitions(result, np.array(SPECTRUM))
    for m, lam in zip(measured, SPECTRUM, strict=True):
        assert m.method == "log-extrapolation"
        assert m.bracket[0] < lam <= m.bracket[1]
        assert abs(m.relative_error) < rtol
        assert m.estimate <= lam * (1 + 1e-12)  # the curvature bias has a known sign


def test_a_latent_lingering_past_its_transition_is_reported_apart():
    """Critical slowing down: a trained latent keeps KL = 2e-3 for a while past lambda.

    The estimate (a fit of KL >= 0.01) is unmoved, the bracket holds it, and the last
    lingering point is reported as such."""
    sigma2 = np.geomspace(0.7, 5.5, 105)
    result = _exact_sweep(sigma2, "learnable")
    kl = result.kl.copy()
    for j, lam in enumerate(SPECTRUM):
        past = np.flatnonzero(sigma2 > lam)[:3]  # three sweep points past the transition
        kl[past, 0, j] = 2e-3
    lingering = SweepResult(sigma2, (0,), kl, result.encoder_variance, result.neg_elbo, "mlp")
    for m, lam in zip(measure_transitions(lingering, np.array(SPECTRUM)), SPECTRUM, strict=True):
        assert abs(m.relative_error) < 1e-12  # the fit uses KL >= 0.01 only
        assert m.bracket[0] <= m.estimate < m.bracket[1] and m.bracket[1] < lam * 1.02
        assert m.lingering > lam * 1.04  # three points (2 % apart) past the transition


def test_bracket_midpoint_when_too_few_points_clear_the_fit_floor():
    sigma2 = np.array([0.9, 1.0, 1.1])
    kl = np.array([[5e-3, 2e-3, 0.0]]).T[:, None, :]  # active, but below 0.01 everywhere
    zeros = np.zeros((3, 1))
    result = SweepResult(sigma2, (0,), kl, np.ones_like(kl), zeros, "mlp")
    (m,) = measure_transitions(result, np.array([1.05]))
    assert m.method == "bracket midpoint"
    assert m.bracket == (1.0, 1.1)
    assert m.estimate == pytest.approx(1.05) and m.stderr == pytest.approx(0.05)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (dict(fit_points=1), "fit_points=1: expected at least 2"),
        (dict(fit_floor=1e-4), "fit_floor=0.0001: expected a KL at least"),
    ],
)
def test_bad_estimator_options_are_one_clear_error(options, message):
    result = _exact_sweep(np.geomspace(0.7, 5.5, 20), "learnable")
    with pytest.raises(ValueError, match=re.escape(message)):
        measure_transitions(result, np.array(SPECTRUM), **options)


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
    assert measured[0].method == "beyond the sweep"  # still active at the end
    assert measured[2].method == "never active"


def test_a_latent_still_lingering_at_the_end_is_measured_when_its_root_is_inside():
    """The top latent keeps KL = 2e-3 up to the last sweep point, past lambda = 4."""
    sigma2 = np.geomspace(0.7, 4.3, 80)
    result = _exact_sweep(sigma2, "learnable")
    kl = result.kl.copy()
    kl[sigma2 > 4.0, 0, 0] = 2e-3
    lingering = SweepResult(sigma2, (0,), kl, result.encoder_variance, result.neg_elbo, "mlp")
    top = measure_transitions(lingering, np.array(SPECTRUM))[0]
    assert top.method == "log-extrapolation" and abs(top.relative_error) < 1e-12
    assert top.bracket[0] <= top.estimate < top.bracket[1] and top.lingering == sigma2[-1]
