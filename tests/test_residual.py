"""The residual spectrum of trained models: exact in the linear model, predictive for MLPs.

Independent routes: the linear model's prediction is the eigenvalue of the data's sample
covariance (numpy's eigvalsh, not the toolkit's spectrum code); the MLP's is compared
with the step its own training shows.
"""

from __future__ import annotations

import numpy as np
import pytest

from numerics.data import load_digits, synthetic
from numerics.spectra._residual import residual_spectrum
from numerics.training import train_and_measure
from numerics.training._protocols import follow_up_protocol
from numerics.training._residual import residual_predictions
from numerics.training._transitions import measure_transitions


def test_linear_residual_predictions_are_the_next_eigenvalues():
    X = load_digits().X
    eig = np.linalg.eigvalsh(np.cov(X.T, bias=True))[::-1]
    report = train_and_measure(X, model="linear", latent_dim=4, progress=False)
    got = [r.critical_sigma2 for r in report.residual]
    np.testing.assert_allclose(got, eig[:4], rtol=0.01)  # the 1 %; measured 1e-6
    np.testing.assert_allclose(got, eig[:4], rtol=1e-5)


def test_the_estimator_on_the_exact_linear_optimum_of_random_data():
    rng = np.random.default_rng(4)
    lam = np.array([5.0, 3.0, 2.0, 1.0])
    q, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    X = (rng.standard_normal((3000, 4)) * np.sqrt(lam)) @ q.T + 2.0
    C = np.cov(X.T, bias=True)
    ev, U = np.linalg.eigh(C)
    ev, U = ev[::-1], U[:, ::-1]
    sigma2 = 1.5
    for active in range(4):
        W = U[:, :active] * np.sqrt(ev[:active] - sigma2)
        mu = (X - X.mean(0)) @ (U[:, :active] * (np.sqrt(ev[:active] - sigma2) / ev[:active]))
        r = residual_spectrum(X, X.mean(0) + mu @ W.T, mu)
        assert r.top_eigenvalue == pytest.approx(ev[active], rel=1e-9)
        assert r.stderr > 0 and r.active_dim == active


def _residual_gaps(run) -> list[tuple[float, float]]:
    measured = measure_transitions(run.sweep, run.eigenvalues[:4])
    residual = residual_predictions(run.sweep, run.X, [m.estimate for m in measured], 1.0)
    pairs = [(m.estimate, r.critical_sigma2) for m, r in zip(measured, residual, strict=True)]
    resolved = [(a, b) for a, b in pairs if a is not None and b is not None]
    assert len(resolved) >= 3, pairs
    return resolved


def test_mlp_residual_predictions_track_the_measured_steps_quick():
    """The follow-up's mixture at the quick size: 12 sweep points 0.036 apart, so the state
    a prediction is read from can lie 0.1 above its step, and the MLP's residual drifts
    along the sweep: within 0.06 here (0.05 measured)."""
    run = follow_up_protocol(quick=True, progress=False)
    assert max(abs(a - b) for a, b in _residual_gaps(run)) < 0.06


@pytest.mark.slow
def test_mlp_residual_predictions_track_the_measured_steps(follow_up_run):
    """The follow-up's protocol (24 points, 0.017 apart): within 0.02 (0.013 measured)."""
    assert max(abs(a - b) for a, b in _residual_gaps(follow_up_run)) < 0.02


def test_bad_residual_input():
    X = synthetic("mixture", n=100).X
    with pytest.raises(ValueError, match="same N rows"):
        residual_spectrum(X, X[:50], np.zeros((100, 1)))
    with pytest.raises(ValueError, match="non-finite"):
        residual_spectrum(X, X * np.nan, np.zeros((100, 1)))


def test_too_few_rows_give_null_predictions_with_the_reason():
    """Training on 10 rows still reports its steps; the residual spectrum (which needs
    16) says it does not apply instead of failing the run."""
    X = synthetic("spiked", n=10, d=6).X
    report = train_and_measure(X, model="linear", latent_dim=2, steps=50, progress=False)
    assert [r.critical_sigma2 for r in report.residual] == [None, None]
    assert all("needs at least 16" in r.why for r in report.residual)
    with pytest.raises(ValueError, match="10 rows: expected at least 16"):
        residual_spectrum(X, X, np.zeros((10, 1)))


def test_the_training_figure_draws_each_residual_prediction(monkeypatch, tmp_path):
    """Issue 11: the residual-spectrum predictions are in the training figure, a dotted
    line in each panel per prediction inside the sweep."""
    from numerics.app import _plots

    figures = []
    monkeypatch.setattr(_plots, "_save", lambda fig, out, stem: figures.append(fig) or [])
    X = synthetic("rotated", spectrum=[4, 2, 1, 0.5], n=3000).X
    report = train_and_measure(X, model="linear", latent_dim=2, points=12, progress=False)
    _plots.plot_training(report, report.theory, tmp_path)
    lo, hi = report.sweep.sigma2[0], report.sweep.sigma2[-1]
    inside = [r for r in report.residual if r.critical_sigma2 and lo <= r.critical_sigma2 <= hi]
    dotted = [
        line
        for ax in figures[0].axes
        for line in ax.get_lines()
        if line.get_linestyle() == ":" and len(set(line.get_xdata())) == 1
    ]
    assert len(inside) == 2 and len(dotted) == 2 * len(inside)
    xs = sorted({float(line.get_xdata()[0]) for line in dotted})
    assert xs == pytest.approx(sorted(r.critical_sigma2 for r in inside))
