"""Finite-sample thresholds: bootstrap intervals and the BBP prediction, by Monte Carlo.

Independent route: many data sets are drawn from a known population and the quantities
the toolkit predicts (coverage of its intervals, the limit of sample eigenvalues) are
counted and averaged over them.
"""

from __future__ import annotations

import numpy as np
import pytest

from numerics.core._finite import bbp_thresholds
from numerics.data import synthetic
from numerics.spectra._bootstrap import bootstrap_thresholds


def test_bootstrap_intervals_cover_the_population_threshold():
    """95 % percentile intervals from N = 400 rows: coverage within sampling error.

    200 independent data sets; the binomial standard error of a 0.95 coverage is 0.015,
    and the percentile bootstrap of a top eigenvalue is known to undercover slightly.
    """
    rng = np.random.default_rng(0)
    lam = np.array([4.0, 2.0, 1.0])
    hits = np.zeros(3)
    trials = 200
    for t in range(trials):
        X = rng.standard_normal((400, 3)) * np.sqrt(lam)
        r = bootstrap_thresholds(X, 200, seed=t)
        hits += [lo <= c <= hi for c, (lo, hi) in zip(lam, r.critical_sigma2_interval, strict=True)]
    assert (0.88 <= hits / trials).all() and (hits / trials <= 0.99).all(), hits / trials


def test_bootstrap_bad_input():
    X = np.ones((10, 2))
    with pytest.raises(ValueError, match="replicates=5"):
        bootstrap_thresholds(X, 5)
    with pytest.raises(ValueError, match=r"level=1\.5"):
        bootstrap_thresholds(X, 100, level=1.5)


@pytest.mark.parametrize("n", [400, 1600])
def test_bbp_predicts_the_sample_eigenvalues(n):
    """Spikes 10, 5, 2 and 0.5 over unit noise, d = 200 (gamma = 0.5 and 0.125).

    The spike 0.5 (population 1.5) is below the detection threshold 1 + sqrt(gamma) at
    gamma = 0.5 and sinks into the bulk edge; above it, into the separated law.
    """
    d = 200
    spikes = [10.0, 5.0, 2.0, 0.5]
    samples = []
    for seed in range(8):
        X = synthetic("spiked", d=d, spikes=spikes, n=n, seed=seed).X
        Xc = X - X.mean(axis=0)
        samples.append(np.linalg.eigvalsh(Xc.T @ Xc / n)[::-1][:4])
    mean = np.mean(samples, axis=0)
    population = np.concatenate([np.array(spikes) + 1.0, np.ones(d - 4)])
    pred = bbp_thresholds(population, bulk=1.0, n_samples=n, latent_dim=4)
    # Finite-N corrections are O(N^-1/2) (bulk edge) and O(1/N) (spikes): 4 % at N = 400.
    np.testing.assert_allclose(mean, pred.sample_eigenvalues, rtol=0.04)
    # And the prediction is not the population: the sample eigenvalues moved.
    assert abs(mean[2] - 3.0) > 0.2 * abs(pred.sample_eigenvalues[2] - 3.0)
    np.testing.assert_allclose(pred.critical_sigma2, pred.sample_eigenvalues)  # beta = 1
