"""numerics.training._linear: hand-written gradients, the trained optimum, vectorisation.

Independent routes:

* the gradients against central finite differences of the minibatch loss, for every
  variant, with a fixed reparameterisation sample and with the exact expectation, at
  several sweep points at once;
* the minibatch loss itself against ``tests/helpers.objective`` (the objective written
  from the textbook Gaussian identities on the data matrix) and against a direct
  per-point computation of the sampled loss;
* the trained sweep against ``numerics.optimum`` (the symbolic engine's laws) on data
  whose empirical spectrum is exactly (4, 2, 1, 0.5);
* the vectorised sweep against the same points trained one at a time.

The closed form "active iff lambda_i > beta sigma2" is used only to choose sweep points
away from the critical points.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from helpers import objective, rotated_data

from numerics import optimum
from numerics.core._validation import InputError
from numerics.training._linear import (
    METHODS,
    VARIANTS,
    data_scale,
    evaluate,
    gradient_method,
    init_params,
    loss_and_grads,
    to_data_units,
    train_linear_sweep,
)
from numerics.training._loop import TrainingDiverged

SPECTRUM = (4.0, 2.0, 1.0, 0.5)
#: Sweep points at least 25% away from every critical point (4, 2, 1, 0.5).
AWAY = (0.3, 0.7, 1.4, 2.8, 5.0, 8.0)


@pytest.fixture(scope="module")
def data() -> np.ndarray:
    X, _ = rotated_data(SPECTRUM, 2000, seed=3)
    return X


def random_params(variant: str, P: int, d: int, k: int, seed: int) -> dict[str, np.ndarray]:
    """Generic (not near-optimal) parameters for P sweep points."""
    rng = np.random.default_rng(seed)
    runs = [init_params(rng, d, k, variant, init_scale=1.0) for _ in range(P)]
    params = {name: np.concatenate([r[name] for r in runs]) for name in runs[0]}
    for name in params:
        params[name] = params[name] + 0.3 * rng.standard_normal(params[name].shape)
    return params


# ---------------------------------------------------------------------------------------
# Gradients and losses
# ---------------------------------------------------------------------------------------


GRADIENT_CASES = [
    (variant, method)
    for variant in VARIANTS
    for method in METHODS
    if not (variant == "data-dependent" and method == "moments")
]


@pytest.mark.parametrize(("variant", "method"), GRADIENT_CASES)
@pytest.mark.parametrize("sampled", [True, False], ids=["sampled", "exact"])
def test_gradient_matches_central_differences(variant: str, method: str, sampled: bool):
    """Every partial derivative at 3 sweep points at once, against (F(+h) - F(-h)) / 2h.

    Each element of each sweep point is perturbed alone: the other points' losses must
    not move (the sweep points are independent problems).  Both ways of summing over the
    minibatch (per-row arrays, or moments of the minibatch and of the noise).
    """
    d, k, B, P = 5, 3, 7, 3
    rng = np.random.default_rng(11)
    y = rng.standard_normal((B, d))
    sigma2 = np.array([0.6, 1.7, 3.1]) * 4.0
    eps = rng.standard_normal((P, k, B)) if sampled else None
    params = random_params(variant, P, d, k, seed=5)
    kw = dict(scale=2.0, beta=1.7, eta2=1.3, variant=variant, eps=eps)
    _, grads = loss_and_grads(params, y, sigma2, method=method, **kw)
    assert set(grads) == set(params)
    h = 1e-6
    for name, value in params.items():
        assert grads[name].shape == value.shape
        numeric = np.empty_like(value)
        for idx in np.ndindex(value.shape):
            plus = {n: v.copy() for n, v in params.items()}
            minus = {n: v.copy() for n, v in params.items()}
            plus[name][idx] += h
            minus[name][idx] -= h
            diff = (
                loss_and_grads(plus, y, sigma2, **kw)[0] - loss_and_grads(minus, y, sigma2, **kw)[0]
            )
            others = np.delete(diff, idx[0])
            assert np.all(others == 0), f"{name}{idx} moved another sweep point's loss"
            numeric[idx] = diff[idx[0]] / (2 * h)
        scale = np.max(np.abs(numeric)) + 1e-300
        err = np.max(np.abs(grads[name] - numeric)) / scale
        assert err < 1e-6, f"{variant} {name}: relative error {err:.2e}"


@pytest.mark.parametrize("variant", ["learnable", "fixed"])
@pytest.mark.parametrize("shared", [True, False], ids=["shared-eps", "own-eps"])
def test_row_and_moment_sums_agree(variant: str, shared: bool):
    """The two summations give the same gradient to rounding (d = 64 > B = 20 here)."""
    d, k, B, P = 64, 4, 20, 5
    rng = np.random.default_rng(3)
    y = rng.standard_normal((B, d))
    params = random_params(variant, P, d, k, seed=8)
    for eps in (None, rng.standard_normal((1 if shared else P, k, B))):
        kw = dict(scale=1.5, beta=0.9, eta2=1.1, variant=variant, eps=eps, with_loss=False)
        rows = loss_and_grads(params, y, np.linspace(0.5, 3, P), method="rows", **kw)[1]
        moments = loss_and_grads(params, y, np.linspace(0.5, 3, P), method="moments", **kw)[1]
        for name in rows:
            np.testing.assert_allclose(moments[name], rows[name], rtol=1e-12, atol=1e-13)
    assert gradient_method(variant, d=64, batch_size=128) == "moments"
    assert gradient_method(variant, d=784, batch_size=128) == "rows"
    assert gradient_method("data-dependent", d=4, batch_size=128) == "rows"


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("variant", ["learnable", "fixed"])
def test_exact_loss_and_evaluation_match_independent_objective(
    data: np.ndarray, variant: str, method: str
):
    """Exact-expectation loss on all data (from the residuals, or expanded in the
    minibatch's moments), and ``evaluate``, equal helpers.objective."""
    X = data
    d, k, P = X.shape[1], 3, 2
    mean, scale = data_scale(X)
    Y = (X - mean) / scale
    params = random_params(variant, P, d, k, seed=2)
    sigma2 = np.array([0.8, 2.5])
    beta, eta2 = 1.4, 0.7
    kw = dict(scale=scale, beta=beta, eta2=eta2, variant=variant)
    loss, _ = loss_and_grads(params, Y, sigma2, method=method, **kw)
    kl, var, neg_elbo, _ = evaluate(params, Y, sigma2, **kw)
    units = to_data_units(params, mean, scale)
    for p in range(P):
        s2 = np.exp(units["logvar"][p]) if variant == "learnable" else np.full(k, eta2)
        ref = objective(X, units["W"][p], units["V"][p], s2, units["b"][p], sigma2[p], beta, eta2)
        assert loss[p] == pytest.approx(ref, rel=1e-12)
        assert neg_elbo[p] == pytest.approx(ref, rel=1e-12)
        np.testing.assert_allclose(var[p], s2, rtol=1e-12)
        if variant == "learnable":
            mu = (X - X.mean(axis=0)) @ units["V"][p].T
            ref_kl = 0.5 * ((mu**2).mean(axis=0) / eta2 + s2 / eta2 - 1 - np.log(s2 / eta2))
            np.testing.assert_allclose(kl[p], ref_kl, rtol=1e-10)


@pytest.mark.parametrize(("variant", "method"), GRADIENT_CASES)
def test_sampled_loss_matches_direct_computation(data: np.ndarray, variant: str, method: str):
    """One reparameterised sample per point, written out row by row in data units."""
    X = data[:40]
    d, k, P = X.shape[1], 2, 2
    mean, scale = data_scale(data)
    y = (X - mean) / scale
    params = random_params(variant, P, d, k, seed=4)
    eps = np.random.default_rng(9).standard_normal((P, k, X.shape[0]))
    sigma2 = np.array([0.9, 3.0])
    beta, eta2 = 0.8, 1.2
    loss, _ = loss_and_grads(
        params, y, sigma2, scale=scale, beta=beta, eta2=eta2, variant=variant, eps=eps,
        method=method,
    )  # fmt: skip
    units = to_data_units(params, mean, scale)
    for p in range(P):
        W, b, V = units["W"][p], units["b"][p], units["V"][p]
        total = 0.0
        for n, x in enumerate(X):
            mu = V @ (x - mean)
            if variant == "learnable":
                logvar = units["logvar"][p]
            elif variant == "data-dependent":
                logvar = units["A"][p] @ (x - mean) + units["a0"][p]
            else:
                logvar = np.full(k, math.log(eta2))
            z = mu + np.exp(logvar / 2) * eps[p, :, n]
            rec = 0.5 * d * math.log(2 * math.pi * sigma2[p])
            rec += np.sum((x - W @ z - b) ** 2) / (2 * sigma2[p])
            kl = 0.5 * np.sum((mu**2 + np.exp(logvar)) / eta2 - 1 - (logvar - math.log(eta2)))
            total += rec + beta * kl
        assert loss[p] == pytest.approx(total / X.shape[0], rel=1e-12)


# ---------------------------------------------------------------------------------------
# Trained optimum against the theory
# ---------------------------------------------------------------------------------------


def theory(sigma2, variant: str):
    """(kl (S, k), encoder variance (S, k), neg_elbo (S,)) from numerics.optimum."""
    out = [optimum(SPECTRUM, s, encoder_variance=variant) for s in sigma2]
    kl = np.array([[m.kl for m in o.modes] for o in out])
    var = np.array([[m.encoder_variance for m in o.modes] for o in out])
    return kl, var, np.array([o.neg_elbo for o in out])


#: (exact_expectation, steps, batch size, KL tolerance (absolute, relative), neg_elbo
#: relative tolerance).
#: KL is first order in the parameters (F is second order at its minimum), so the noise
#: frozen in when the step size decays shows in KL well before F: with one sample per
#: point, Adam's stationary spread at sigma2 = 0.3 with s2 = 1 (fixed variant) reaches
#: 0.8% of KL; with the exact expectation only minibatch noise remains (~2e-5 here; a
#: full batch gives 1e-15, checked by hand).  The batch sizes divide N = 2000:
#: ``numerics.training._loop.minibatches`` drops the remainder of every epoch, and the rows missing
#: from the last epochs bias F by ~2e-6 (B = 128 or 256) however long one trains.
BATCH = 250
SETTINGS = {
    "sampled": (False, 4000, 125, (2e-3, 1e-2), 2e-4),
    "exact": (True, 3000, BATCH, (1e-4, 0.0), 1e-6),
}


@pytest.mark.parametrize("variant", ["learnable", "fixed"])
@pytest.mark.parametrize("mode", list(SETTINGS))
def test_trained_sweep_matches_optimum(data: np.ndarray, variant: str, mode: str):
    """6 sweep points x 2 seeds: KL per latent, number active, encoder variance, F."""
    exact, steps, batch_size, kl_tol, f_tol = SETTINGS[mode]
    res = train_linear_sweep(
        data,
        AWAY,
        seeds=(0, 1),
        encoder_variance=variant,
        exact_expectation=exact,
        steps=steps,
        batch_size=batch_size,
        progress=False,
    )
    kl, var, neg_elbo = theory(AWAY, variant)
    assert res.kl.shape == (len(AWAY), 2, 4)
    np.testing.assert_array_equal(res.sigma2, AWAY)
    np.testing.assert_array_equal(res.n_active(), np.repeat((kl > 1e-3).sum(1)[:, None], 2, 1))
    atol, rtol = kl_tol
    np.testing.assert_allclose(res.kl, np.repeat(kl[:, None], 2, 1), atol=atol, rtol=rtol)
    np.testing.assert_allclose(res.neg_elbo, np.repeat(neg_elbo[:, None], 2, 1), rtol=f_tol)
    # Encoder variance: sigma2 / lambda when active, eta2 when collapsed (fixed: eta2).
    np.testing.assert_allclose(
        res.encoder_variance, np.repeat(var[:, None], 2, 1), atol=3 * atol, rtol=rtol
    )
    assert res.model == "linear"
    assert res.options["exact_expectation"] is exact
    assert res.options["steps"] == steps


@pytest.mark.parametrize("variant", ["learnable", "fixed"])
def test_plain_gradient_descent_reaches_the_optimum(data: np.ndarray, variant: str):
    """optimizer="gd" with the derived stable step (no lr given) and full batches: the
    exact gradient of the whole objective, so plain gradient descent converges to the
    optimum (KL per latent and F against numerics.optimum)."""
    res = train_linear_sweep(
        data, AWAY, encoder_variance=variant, optimizer="gd", steps=12000,
        batch_size=data.shape[0], progress=False,
    )  # fmt: skip
    kl, _, neg_elbo = theory(AWAY, variant)
    # Exponential convergence: measured 5e-15 (learnable) and 9e-10 (fixed, whose slowest
    # direction is softer) at 10000 steps.
    np.testing.assert_allclose(res.kl[:, 0], kl, atol=1e-8)
    np.testing.assert_allclose(res.neg_elbo[:, 0], neg_elbo, rtol=1e-10)
    assert res.options["optimizer"] == "gd" and res.options["schedule"] == "constant"
    # The derived step (stable_gd_step; its Hessians are the trainer's curvature, checked
    # in tests/test_dynamics.py) is what was used.
    assert res.options["lr"] > 0


def test_gradient_descent_without_a_derived_step_needs_lr(data: np.ndarray):
    with pytest.raises(InputError, match="optimizer='gd' without lr"):
        train_linear_sweep(data, AWAY, encoder_variance="data-dependent", optimizer="gd",
                           steps=10, progress=False)  # fmt: skip
    with pytest.raises(InputError, match="optimizer='sgd'"):
        train_linear_sweep(data, AWAY, optimizer="sgd", steps=10, progress=False)


def test_data_dependent_variance_collapses_at_the_same_points(data: np.ndarray):
    """log s2(x) = A (x - m) + a0 has the learnable optimum (A = 0, module docstring):
    the same active latents, KL and encoder variances on both sides of every threshold."""
    sigma2 = (0.35, 0.6, 0.8, 1.25, 1.6, 2.5, 3.2, 5.0)  # straddles 0.5, 1, 2 and 4
    res = train_linear_sweep(
        data,
        sigma2,
        seeds=(0, 1),
        encoder_variance="data-dependent",
        exact_expectation=True,
        steps=3000,
        batch_size=BATCH,
        progress=False,
    )
    kl, var, neg_elbo = theory(sigma2, "learnable")
    np.testing.assert_array_equal(
        res.n_active(), np.repeat([[4], [3], [3], [2], [2], [1], [1], [0]], 2, 1)
    )
    np.testing.assert_allclose(res.kl, np.repeat(kl[:, None], 2, 1), atol=1e-4, rtol=0)
    np.testing.assert_allclose(res.encoder_variance, np.repeat(var[:, None], 2, 1), atol=3e-4)
    np.testing.assert_allclose(res.neg_elbo, np.repeat(neg_elbo[:, None], 2, 1), rtol=1e-6)


def test_data_dependent_sampled_collapses_at_the_same_points(data: np.ndarray):
    """The same with one reparameterised sample per point (looser: sampling noise)."""
    res = train_linear_sweep(
        data, AWAY, encoder_variance="data-dependent", steps=4000, progress=False
    )
    kl, _, neg_elbo = theory(AWAY, "learnable")
    np.testing.assert_array_equal(res.n_active()[:, 0], (kl > 1e-3).sum(1))
    np.testing.assert_allclose(res.kl[:, 0], kl, atol=2e-3, rtol=1e-2)
    np.testing.assert_allclose(res.neg_elbo[:, 0], neg_elbo, rtol=2e-4)


def test_warm_start_reaches_the_optimum(data: np.ndarray):
    res = train_linear_sweep(
        data,
        AWAY,
        exact_expectation=True,
        warm_start=True,
        steps=1500,
        batch_size=BATCH,
        progress=False,
    )
    kl, _, neg_elbo = theory(AWAY, "learnable")
    np.testing.assert_allclose(res.kl[:, 0], kl, atol=1e-4, rtol=0)
    np.testing.assert_allclose(res.neg_elbo[:, 0], neg_elbo, rtol=1e-6)
    assert res.options["warm_start"] is True
    assert res.options["warm_start_anchor_sigma2"] == min(AWAY)


# ---------------------------------------------------------------------------------------
# Vectorisation, divergence, input checks
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variant", "exact"),
    [("learnable", False), ("fixed", True), ("data-dependent", False), ("learnable", True)],
)
def test_vectorised_sweep_equals_one_point_at_a_time(data: np.ndarray, variant: str, exact: bool):
    """Same seeds, same minibatches: the sweep axis does not change any result."""
    sigma2 = (0.45, 0.9, 1.9, 4.5)
    seeds = (0, 7)
    kw = dict(
        encoder_variance=variant,
        exact_expectation=exact,
        steps=300,
        batch_size=64,
        latent_dim=3,
        progress=False,
    )
    swept = train_linear_sweep(data, sigma2, seeds=seeds, **kw)
    for i, s in enumerate(sigma2):
        for j, seed in enumerate(seeds):
            alone = train_linear_sweep(data, [s], seeds=(seed,), **kw)
            np.testing.assert_allclose(swept.kl[i, j], alone.kl[0, 0], rtol=1e-12, atol=1e-15)
            np.testing.assert_allclose(
                swept.encoder_variance[i, j], alone.encoder_variance[0, 0], rtol=1e-12
            )
            assert swept.neg_elbo[i, j] == pytest.approx(alone.neg_elbo[0, 0], rel=1e-12)


