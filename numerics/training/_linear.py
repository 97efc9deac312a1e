"""The linear VAE (README, "Conventions and notation") trained in NumPy, a whole sweep at once.

Model, for one sweep point (data x in R^d, k latents, prior N(0, eta2 I_k))::

    encoder  q(z|x) = N(mu(x), diag(s2(x))),   mu(x) = V (x - m)
             learnable:       log s2 = l            (one trained log-variance per latent)
             fixed:           s2 = eta2             (not trained)
             data-dependent:  log s2(x) = A (x - m) + a0    (A, a0 trained)
    decoder  p(x|z) = N(W z + b, sigma2 I_d),   sigma2 FIXED (the sweep's control parameter)

    F = mean_n { E_q[-log p(x_n|z)] + beta KL(q(z|x_n) || p(z)) }
    E_q[-log p(x|z)] = d/2 log(2 pi sigma2) + E_q ||x - W z - b||^2 / (2 sigma2)
    KL = 1/2 sum_j [ (mu_j^2 + s2_j) / eta2 - 1 - log(s2_j / eta2) ]

``m`` is the mean of the training data (a constant): centring the encoder input makes the
aggregate mean of mu zero, so no encoder bias is needed and the optimal decoder bias is
b = m, where b starts.

Training (:func:`train_linear_sweep`): minibatches (shared by all sweep points,
:func:`numerics.training._loop.minibatches`), the analytic KL, Adam
(:class:`numerics.training._loop.Adam`), and for the reconstruction term by default its
exact expectation over q on the minibatch,
E_q ||x - W z - b||^2 = ||x - W mu - b||^2 + sum_j s2_j ||w_j||^2 (w_j: column j of W),
or, with ``exact_expectation=False``, ONE reparameterised sample z = mu + s * eps per data
point, as VAEs are usually trained: the same minibatches, plus sampling noise from z.

Units (how the step size is chosen)
-----------------------------------
The thresholds live in the data's own units (sigma2 ~ lambda_i), so the data are NOT
standardised.  Instead every parameter is stored in units of the data scale
``a = sqrt(lambda_max)`` (lambda_max: the top eigenvalue of the empirical covariance, 1/N)::

    W = a W~,   b = m + a b~,   V = V~ / a,   A = A~ / a,   l, a0 dimensionless.

This is an exact reparametrisation (F is unchanged; the scaled loss is computed with
y = (x - m) / a and sigma2 / a^2, and the Gaussian constant in data units), under which
the optimum's columns and rows are O(1) whatever the units of x (learnable, eta2 = 1:
||w~_j||^2 = (lambda_j - beta sigma2) / lambda_max <= 1 and
||v~_j|| = ||w~_j|| lambda_max / lambda_j <= 1 / (2 sqrt(beta sigma2 / lambda_max))).
Adam's step is a distance in parameter space, so ``lr`` is in these units: a step moves
W by about lr * sqrt(lambda_max) and V by lr / sqrt(lambda_max), on pixel values 0..16
(digits, a = 13.4) exactly as on standardised data. (a only sets units: it never enters
F.)

Step size and schedule (the defaults, and what limits the accuracy)
-------------------------------------------------------------------
Adam with lr = 0.1, decayed exponentially to lr * 1e-3 over the run, 2000 steps of
minibatches of 128. The large start is needed for the slowest direction of this model: a
rotation mixing two active latents costs only ~ (s2_i - s2_j)(||w_i||^2 - ||w_j||^2),
which is tiny for close eigenvalues (digits: 179 and 164) -- with lr = 0.02 the top two
latents of digits stay mixed for thousands of steps. The decay then freezes the
parameters near the optimum; with the exact expectation the remaining error is the
minibatch noise at freeze-out (KL ~1e-4 to 1e-3 at 2000 steps; 1e-15 with a full batch).
Near a critical point the curvature vanishes (critical slowing down), so points within a
few percent of a threshold converge slowly: expected, and the measurement extrapolates
from points away from it.

With one reparameterised sample per point the gradient noise does not vanish at the
optimum, and it is largest exactly where the objective is flattest.  Near a threshold
(distance eps = 1 - beta sigma2 / lambda_i) the rotation that moves an active latent's
information into a collapsed latent costs only O(eps^2), so the sampling noise spreads
the KL of the active mode over several latents (and a collapsed mode relaxes at a rate
O(eps) while the noise keeps kicking it): at a few percent from a threshold, per-latent
KLs are uncertain by ~1e-3 to 1e-2 nats after 2000 steps, and collapsed latents can read
above the 1e-3 "active" line.  This is the critical fluctuation of SGD, not a bug: it
shrinks only like 1 / (number of samples seen).  The principal informations on which
transitions are measured (:mod:`numerics.training._sweep`) undo the spreading, not the
noise; the exact expectation (the default) removes the noise.

``numerics.training._loop.minibatches`` drops the remainder of each epoch (N mod batch size rows);
which rows are missing in the last epochs biases F by ~1e-6 relative however long one
trains.  A batch size that divides N avoids it.

Gradients (derived by hand; checked against central differences in the tests)
------------------------------------------------------------------------------
In scaled units, for a minibatch y_1..y_B (y_n = (x_n - m) / a), per sweep point, with
c = 1 / (B sigma2~), sigma2~ = sigma2 / a^2, z_n = mu_n + s_n * eps_n (sampled) or
z_n = mu_n (exact expectation), residual r_n = y_n - W z_n - b::

    F_B = d/2 log(2 pi sigma2) + c/2 sum_n ||r_n||^2 [+ c/2 sum_n sum_j s2_nj ||w_j||^2]
          + beta/B sum_n KL_n

    dF/dW   = -c sum_n r_n z_n^T             [+ c W diag(sum_n s2_n)]
    dF/db   = -c sum_n r_n
    dF/dz_n = -c W^T r_n                     (= g_n)
    dF/dmu_n = g_n + beta mu_n / (B eta2)    (z depends on mu with unit Jacobian)
    dF/dV   = sum_n (dF/dmu_n) y_n^T
    dF/dl_nj = g_nj s_nj eps_nj / 2          (dz/dl = s eps / 2; sampled)
               [c s2_nj ||w_j||^2 / 2]       (exact expectation: the trace term)
               + beta (s2_nj / eta2 - 1) / (2 B)    (the KL)
    learnable: dF/dl = sum_n dF/dl_n;  data-dependent: dF/dA = sum_n (dF/dl_n) y_n^T,
    dF/da0 = sum_n dF/dl_n.

The sums over n never form the (P, d, B) array of residuals: expanding
r_n = y_n - W z_n - b gives, with Z the (B, k) matrix of samples,
sum_n r_n z_n^T = Y^T Z - W Z^T Z - b (sum_n z_n)^T and W^T r_n = W^T y_n - W^T W z_n
- W^T b, so a step costs four (B x d) by (d x k) products per sweep point (V Y^T, W^T Y^T,
Z^T Y, (dF/dmu)^T Y; two more for A) plus k x k algebra.  The loss itself (for the
divergence checks, every 50 steps) forms the residuals.

Data-dependent encoder variance: what the theory predicts
---------------------------------------------------------
This is no longer the linear-Gaussian family of the theory engine, but its optimum is the
learnable variant's.  F depends on the log-variances only through
mean_n sum_j f_j(l_nj) with f_j(l) = e^l ||w_j||^2 / (2 sigma2) + beta (e^l / eta2 - l) / 2,
the same strictly convex function for every data point, and mean_n (A y_n + a0) = a0
because the y_n are centred.  By Jensen, mean_n f_j(A y_n + a0) >= f_j(a0), with equality
iff A y_n = 0 for all n: the optimum has A = 0 and reduces to the learnable variant, with
the same KL per latent, the same F and the same thresholds sigma2 = lambda_i / beta.

Fixed encoder variance: the objective is invariant under rotations of the latents
(W -> W R, V -> R^T V, s2 = eta2 I), so the per-latent KL of a trained model is not
identifiable (a rotation freedom; Wang & Ziyin 2022, section 3).  The result reports it
in the canonical basis of the principal axes of the aggregate encoder means,
mean_n mu_n mu_n^T (the KL of latent j is then half its j-th eigenvalue / eta2); the
total KL and F are unaffected.

Sweeps
------
Every parameter carries a leading axis of length P = S * R (sweep point s, seed r at
p = s * R + r); each step is a handful of matrix products batched over all P at once
(``np.matmul`` of (P, k, d) by the shared (d, B) minibatch: one BLAS call per run, of the
same shape whatever P), with no Python loop over the sweep.  No product or sum mixes
runs, so a run's arithmetic does not depend on the runs trained with it: a block of the
sweep on a Dask worker gives it bit for bit (:mod:`numerics.training._distributed`).
One (P k x d) by (d x B) product would not: OpenBLAS tiles its rows, and rows in a
different tile round differently (measured: 1797 columns, P k = 44 against 16).  The
batched products were also faster here (0.58 instead of 1.0 s for 32 digits points,
2000 steps, batches of 128): reshaping the strided views of the packed parameters to
(P k, d) copied them.  BLAS runs single-threaded during training (threadpoolctl): the
products are ~1 Mflop, and on 2 cores threads cost more than they save.

Seed r initialises from ``np.random.default_rng(r)`` and then draws its
reparameterisation noise from the same generator; the same init and the same eps serve
every sweep point of seed r (common random numbers), so a sweep gives what the same points
trained one at a time give (the tests check it to 1e-12), and neighbouring points differ
only through sigma2.  Minibatch order: ``np.random.default_rng([batch_seed, 1])``, shared
by all points.

Warm start: one anchor (the smallest sigma2, every seed, the point with the most active
latents) is trained for ``steps`` steps; every sweep point then starts from its seed's
anchor and all are trained together for ``steps`` more steps with a fresh Adam state and
the same lr schedule.  This is continuation made vectorisation-friendly: instead of
walking the sweep point by point, every point starts from one converged, aligned
solution, so the latents track the same eigen-directions across the sweep and modes
that collapse only shrink.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any, NamedTuple

import numpy as np
from threadpoolctl import threadpool_limits

from numerics.core._bridge import objective_pieces, relaxation_laws
from numerics.core._validation import (
    InputError,
    check_choice,
    check_latent_dim,
    check_positive,
    check_samples,
    check_sigma2_sweep,
)
from numerics.training._config import TrainingConfig, configure
from numerics.training._distributed import cluster_options, run_sweep
from numerics.training._loop import (
    check_finite,
    eval_chunks,
    per_run_dot,
    sweep_labels,
)
from numerics.training._sweep import (
    ACTIVE_KL,
    Evaluation,
    SweepResult,
    principal_informations,
)

#: Encoder-variance variants the trainer knows.
VARIANTS = ("learnable", "fixed", "data-dependent")
#: Default initial norm of each decoder column / encoder row, in units of sqrt(lambda_max).
INIT_SCALE = 0.3


# ----------------------------------------------------------------------------- helpers


def data_scale(X: np.ndarray) -> tuple[np.ndarray, float]:
    """Return the data mean m and the unit a = sqrt(lambda_max) of the parameters.

    lambda_max is the largest eigenvalue of the 1/N covariance (README, "Conventions and
    notation"), from ``eigvalsh`` for d <= 1000 and by power iteration otherwise (only a unit: a few
    percent do not matter, and it never enters the objective).
    """
    X = np.asarray(X, dtype=float)
    n, d = X.shape
    m = X.mean(axis=0)
    Y = X - m
    if d <= 1000:
        top = float(np.linalg.eigvalsh(Y.T @ Y / n)[-1])
    else:
        v = np.random.default_rng(0).standard_normal(d)
        top = 0.0
        for _ in range(50):
            w = Y.T @ (Y @ v) / n
            top = float(np.linalg.norm(w))
            if top == 0:
                break
            v = w / top
    if not top > 0:
        raise InputError("X has zero variance: expected data that vary (lambda_max > 0)")
    return m, math.sqrt(top)


def init_params(
    rng: np.random.Generator, d: int, k: int, variant: str, init_scale: float, eta2: float = 1.0
) -> dict[str, np.ndarray]:
    """Initial scaled parameters of one run, each with a leading axis of length 1.

    W~ and V~ have i.i.d. N(0, init_scale^2 / d) entries (columns / rows of norm about
    ``init_scale``), drawn in that order; b~ = 0 (b = m); s2 = eta2.  The data-dependent
    variant also draws A~ like V~ (so that training has to remove it) and a0 = log eta2.
    """
    sd = init_scale / math.sqrt(d)
    p = {
        "Wt": sd * rng.standard_normal((1, k, d)),
        "b": np.zeros((1, d)),
        "V": sd * rng.standard_normal((1, k, d)),
    }
    if variant == "learnable":
        p["logvar"] = np.full((1, k), math.log(eta2))
    elif variant == "data-dependent":
        p["A"] = sd * rng.standard_normal((1, k, d))
        p["a0"] = np.full((1, k), math.log(eta2))
    return p


def _log_variance(params: dict[str, np.ndarray], yT: np.ndarray, variant: str):
    """log s2 in the (P, k, B) layout: (P, k, 1) learnable, (P, k, B) data-dependent,
    None fixed.  ``yT`` is the minibatch transposed, (d, B)."""
    if variant == "learnable":
        return params["logvar"][:, :, None]
    if variant == "data-dependent":
        return np.matmul(params["A"], yT) + params["a0"][:, :, None]
    return None


#: How :func:`loss_and_grads` sums over the minibatch (see :func:`gradient_method`).
METHODS = ("rows", "moments")


def gradient_method(variant: str, d: int, batch_size: int) -> str:
    """The cheaper way to sum over a minibatch, chosen from the shapes only.

    ``rows`` forms the per-point latent arrays (P, k, B): four (k x d) by (d x B)
    products per step and sweep point, 4 k d B.  ``moments`` uses the minibatch's second
    moment Y^T Y (once per step, shared by every point) and per-seed moments of the
    noise: two (k x d) by (d x d) products per point, 2 k d^2, and no (P, k, B) array.
    Both give the same gradient of the same loss (one sample per data point); moments
    needs a log-variance that is the same for every data point, so the data-dependent
    variant always uses rows.  The choice does not depend on the number of sweep points,
    so a sweep and its points trained alone run the same arithmetic.
    """
    if variant != "data-dependent" and d <= 2 * batch_size:
        return "moments"
    return "rows"


def loss_and_grads(
    params: dict[str, np.ndarray],
    y: np.ndarray,
    sigma2: np.ndarray,
    eps: np.ndarray | None = None,
    *,
    beta: float = 1.0,
    with_loss: bool = True,
    scale: float = 1.0,
    eta2: float = 1.0,
    variant: str = "learnable",
    method: str = "rows",
    moments: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray | None, dict[str, np.ndarray]]:
    """Minibatch objective F_B of every sweep point and its gradient (module docstring).

    Parameters
    ----------
    params : dict of arrays
        Scaled parameters with the sweep axis first: ``Wt`` (P, k, d) (the decoder
        matrix transposed: row j is w_j), ``b`` (P, d), ``V`` (P, k, d), and ``logvar``
        (P, k) or ``A`` (P, k, d) and ``a0`` (P, k).
    y : ndarray (B, d)
        The minibatch in scaled units, (x - m) / scale, shared by all P.
    sigma2 : ndarray (P,)
        Decoder variance of each sweep point, in DATA units.
    scale : float
        The unit a (see :func:`data_scale`).
    eps : ndarray (P, k, B) or (1, k, B), optional
        Standard normal draws of the reparameterised samples, ``eps[p, j, n]`` for sweep
        point p, latent j, data point n (shape (1, k, B): the same draws for every
        point); None: exact expectation over q.
    with_loss : bool
        Also return F_B (forms the (P, d, B) residuals; the gradient does not need them).
    method : {"rows", "moments"}
        How to sum over the minibatch (:func:`gradient_method`); same result.
    moments : tuple of ndarray, optional
        :func:`batch_moments` of ``y`` when the caller has them (a minibatch that is
        the same every step, the whole data: computing them again would be waste).

    Returns
    -------
    loss : ndarray (P,) or None
        F_B per data point, Gaussian constant included, equal to F in data units.
    grads : dict
        dF_B / d(parameter), same shapes as ``params``.
    """
    if method == "rows":
        grads = _grads_rows(params, y, sigma2, scale, beta, eta2, variant, eps)
    elif method == "moments":
        if variant == "data-dependent":
            raise InputError(
                "method='moments' needs one log-variance per latent: the data-dependent "
                "variant uses method='rows'"
            )
        mom = _moments(params, y, eta2, variant, eps, moments or batch_moments(y))
        B = y.shape[0]
        grads = _grads_moments(params, mom, B, sigma2, scale, beta, eta2, variant)
        loss = _loss_moments(params, mom, B, sigma2, scale, beta, eta2) if with_loss else None
        return loss, grads
    else:
        raise InputError(f"method={method!r}: expected one of {', '.join(METHODS)}")
    loss = _loss(params, y, sigma2, scale, beta, eta2, variant, eps) if with_loss else None
    return loss, grads


def _grads_rows(params, y, sigma2, scale, beta, eta2, variant, eps) -> dict[str, np.ndarray]:
    """Gradient with the per-point latent arrays laid out (P, k, B).

    The four products with the minibatch (V Y^T, W^T Y^T, Z Y, G Y) are each batched
    over the sweep, (P, k, d) by (d, B): one BLAS call per run (module docstring,
    "Sweeps"), and every elementwise operation runs on contiguous memory.
    """
    Wt, b, V = params["Wt"], params["b"], params["V"]
    P, k, _ = Wt.shape
    B = y.shape[0]
    yT = y.T
    s2 = np.asarray(sigma2, dtype=float) / scale**2  # scaled decoder variance, (P,)
    c = (1.0 / (B * s2))[:, None, None]  # (P, 1, 1)

    mu = np.matmul(V, yT)  # (P, k, B)
    logvar = _log_variance(params, yT, variant)
    var = None if logvar is None else np.exp(logvar)
    if eps is None:
        z = mu
    else:
        noise = (math.sqrt(eta2) if var is None else np.exp(0.5 * logvar)) * eps
        z = mu + noise

    WtW = np.matmul(Wt, Wt.transpose(0, 2, 1))  # (P, k, k): W^T W
    col2 = np.diagonal(WtW, axis1=1, axis2=2)  # (P, k): ||w_j||^2
    bW = np.matmul(Wt, b[:, :, None])  # (P, k, 1): W^T b
    cWt = c * Wt
    g = np.matmul(c * WtW, z)  # dF/dz_n = -c W^T r_n = c (W^T W z_n + W^T b - W^T y_n)
    g += c * bW
    g -= np.matmul(cWt, yT)
    ZY = np.matmul(z, y)  # sum_n z_n y_n^T, (P, k, d)
    ZZ = np.matmul(z, z.transpose(0, 2, 1))  # (P, k, k)
    zsum = z.sum(axis=2)  # (P, k)
    gWt = np.matmul(ZZ, Wt)
    gWt += zsum[:, :, None] * b[:, None, :]
    gWt -= ZY
    if eps is None:  # the trace term: c/2 sum_n sum_j s2_nj ||w_j||^2
        vsum = np.full((P, k), B * eta2) if var is None else np.broadcast_to(var, z.shape).sum(2)
        gWt += vsum[:, :, None] * Wt
    gWt *= c
    gb = B * b + np.matmul(zsum[:, None, :], Wt)[:, 0, :] - y.sum(axis=0)
    gb *= c[:, :, 0]
    gmu = g + (beta / (B * eta2)) * mu
    grads = {"Wt": gWt, "b": gb, "V": np.matmul(gmu, y)}
    if variant == "learnable":
        # gl_n = beta (s2 / eta2 - 1) / (2 B) + [g_n s eps_n / 2 | c s2 ||w||^2 / 2]
        if eps is None:
            gl = 0.5 * var[:, :, 0] * col2 * c[:, :, 0] * B
        else:
            gl = 0.5 * (g * noise).sum(axis=2)
        grads["logvar"] = gl + 0.5 * beta * (var[:, :, 0] / eta2 - 1.0)
    elif variant == "data-dependent":
        gl = (0.5 * beta / B) * (var / eta2 - 1.0)
        gl += 0.5 * c * var * col2[:, :, None] if eps is None else 0.5 * g * noise
        grads["A"] = np.matmul(gl, y)
        grads["a0"] = gl.sum(axis=2)
    return grads


class _Moments(NamedTuple):
    """The sums over a minibatch that :func:`_grads_moments` works with."""

    C: np.ndarray  # Y^T Y, (d, d)
    m1: np.ndarray  # sum_n y_n, (d,)
    VC: np.ndarray  # sum_n mu_n y_n^T = V C, (P, k, d)
    WC: np.ndarray  # W^T C, (P, k, d)
    WtW: np.ndarray  # W^T W, (P, k, k)
    col2: np.ndarray  # ||w_j||^2, (P, k)
    bW: np.ndarray  # W^T b, (P, k)
    var: np.ndarray  # s2_j, (P, k)
    sd: np.ndarray  # s_j, (P, k)
    ZY: np.ndarray  # sum_n z_n y_n^T, (P, k, d)
    ZZ: np.ndarray  # sum_n z_n z_n^T, (P, k, k)
    zsum: np.ndarray  # sum_n z_n, (P, k)
    noise: tuple | None  # sampled: E Y, E E^T, E 1 and V Y^T E^T


def batch_moments(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Y^T Y (d, d) and sum_n y_n (d,) of a minibatch: shared by every sweep point."""
    return y.T @ y, y.sum(axis=0)


