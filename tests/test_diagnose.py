"""Diagnosing exported posteriors against the closed form, and the export round trip.

Independent routes: the exact linear optimum is built here from the closed form of Wang &
Ziyin (NeurIPS 2022, Thm 2) - encoder mean v u_i^T (x - m) with v = w / lambda, variance
beta sigma'^2 / lambda, decoder weight w = sqrt(lambda - beta sigma'^2) - not from the
toolkit; its KL per latent is 1/2 log(lambda / beta sigma'^2).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import rotated_data

from numerics.app.cli import main
from numerics.training._diagnose import diagnose

SPECTRUM = np.array([6.0, 4.0, 2.5, 1.0])


def closed_form_export(sigma2: float, beta: float = 1.0, seed: int = 3):
    """Data with exactly SPECTRUM as covariance and the optimum's arrays on it."""
    X, q = rotated_data(SPECTRUM, 4000, seed)
    y = X - X.mean(axis=0)
    k = SPECTRUM.size
    mu, logvar = np.zeros((X.shape[0], k)), np.zeros((X.shape[0], k))
    recon = np.tile(X.mean(axis=0), (X.shape[0], 1))
    for j, lam in enumerate(SPECTRUM):
        if lam > beta * sigma2:
            w = np.sqrt(lam - beta * sigma2)
            mu[:, j] = (w / lam) * (y @ q[:, j])
            logvar[:, j] = np.log(beta * sigma2 / lam)
            recon += np.outer(w * mu[:, j], q[:, j])
    return X, {"mu": mu, "logvar": logvar, "reconstruction": recon}


def test_the_exact_optimum_has_the_closed_form_kl_and_no_reactivation():
    sigma2 = 2.0
    X, arrays = closed_form_export(sigma2)
    r = diagnose(X, arrays, sigma2)
    expected = 0.5 * np.log(np.maximum(SPECTRUM / sigma2, 1.0))
    np.testing.assert_allclose(r.kl, expected, atol=1e-12)
    assert r.active_kl == [True, True, True, False] == r.active_units
    # The residual's top eigenvalue is the next eigenvalue (1): no latent comes back.
    assert r.residual.top_eigenvalue == pytest.approx(1.0, rel=1e-9)
    assert r.residual_critical_sigma2 == pytest.approx(1.0, rel=1e-9) and sigma2 > 1.0
    assert r.verdict.startswith("collapse partial as predicted")


def test_a_forced_collapse_is_diagnosed_as_reactivating_at_its_eigenvalue():
    """Latent 2 (lambda = 4) set to the prior: mu = 0, logvar = 0, and not decoded."""
    sigma2 = 2.0
    X, arrays = closed_form_export(sigma2)
    full = {key: a.copy() for key, a in arrays.items()}
    _, q = rotated_data(SPECTRUM, 4000, 3)
    w = np.sqrt(SPECTRUM[1] - sigma2)
    arrays["reconstruction"] = full["reconstruction"] - np.outer(w * full["mu"][:, 1], q[:, 1])
    arrays["mu"][:, 1] = 0.0
    arrays["logvar"][:, 1] = 0.0
    r = diagnose(X, arrays, sigma2)
    assert r.kl[1] == 0.0 and not r.active_kl[1]
    # What the forced latent explained is back in the residual: its eigenvalue, 4.
    assert r.residual.top_eigenvalue == pytest.approx(SPECTRUM[1], rel=1e-9)
    assert r.residual_critical_sigma2 == pytest.approx(SPECTRUM[1], rel=1e-9)
    assert r.verdict.startswith("capacity left unused")


def test_a_trained_mlp_export_round_trips(tmp_path, capsys):
    """train --model mlp --export-posterior, then diagnose: the same KLs as the training."""
    target = tmp_path / "post.npz"
    argv = [
        "train", "--data", "synthetic:mixture:n=2000", "--model", "mlp", "--points", "3",
        "--sigma2-range", "0.7:1.1", "--steps", "200", "--json", "--export-posterior",
        "0.9", str(target),
    ]  # fmt: skip
    assert main(argv) == 0
    trained = json.loads(capsys.readouterr().out)
    point = min(trained["points"], key=lambda p: abs(np.log(p["sigma2"] / 0.9)))
    with np.load(target) as f:
        recorded = float(f["sigma2"])
    assert recorded == point["sigma2"]
    argv = ["diagnose", "--data", "synthetic:mixture:n=2000", "--posterior", str(target),
            "--sigma2", repr(recorded), "--json"]  # fmt: skip
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) >= {
        "kl", "active_kl", "active_units", "predicted_critical_sigma2",
        "residual_top_eigenvalue", "residual_critical_sigma2", "verdict",
    }  # fmt: skip
    np.testing.assert_allclose(sorted(out["kl"], reverse=True), point["kl"], rtol=1e-9)


@pytest.mark.slow
def test_diagnose_an_export_of_the_follow_up_mlp(follow_up_run, tmp_path, capsys):
    """The issue's criterion, end to end through files: the follow-up's MLP is exported at
    the state each step's prediction is read from (rank j - 1 active, rank j collapsed) and
    `vae-collapse diagnose` on that file alone states j - 1 active latents and a residual
    prediction within 0.02 of the step the sweep measured."""
    from numerics.app._writers import write_posterior
    from numerics.training._residual import _state_point
    from numerics.training._transitions import measure_transitions

    run = follow_up_run
    measured = measure_transitions(run.sweep, run.eigenvalues[:4])
    data = f"synthetic:mixture:n={run.X.shape[0]}"  # the protocol's data, seed 0
    checked = 0
    for m in measured:
        i = None if m.estimate is None else _state_point(run.sweep, m.rank, m.estimate)
        if i is None:
            continue
        path, sigma2 = write_posterior(run.sweep, run.X, run.sweep.sigma2[i], tmp_path / f"{i}.npz")
        argv = ["diagnose", "--data", data, "--posterior", str(path), "--sigma2", repr(sigma2)]
        assert main([*argv, "--json"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert sum(out["active_kl"]) == m.rank - 1
        assert abs(out["residual_critical_sigma2"] - m.estimate) < 0.02, (m.rank, out)
        checked += 1
    assert checked >= 3
