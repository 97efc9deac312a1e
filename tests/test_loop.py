"""numerics.training._loop: Adam against Kingma & Ba's Algorithm 1, and packed parameters.

Independent route: Adam written here line by line from the paper (ICLR 2015,
Algorithm 1, with the bias corrections applied to m and v as in the paper), on
arrays that are updated one group at a time; the loop's Adam updates them in place
with scratch arrays.  The two must agree bit for bit, including after step 356,
from which the loop skips the division by 1 - beta1^t (it rounds to 1).
"""

from __future__ import annotations

import numpy as np
import pytest

from numerics.training._loop import Adam, _packed, _views


def textbook_adam(theta, grads, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    """Kingma & Ba, Algorithm 1, over a sequence of gradients; returns every iterate."""
    m = np.zeros_like(theta)
    v = np.zeros_like(theta)
    out = []
    for t, g in enumerate(grads, start=1):
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        m_hat = m / (1 - beta1**t)
        v_hat = v / (1 - beta2**t)
        theta = theta - lr * m_hat / (np.sqrt(v_hat) + eps)
        out.append(theta)
    return out


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_adam_is_algorithm_1_bit_for_bit(dtype):
    rng = np.random.default_rng(4)
    theta0 = rng.standard_normal((3, 5)).astype(dtype)
    grads = [rng.standard_normal((3, 5)).astype(dtype) for _ in range(400)]
    reference = textbook_adam(theta0, grads, lr=0.01)
    params = {"w": theta0.copy()}
    opt = Adam(lr=0.01)
    for t, g in enumerate(grads):
        opt.step(params, {"w": g})
        np.testing.assert_array_equal(params["w"], reference[t], err_msg=f"step {t + 1}")
    assert params["w"].dtype == np.dtype(dtype)
    assert 1 - opt.beta1**opt.t == 1.0  # the last steps ran without the division by c1


def test_adam_with_a_step_size_per_sweep_point():
    rng = np.random.default_rng(5)
    theta0 = rng.standard_normal((2, 4))
    grads = [rng.standard_normal((2, 4)) for _ in range(5)]
    lr = np.array([0.1, 0.001])
    params = {"w": theta0.copy()}
    opt = Adam(lr=lr)
    for g in grads:
        opt.step(params, {"w": g})
    for p in range(2):
        expected = textbook_adam(theta0[p], [g[p] for g in grads], lr=lr[p])[-1]
        np.testing.assert_allclose(params["w"][p], expected, rtol=1e-15)


def test_packed_parameters_are_views_in_order():
    rng = np.random.default_rng(6)
    params = {"W": rng.standard_normal((3, 4, 2)), "b": rng.standard_normal((3, 1, 2))}
    theta, views = _packed(params)
    assert theta.shape == (3, 10)
    for name, w in params.items():
        np.testing.assert_array_equal(views[name], w)
    theta[1, 8] = 42.0  # the first bias entry of point 1
    assert views["b"][1, 0, 0] == 42.0
    gradient = np.zeros_like(theta)
    grads = _views(gradient, params)
    grads["W"][2] = 1.0
    assert gradient[2, :8].sum() == 8 and gradient.sum() == 8