def _moments(params, y, eta2, variant, eps, shared) -> _Moments:
    """The minibatch and noise moments of :func:`_grads_moments` (see its docstring);
    ``shared`` is :func:`batch_moments` of ``y``."""
    Wt, b, V = params["Wt"], params["b"], params["V"]
    P, k, _ = Wt.shape
    C, m1 = shared  # Y^T Y (d, d), sum_n y_n (d,)
    VC = np.matmul(V, C)  # sum_n mu_n y_n^T, (P, k, d)
    WC = np.matmul(Wt, C)  # sum_n (W^T y_n) y_n^T
    Vt = V.transpose(0, 2, 1)
    WtW = np.matmul(Wt, Wt.transpose(0, 2, 1))
    col2 = np.diagonal(WtW, axis1=1, axis2=2)
    bW = np.matmul(Wt, b[:, :, None])[:, :, 0]  # W^T b, (P, k)
    if variant == "learnable":
        var = np.exp(params["logvar"])  # (P, k)
        sd = np.exp(0.5 * params["logvar"])
    else:
        var = np.full((P, k), eta2)
        sd = np.full((P, k), math.sqrt(eta2))
    ZY = VC.copy()
    ZZ = np.matmul(VC, Vt)  # sum_n mu_n mu_n^T
    zsum = np.matmul(V, m1)  # (P, k)
    noise = None
    if eps is not None:
        EY = eps @ y  # (Q, k, d), Q = 1 or P
        EE = np.matmul(eps, eps.transpose(0, 2, 1))  # (Q, k, k)
        e1 = eps.sum(axis=2)  # (Q, k)
        VEt = np.matmul(V, EY.transpose(0, 2, 1))  # (P, k, k): V Y^T E^T
        X = VEt * sd[:, None, :]
        ZY += sd[:, :, None] * EY
        ZZ += X + X.transpose(0, 2, 1) + sd[:, :, None] * EE * sd[:, None, :]
        zsum += sd * e1
        noise = (EY, EE, e1, VEt)
    return _Moments(C, m1, VC, WC, WtW, col2, bW, var, sd, ZY, ZZ, zsum, noise)


