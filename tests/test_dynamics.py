"""Critical slowing down: the derived relaxation rates against training and differences.

Independent routes: the Hessian that :mod:`theory.dynamics` derives in the trainer's
coordinates is compared with central differences of the trainer's own gradient
(``numerics.training._linear.loss_and_grads``); the predicted relaxation times with the
decay of actual gradient-descent runs of that trainer.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from numerics.app.cli import main
from numerics.core._bridge import relaxation_laws
from numerics.training._dynamics import amplitude_ratio, default_sweep, relaxation_sweep
from numerics.training._linear import loss_and_grads


@pytest.mark.parametrize("variant", ["learnable", "fixed"])
@pytest.mark.parametrize("sigma2", [0.7, 1.6, 3.1])
def test_derived_hessian_is_the_trainers_curvature(variant, sigma2):
    """One mode (lambda = 2.5, data scale a = 1.3) in the trainer's coordinates."""
    lam, beta, eta2, a = 2.5, 0.9, 1.2, 1.3
    rel = relaxation_laws(variant)
    point = "active" if lam > beta * sigma2 else "collapsed"
    # The trainer's fixed encoder variance is the prior's: zeta^2 = eta^2.
    x = rel.stationary(point, lam, sigma2, beta, eta2, zeta2=eta2)
    theta = np.array([float(x["w"]) / a, float(x["v"]) * a])
    if variant == "learnable":
        theta = np.append(theta, math.log(float(x["s2"])))
    y = np.array([[math.sqrt(lam) / a], [-math.sqrt(lam) / a]])  # variance lam / a^2

    def grad(t: np.ndarray) -> np.ndarray:
        params = {"Wt": t[0].reshape(1, 1, 1), "b": np.zeros((1, 1)), "V": t[1].reshape(1, 1, 1)}
        if variant == "learnable":
            params["logvar"] = t[2].reshape(1, 1)
        _, g = loss_and_grads(
            params, y, np.array([sigma2]), None, beta=beta, with_loss=False, scale=a,
            eta2=eta2, variant=variant, method="rows",
        )  # fmt: skip
        out = [g["Wt"].ravel(), g["V"].ravel()] + ([g["logvar"].ravel()] if "logvar" in g else [])
        return np.concatenate(out)

    h = 1e-6
    numeric = np.array(
        [(grad(theta + h * e) - grad(theta - h * e)) / (2 * h) for e in np.eye(theta.size)]
    )
    derived = rel.hessian(point, lam, sigma2, beta, eta2, a, zeta2=eta2)
    np.testing.assert_allclose(derived, numeric, rtol=1e-6, atol=1e-8)


@pytest.fixture(scope="module", params=["learnable", "fixed"])
def gd_sweep(request):
    spectrum = np.array([4.0, 2.0])
    return relaxation_sweep(
        spectrum, default_sweep(spectrum, points=15), encoder_variance=request.param
    )


def test_gradient_descent_relaxes_at_the_predicted_rate(gd_sweep):
    """Away from the critical points (|t| > 0.05): within 10 % of the prediction."""
    r = gd_sweep
    t = np.abs(r.sigma2[:, None] / r.critical_sigma2[None, :] - 1)
    away = t > 0.05
    assert np.isfinite(r.measured[away]).all()
    rel_err = np.abs(r.measured[away] / r.predicted[away] - 1)
    assert rel_err.max() < 0.1
    # Critical slowing down is real: near the points the runs are at least 20x slower.
    near = (t > 0) & (t < 0.005) & np.isfinite(r.measured)
    assert near.any() and r.measured[near].min() > 20 * np.nanmin(r.measured[away])


def test_fitted_exponents_and_amplitude_ratio(gd_sweep):
    for sides in gd_sweep.fits:
        for fit in sides.values():
            assert fit.points >= 4
            assert fit.exponent == pytest.approx(fit.predicted_exponent, abs=0.1)
        ratio = sides["active"].amplitude / sides["collapsed"].amplitude
        assert ratio == pytest.approx(gd_sweep.predicted_amplitude_ratio, abs=0.1)


def test_measured_fits_equal_the_same_fits_of_the_prediction(gd_sweep):
    """Fit against fit: the finite fit window moves the prediction's own fitted ratio off
    its limit 1/2 (by up to 0.06 on 4,2,1); the trained runs follow it, not the limit."""
    assert len(gd_sweep.prediction_fits) == len(gd_sweep.fits)
    for measured, predicted in zip(gd_sweep.fits, gd_sweep.prediction_fits, strict=True):
        for side in ("active", "collapsed"):
            assert measured[side].exponent == pytest.approx(predicted[side].exponent, abs=0.01)
        assert amplitude_ratio(measured) == pytest.approx(amplitude_ratio(predicted), abs=0.01)
    entry = gd_sweep.to_dict()["exponents"][0]
    assert entry["prediction_fitted_amplitude_ratio"] == amplitude_ratio(
        gd_sweep.prediction_fits[0]
    )
    assert entry["active"]["prediction_fitted_exponent"] == (
        gd_sweep.prediction_fits[0]["active"].exponent
    )


def test_the_derived_exponent_and_ratio():
    """Mean-field values: tau ~ |t|^-1 on both sides, tau_active / tau_collapsed = 1/2."""
    rel = relaxation_laws("learnable")
    assert rel.tau_exponent == {"active": -1.0, "collapsed": -1.0}
    assert rel.amplitude_ratio == 0.5


def test_dynamics_command_json_and_adam(capsys):
    argv = ["dynamics", "--spectrum", "4,2", "--points", "6", "--steps", "3000", "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"points", "exponents", "optimizer", "lr"} <= set(out)
    point = out["points"][0]
    assert set(point) == {"sigma2", "predicted_relaxation_steps", "measured_relaxation_steps"}
    assert main([*argv, "--optimizer", "adam"]) == 0
    adam = json.loads(capsys.readouterr().out)
    assert all(p is None for q in adam["points"] for p in q["predicted_relaxation_steps"])
    assert all(e["prediction_fitted_amplitude_ratio"] is None for e in adam["exponents"])
    assert any(m is not None for q in adam["points"] for m in q["measured_relaxation_steps"])
