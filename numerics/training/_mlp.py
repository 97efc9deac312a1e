"""A small MLP VAE in pure NumPy, trained over a whole sweep of sigma'^2 at once.

The model (README, "Conventions and notation" and "Training confirmation"), for one
sweep point::

    encoder   h = ReLU MLP(x) (widths ``hidden``),  mu = h W_mu + b_mu,
              logvar = clip(h W_lv + b_lv, -12, 8)      (q(z|x) = N(mu, diag(exp(logvar))))
    decoder   f(z) = linear(ReLU MLP(z))  (widths ``hidden`` reversed)
    prior     p(z) = N(0, I_k);   p(x|z) = N(f(z), sigma2 I_d), sigma2 fixed

    F = d/2 log(2 pi sigma2) + E_x E_q[ ||x - f(z)||^2 / (2 sigma2) ]
        + beta * E_x sum_j 1/2 (mu_j^2 + exp(logvar_j) - 1 - logvar_j)

trained as a VAE is really trained: minibatches, one reparameterised sample
z = mu + exp(logvar / 2) * eps per point, Adam.  The gradients are written out by
hand (:func:`loss_and_grads`) and the tests check them against central finite
differences.

**All sweep points and seeds train at once.**  Every weight carries a leading axis
of length P = S * R (sweep point s, seed r at p = s * R + r), and each layer is one
batched ``np.matmul`` over (P, B, h) x (P, h, h'); the only loop over the sweep is
over a few blocks of points (:func:`block_points`), whose wide temporaries live in a
:class:`Workspace` reused from step to step.  All points share the minibatch indices.
Seed r draws its initial weights and then its reparameterisation noise from
``np.random.default_rng(r)``; the same draws serve every sweep point of that seed
(common random numbers), so a sweep gives exactly what the same points trained one at
a time give, and neighbouring points of a sweep differ only through sigma2.

The follow-up paper's protocol that uses this model is in
:mod:`numerics.training._protocols`; :func:`numerics.training._transitions.measure_transitions`
locates the steps from the trained results.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, NamedTuple

import numpy as np

from numerics.core._bridge import objective_pieces
from numerics.core._validation import (
    InputError,
    check_choice,
    check_int,
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

#: Clamp of the log-variance head (the follow-up's protocol).
LOGVAR_MIN, LOGVAR_MAX = -12.0, 8.0
#: Seed of the reparameterisation noise of the final evaluation (F is a Monte-Carlo estimate).
EVAL_SEED = 20_251_001


# --------------------------------------------------------------------------- parameters


def layer_widths(d: int, latent_dim: int, hidden: Sequence[int]) -> dict[str, tuple[int, int]]:
    """(fan_in, fan_out) of every weight matrix, by parameter-group name.

    Encoder ``enc.W0 .. enc.W{L-1}``, heads ``mu.W`` and ``logvar.W``, decoder
    ``dec.W0 .. dec.W{L-1}`` (widths reversed) and ``out.W``; each ``.W`` has a ``.b``.
    """
    shapes: dict[str, tuple[int, int]] = {}
    fan_in = d
    for i, h in enumerate(hidden):
        shapes[f"enc.W{i}"] = (fan_in, h)
        fan_in = h
    shapes["mu.W"] = (fan_in, latent_dim)
    shapes["logvar.W"] = (fan_in, latent_dim)
    fan_in = latent_dim
    for i, h in enumerate(reversed(hidden)):
        shapes[f"dec.W{i}"] = (fan_in, h)
        fan_in = h
    shapes["out.W"] = (fan_in, d)
    return shapes


def init_params(
    rng: np.random.Generator,
    d: int,
    latent_dim: int,
    hidden: Sequence[int],
    init_scale: float = 1.0,
) -> dict[str, np.ndarray]:
    """One run's initial weights, with a leading sweep axis of length 1.

    PyTorch's default for ``nn.Linear``: weights and biases uniform in
    +-1/sqrt(fan_in); ``init_scale`` multiplies the weights' bound (sqrt(3) gives
    weights of variance 1/fan_in).  Weights have shape (1, fan_in, fan_out), biases
    (1, 1, fan_out).
    """
    params: dict[str, np.ndarray] = {}
    for name, (fan_in, fan_out) in layer_widths(d, latent_dim, hidden).items():
        bound = 1.0 / math.sqrt(fan_in)
        params[name] = rng.uniform(-bound, bound, size=(1, fan_in, fan_out)) * init_scale
        params[name.replace(".W", ".b")] = rng.uniform(-bound, bound, size=(1, 1, fan_out))
    return params


def _n_hidden(params: dict[str, np.ndarray]) -> int:
    return sum(1 for name in params if name.startswith("enc.W"))


# --------------------------------------------------------------------------- model


def _relu_layer(
    a: np.ndarray,
    W: np.ndarray,
    b: np.ndarray,
    out: np.ndarray | None = None,
    zeros: np.ndarray | float = 0.0,
) -> np.ndarray:
    """ReLU(a @ W + b), batched over the sweep axis, in place in ``out`` if given.

    ``zeros``, an array of zeros shaped like the result, is the same maximum as the
    scalar 0 and runs NumPy's vectorised loop: 2.0 instead of 4.6 us per point for
    (256, 32) activations (the scalar is broadcast element by element).
    """
    out = np.matmul(a, W, out=out)
    out += b
    return np.maximum(out, zeros, out=out)


def _colsum(delta: np.ndarray, ones: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Sum over the minibatch axis, (P, B, h) -> (P, 1, h) (a product: faster than sum)."""
    return np.matmul(ones, delta, out=out)