def _grads_moments(params, mom: _Moments, B, sigma2, scale, beta, eta2, variant):
    """The same gradient from moments of the minibatch and of the noise (no (P, k, B)).

    With C = Y^T Y and m1 = sum_n y_n (shared by every point), and, per draw of the noise
    E (k x B; N = diag(s) E), EY = E Y, EE = E E^T, e1 = E 1::

        Z Y     = V C + diag(s) EY                       (sum_n z_n y_n^T)
        Z Z^T   = V C V^T + X + X^T + diag(s) EE diag(s),   X = V EY^T diag(s)
        Z 1     = V m1 + s * e1
        dF/dV   = c (W^T W ZY + W^T b m1^T - W^T C) + beta / (B eta2) V C
        dF/dl_j = s_j / 2 * c (W^T W Z E^T + W^T b e1^T - W^T EY^T)_jj
                  + beta / 2 (s2_j / eta2 - 1),      Z E^T = V EY^T + diag(s) EE

    and dF/dW, dF/db as in the module docstring from ZY, Z Z^T and Z 1.
    """
    Wt, b = params["Wt"], params["b"]
    WtW, bW, var, sd, ZY, zsum = mom.WtW, mom.bW, mom.var, mom.sd, mom.ZY, mom.zsum
    s2 = np.asarray(sigma2, dtype=float) / scale**2
    c = (1.0 / (B * s2))[:, None, None]  # (P, 1, 1)
    gWt = np.matmul(mom.ZZ, Wt)
    gWt += zsum[:, :, None] * b[:, None, :]
    gWt -= ZY
    if mom.noise is None:
        gWt += (B * var)[:, :, None] * Wt
    gWt *= c
    gb = B * b + np.matmul(zsum[:, None, :], Wt)[:, 0, :] - mom.m1
    gb *= c[:, :, 0]
    gV = np.matmul(WtW, ZY)
    gV += bW[:, :, None] * mom.m1
    gV -= mom.WC
    gV *= c
    gV += (beta / (B * eta2)) * mom.VC
    grads = {"Wt": gWt, "b": gb, "V": gV}
    if variant == "learnable":
        if mom.noise is None:
            gl = 0.5 * c[:, :, 0] * B * var * mom.col2
        else:
            EY, EE, e1, VEt = mom.noise
            ZEt = VEt + sd[:, :, None] * EE
            WEt = np.matmul(Wt, EY.transpose(0, 2, 1))
            diag = (WtW * ZEt.transpose(0, 2, 1)).sum(axis=2) + bW * e1
            diag -= np.diagonal(WEt, axis1=1, axis2=2)
            gl = 0.5 * sd * c[:, :, 0] * diag
        grads["logvar"] = gl + 0.5 * beta * (var / eta2 - 1.0)
    return grads


