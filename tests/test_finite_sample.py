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


def test_threshold_command_finite_sample_fields(tmp_path, capsys):
    """`threshold --bootstrap B --json` on spiked data: the bootstrap, the population's
    thresholds and the BBP prediction, and `--out` the figure of thresholds against N."""
    import json

    from numerics.app.cli import main

    argv = ["threshold", "--data", "synthetic:spiked:n=400,spikes=10;5", "--latent-dim", "3"]
    assert main([*argv, "--bootstrap", "100", "--json", "--out", str(tmp_path / "t")]) == 0
    out = json.loads(capsys.readouterr().out)
    boot = out["bootstrap"]
    assert boot["replicates"] == 100 and boot["level"] == 0.95
    assert [len(p) for p in boot["critical_sigma2_interval"]] == [2, 2, 2]
    # The two spikes are separated: their intervals hold the estimate; the bulk's is biased.
    for j in (0, 1):
        lo, hi = boot["critical_sigma2_interval"][j]
        assert lo <= out["critical_sigma2"][j] <= hi
    assert boot["unreliable_modes"] == [3]
    assert out["population_eigenvalues"][:3] == [11.0, 6.0, 1.0]
    assert out["population_critical_sigma2"] == [11.0, 6.0, 1.0]
    gamma = 32 / 400
    assert out["bbp_gamma"] == gamma
    # BBP: l (1 + gamma / (l - 1)) above the detection threshold, (1 + sqrt gamma)^2 below.
    expected = [11 * (1 + gamma / 10), 6 * (1 + gamma / 5), (1 + np.sqrt(gamma)) ** 2]
    np.testing.assert_allclose(out["bbp_critical_sigma2"], expected, rtol=1e-12)
    written = sorted(p.name for p in (tmp_path / "t").iterdir() if not p.name.startswith("."))
    assert written == ["finite_sample.csv", "finite_sample.pdf", "finite_sample.png",
                       "thresholds.json"]  # fmt: skip
    table = np.loadtxt(tmp_path / "t" / "finite_sample.csv", delimiter=",", skiprows=1)
    # Sampled means approach the BBP prediction as N grows (d = 32, N up to 1600).
    n, bbp1, mean1 = table[:, 0], table[:, 1], table[:, 4]
    assert n[-1] == 1600 and abs(mean1[-1] / bbp1[-1] - 1) < 0.05


def test_threshold_prints_the_population_of_any_synthetic_source(capsys):
    """Text output: non-spiked synthetic data have population thresholds but no BBP line;
    the conditional VAE's residual spectrum has neither (the generator's population is the
    joint covariance's, not the residual's)."""
    from numerics.app.cli import main

    assert (
        main(["threshold", "--data", "synthetic:exponential:d=5,n=300", "--latent-dim", "2"]) == 0
    )
    lines = capsys.readouterr().out.splitlines()
    # exponential: population eigenvalues exp(-j / 10) (numerics/data/_synthetic.py)
    assert lines[-1] == f"population: critical sigma2 1, {np.exp(-0.1):.6g}"
    argv = ["threshold", "--data", "synthetic:correlated:d=4,rho=0.6,n=2000", "--family", "cvae",
            "--condition-columns", "0:4"]  # fmt: skip
    assert main(argv) == 0
    assert "population" not in capsys.readouterr().out
