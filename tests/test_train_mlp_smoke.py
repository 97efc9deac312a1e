"""MLP VAE trainer: collapse far above lambda_max, activity far below.

A smoke test of the lead's; the MLP trainer's full tests (backpropagation against finite
differences, vectorised = one point at a time, the follow-up staircase) are part of
issue 4's remaining work.
"""

from __future__ import annotations

import numpy as np

from numerics.data import synthetic
from numerics.train_mlp import train_mlp_sweep


def test_collapse_far_above_and_activity_far_below():
    x = synthetic("mixture", n=2000, seed=0).X
    lam_max = np.linalg.eigvalsh(np.cov(x.T, bias=True))[-1]
    r = train_mlp_sweep(x, np.array([0.3, 3.0]) * lam_max, steps=800, progress=False)
    assert r.n_active()[1, 0] == 0  # sigma'^2 = 3 lambda_max: everything collapsed
    assert r.n_active()[0, 0] >= 1  # sigma'^2 = 0.3 lambda_max: information kept
    assert np.all(np.isfinite(r.neg_elbo))