def _loss_moments(params, mom: _Moments, B, sigma2, scale, beta, eta2) -> np.ndarray:
    """F_B per sweep point from the moments alone, (P,): no (P, d, B) residuals.

    sum_n ||y_n - W z_n - b||^2 = tr C - 2 <W^T, ZY> + <W^T W, Z Z^T> - 2 b.m1
    + 2 (W^T b).(Z 1) + B ||b||^2, and the KL is linear in mu^2, s^2 and log s^2,
    so its minibatch mean is the KL of sum_n mu_n^2 / B = diag(V C V^T) / B.  Costs
    O(P k d) instead of O(P d B) (at 32 digits points, 0.1 ms instead of 5 ms); the
    expansion rounds differently from :func:`_loss` (the tests hold both to 1e-12).
    """
    sq = squared_residual_moments(params, mom, B)
    kl = kl_moments(params, mom, B, eta2)
    sigma2 = np.asarray(sigma2, dtype=float)
    const = params["Wt"].shape[-1] * objective_pieces().log_normaliser(sigma2)
    return const + sq / (2 * sigma2 / scale**2) + beta * kl


def squared_residual_moments(params, mom: _Moments, B) -> np.ndarray:
    """mean_n of ||y_n - W z_n - b||^2 (+ the trace term when exact), scaled units, (P,)."""
    Wt, b = params["Wt"], params["b"]
    sq = np.trace(mom.C) - 2 * np.einsum("pkd,pkd->p", Wt, mom.ZY)
    sq += np.einsum("pkl,pkl->p", mom.WtW, mom.ZZ) - 2 * (b @ mom.m1)
    sq += 2 * np.einsum("pk,pk->p", mom.bW, mom.zsum) + B * np.einsum("pd,pd->p", b, b)
    sq /= B
    if mom.noise is None:  # + mean_n sum_j s2_j ||w_j||^2
        sq += (mom.var * mom.col2).sum(axis=1)
    return sq


