"""The conditional linear VAE trained in NumPy, a whole sweep at once.

The model of :mod:`theory.conditional` (Dang et al., ICLR 2024, section 4.1), with the data
centred (the optimal biases are the means)::

    q(z | x, y) = N(A x + B y, diag(s^2))        p(y | z, x) = N(U z + C x, sigma'^2 I)
    p(z)        = N(0, eta^2 I)

trained on the exact expectation over q.  With u = (x, y) the joint input, V = [A, B] the
encoder, M = U V + [C, 0] the decoder's map from u, J = [0, I] the selection of y and G =
U^T U / B the minibatch's second moment (shared by every sweep point)::

    F = d_y/2 log(2 pi sigma'^2) + [tr((J - M) G (J - M)^T) + tr(U S U^T)] / (2 sigma~^2)
        + beta/2 [tr(V G V^T)/eta^2 + sum_j s_j^2/eta^2 - k + k log eta^2 - sum_j log s_j^2]

(the matrix form of :attr:`theory.conditional.ConditionalDerivation.matrix_objective`,
checked there against the integrated objective).  With D = (J - M) G::

    dF/dU = (-D V^T + U S) / sigma~^2        dF/dV = -U^T D / sigma~^2 + beta V G / eta^2
    dF/dC = -D[:, :d_x] / sigma~^2           dF/dlog s_j^2 = s_j^2 (U^T U)_jj / (2 sigma~^2)
                                                              + beta (s_j^2 / eta^2 - 1) / 2

Units: every column of the data in units of a = sqrt(lambda_max) of the joint covariance
(U = a U~, V = V~ / a, C unchanged), so sigma~^2 = sigma'^2 / a^2.  What is measured: the
principal informations of the posterior means (Cov V G V^T against S), rotation
invariant and, at the derived optimum, 1/2 log(lambda / (beta sigma'^2)) for an active
mode of the residual covariance (:mod:`numerics.training._sweep`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from numerics.core._bridge import objective_pieces
from numerics.core._validation import (
    InputError,
    check_latent_dim,
    check_positive,
    check_samples,
    check_sigma2_sweep,
)
from numerics.training._config import TrainingConfig, configure
from numerics.training._linear import data_scale
from numerics.training._loop import check_finite, sweep_labels, train_sweep, transposed
from numerics.training._sweep import SweepResult, principal_informations

#: Defaults: full batches (the exact expectation), Adam decayed exponentially from 0.05 to
#: 0.05e-3 over 10000 steps.  Near-degenerate residual eigenvalues rotate into each other
#: slowly: on synthetic:correlated (d = 6, rho = 0.6) 3000 steps left the thresholds 0.5 %
#: off, 12000 steps 1e-11 (about 1.5 s for 24 sweep points).
DEFAULTS = TrainingConfig(steps=10000, batch_size=1 << 30, lr=0.05, schedule="exponential",
                          lr_min=1e-3, warm_start=False, anchor_steps=10000)  # fmt: skip
#: Initial norm of each row or column of the weights.
INIT_SCALE = 0.3


@dataclass
class ConditionalModel:
    """The conditional VAE as a :class:`numerics.training._loop.SweepModel` (scaled units).

    The first ``dx`` columns of a batch are x, the others y (the trainer reorders them).
    """

    dx: int
    dy: int
    k: int
    scale: float
    eta2: float
    second_moment: np.ndarray  # G of the whole data, reused when a batch is all of it
    second_moment_rows: int
    name: str = "conditional"
    loss_every_step: bool = False

    def init(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        d, k = self.dx + self.dy, self.k
        return {
            "V": INIT_SCALE / math.sqrt(d) * rng.standard_normal((1, k, d)),
            "U": INIT_SCALE / math.sqrt(k) * rng.standard_normal((1, self.dy, k)),
            "C": np.zeros((1, self.dy, self.dx)),
            "logvar": np.full((1, k), math.log(self.eta2)),
        }

    def run_bytes(self, batch: int) -> int:
        d = self.dx + self.dy
        params = self.k * d + self.dy * self.k + self.dy * self.dx + self.k
        return 8 * (6 * params + 3 * self.dy * d)

    def noise_shape(self, batch: int) -> None:
        return None  # the exact expectation: no sampling

    def loss_and_grads(self, params, batch, sigma2, eps, beta, with_loss, out):
        # A full batch is the whole data (the loop's batches are then all rows, in order).
        G = (self.second_moment if batch.shape[0] == self.second_moment_rows
             else batch.T @ batch / batch.shape[0])  # fmt: skip
        grads = conditional_gradient(self, params, G, sigma2, beta)
        for name, g in grads.items():
            out[name][...] = g
        return conditional_loss(self, params, G, sigma2, beta) if with_loss else None


def _residual(model: ConditionalModel, params, G):
    """J - M and D = (J - M) G, (P, d_y, d)."""
    V, U, C = params["V"], params["U"], params["C"]
    M = U @ V
    M[:, :, : model.dx] += C
    J = np.hstack([np.zeros((model.dy, model.dx)), np.eye(model.dy)])
    R = J - M
    return R, R @ G


def conditional_gradient(model, params, G, sigma2, beta) -> dict[str, np.ndarray]:
    """dF/d(parameters) of every run (module docstring)."""
    V, U = params["V"], params["U"]
    s = np.exp(params["logvar"])
    sig = np.asarray(sigma2, dtype=float)[:, None, None] / model.scale**2
    D = _residual(model, params, G)[1]
    col2 = np.einsum("pij,pij->pj", U, U)
    return {
        "V": -transposed(U) @ D / sig + beta * V @ G / model.eta2,
        "U": (-D @ transposed(V) + U * s[:, None, :]) / sig,
        "C": -D[:, :, : model.dx] / sig,
        "logvar": s * col2 / (2 * sig[:, :, 0]) + beta * (s / model.eta2 - 1) / 2,
    }


def latent_kl(model, params, G) -> np.ndarray:
    """KL(q(z_j | x, y) || p(z_j)) of every latent averaged over the data, (P, k)."""
    V = params["V"]
    mumu = np.einsum("pkd,de,pke->pk", V, G, V)  # mean of mu_j^2 (centred data)
    s = np.exp(params["logvar"])
    return objective_pieces().kl(mumu, s, params["logvar"], model.eta2)


def conditional_loss(model, params, G, sigma2, beta) -> np.ndarray:
    """F per run (per data point, Gaussian constant included), (P,)."""
    U = params["U"]
    s = np.exp(params["logvar"])
    sigma2 = np.asarray(sigma2, dtype=float)
    R, D = _residual(model, params, G)
    trace = np.einsum("pij,pij->p", D, R) + np.einsum("pij,pj->p", U * U, s)
    const = model.dy * objective_pieces().log_normaliser(sigma2)
    return const + trace / (2 * sigma2 / model.scale**2) + beta * latent_kl(model, params, G).sum(1)


def train_conditional_sweep(
    X, condition: np.ndarray, sigma2, *, beta: float = 1.0, latent_dim: int | None = None,
    eta2: float = 1.0, **training: Any,
) -> SweepResult:  # fmt: skip
    """Train the conditional VAE at every sweep point and seed (module docstring).

    ``condition`` is the boolean mask of the columns of X that are x.  Returns a
    :class:`SweepResult` (``model="conditional"``) whose informations are measured.
    """
    start = time.perf_counter()
    X = check_samples(X)
    mask = np.asarray(condition, dtype=bool)
    if mask.shape != (X.shape[1],) or mask.all() or not mask.any():
        raise InputError("condition: expected a mask of the columns with some x and some y")
    grid = check_sigma2_sweep(sigma2)
    n = X.shape[0]
    config = configure(DEFAULTS, {**training, "beta": beta}).checked(n)
    ordered = np.hstack([X[:, mask], X[:, ~mask]])  # x first, then y
    mean, scale = data_scale(ordered)
    Y = (ordered - mean) / scale
    dy = int((~mask).sum())
    model = ConditionalModel(int(mask.sum()), dy, check_latent_dim(latent_dim, dy), scale,
                             check_positive("eta2", eta2), Y.T @ Y / n, n)  # fmt: skip
    params = train_sweep(model, Y, grid, config)
    runs = np.repeat(grid, len(config.seeds))
    G = model.second_moment
    with threadpool_limits(1, user_api="blas"), np.errstate(over="ignore", invalid="ignore"):
        loss = conditional_loss(model, params, G, runs, config.beta)
        kl = latent_kl(model, params, G)
        s = np.exp(params["logvar"])
        info = principal_informations(params["V"] @ G @ transposed(params["V"]), s)
    check_finite(loss, config.steps, sweep_labels(grid, config.seeds))
    options = {**config.record(), "eta2": model.eta2, "latent_dim": model.k,
               "x_dim": model.dx, "y_dim": dy, "parameter_scale": scale,
               "exact_expectation": True}  # fmt: skip
    return SweepResult.from_runs(grid, config.seeds, kl, s, loss, "conditional", options,
                                 time.perf_counter() - start, information=info)  # fmt: skip
