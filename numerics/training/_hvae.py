"""The two-level hierarchical linear VAE trained in NumPy, a whole sweep at once.

The model of :mod:`theory.hierarchical` (Dang et al., ICLR 2024, section 4.2), with the
data centred (its mean is the optimal decoder bias, b = m, and no other bias enters at
the optimum)::

    q(z_1|x) = N(V_1 (x - m), diag(s_1^2))     q(z_2|z_1) = N(V_2 z_1, diag(s_2^2))
    p(x|z_1) = N(W_1 z_1 + m, sigma'^2 I)      p(z_1|z_2) = N(W_2 z_2, sigma'^2 I)
    p(z_2)   = N(0, eta^2 I)

trained on the exact expectation over q of F = E[-log p(x|z_1)] + beta_1 E[log q(z_1|x) -
log p(z_1|z_2)] + beta_2 E[log q(z_2|z_1) - log p(z_2)], which depends on a minibatch
only through its second moment G = Y^T Y / B (the matrix form of
:func:`theory.hierarchical.matrix_objective`, checked there against the integrated
objective).  With C_1 = V_1 G V_1^T + S_1, A = I - W_1 V_1, B = I - W_2 V_2::

    F = d/2 log(2 pi sigma'^2) + [tr(A G A^T) + tr(W_1 S_1 W_1^T)] / (2 sigma~^2)
        + beta_1 {k/2 log sigma'^2 - 1/2 sum log s_1^2 - k/2
                  + [tr(B C_1 B^T) + tr(W_2 S_2 W_2^T)] / (2 sigma'^2)}
        + beta_2 {[tr(V_2 C_1 V_2^T) + tr S_2] / (2 eta^2) - k/2 + k/2 log eta^2
                  - 1/2 sum log s_2^2}

Gradients (derived by hand; the tests check them against central differences), with
D = A G and Q = beta_1 B^T B / (2 sigma'^2) + beta_2 V_2^T V_2 / (2 eta^2)::

    dF/dW_1 = (-D V_1^T + W_1 S_1) / sigma~^2         dF/dV_1 = -W_1^T D / sigma~^2 + 2 Q V_1 G
    dF/dW_2 = beta_1 (-B C_1 V_2^T + W_2 S_2) / sigma'^2
    dF/dV_2 = -beta_1 W_2^T B C_1 / sigma'^2 + beta_2 V_2 C_1 / eta^2
    dF/dlog s_2j^2 = beta_1 s_2j^2 (W_2^T W_2)_jj / (2 sigma'^2) + beta_2 (s_2j^2 / eta^2 - 1) / 2
    dF/dlog s_1j^2 = s_1j^2 [(W_1^T W_1)_jj / (2 sigma~^2) + Q_jj] - beta_1 / 2   (learnable)

Units as in :mod:`numerics.training._linear`: the data in units of a = sqrt(lambda_max),
and z_1 in units of c = zeta_1 (fixed first-level variance; the middle of the sweep's
sigma'^2 when s_1^2 is learnable): W_1 = a W~_1 / c, V_1 = c V~_1 / a, W_2 = c W~_2,
V_2 = V~_2 / c, s_1^2 = c^2 s~_1^2.  Then the reconstruction's variance is sigma'^2 / a^2,
the middle decoder's sigma'^2 / c^2, and F is unchanged (its log terms hold only the ratio
sigma'^2 / s_1^2): every weight of the optimum is O(1), which Adam's step needs (with
zeta_1^2 = 120 on digits the top level's weights reach 10 in data units).  Every sweep
point and seed trains at once (:func:`numerics.training._loop.train_sweep`).

What is measured, per level: the principal informations
(:func:`numerics.training._sweep.principal_informations`) of z_1 about x (Cov of the means
V_1 G V_1^T against S_1) and of z_2 about z_1 (V_2 C_1 V_2^T against S_2).  At the
derived optimum they are 1/2 log(E / s_1^2) and 1/2 log(1 + v_2^2 E / s_2^2) per mode:
log-linear in sigma'^2 near each collapse, so the transitions are measured as for the
VAE (:mod:`numerics.training._transitions`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from threadpoolctl import threadpool_limits

from numerics.core._bridge import objective_pieces
from numerics.core._validation import (
    check_latent_dim,
    check_positive,
    check_samples,
    check_sigma2_sweep,
)
from numerics.training._config import TrainingConfig, configure
from numerics.training._linear import data_scale
from numerics.training._loop import check_finite, sweep_labels, train_sweep, transposed
from numerics.training._sweep import SweepResult, principal_informations

#: Defaults: the exact expectation on full batches of up to 2^17 elements, Adam decayed
#: exponentially from 0.05 to 0.05e-3 over 3000 steps.
DEFAULTS = TrainingConfig(steps=3000, batch_size=1 << 30, lr=0.05, schedule="exponential",
                          lr_min=1e-3, warm_start=False, anchor_steps=3000)  # fmt: skip
#: Initial norm of each row or column of the weights.
INIT_SCALE = 0.3


@dataclass
class HierarchicalModel:
    """The hierarchical VAE as a :class:`numerics.training._loop.SweepModel` (scaled units).

    ``zeta2_1`` / ``zeta2_2``: fixed first / top encoder variances (None: learnable).
    """

    d: int
    k: int
    scale: float
    eta2: float
    beta2: float
    zeta2_1: float | None
    zeta2_2: float | None
    second_moment: np.ndarray  # G of the whole data, reused when a batch is all of it
    second_moment_rows: int = 0  # its number of rows
    unit2: float = 1.0  # c^2: the unit of z_1's variance (module docstring)
    name: str = "hierarchical"
    loss_every_step: bool = False

    def init(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        d, k = self.d, self.k
        p = {
            "W1t": INIT_SCALE / math.sqrt(d) * rng.standard_normal((1, k, d)),
            "V1": INIT_SCALE / math.sqrt(d) * rng.standard_normal((1, k, d)),
            "W2": INIT_SCALE / math.sqrt(k) * rng.standard_normal((1, k, k)),
            "V2": INIT_SCALE / math.sqrt(k) * rng.standard_normal((1, k, k)),
        }
        if self.zeta2_1 is None:
            p["logvar1"] = np.zeros((1, k))
        if self.zeta2_2 is None:
            p["logvar2"] = np.full((1, k), math.log(self.eta2))
        return p

    def run_bytes(self, batch: int) -> int:
        params = 2 * self.k * self.d + 2 * self.k * self.k + 2 * self.k
        return 8 * (6 * params + 4 * self.d * self.d)

    def noise_shape(self, batch: int) -> None:
        return None  # the exact expectation: no sampling

    def variances(self, params: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """s_1^2 and s_2^2 of every run, (P, k) each."""
        P = params["V1"].shape[0]
        s1 = (np.exp(params["logvar1"]) if "logvar1" in params
              else np.full((P, self.k), self.zeta2_1 / self.unit2))  # fmt: skip
        s2 = (np.exp(params["logvar2"]) if "logvar2" in params
              else np.full((P, self.k), self.zeta2_2))  # fmt: skip
        return s1, s2

    def _moment(self, batch: np.ndarray) -> np.ndarray:
        # A full batch is the whole data (the loop's batches are then all rows, in order).
        if batch.shape[0] == self.second_moment_rows:
            return self.second_moment
        return batch.T @ batch / batch.shape[0]

    def loss_and_grads(self, params, batch, sigma2, eps, beta, with_loss, out):
        G = self._moment(batch)
        grads, loss = hierarchical_gradient(self, params, G, sigma2, beta, with_loss)
        for name, g in grads.items():
            out[name][...] = g
        return loss


class _Pieces(NamedTuple):
    """The matrices the loss and the gradient share (module docstring)."""

    A: np.ndarray  # I - W_1 V_1, (P, d, d)
    D: np.ndarray  # A G
    Bm: np.ndarray  # I - W_2 V_2, (P, k, k)
    C1: np.ndarray  # V_1 G V_1^T + S_1
    s1: np.ndarray
    s2: np.ndarray
    sig: np.ndarray  # the middle decoder's variance in z_1's units, (P, 1, 1)
    sig_s: np.ndarray  # the reconstruction's in the data's


def _pieces(model: HierarchicalModel, params, G, sigma2) -> _Pieces:
    W1t, V1, W2, V2 = params["W1t"], params["V1"], params["W2"], params["V2"]
    k, d = V1.shape[1:]
    s1, s2 = model.variances(params)
    A = np.eye(d) - transposed(W1t) @ V1
    C1 = V1 @ G @ transposed(V1) + s1[:, :, None] * np.eye(k)
    sig = np.asarray(sigma2, dtype=float)[:, None, None]
    return _Pieces(A, A @ G, np.eye(k) - W2 @ V2, C1, s1, s2, sig / model.unit2,
                   sig / model.scale**2)  # fmt: skip


def hierarchical_gradient(model, params, G, sigma2, beta, with_loss=True):
    """F (per run, or None) and its gradient (module docstring), shapes as ``params``."""
    W1t, V1, W2, V2 = params["W1t"], params["V1"], params["W2"], params["V2"]
    _, D, Bm, C1, s1, s2, sig, sig_s = _pieces(model, params, G, sigma2)
    b2, eta2 = model.beta2, model.eta2
    Q = beta * transposed(Bm) @ Bm / (2 * sig) + b2 * transposed(V2) @ V2 / (2 * eta2)
    grads = {
        "W1t": (-V1 @ transposed(D) + s1[:, :, None] * W1t) / sig_s,
        "V1": -W1t @ D / sig_s + 2 * Q @ V1 @ G,
        "W2": beta * (-Bm @ C1 @ transposed(V2) + W2 * s2[:, None, :]) / sig,
        "V2": -beta * transposed(W2) @ Bm @ C1 / sig + b2 * V2 @ C1 / eta2,
    }
    col2 = np.einsum("pij,pij->pj", W2, W2)  # (W_2^T W_2)_jj
    if "logvar2" in params:
        grads["logvar2"] = beta * s2 * col2 / (2 * sig[:, :, 0]) + b2 * (s2 / eta2 - 1) / 2
    if "logvar1" in params:
        w1col = np.einsum("pjd,pjd->pj", W1t, W1t)
        diag_q = np.diagonal(Q, axis1=1, axis2=2)
        grads["logvar1"] = s1 * (w1col / (2 * sig_s[:, :, 0]) + diag_q) - beta / 2
    loss = hierarchical_loss(model, params, G, sigma2, beta) if with_loss else None
    return grads, loss


def level_terms(model, params, G, sigma2) -> dict[str, np.ndarray]:
    """Per latent (P, k): the reconstruction's share is not split; ``kl1`` and ``kl2`` are
    the first- and top-level terms of F, ``rec`` (P,) the reconstruction."""
    W1t, V1, W2, V2 = params["W1t"], params["V1"], params["W2"], params["V2"]
    A, D, Bm, C1, s1, s2, sig, sig_s = _pieces(model, params, G, sigma2)
    d = V1.shape[2]  # sig: the middle variance in z_1's units (the log ratio is unit-free)
    log_norm = objective_pieces().log_normaliser
    sigma2 = np.asarray(sigma2, dtype=float)
    trace = np.einsum("pii->p", D @ transposed(A)) + np.einsum("pjd,pj->p", W1t * W1t, s1)
    rec = d * log_norm(sigma2) + trace / (2 * sig_s[:, 0, 0])
    middle = np.diagonal(Bm @ C1 @ transposed(Bm), axis1=1, axis2=2)
    middle = middle + np.einsum("pij,pj->pi", W2 * W2, s2)
    kl1 = (np.log(sig[:, :, 0]) - np.log(s1) - 1) / 2 + middle / (2 * sig[:, :, 0])
    top = np.diagonal(V2 @ C1 @ transposed(V2), axis1=1, axis2=2)
    kl2 = (top + s2) / (2 * model.eta2) - 0.5 + (math.log(model.eta2) - np.log(s2)) / 2
    return {"rec": rec, "kl1": kl1, "kl2": kl2}


def hierarchical_loss(model, params, G, sigma2, beta) -> np.ndarray:
    """F per run (per data point, Gaussian constants included), (P,)."""
    t = level_terms(model, params, G, sigma2)
    return t["rec"] + beta * t["kl1"].sum(axis=1) + model.beta2 * t["kl2"].sum(axis=1)


def informations(model, params, G) -> tuple[np.ndarray, np.ndarray]:
    """Principal informations of z_1 about x and of z_2 about z_1, (P, k) each."""
    V1, V2 = params["V1"], params["V2"]
    s1, s2 = model.variances(params)
    cov1 = V1 @ G @ transposed(V1)
    C1 = cov1 + s1[:, :, None] * np.eye(V1.shape[1])
    return principal_informations(cov1, s1), principal_informations(V2 @ C1 @ transposed(V2), s2)


@dataclass(frozen=True)
class HierarchicalSweep:
    """A trained hierarchical sweep: one :class:`SweepResult` per level (``first``: z_1,
    ``top``: z_2; ``kl`` their per-latent terms of F, ``information`` what is measured),
    and the trained parameters in data units."""

    first: SweepResult
    top: SweepResult
    params: dict[str, np.ndarray]


def train_hierarchical_sweep(
    X, sigma2, *, beta: float = 1.0, beta2: float = 1.0, latent_dim: int | None = None,
    eta2: float = 1.0, zeta2_1: float | None = 1.0, zeta2_2: float | None = None,
    **training: Any,
) -> HierarchicalSweep:  # fmt: skip
    """Train the hierarchical VAE at every sweep point and seed (module docstring).

    ``zeta2_1`` / ``zeta2_2``: fixed first / top encoder variances (None: learnable);
    ``training``: fields of :class:`~numerics.training._config.TrainingConfig`.
    """
    start = time.perf_counter()
    X = check_samples(X)
    grid = check_sigma2_sweep(sigma2)
    n, d = X.shape
    config = configure(DEFAULTS, {**training, "beta": beta}).checked(n)
    mean, scale = data_scale(X)
    Y = (X - mean) / scale
    unit2 = float(np.sqrt(grid[0] * grid[-1])) if zeta2_1 is None else zeta2_1
    model = HierarchicalModel(
        d, check_latent_dim(latent_dim, d), scale, check_positive("eta2", eta2),
        check_positive("beta2", beta2), zeta2_1, zeta2_2, Y.T @ Y / n, second_moment_rows=n,
        unit2=unit2,
    )  # fmt: skip
    params = train_sweep(model, Y, grid, config)
    runs = np.repeat(grid, len(config.seeds))
    with threadpool_limits(1, user_api="blas"), np.errstate(over="ignore", invalid="ignore"):
        terms = level_terms(model, params, model.second_moment, runs)
        loss = hierarchical_loss(model, params, model.second_moment, runs, config.beta)
        info1, info2 = informations(model, params, model.second_moment)
    check_finite(loss, config.steps, sweep_labels(grid, config.seeds))
    s1, s2 = model.variances(params)  # s1 in z_1's units (converted below)
    options = {**config.record(), "beta2": model.beta2, "eta2": model.eta2,
               "zeta2_1": zeta2_1, "zeta2_2": zeta2_2, "latent_dim": model.k,
               "parameter_scale": scale, "latent_unit2": unit2,
               "exact_expectation": True}  # fmt: skip
    seconds = time.perf_counter() - start
    levels = [
        SweepResult.from_runs(grid, config.seeds, terms[q], s, loss, "hierarchical", options,
                              seconds, information=info)
        for q, s, info in (("kl1", s1, info1), ("kl2", s2, info2))
    ]  # fmt: skip
    c = math.sqrt(unit2)
    data_units = {"W1": transposed(params["W1t"]) * scale / c, "V1": params["V1"] * c / scale,
                  "W2": params["W2"] * c, "V2": params["V2"] / c, "s1": s1 * unit2,
                  "s2": s2}  # fmt: skip
    return HierarchicalSweep(levels[0], levels[1], data_units)