def kl_moments(params, mom: _Moments, B, eta2) -> np.ndarray:
    """The minibatch mean of the KL summed over latents, (P,), from the moments."""
    mumu = np.einsum("pkd,pkd->pk", mom.VC, params["V"]) / B  # mean_n mu_n^2
    logvar = params["logvar"] if "logvar" in params else np.full_like(mom.var, math.log(eta2))
    return objective_pieces().kl(mumu, mom.var, logvar, eta2).sum(axis=1)


def _loss(params, y, sigma2, scale, beta, eta2, variant, eps) -> np.ndarray:
    """F_B per sweep point, from the residuals of every minibatch row, (P,)."""
    Wt, b, V = params["Wt"], params["b"], params["V"]
    P, k, d = Wt.shape
    B = y.shape[0]
    yT = y.T
    s2 = np.asarray(sigma2, dtype=float) / scale**2
    mu = (V.reshape(P * k, d) @ yT).reshape(P, k, B)
    logvar = _log_variance(params, yT, variant)
    if logvar is None:
        logvar = np.full((1, k, 1), math.log(eta2))
    var = np.exp(logvar)
    z = mu if eps is None else mu + np.exp(0.5 * logvar) * eps
    r = yT - np.matmul(Wt.transpose(0, 2, 1), z) - b[:, :, None]  # (P, d, B)
    sq = (r * r).sum(axis=(1, 2)) / B
    if eps is None:  # + mean_n sum_j s2_nj ||w_j||^2
        col2 = (Wt * Wt).sum(axis=2)
        sq = sq + (np.broadcast_to(var, mu.shape) * col2[:, :, None]).sum(axis=(1, 2)) / B
    kl = objective_pieces().kl(mu * mu, var, logvar, eta2)  # (P, k, B): the Gaussian KL
    kl = kl.sum(axis=(1, 2)) / B
    const = d * objective_pieces().log_normaliser(np.asarray(sigma2, dtype=float))
    return const + sq / (2 * s2) + beta * kl


