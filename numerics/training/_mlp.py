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
batched ``np.matmul`` over (P, B, h) x (P, h, h'); there is no Python loop over the
sweep.  All points share the minibatch indices.  Seed r draws its initial weights and
then its reparameterisation noise from ``np.random.default_rng(r)``; the same draws
serve every sweep point of that seed (common random numbers), so a sweep gives exactly
what the same points trained one at a time give, and neighbouring points of a sweep
differ only through sigma2.

The follow-up paper's protocol that uses this model is in
:mod:`numerics.training._protocols`; :func:`numerics.training._transitions.measure_transitions`
locates the steps from the trained results.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from threadpoolctl import threadpool_limits

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
from numerics.training._loop import check_finite, eval_chunks, sweep_labels, train_sweep
from numerics.training._sweep import ACTIVE_KL, SweepResult, principal_informations

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


def _relu_layer(a: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.ndarray:
    """ReLU(a @ W + b), batched over the sweep axis, without temporaries."""
    out = np.matmul(a, W)
    out += b
    return np.maximum(out, 0.0, out=out)


def _colsum(delta: np.ndarray, ones: np.ndarray) -> np.ndarray:
    """Sum over the minibatch axis, (P, B, h) -> (P, 1, h) (a product: faster than sum)."""
    return np.matmul(ones, delta)


def loss_and_grads(
    params: dict[str, np.ndarray],
    x: np.ndarray,
    sigma2: np.ndarray,
    eps: np.ndarray,
    *,
    beta: float = 1.0,
    with_loss: bool = True,
    with_grads: bool = True,
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

    Returns
    -------
    loss : ndarray, shape (P,)
        F per data point, averaged over the minibatch, one sample of z per point.
    grads : dict of ndarray
        dF/dparam, same shapes as ``params`` (empty with ``grads=False``).
    """
    n_layers = _n_hidden(params)
    B, d = x.shape
    s = np.asarray(sigma2, dtype=x.dtype).reshape(-1, 1, 1)

    # Forward pass; keep every post-activation for the backward pass.
    enc = [x]
    a = x
    for i in range(n_layers):
        a = _relu_layer(a, params[f"enc.W{i}"], params[f"enc.b{i}"])
        enc.append(a)
    k = params["mu.W"].shape[-1]
    # Both heads in one product: columns [:k] are mu, [k:] the raw log-variance.
    head_W = np.concatenate([params["mu.W"], params["logvar.W"]], axis=-1)
    heads = np.matmul(a, head_W)
    heads += np.concatenate([params["mu.b"], params["logvar.b"]], axis=-1)
    mu, lv_raw = heads[..., :k], heads[..., k:]
    logvar = np.clip(lv_raw, LOGVAR_MIN, LOGVAR_MAX)
    std = np.exp(0.5 * logvar)
    var = std * std
    z = mu + std * eps
    dec = [z]
    g = z
    for i in range(n_layers):
        g = _relu_layer(g, params[f"dec.W{i}"], params[f"dec.b{i}"])
        dec.append(g)
    resid = x - (np.matmul(g, params["out.W"]) + params["out.b"])  # (P, B, d)

    kl = objective_pieces().kl(mu * mu, var, logvar, 1.0)  # (P, B, k); prior N(0, I)
    recon = 0.5 * np.einsum("pbd,pbd->p", resid, resid) / (s[:, 0, 0] * B)
    const = d * objective_pieces().log_normaliser(s[:, 0, 0])
    loss = const + recon + beta * kl.sum(axis=(1, 2)) / B
    if not with_grads:
        return loss, {}

    out: dict[str, np.ndarray] = {}
    ones = np.ones((1, B), dtype=x.dtype)

    # Backward pass.  delta = dF/d(pre-activation) at each layer.
    delta = resid / (-s * B)  # dF/d f(z)
    out["out.W"] = np.matmul(np.swapaxes(dec[-1], -1, -2), delta)
    out["out.b"] = _colsum(delta, ones)
    back = np.matmul(delta, np.swapaxes(params["out.W"], -1, -2))
    for i in reversed(range(n_layers)):
        delta = np.multiply(back, dec[i + 1] > 0, out=back)  # through the ReLU
        out[f"dec.W{i}"] = np.matmul(np.swapaxes(dec[i], -1, -2), delta)
        out[f"dec.b{i}"] = _colsum(delta, ones)
        back = np.matmul(delta, np.swapaxes(params[f"dec.W{i}"], -1, -2))
    dz = back  # dF/dz
    d_mu = dz + (beta / B) * mu
    inside = (lv_raw > LOGVAR_MIN) & (lv_raw < LOGVAR_MAX)  # the clamp passes gradient here
    d_lv = (dz * eps * 0.5 * std + (0.5 * beta / B) * (var - 1.0)) * inside
    d_heads = np.concatenate([d_mu, d_lv], axis=-1)
    g_W = np.matmul(np.swapaxes(enc[-1], -1, -2), d_heads)
    g_b = _colsum(d_heads, ones)
    out["mu.W"], out["logvar.W"] = g_W[..., :k], g_W[..., k:]
    out["mu.b"], out["logvar.b"] = g_b[..., :k], g_b[..., k:]
    back = np.matmul(d_heads, np.swapaxes(head_W, -1, -2))
    for i in reversed(range(n_layers)):
        delta = np.multiply(back, enc[i + 1] > 0, out=back)
        # enc[0] = x is shared, (B, d): x.T @ delta broadcasts to (P, d, h).
        out[f"enc.W{i}"] = np.matmul(np.swapaxes(enc[i], -1, -2), delta)
        out[f"enc.b{i}"] = _colsum(delta, ones)
        if i:
            back = np.matmul(delta, np.swapaxes(params[f"enc.W{i}"], -1, -2))
    return loss, out


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


class Evaluation(NamedTuple):
    """What :func:`evaluate` measures on all data, per run."""

    kl: np.ndarray
    encoder_variance: np.ndarray
    neg_elbo: np.ndarray
    information: np.ndarray


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
    for rows in eval_chunks(n, P * widest):
        xb = np.asarray(X[rows], dtype=float)
        mu, logvar = encode(params, xb)
        v = np.exp(logvar)
        kl += objective_pieces().kl(mu * mu, v, logvar, 1.0).sum(axis=1)
        var += v.sum(axis=1)
        sum_mu += mu.sum(axis=1)
        sum_mumu += np.matmul(mu.transpose(0, 2, 1), mu)
        eps = rng.standard_normal((xb.shape[0], k))
        resid = xb - decode(params, mu + np.sqrt(v) * eps)
        sq += np.einsum("pbd,pbd->p", resid, resid)
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
    packed: bool = False  # (P, fan_in, fan_out) views of one array would be strided

    def init(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        params = init_params(rng, self.d, self.k, self.hidden, self.init_scale)
        return {name: w.astype(self.dtype) for name, w in params.items()}

    def run_bytes(self, batch: int) -> int:
        # Weights with Adam's m, v and the gradient; per layer activations and deltas.
        widths = layer_widths(self.d, self.k, self.hidden).values()
        params = sum((a + 1) * b for a, b in widths)
        size = np.dtype(self.dtype).itemsize
        return size * (4 * params + 4 * batch * sum(b for _, b in widths))

    def noise_shape(self, batch: int) -> tuple[int, ...]:
        return (batch, self.k)  # eps[p, n, j]: one draw per data point and latent

    def loss_and_grads(self, params, batch, sigma2, eps, beta, with_loss):
        return loss_and_grads(params, batch, sigma2, eps, beta=beta)


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
    params = train_sweep(model, X.astype(model.dtype), s_train, config, labels_sigma2=s_sorted)
    params = {name: w.astype(np.float64) for name, w in params.items()}
    sigma2_p = np.repeat(s_train, len(config.seeds))
    with threadpool_limits(1, user_api="blas"), np.errstate(over="ignore", invalid="ignore"):
        result = evaluate(params, X, sigma2_p, config.beta)
    check_finite(result.neg_elbo, config.steps, sweep_labels(s_sorted, config.seeds))
    neg_elbo = result.neg_elbo + 0.5 * d * math.log(scale2)  # F of the data as given
    state = MLPState(params, mean, math.sqrt(scale2))
    return SweepResult.from_runs(
        s_sorted, config.seeds, result.kl, result.encoder_variance, neg_elbo, "mlp",
        _options(model, config, n, scale2, bool(standardise)),
        seconds=time.perf_counter() - start, information=result.information, state=state,
    )  # fmt: skip