class Workspace:
    """Scratch arrays reused from one training step to the next, by name and shape.

    A step of a whole sweep at once allocated some twenty arrays of (P, B, width)
    floats and freed them again; at P = 32, B = 256, d = 64 the output layer's are
    4 MiB each, which glibc may serve with fresh pages (and NumPy advises as huge
    pages), zeroed by the kernel at first touch.  How often depends on the state of
    the heap: the step called alone took 19 ms, 7.3 ms of it on the line
    ``x - (g @ W + b)`` whose three operations take 1.0 ms on reused memory; inside
    training it took about 11 ms (2-core development machine; see
    :mod:`numerics.training._allocator` for the process-wide remedy of the command
    line).  Reused buffers cost nothing after the first step, whatever the process's
    malloc settings.
    """

    def __init__(self) -> None:
        self._arrays: dict[tuple, np.ndarray] = {}

    def get(self, name: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        """The buffer ``name`` of this shape and dtype (uninitialised the first time)."""
        key = (name, shape, np.dtype(dtype).str)
        if key not in self._arrays:
            self._arrays[key] = np.empty(shape, dtype=dtype)
        return self._arrays[key]

    def zeros(self, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        """An array of zeros of this shape and dtype (never written to)."""
        key = ("zeros", shape, np.dtype(dtype).str)
        if key not in self._arrays:
            self._arrays[key] = np.zeros(shape, dtype=dtype)
        return self._arrays[key]


#: The activations of one block of sweep points stay below this many bytes (see
#: :func:`block_points`).
BLOCK_BYTES = 1 << 22


def block_points(P: int, batch: int, widths: dict[str, tuple[int, int]], itemsize: int) -> int:
    """How many sweep points :func:`loss_and_grads` processes at once (cache blocking).

    A step's forward and backward pass touch every activation several times (bias,
    ReLU, the products on each side, the mask of the backward pass); done for the
    whole sweep at once, these (P, B, width) arrays stream from L3 or memory at
    every pass.  The sweep is cut into equal blocks whose activations (B sum(widths)
    floats per point) fit in ``BLOCK_BYTES``, and each block's forward and backward
    pass run in turn.  Measured on the digits benchmark (P = 32, B = 256, widths
    (32, 32), float64, 2-core development machine), :func:`loss_and_grads` took
    9.2 ms in blocks of 8 points (3.2 MB of activations), 9.4 in blocks of 16,
    10.3 in one block of 32, 10.5 in blocks of 2 and 12.3 one point at a time
    (Python's overhead per block); on the follow-up protocol's sizes (P = 24,
    B = 512, d = 8, float32) 4.8-5.0 ms in blocks of 8 to 24, 7.1 one point at a time.
    The products then take about 6 of the 9.2 ms, near the machine's peak
    (55 GFLOP/s on one core); the rest is the elementwise passes (bias, ReLU, masks,
    residual), about 2 ms, and Python.  Every point's arithmetic is the same in any
    block, so the result does not depend on the blocking.
    """
    per_point = batch * sum(fan_out for _, fan_out in widths.values()) * itemsize
    most = max(1, BLOCK_BYTES // per_point)
    blocks = -(-P // most)  # as few blocks as fit, then as even as they can be
    return -(-P // blocks)


class _Forward(NamedTuple):
    """What the backward pass needs from the forward pass of one block of points."""

    enc: list[np.ndarray]  # encoder post-activations, enc[0] = x
    dec: list[np.ndarray]  # decoder post-activations, dec[0] = z
    head_W: np.ndarray  # [mu.W | logvar.W]
    mu: np.ndarray
    lv_raw: np.ndarray  # the log-variance head before the clamp
    logvar: np.ndarray
    std: np.ndarray
    var: np.ndarray
    resid: np.ndarray  # x - f(z)


def _forward(params: dict[str, np.ndarray], x: np.ndarray, eps, work: Workspace) -> _Forward:
    """The forward pass of one block of sweep points (:func:`loss_and_grads`).

    The wide activations land in ``work``'s buffers, which the next block reuses.
    """
    n_layers = _n_hidden(params)
    P, (B, d) = params["mu.W"].shape[0], x.shape
    enc, a = [x], x
    for i in range(n_layers):
        W = params[f"enc.W{i}"]
        shape = (P, B, W.shape[-1])
        zeros = work.zeros(shape, x.dtype)
        a = _relu_layer(a, W, params[f"enc.b{i}"], work.get(f"enc{i}", shape, x.dtype), zeros)
        enc.append(a)
    k = params["mu.W"].shape[-1]
    # Both heads in one product: columns [:k] are mu, [k:] the raw log-variance.
    head_W = np.concatenate([params["mu.W"], params["logvar.W"]], axis=-1)
    heads = np.matmul(a, head_W)
    heads += np.concatenate([params["mu.b"], params["logvar.b"]], axis=-1)
    # Contiguous copies: on the strided halves of ``heads`` every elementwise operation
    # here and in the backward pass loops over rows of k = 4 values (15.0 us per point
    # on digits, 12.8 with the copies).
    mu, lv_raw = np.ascontiguousarray(heads[..., :k]), np.ascontiguousarray(heads[..., k:])
    logvar = np.clip(lv_raw, LOGVAR_MIN, LOGVAR_MAX)
    std = np.exp(0.5 * logvar)
    var = std * std
    z = mu + std * eps
    dec, g = [z], z
    for i in range(n_layers):
        W = params[f"dec.W{i}"]
        shape = (P, B, W.shape[-1])
        zeros = work.zeros(shape, x.dtype)
        g = _relu_layer(g, W, params[f"dec.b{i}"], work.get(f"dec{i}", shape, x.dtype), zeros)
        dec.append(g)
    resid = np.matmul(g, params["out.W"], out=work.get("resid", (P, B, d), x.dtype))
    resid += params["out.b"]
    np.subtract(x, resid, out=resid)  # x - (g W + b), (P, B, d)
    return _Forward(enc, dec, head_W, mu, lv_raw, logvar, std, var, resid)


def _back(delta: np.ndarray, W: np.ndarray, work: Workspace, name: str) -> np.ndarray:
    """delta W^T, the gradient one layer down, into the buffer ``name``.

    W^T stays a transposed view: a contiguous copy of it made BLAS faster (18.5
    instead of 26.4 us per point for the output layer on digits) but not always with
    the same roundings (float32, B = 512, a (32 x 4) W^T: differences of 6e-6).
    """
    shape = (*delta.shape[:-1], W.shape[-2])
    return np.matmul(delta, np.swapaxes(W, -1, -2), out=work.get(name, shape, delta.dtype))


def _backward(
    params: dict[str, np.ndarray],
    fw: _Forward,
    s: np.ndarray,
    eps: np.ndarray,
    beta: float,
    grads: dict[str, np.ndarray],
    work: Workspace,
) -> None:
    """The backward pass of one block of sweep points; writes into ``grads`` (views).

    delta = dF/d(pre-activation) at each layer; the residual becomes the output
    layer's delta in place.
    """
    n_layers = len(fw.dec) - 1
    B = fw.resid.shape[1]
    k = fw.mu.shape[-1]
    ones = np.ones((1, B), dtype=fw.resid.dtype)
    delta = np.divide(fw.resid, -s * B, out=fw.resid)  # dF/d f(z)
    np.matmul(np.swapaxes(fw.dec[-1], -1, -2), delta, out=grads["out.W"])
    _colsum(delta, ones, grads["out.b"])
    back = _back(delta, params["out.W"], work, "dec.back")
    for i in reversed(range(n_layers)):
        delta = np.multiply(back, fw.dec[i + 1] > 0, out=back)  # through the ReLU
        np.matmul(np.swapaxes(fw.dec[i], -1, -2), delta, out=grads[f"dec.W{i}"])
        _colsum(delta, ones, grads[f"dec.b{i}"])
        back = _back(delta, params[f"dec.W{i}"], work, f"dec.back{i}")
    dz = back  # dF/dz
    d_mu = dz + (beta / B) * fw.mu
    inside = (fw.lv_raw > LOGVAR_MIN) & (fw.lv_raw < LOGVAR_MAX)  # the clamp passes gradient
    d_lv = (dz * eps * 0.5 * fw.std + (0.5 * beta / B) * (fw.var - 1.0)) * inside
    d_heads = np.concatenate([d_mu, d_lv], axis=-1)
    g_W = np.matmul(np.swapaxes(fw.enc[-1], -1, -2), d_heads)
    g_b = _colsum(d_heads, ones)
    grads["mu.W"][...], grads["logvar.W"][...] = g_W[..., :k], g_W[..., k:]
    grads["mu.b"][...], grads["logvar.b"][...] = g_b[..., :k], g_b[..., k:]
    back = _back(d_heads, fw.head_W, work, "enc.back")
    for i in reversed(range(n_layers)):
        delta = np.multiply(back, fw.enc[i + 1] > 0, out=back)
        # enc[0] = x is shared, (B, d): x.T @ delta broadcasts to (P, d, h).
        np.matmul(np.swapaxes(fw.enc[i], -1, -2), delta, out=grads[f"enc.W{i}"])
        _colsum(delta, ones, grads[f"enc.b{i}"])
        if i:
            back = _back(delta, params[f"enc.W{i}"], work, f"enc.back{i}")


def loss_and_grads(
    params: dict[str, np.ndarray],
    x: np.ndarray,
    sigma2: np.ndarray,
    eps: np.ndarray,
    *,
    beta: float = 1.0,
    with_loss: bool = True,
    with_grads: bool = True,
    out: dict[str, np.ndarray] | None = None,
    work: Workspace | None = None,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Minibatch objective of every sweep point and its gradient, by backpropagation.

    Parameters
    ----------
    params : dict of ndarray
        Weights (P, fan_in, fan_out) and biases (P, 1, fan_out), see :func:`layer_widths`.
    x : ndarray, shape (B, d)
        The minibatch, shared by all P sweep points.
    sigma2 : ndarray, shape (P,)
        Decoder variance of each sweep point.
    eps : ndarray, shape (P, B, k) or (1, B, k)
        Standard normal noise of the reparameterisation z = mu + exp(logvar / 2) eps
        (one slice broadcasts over all sweep points).
    beta : float
        Weight of the KL term.
    with_loss, with_grads : bool
        The loss is always computed (the forward pass needs it anyway); without
        gradients the backward pass is skipped.
    out : dict of ndarray, optional
        Arrays (or views) shaped like ``params`` to write the gradient into.
    work : Workspace, optional
        Scratch buffers kept between calls (a training loop passes the same one).

    Returns
    -------
    loss : ndarray, shape (P,)
        F per data point, averaged over the minibatch, one sample of z per point.
    grads : dict of ndarray
        dF/dparam, same shapes as ``params`` (``out`` if given; empty without grads).

    Notes
    -----
    The sweep is processed in blocks of :func:`block_points` points, each block's
    forward and backward pass in turn, with the wide temporaries in ``work``
    (:class:`Workspace`).  Each point's arithmetic is that of the whole sweep at once.
    The KL term of the loss is the KL of the minibatch means of mu^2, s^2 and log s^2
    (it is linear in them), so no (P, B, k) array of KLs is formed.
    """
    P, k = params["mu.W"].shape[0], params["mu.W"].shape[-1]
    B, d = x.shape
    s = np.asarray(sigma2, dtype=x.dtype).reshape(-1, 1, 1)
    work = Workspace() if work is None else work
    if with_grads and out is None:
        out = {name: np.empty_like(w) for name, w in params.items()}
    widths = {name: w.shape[-2:] for name, w in params.items() if ".W" in name}
    step = block_points(P, B, widths, x.dtype.itemsize)
    sq, moments = np.empty(P, dtype=x.dtype), np.empty((3, P, k), dtype=x.dtype)
    ones = np.ones((1, B), dtype=x.dtype)
    for start in range(0, P, step):
        blk = slice(start, min(P, start + step))
        part = {name: w[blk] for name, w in params.items()}
        e = eps if eps.shape[0] == 1 else eps[blk]
        fw = _forward(part, x, e, work)
        # Sums over the minibatch as products (BLAS dot and gemv: 2.3 and 0.4 us a
        # point instead of 7.1 and 3.9 for einsum and sum at 8 points).
        flat = fw.resid.reshape(fw.resid.shape[0], 1, -1)
        sq[blk] = np.matmul(flat, np.swapaxes(flat, -1, -2))[:, 0, 0]  # ||x - f(z)||^2
        moments[0, blk] = np.einsum("pbk,pbk->pk", fw.mu, fw.mu)
        moments[1, blk] = np.matmul(ones, fw.var)[:, 0]
        moments[2, blk] = np.matmul(ones, fw.logvar)[:, 0]
        if with_grads:
            grads = {name: g[blk] for name, g in out.items()}
            _backward(part, fw, s[blk], e, beta, grads, work)
    pieces = objective_pieces()  # the KL is linear in mu^2, s^2, log s^2: KL of the means
    kl = pieces.kl(moments[0] / B, moments[1] / B, moments[2] / B, 1.0).sum(axis=1)
    const = d * pieces.log_normaliser(s[:, 0, 0])
    loss = const + 0.5 * sq / (s[:, 0, 0] * B) + beta * kl
    return loss, (out if with_grads else {})


def encode(params: dict[str, np.ndarray], x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and clamped log-variance of q(z|x), each (P, n, k)."""
    a = x
    for i in range(_n_hidden(params)):
        a = _relu_layer(a, params[f"enc.W{i}"], params[f"enc.b{i}"])
    mu = np.matmul(a, params["mu.W"]) + params["mu.b"]
    logvar = np.clip(np.matmul(a, params["logvar.W"]) + params["logvar.b"], LOGVAR_MIN, LOGVAR_MAX)
    return mu, logvar


def decode(params: dict[str, np.ndarray], z: np.ndarray) -> np.ndarray:
    """Decoder mean f(z), (P, n, d)."""
    g = z
    for i in range(_n_hidden(params)):
        g = _relu_layer(g, params[f"dec.W{i}"], params[f"dec.b{i}"])
    return np.matmul(g, params["out.W"]) + params["out.b"]


def evaluate(
    params: dict[str, np.ndarray],
    X: np.ndarray,
    sigma2: np.ndarray,
    beta: float = 1.0,
    seed: int = EVAL_SEED,
) -> Evaluation:
    """Per-latent KL and encoder variance averaged over all of X, F and the informations.

    The KL of q(z|x) from the prior is the exact Gaussian one; F adds the expected
    reconstruction term, estimated with one reparameterised sample per data point
    drawn from ``np.random.default_rng(seed)`` (the same noise for every sweep point).
    ``information`` holds the principal informations
    (:func:`numerics.training._sweep.principal_informations`) of the posterior means.
    All arrays unsorted: (P, k), ``neg_elbo`` (P,).
    """
    n, d = X.shape
    s = np.asarray(sigma2, dtype=float)
    P = s.size
    k = params["mu.W"].shape[-1]
    rng = np.random.default_rng(seed)
    kl, var, sum_mu = np.zeros((P, k)), np.zeros((P, k)), np.zeros((P, k))
    sum_mumu = np.zeros((P, k, k))
    sq = np.zeros(P)
    widest = max(d, *(w.shape[-1] for w in params.values()))
    for rows, groups in eval_chunks(n, widest, P):
        xb = np.asarray(X[rows], dtype=float)
        eps = rng.standard_normal((xb.shape[0], k))  # the same draws for every run
        for g in groups:
            part = {name: w[g] for name, w in params.items()}
            mu, logvar = encode(part, xb)
            v = np.exp(logvar)
            kl[g] += objective_pieces().kl(mu * mu, v, logvar, 1.0).sum(axis=1)
            var[g] += v.sum(axis=1)
            sum_mu[g] += mu.sum(axis=1)
            sum_mumu[g] += np.matmul(mu.transpose(0, 2, 1), mu)
            resid = xb - decode(part, mu + np.sqrt(v) * eps)
            sq[g] += per_run_dot(resid, resid)
    kl /= n
    var /= n
    neg_elbo = d * objective_pieces().log_normaliser(s) + 0.5 * sq / (n * s) + beta * kl.sum(1)
    mean_mu = sum_mu / n
    cov_mu = sum_mumu / n - mean_mu[:, :, None] * mean_mu[:, None, :]
    return Evaluation(kl, var, neg_elbo, principal_informations(cov_mu, var))


@dataclass(frozen=True)
class MLPState:
    """Trained MLP VAEs of a sweep (a ``TrainedState``); they work on standardised data."""

    params: dict[str, np.ndarray]
    mean: np.ndarray
    scale: float  # x_standardised = (x - mean) / scale

    def posterior(self, run: int, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        one = {name: w[run : run + 1] for name, w in self.params.items()}
        x = (np.asarray(X, dtype=float) - self.mean) / self.scale
        mu, logvar = encode(one, x)
        recon = decode(one, mu)[0] * self.scale + self.mean
        return mu[0], logvar[0], recon


# --------------------------------------------------------------------------- training


#: The MLP trainer's optimisation defaults (see :func:`train_mlp_sweep`).
DEFAULTS = TrainingConfig(
    steps=2000, batch_size=256, lr=2e-3, schedule="cosine", lr_min=0.01,
    warm_start=True, anchor_steps=4000, kl_warmup_from=0.3,
)  # fmt: skip


@dataclass
class MLPModel:
    """The MLP VAE as a :class:`numerics.training._loop.SweepModel` (standardised units)."""

    d: int
    k: int
    hidden: tuple[int, ...]
    init_scale: float
    dtype: str
    name: str = "MLP"
    loss_every_step: bool = True  # the forward pass computes it anyway
    work: Workspace = field(default_factory=Workspace, repr=False, compare=False)

    def init(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        params = init_params(rng, self.d, self.k, self.hidden, self.init_scale)
        return {name: w.astype(self.dtype) for name, w in params.items()}

    def run_bytes(self, batch: int) -> int:
        # Weights with Adam's m, v, two scratch arrays and the gradient; per layer
        # activations and deltas.
        widths = layer_widths(self.d, self.k, self.hidden).values()
        params = sum((a + 1) * b for a, b in widths)
        size = np.dtype(self.dtype).itemsize
        return size * (6 * params + 4 * batch * sum(b for _, b in widths))

    def noise_shape(self, batch: int) -> tuple[int, ...]:
        return (batch, self.k)  # eps[p, n, j]: one draw per data point and latent

    def loss_and_grads(self, params, batch, sigma2, eps, beta, with_loss, out):
        return loss_and_grads(params, batch, sigma2, eps, beta=beta, out=out, work=self.work)[0]


def standardised(X: np.ndarray) -> tuple[np.ndarray, float]:
    """(X - m) / a and a^2 = tr(Sigma) / d, the mean variance per coordinate.

    An exact reparametrisation of the model (see :func:`train_mlp_sweep`).  Data whose
    coordinates are all constant have a = 0: they are only centred then.
    """
    X = X - X.mean(axis=0)
    spread = float((X**2).sum() / X.size)
    if spread > 0:
        X /= math.sqrt(spread)
        return X, spread
    return X, 1.0


def _options(model: MLPModel, config: TrainingConfig, n: int, scale2: float, std: bool):
    """Everything that defines an MLP sweep, for its ``SweepResult.options``."""
    return {
        **config.record(),
        "latent_dim": model.k,
        "hidden": list(model.hidden),
        "decoder_hidden": list(reversed(model.hidden)),
        "activation": "relu",
        "logvar_clamp": [LOGVAR_MIN, LOGVAR_MAX],
        "init": "uniform +-1/sqrt(fan_in) (PyTorch nn.Linear default), weights x init_scale",
        "init_scale": model.init_scale,
        "dtype": model.dtype,
        "n_samples": n,
        "standardise": std,
        "data_scale2": scale2,
        "samples_per_point": 1,
        "noise": "seed r: np.random.default_rng(r), shared by all sweep points",
        "neg_elbo_estimator": (
            "exact KL + reconstruction term with one reparameterised sample per data "
            f"point from np.random.default_rng({EVAL_SEED}), on all data"
        ),
        "active_kl": ACTIVE_KL,
    }


def _finish(params: dict[str, np.ndarray], X: np.ndarray, sigma2: np.ndarray, beta: float):
    """:func:`evaluate` of trained runs (in the training precision) in float64."""
    return evaluate({name: w.astype(np.float64) for name, w in params.items()}, X, sigma2, beta)


def train_mlp_sweep(
    X,
    sigma2,
    *,
    beta: float = 1.0,
    latent_dim: int | None = None,
    hidden: Sequence[int] = (32, 32),
    init_scale: float = 1.0,
    dtype: str = "float64",
    standardise: bool = True,
    scheduler: Any = None,
    workers: int | None = None,
    blocks: int | None = None,
    **training: Any,
) -> SweepResult:
    """Train the MLP VAE at every sweep point and seed, all at once.

    Parameters
    ----------
    X : array (n, d)
        Training data, rows are samples.
    sigma2 : float or sequence
        Decoder variances (sorted ascending in the result).
    beta : float
        KL weight (1: the plain negative ELBO).
    latent_dim : int, optional
        k, the number of latents (default d).
    hidden : sequence of int
        Encoder hidden widths; the decoder uses them reversed (the follow-up's
        encoder (256, 128) / decoder (128, 256) is ``hidden=(256, 128)``).
    init_scale : float
        Multiplies the bound of the initial weights (1: PyTorch's default).
    dtype : ``float64`` or ``float32``
        Training precision (float32 is about 1.5x faster); the final evaluation is
        always in float64.
    standardise : bool
        Train on (x - m) / a with decoder variance sigma2 / a^2, where m is the data
        mean and a^2 = tr(Sigma) / d the mean variance per coordinate.  This is an
        exact reparametrisation of the same model (the biases absorb m; ReLU is
        positively homogeneous, so the output layer absorbs a), with the same KL and
        encoder variances and F shifted by d log a, which is added back.  It only
        conditions the training: PyTorch's initialisation and Adam's step sizes are
        meant for data of unit scale (on raw digits pixels, 0..16, every latent stays
        collapsed for thousands of steps without it).
    scheduler, workers, blocks
        Train on a Dask cluster instead of in this process: the running scheduler at
        ``scheduler`` (an address or a ``distributed.Client``) or a local cluster of
        ``workers`` processes, in ``blocks`` tasks of sweep points and seeds (default one
        per worker thread); the result is bit for bit the same
        (:mod:`numerics.training._distributed`).
    **training
        Fields of :class:`~numerics.training._config.TrainingConfig`; the defaults are
        :data:`DEFAULTS`: a warm start (every point starts from a model trained at the
        lowest sigma'^2 for ``anchor_steps``, default ``2 * steps``), KL warm-up over
        the first half of the anchor phase from 0.3 beta, cosine step sizes from 2e-3
        down to 1 %.  From a cold start a latent escapes the collapsed state at a rate
        proportional to its distance from the threshold, so near a transition it stays
        collapsed for thousands of steps (on digits, every latent above 0.7 lambda_max
        after 3000 steps); from the anchor training only has to relax.

    Returns
    -------
    SweepResult
        ``model="mlp"``; KL and encoder variance per latent averaged over all of X,
        sorted by KL descending in each run; F on all of X (Monte-Carlo reconstruction
        term, see ``options["neg_elbo_estimator"]``).

    Raises
    ------
    TrainingDiverged
        A loss or parameter became NaN or inf (checked every 50 steps; the message
        names the sweep point, the seed and the first step with a non-finite loss).
    """
    start = time.perf_counter()
    X = check_samples(X)
    s_sorted = check_sigma2_sweep(sigma2)
    n, d = X.shape
    steps = training.get("steps") or DEFAULTS.steps
    if training.get("anchor_steps") is None:
        training["anchor_steps"] = 2 * steps
    warm = DEFAULTS.warm_start if training.get("warm_start") is None else training["warm_start"]
    first_phase = training["anchor_steps"] if warm else steps
    if training.get("kl_warmup") is None and isinstance(first_phase, int):
        training["kl_warmup"] = first_phase // 2  # half of the first phase
    config = configure(DEFAULTS, {**training, "beta": beta}).checked(n)
    cluster = cluster_options(scheduler, workers, blocks)
    hidden = tuple(check_int("hidden width", h, 1) for h in hidden)
    if not hidden:
        raise InputError("hidden=(): expected at least one hidden layer width")
    model = MLPModel(
        d=d,
        k=check_latent_dim(latent_dim, d),
        hidden=hidden,
        init_scale=check_positive("init_scale", init_scale),
        dtype=check_choice("dtype", dtype, ("float64", "float32")),
    )
    mean = X.mean(axis=0) if standardise else np.zeros(d)
    X, scale2 = standardised(X) if standardise else (X, 1.0)
    s_train = s_sorted / scale2
    data = X if model.dtype == "float64" else X.astype(model.dtype)
    params, result = run_sweep(
        model, data, s_train, config, partial(_finish, beta=config.beta),
        eval_data=None if data is X else X, labels_sigma2=s_sorted, cluster=cluster,
    )  # fmt: skip
    params = {name: w.astype(np.float64) for name, w in params.items()}
    check_finite(result.neg_elbo, config.steps, sweep_labels(s_sorted, config.seeds))
    neg_elbo = result.neg_elbo + 0.5 * d * math.log(scale2)  # F of the data as given
    state = MLPState(params, mean, math.sqrt(scale2))
    return SweepResult.from_runs(
        s_sorted, config.seeds, result.kl, result.encoder_variance, neg_elbo, "mlp",
        _options(model, config, n, scale2, bool(standardise)),
        seconds=time.perf_counter() - start, information=result.information, state=state,
    )  # fmt: skip