def evaluate(
    params: dict[str, np.ndarray],
    Y: np.ndarray,
    sigma2: np.ndarray,
    *,
    scale: float,
    beta: float,
    eta2: float,
    variant: str,
) -> Evaluation:
    """KL per latent, mean encoder variance per latent and F, on ALL data, exactly.

    ``Y`` is the whole data set in scaled units.  The expectation over q is exact (the
    linear model's Gaussian identity); the data enter through the sums
    sum_n ||y_n||^2, sum_n y_n, sum_n mu_n y_n^T, sum_n mu_n mu_n^T, accumulated in
    chunks of rows, so no (P, N, d) array is formed.

    Returns
    -------
    Evaluation
        ``kl`` and ``encoder_variance`` (P, k), not yet sorted (for the fixed variant,
        in the canonical latent basis); ``neg_elbo`` (P,); ``information`` (P, k), the
        principal informations (:func:`numerics.training._sweep.principal_informations`).
    """
    Wt, b, V = params["Wt"], params["b"], params["V"]
    P, k, d = Wt.shape
    n = Y.shape[0]
    s2 = np.asarray(sigma2, dtype=float) / scale**2
    S_yy = 0.0
    S_y = np.zeros(d)
    S_my = np.zeros((P, k, d))
    S_mm = np.zeros((P, k, k))
    S_m = np.zeros((P, k))
    S_v = np.zeros((P, k))  # sum_n s2_nj
    S_lv = np.zeros((P, k))  # sum_n log s2_nj
    for rows, groups in eval_chunks(n, k + d, P):
        y = Y[rows]
        B = y.shape[0]
        S_yy += float((y * y).sum())
        S_y += y.sum(axis=0)
        for g in groups:
            mu = np.matmul(V[g], y.T)  # (runs, k, B)
            S_my[g] += np.matmul(mu, y)
            S_mm[g] += np.matmul(mu, mu.transpose(0, 2, 1))
            S_m[g] += mu.sum(axis=2)
            logvar = _log_variance({name: w[g] for name, w in params.items()}, y.T, variant)
            if logvar is None:
                S_v[g] += eta2 * B
                S_lv[g] += math.log(eta2) * B
            else:
                lv = np.broadcast_to(logvar, mu.shape)
                S_v[g] += np.exp(lv).sum(axis=2)
                S_lv[g] += lv.sum(axis=2)
    # sum_n ||y_n - W mu_n - b||^2, expanded.
    sq = (
        S_yy
        - 2 * per_run_dot(Wt, S_my)
        + per_run_dot(np.matmul(Wt, Wt.transpose(0, 2, 1)), S_mm.transpose(0, 2, 1))
        - 2 * per_run_dot(b, np.broadcast_to(S_y, b.shape))
        + 2 * per_run_dot(np.matmul(S_m[:, None, :], Wt)[:, 0, :], b)
        + n * per_run_dot(b, b)
    )
    mean_var = S_v / n
    trace = (mean_var * (Wt * Wt).sum(axis=2)).sum(axis=1)
    mumu = np.diagonal(S_mm, axis1=1, axis2=2) / n
    if variant == "fixed":
        # Rotation freedom: report the KL along the principal axes of mean_n mu mu^T.
        mumu = np.linalg.eigvalsh(S_mm / n)
    # The KL is linear in mu^2, s2 and log s2: its data average is the KL of the averages.
    kl = objective_pieces().kl(mumu, mean_var, S_lv / n, eta2)
    const = d * objective_pieces().log_normaliser(np.asarray(sigma2, dtype=float))
    neg_elbo = const + (sq / n + trace) / (2 * s2) + beta * kl.sum(axis=1)
    mean_mu = S_m / n
    cov_mu = S_mm / n - mean_mu[:, :, None] * mean_mu[:, None, :]
    return Evaluation(kl, mean_var, neg_elbo, principal_informations(cov_mu, mean_var))