def test_huge_learning_rate_raises_with_sweep_point_and_step(data: np.ndarray):
    with pytest.raises(TrainingDiverged) as info:
        train_linear_sweep(data, [0.7, 1.5], seeds=(0, 1), lr=1e4, steps=500, progress=False)
    message = str(info.value)
    assert re.search(r"sigma2=(0\.7|1\.5), seed [01] at step \d+", message), message
    step = int(re.search(r"at step (\d+)", message).group(1))
    assert step % 50 == 0 and step <= 500


def test_progress_bar_and_result_metadata(data: np.ndarray, capsys):
    res = train_linear_sweep(data, [2.0, 0.5], steps=60, progress=True)
    np.testing.assert_array_equal(res.sigma2, [0.5, 2.0])  # sorted ascending
    assert res.seconds > 0
    assert np.all(np.diff(res.kl, axis=-1) <= 0)  # sorted by KL descending
    for key in ("lr", "lr_min", "schedule", "batch_size", "beta", "encoder_variance", "init_scale"):
        assert key in res.options


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        (dict(encoder_variance="diagonal"), "encoder_variance"),
        (dict(sigma2=[1.0, -2.0]), "sigma2"),
        (dict(sigma2=[1.0, float("nan")]), "sigma2"),
        (dict(seeds=(1, 1)), "seeds"),
        (dict(seeds=()), "seeds"),
        (dict(lr_min=1.5), "lr_min"),
        (dict(schedule="step"), "schedule"),
        (dict(lr_decay=0.1), "lr_decay"),
        (dict(beta=0.0), "beta"),
        (dict(latent_dim=9), "latent_dim"),
        (dict(steps=0), "steps"),
    ],
)
def test_bad_input_is_named(data: np.ndarray, kwargs: dict, pattern: str):
    kwargs = {"sigma2": [1.0], **kwargs}
    sigma2 = kwargs.pop("sigma2")
    with pytest.raises(ValueError, match=pattern):
        train_linear_sweep(data, sigma2, progress=False, **kwargs)