@dataclass(frozen=True)
class LinearState:
    """Trained linear VAEs of a sweep in data units (a ``TrainedState``)."""

    params: dict[str, np.ndarray]  # W (P, d, k), b (P, d), V (P, k, d), logvar or A, a0
    mean: np.ndarray  # the training data's mean, which the encoder subtracts
    variant: str
    eta2: float

    def posterior(self, run: int, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        p = self.params
        Y = np.asarray(X, dtype=float) - self.mean
        mu = Y @ p["V"][run].T
        k = mu.shape[1]
        if self.variant == "learnable":
            logvar = np.broadcast_to(p["logvar"][run], mu.shape).copy()
        elif self.variant == "data-dependent":
            logvar = Y @ p["A"][run].T + p["a0"][run]
        else:
            logvar = np.full(mu.shape, math.log(self.eta2)) if k else mu.copy()
        return mu, logvar, mu @ p["W"][run].T + p["b"][run]


def to_data_units(
    params: dict[str, np.ndarray], mean: np.ndarray, scale: float
) -> dict[str, np.ndarray]:
    """The parameters in the data's units: W (P, d, k), b, V (and A, a0 or logvar)."""
    out = {
        "W": params["Wt"].transpose(0, 2, 1) * scale,
        "b": mean + params["b"] * scale,
        "V": params["V"] / scale,
    }
    if "A" in params:
        out["A"] = params["A"] / scale
        out["a0"] = params["a0"].copy()
    if "logvar" in params:
        out["logvar"] = params["logvar"].copy()
    return out


# ----------------------------------------------------------------------------- training


def stable_gd_step(
    eigenvalues, sigma2, beta: float, eta2: float, scale: float, variant: str
) -> float:
    """Half the largest stable plain gradient-descent step, 1 / h_max, in the trainer's
    units: h_max is the largest eigenvalue of any mode's Hessian in these coordinates
    (:mod:`theory.dynamics`) at its collapsed and active points, over ``eigenvalues`` and
    the sweep ``sigma2``.

    Gradient descent is stable near a minimum for lr < 2 / h_max; half of that keeps
    every mode's factor 1 - lr h in (0, 1), so no mode oscillates.  The top eigenvalue
    sets h_max (checked on digits over every mode); only ``learnable`` and ``fixed``
    encoder variances have derived Hessians.
    """
    rel = relaxation_laws(variant)
    lam = np.atleast_1d(np.asarray(eigenvalues, dtype=float))
    s = np.asarray(sigma2, dtype=float)
    h_max = 0.0
    for point in ("collapsed", "active"):
        h = rel.hessian_eigenvalues(point, lam[None, :], s[:, None], beta, eta2, scale, eta2)
        if np.isfinite(h).any():
            h_max = max(h_max, float(np.nanmax(h[..., -1])))
    return 1.0 / h_max


#: The linear trainer's optimisation defaults (module docstring, "Step size and schedule").
DEFAULTS = TrainingConfig(
    steps=2000, batch_size=128, lr=1e-1, schedule="exponential", lr_min=1e-3,
    warm_start=False, anchor_steps=2000,
)  # fmt: skip


#: Rows x dimensions of a default minibatch at most (see :func:`default_batch`).
BATCH_ELEMENTS = 1 << 17


def default_batch(n: int, d: int) -> int:
    """The default minibatch: all N rows when N d <= 2^17, else 2^17 / d rows (>= 128).

    Minibatch noise, like sampling noise, is largest where the objective is flattest and
    shifts measured thresholds: on digits (1797 x 64) batches of 128 moved all four by
    -0.06 to -0.09 %, full batches by less than 0.005 %, in 2.5 s instead of 1 s.  A step
    costs about B d k per sweep point, so wider data get smaller batches.
    """
    return min(n, max(128, BATCH_ELEMENTS // d))


@dataclass
class LinearModel:
    """The linear VAE as a :class:`numerics.training._loop.SweepModel` (scaled units).

    ``sigma2`` passed to :meth:`loss_and_grads` is in data units; ``scale`` is the unit a
    of the parameters (:func:`data_scale`).
    """

    d: int
    k: int
    variant: str
    scale: float
    eta2: float
    init_scale: float
    exact_expectation: bool
    method: str
    name: str = "linear"
    loss_every_step: bool = False  # the loss forms the (P, d, B) residuals: only at checks
    #: The last minibatch and its :func:`batch_moments`: with full batches the training
    #: loop passes the same array every step, whose moments are then computed once (on
    #: digits with 8000 full-batch steps, Y^T Y alone took 3 of 7 s).
    _moments_of: Any = field(default=None, repr=False, compare=False)
    _moments: Any = field(default=None, repr=False, compare=False)

    def init(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        return init_params(rng, self.d, self.k, self.variant, self.init_scale, self.eta2)

    def run_bytes(self, batch: int) -> int:
        # theta, Adam's m and v, the gradient and its packed copy; (k, B) temporaries.
        params = 3 * self.k * self.d + self.d + self.k
        return 8 * (6 * params + 10 * self.k * batch + self.d * batch)

    def noise_shape(self, batch: int) -> tuple[int, ...] | None:
        # One draw per latent and data point: eps[p, j, n] (module docstring).
        return None if self.exact_expectation else (self.k, batch)

    def moments_of(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:func:`batch_moments` of ``batch``, computed once while the batch is the same."""
        if batch is not self._moments_of:
            self._moments_of, self._moments = batch, batch_moments(batch)
        return self._moments

    def loss_and_grads(self, params, batch, sigma2, eps, beta, with_loss, out):
        if self.method == "moments":
            self.moments_of(batch)
        loss, grads = loss_and_grads(
            params, batch, sigma2, eps, beta=beta, with_loss=with_loss, scale=self.scale,
            eta2=self.eta2, variant=self.variant, method=self.method, moments=self._moments,
        )  # fmt: skip
        for name, g in grads.items():
            out[name][...] = g
        return loss


def _options(model: LinearModel, config: TrainingConfig, n: int) -> dict[str, Any]:
    """Everything that defines a linear sweep, for its ``SweepResult.options``."""
    return {
        **config.record(),
        "eta2": model.eta2,
        "latent_dim": model.k,
        "encoder_variance": model.variant,
        "exact_expectation": model.exact_expectation,
        "gradient_method": model.method,
        "samples_per_point": 0 if model.exact_expectation else 1,
        "n_samples": n,
        "lr_units": "W, b in sqrt(lambda_max); V, A in 1/sqrt(lambda_max)",
        "parameter_scale": model.scale,
        "init_scale": model.init_scale,
        "init": "W, V (and A) ~ N(0, init_scale^2 / d) in scaled units; b = mean; s2 = eta2",
        "encoder_input": "x - mean (no encoder bias)",
        "warm_start_anchor_sigma2": None,
        "noise": "seed r: np.random.default_rng(r), shared by all sweep points",
        "kl_basis": "principal axes of the encoder means"
        if model.variant == "fixed"
        else "trained latents",
        "neg_elbo_estimator": "exact expectation over q, exact KL, on all data",
        "active_kl": ACTIVE_KL,
    }


def train_linear_sweep(
    X,
    sigma2,
    *,
    beta: float = 1.0,
    latent_dim: int | None = None,
    encoder_variance: str = "learnable",
    eta2: float = 1.0,
    exact_expectation: bool = True,
    init_scale: float = INIT_SCALE,
    scheduler: Any = None,
    workers: int | None = None,
    blocks: int | None = None,
    **training: Any,
) -> SweepResult:
    """Train the linear VAE at every sweep point and seed, all at once.

    Parameters
    ----------
    X : array (n, d)
        Training data, rows are samples, in their own units (not standardised).
    sigma2 : float or sequence
        Decoder variances (sorted ascending in the result).
    beta : float
        KL weight (1: the plain negative ELBO).
    latent_dim : int, optional
        k, the number of latents (default d).
    encoder_variance : {"learnable", "fixed", "data-dependent"}
        See the module docstring.
    eta2 : float
        Prior variance.
    exact_expectation : bool
        The exact expectation over q of the reconstruction term on each minibatch (the
        default: the linear model's reparameterisation-free gradient of the same
        objective; on digits all four thresholds within 0.1 % in about 1 s, seeds 0-2),
        or, with False, one reparameterised sample per data point, as VAEs are usually
        trained: near a threshold the sampling noise is largest where the objective is
        flattest, and with the other defaults the top transitions of digits move by up
        to 3 % (module docstring).
    init_scale : float
        Initial norm of each decoder column and encoder row, in units of sqrt(lambda_max).
    scheduler, workers, blocks
        Train on a Dask cluster instead of in this process: the running scheduler at
        ``scheduler`` (an address or a ``distributed.Client``) or a local cluster of
        ``workers`` processes, in ``blocks`` tasks of sweep points and seeds (default one
        per worker thread); the result is bit for bit the same
        (:mod:`numerics.training._distributed`).
    **training
        Fields of :class:`~numerics.training._config.TrainingConfig` (``seeds``,
        ``steps``, ``batch_size`` (default :func:`default_batch`), ``lr`` in units of
        sqrt(lambda_max), ``schedule``,
        ``lr_min``, ``warm_start``, ``anchor_steps``, ``batch_seed``, ``progress``);
        the defaults are :data:`DEFAULTS` (the anchor of a warm start trains for
        ``steps`` steps unless ``anchor_steps`` is given).

    Returns
    -------
    SweepResult
        ``model="linear"``; KL (exact for the linear model given the encoder) and
        encoder variance per latent averaged over all of X, sorted by KL descending in
        each run (fixed variant: in the principal axes of the encoder means); F on all
        of X with the exact expectation over q.  ``options`` records every setting,
        the parameter unit and the minibatch summation (:func:`gradient_method`).

    Raises
    ------
    TrainingDiverged
        A loss or parameter became NaN or inf (checked every 50 steps and at the last;
        the message names the sweep point, the seed and the step).
    """
    start = time.perf_counter()
    X = check_samples(X)
    s_sorted = check_sigma2_sweep(sigma2)
    training.setdefault("anchor_steps", training.get("steps"))
    if training.get("batch_size") is None:
        training["batch_size"] = default_batch(*X.shape)
    # Single-threaded BLAS: on 2 cores threads cost more than they save on 1797 x 64
    # (0.1 s threaded for this covariance on a busy machine).
    with threadpool_limits(1, user_api="blas"):
        mean, scale = data_scale(X)
    beta, eta2 = check_positive("beta", beta), check_positive("eta2", eta2)
    gd_lr = None  # plain gradient descent: a stable step from the derived Hessians
    if encoder_variance in ("learnable", "fixed"):
        gd_lr = partial(stable_gd_step, scale**2, s_sorted, beta, eta2, scale, encoder_variance)
    config = configure(DEFAULTS, {**training, "beta": beta}, gd_lr).checked(X.shape[0])
    cluster = cluster_options(scheduler, workers, blocks)
    n, d = X.shape
    model = LinearModel(
        d=d,
        k=check_latent_dim(latent_dim, d),
        variant=check_choice("encoder_variance", encoder_variance, VARIANTS),
        scale=scale,
        eta2=eta2,
        init_scale=check_positive("init_scale", init_scale),
        exact_expectation=bool(exact_expectation),
        method=gradient_method(encoder_variance, d, config.batch_size),
    )
    Y = (X - mean) / model.scale
    finish = partial(
        evaluate, scale=model.scale, beta=config.beta, eta2=model.eta2, variant=model.variant
    )
    params, result = run_sweep(model, Y, s_sorted, config, finish, cluster=cluster)
    check_finite(result.neg_elbo, config.steps, sweep_labels(s_sorted, config.seeds))
    options = _options(model, config, n)
    if config.warm_start:
        options["warm_start_anchor_sigma2"] = float(s_sorted[0])
    state = LinearState(to_data_units(params, mean, model.scale), mean, model.variant, model.eta2)
    return SweepResult.from_runs(
        s_sorted, config.seeds, result.kl, result.encoder_variance, result.neg_elbo, "linear",
        options, seconds=time.perf_counter() - start, information=result.information,
        state=state,
    )  # fmt: skip
