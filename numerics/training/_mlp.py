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

:func:`follow_up_protocol` reproduces, scaled down to about a minute on 2 cores, the
staircase of active latents of Li et al.'s follow-up (arXiv 2610.11257) on their
8-dimensional covariance-matched Gaussian mixture;
:func:`numerics.training._transitions.measure_transitions` locates the steps from the trained
results.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterable, Sequence

import numpy as np
from threadpoolctl import threadpool_limits

from numerics.core._validation import (
    InputError,
    check_fraction,
    check_int,
    check_positive,
    check_samples,
    check_seeds,
    check_sigma2_sweep,
)
from numerics.training._loop import (
    Adam,
    check_finite,
    minibatches,
    progress_bar,
    seed_noise,
    sweep_labels,
)
from numerics.training._sweep import ACTIVE_KL, SweepResult

#: Clamp of the log-variance head (the follow-up's protocol).
LOGVAR_MIN, LOGVAR_MAX = -12.0, 8.0
#: Seed of the reparameterisation noise of the final evaluation (F is a Monte-Carlo estimate).
EVAL_SEED = 20_251_001
#: Rows per chunk in the final evaluation (bounds the memory to P * chunk * width floats).
EVAL_CHUNK = 2048
#: Divergence check interval, in steps.
CHECK_EVERY = 50
#: lr schedules: the step size at progress u = (t - 1) / steps in [0, 1) as a fraction of ``lr``.
SCHEDULES = ("constant", "cosine", "linear", "exponential")


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
    eps: np.ndarray,
    sigma2: np.ndarray,
    beta: float = 1.0,
    *,
    grads: bool = True,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Minibatch objective of every sweep point and its gradient, by backpropagation.

    Parameters
    ----------
    params : dict of ndarray
        Weights (P, fan_in, fan_out) and biases (P, 1, fan_out), see :func:`layer_widths`.
    x : ndarray, shape (B, d)
        The minibatch, shared by all P sweep points.
    eps : ndarray, shape (P, B, k) or (1, B, k)
        Standard normal noise of the reparameterisation z = mu + exp(logvar / 2) eps
        (one slice broadcasts over all sweep points).
    sigma2 : ndarray, shape (P,)
        Decoder variance of each sweep point.
    beta : float
        Weight of the KL term.

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

    kl = 0.5 * (mu * mu + var - 1.0 - logvar)  # (P, B, k)
    recon = 0.5 * np.einsum("pbd,pbd->p", resid, resid) / (s[:, 0, 0] * B)
    loss = 0.5 * d * np.log(2 * np.pi * s[:, 0, 0]) + recon + beta * kl.sum(axis=(1, 2)) / B
    if not grads:
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


def evaluate(
    params: dict[str, np.ndarray],
    X: np.ndarray,
    sigma2: np.ndarray,
    beta: float = 1.0,
    seed: int = EVAL_SEED,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-latent KL and encoder variance averaged over all of X, and F.

    The KL of q(z|x) from the prior is the exact Gaussian one; F adds the expected
    reconstruction term, estimated with one reparameterised sample per data point
    drawn from ``np.random.default_rng(seed)`` (the same noise for every sweep point).

    Returns ``kl`` (P, k), ``encoder_variance`` (P, k), ``neg_elbo`` (P,), unsorted.
    """
    n, d = X.shape
    s = np.asarray(sigma2, dtype=float)
    P = s.size
    k = params["mu.W"].shape[-1]
    rng = np.random.default_rng(seed)
    kl = np.zeros((P, k))
    var = np.zeros((P, k))
    sq = np.zeros(P)
    for start in range(0, n, EVAL_CHUNK):
        xb = np.asarray(X[start : start + EVAL_CHUNK], dtype=float)
        mu, logvar = encode(params, xb)
        v = np.exp(logvar)
        kl += 0.5 * (mu * mu + v - 1.0 - logvar).sum(axis=1)
        var += v.sum(axis=1)
        eps = rng.standard_normal((xb.shape[0], k))
        resid = xb - decode(params, mu + np.sqrt(v) * eps)
        sq += np.einsum("pbd,pbd->p", resid, resid)
    kl /= n
    var /= n
    neg_elbo = 0.5 * d * np.log(2 * np.pi * s) + 0.5 * sq / (n * s) + beta * kl.sum(axis=1)
    return kl, var, neg_elbo


# --------------------------------------------------------------------------- training


def _lr_factor(schedule: str, t: int, steps: int, lr_min: float) -> float:
    """Step-size multiplier at step t = 1..steps: from 1 down to ``lr_min`` at the end."""
    u = (t - 1) / max(steps - 1, 1)
    if schedule == "constant":
        return 1.0
    if schedule == "cosine":
        return lr_min + (1 - lr_min) * 0.5 * (1 + math.cos(math.pi * u))
    if schedule == "exponential":  # geometric cooling: the same factor every step
        return lr_min**u if lr_min > 0 else 1 - u
    return 1 - (1 - lr_min) * u  # linear


def _train(
    params: dict[str, np.ndarray],
    X: np.ndarray,
    sigma2_p: np.ndarray,
    n_repeat: int,
    rngs: list[np.random.Generator],
    batches,
    *,
    beta: float,
    steps: int,
    lr: float,
    schedule: str,
    lr_min: float,
    labels: list[str],
    bar,
    kl_warmup: int = 0,
    kl_start: float = 1.0,
) -> None:
    """Adam on all P = n_repeat * len(rngs) points in place; seed r's noise serves all s."""
    P = sigma2_p.size
    k = params["mu.W"].shape[-1]
    opt = Adam(lr=lr)
    losses = np.empty((CHECK_EVERY, P))
    first = 1  # step of losses[0]
    for t in range(1, steps + 1):
        idx = next(batches)
        xb = X[idx]
        eps = seed_noise(rngs, n_repeat, (idx.size, k), X.dtype)  # seed r's draws for all s
        beta_t = beta
        if t <= kl_warmup:
            beta_t = beta * (kl_start + (1 - kl_start) * (t - 1) / kl_warmup)
        loss, grads = loss_and_grads(params, xb, eps, sigma2_p, beta_t)
        losses[t - first] = loss
        if t - first + 1 == CHECK_EVERY or t == steps:
            _check_window(losses[: t - first + 1], first, labels)
            first = t + 1
        opt.lr = lr * _lr_factor(schedule, t, steps, lr_min)
        opt.step(params, grads)
        if bar is not None:
            bar.update(1)
    for value in params.values():  # after the last update
        check_finite(value, steps, labels)


def _check_window(losses: np.ndarray, first: int, labels: list[str]) -> None:
    """Raise TrainingDiverged at the first step (``first`` + row) with a non-finite loss."""
    bad_steps = np.flatnonzero(~np.isfinite(losses).all(axis=1))
    if bad_steps.size:
        j = int(bad_steps[0])
        check_finite(losses[j], first + j, labels)


def train_mlp_sweep(
    X,
    sigma2,
    *,
    beta: float = 1.0,
    latent_dim: int = 4,
    hidden: Sequence[int] = (32, 32),
    seeds: Iterable[int] = (0,),
    steps: int = 2000,
    batch_size: int = 256,
    lr: float = 2e-3,
    schedule: str = "cosine",
    lr_min: float = 0.01,
    progress: bool = True,
    warm_start: bool = True,
    anchor_steps: int | None = None,
    kl_warmup: int | None = None,
    kl_warmup_from: float = 0.3,
    init_scale: float = 1.0,
    dtype: str = "float64",
    batch_seed: int = 0,
    standardise: bool = True,
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
    latent_dim : int
        k, the number of latents.
    hidden : sequence of int
        Encoder hidden widths; the decoder uses them reversed (the follow-up's
        encoder (256, 128) / decoder (128, 256) is ``hidden=(256, 128)``).
    seeds : iterable of int
        One run per seed at every sweep point; seed r initialises and draws its noise
        from ``np.random.default_rng(r)``, shared by all sweep points.
    steps, batch_size : int
        Adam steps and minibatch size (a fresh permutation of the data every epoch,
        from ``np.random.default_rng([batch_seed, 1])``, shared by all points).
    lr, schedule, lr_min : float, str, float
        Adam step size at the start; ``schedule`` (``constant``, ``cosine`` or
        ``linear``) takes it down to ``lr_min * lr`` at the last step of each phase.
    progress : bool
        Show a tqdm progress bar (if tqdm is installed).
    warm_start : bool
        Train the anchor (smallest sigma2, every seed) for ``anchor_steps`` first, then
        start every sweep point from it and train them all for ``steps`` more steps
        (fresh Adam state and schedule).  On by default: from a cold start a latent
        escapes the collapsed state at a rate proportional to its distance from the
        threshold, so near a transition it stays collapsed for thousands of steps (on
        digits, every latent above 0.7 lambda_max after 3000 steps); from the anchor,
        where the latents are active, training only has to relax towards the optimum.
    anchor_steps : int, optional
        Steps of the anchor (default ``2 * steps``); they cost 1/S of a sweep step each.
    kl_warmup, kl_warmup_from : int, float
        KL annealing in the first phase (the anchor with ``warm_start``, else the
        sweep): the KL weight rises linearly from ``kl_warmup_from * beta`` to ``beta``
        over the first ``kl_warmup`` steps (default: half of that phase; 0: none).  It
        stops early posterior collapse; the final objective is unchanged.
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
    beta = check_positive("beta", beta)
    lr = check_positive("lr", lr)
    init_scale = check_positive("init_scale", init_scale)
    n, d = X.shape
    latent_dim = check_int("latent_dim", latent_dim, 1)
    hidden = tuple(check_int("hidden width", h, 1) for h in hidden)
    if not hidden:
        raise InputError("hidden=(): expected at least one hidden layer width")
    seeds = check_seeds(seeds)
    steps = check_int("steps", steps, 1)
    batch_size = min(check_int("batch_size", batch_size, 1), n)
    if schedule not in SCHEDULES:
        raise InputError(f"schedule={schedule!r}: expected one of {', '.join(SCHEDULES)}")
    lr_min = check_fraction("lr_min", lr_min)
    anchor_steps = 2 * steps if anchor_steps is None else check_int("anchor_steps", anchor_steps, 1)
    first_phase = anchor_steps if warm_start else steps
    kl_warmup = first_phase // 2 if kl_warmup is None else check_int("kl_warmup", kl_warmup, 0)
    if kl_warmup > first_phase:
        raise InputError(
            f"kl_warmup={kl_warmup!r}: expected at most the {first_phase} steps of the first "
            "phase (else the KL weight never reaches beta)"
        )
    kl_warmup_from = check_fraction("kl_warmup_from", kl_warmup_from)
    if dtype not in ("float64", "float32"):
        raise InputError(f"dtype={dtype!r}: expected float64 or float32")
    batch_seed = check_int("batch_seed", batch_seed, 0)

    S, R = s_sorted.size, len(seeds)
    # Standardisation (an exact reparametrisation, see the docstring).  A data set
    # whose coordinates are all constant has a = 0: it is only centred then.
    scale2 = 1.0
    if standardise:
        X = X - X.mean(axis=0)
        spread = float((X**2).sum() / (n * d))
        if spread > 0:
            scale2 = spread
            X /= math.sqrt(scale2)
    s_train = s_sorted / scale2
    Xt = X.astype(dtype)
    rngs = [np.random.default_rng(r) for r in seeds]
    inits = [init_params(rng, d, latent_dim, hidden, init_scale) for rng in rngs]
    run = {name: np.concatenate([p[name] for p in inits]).astype(dtype) for name in inits[0]}
    batches = minibatches(n, batch_size, np.random.default_rng([batch_seed, 1]))
    train = dict(beta=beta, lr=lr, schedule=schedule, lr_min=lr_min)
    warmup = dict(kl_warmup=kl_warmup, kl_start=kl_warmup_from)
    total = steps + (anchor_steps if warm_start else 0)
    bar = train["bar"] = progress_bar(total, progress, f"MLP VAE sweep ({S * R} runs)")
    with contextlib.ExitStack() as stack:
        if bar is not None:
            stack.callback(bar.close)
        # The products are small (P x B x width) and many: BLAS threads mostly contend
        # (3-4x slower on a loaded 2-core machine), so use one.
        stack.enter_context(threadpool_limits(1, user_api="blas"))
        # Overflow is expected when training diverges; it is detected and reported below.
        stack.enter_context(np.errstate(over="ignore", invalid="ignore", divide="ignore"))
        if warm_start:
            anchor = np.full(R, s_train[0])
            labels = [
                f"{label} (the warm-start anchor)" for label in sweep_labels(s_sorted[:1], seeds)
            ]
            _train(
                run, Xt, anchor, 1, rngs, batches, steps=anchor_steps, labels=labels,
                **train, **warmup,
            )  # fmt: skip
            warmup = {}
        # Seed r's weights at every sweep point: p = s * R + r.
        params = {name: np.tile(w, (S, 1, 1)) for name, w in run.items()}
        sigma2_p = np.repeat(s_train, R)
        labels = sweep_labels(s_sorted, seeds)
        _train(
            params, Xt, sigma2_p, S, rngs, batches, steps=steps, labels=labels,
            **train, **warmup,
        )  # fmt: skip
        params = {name: w.astype(np.float64) for name, w in params.items()}
        kl, var, neg_elbo = evaluate(params, X, sigma2_p, beta)
    check_finite(neg_elbo, steps, labels)
    neg_elbo += 0.5 * d * math.log(scale2)  # F of the data as given (F' + d log a)
    return SweepResult.from_runs(
        s_sorted,
        seeds,
        kl,
        var,
        neg_elbo,
        "mlp",
        {
            "beta": beta,
            "latent_dim": latent_dim,
            "hidden": list(hidden),
            "decoder_hidden": list(reversed(hidden)),
            "activation": "relu",
            "logvar_clamp": [LOGVAR_MIN, LOGVAR_MAX],
            "init": "uniform +-1/sqrt(fan_in) (PyTorch nn.Linear default), weights x init_scale",
            "init_scale": init_scale,
            "kl_warmup": kl_warmup,
            "kl_warmup_from": kl_warmup_from,
            "dtype": dtype,
            "steps": steps,
            "batch_size": batch_size,
            "n_samples": n,
            "optimizer": "adam",
            "lr": lr,
            "schedule": schedule,
            "lr_min": float(lr_min),
            "warm_start": warm_start,
            "anchor_steps": anchor_steps if warm_start else 0,
            "batch_seed": batch_seed,
            "standardise": standardise,
            "data_scale2": scale2,
            "samples_per_point": 1,
            "noise": "seed r: np.random.default_rng(r), shared by all sweep points",
            "neg_elbo_estimator": (
                "exact KL + reconstruction term with one reparameterised sample per data "
                f"point from np.random.default_rng({EVAL_SEED}), on all data"
            ),
            "active_kl": ACTIVE_KL,
        },
        seconds=time.perf_counter() - start,
    )


# --------------------------------------------------------------------------- the follow-up protocol

#: The follow-up's sweep (Li et al., arXiv 2610.11257): sigma'^2 from 0.65 to 1.05.
FOLLOW_UP_RANGE = (0.65, 1.05)

#: Scaled-down protocol (about a minute on 2 cores), and a quick version for tests.
FOLLOW_UP_SIZES = {
    "full": dict(
        n_samples=20_000, n_points=24, hidden=(32, 32), anchor_steps=12_000, steps=3_000,
        batch_size=512, lr=2e-3, lr_min=0.01, kl_warmup=2_000,
    ),
    "quick": dict(
        n_samples=5_000, n_points=12, hidden=(32, 32), anchor_steps=4_000, steps=1_500,
        batch_size=256, lr=2e-3, lr_min=0.01, kl_warmup=1_000,
    ),
}  # fmt: skip


def follow_up_protocol(
    quick: bool = False, seed: int = 0, progress: bool = True, **overrides
) -> tuple[SweepResult, np.ndarray]:
    """The staircase of active latents of Li et al.'s follow-up, scaled down.

    Their protocol (arXiv 2610.11257): an MLP VAE with 4 latents and ReLU layers on
    the 8-dimensional covariance-matched two-component Gaussian mixture with
    population eigenvalues exp(-0.1 (i - 1)), Adam, sigma'^2 swept from 0.65 to 1.05;
    the number of active latents steps down 4 -> 0 at the top four eigenvalues of the
    sample covariance.  Here: ``synthetic("mixture", n=..., seed=seed)``, one training
    seed (``seed``), widths (32, 32), float32, a warm start from an anchor at
    sigma'^2 = 0.65 (KL annealing for its first steps) and cosine step sizes; see
    ``FOLLOW_UP_SIZES`` for the sizes (``overrides`` replaces any of them).

    Returns
    -------
    result : SweepResult
    eigenvalues : ndarray, shape (8,)
        Eigenvalues of the sample covariance (1/N) of the data trained on, descending;
        the predicted steps are the first four.
    """
    from numerics.data._datasets import synthetic

    sizes = dict(FOLLOW_UP_SIZES["quick" if quick else "full"])
    unknown = set(overrides) - set(sizes)
    if unknown:
        raise InputError(f"follow_up_protocol: unknown size(s) {sorted(unknown)}")
    sizes.update(overrides)
    X = synthetic("mixture", n=sizes.pop("n_samples"), seed=seed).X
    eigenvalues = np.linalg.eigvalsh(np.cov(X.T, bias=True))[::-1].copy()
    sigma2 = np.linspace(*FOLLOW_UP_RANGE, sizes.pop("n_points"))
    result = train_mlp_sweep(
        X, sigma2, latent_dim=4, seeds=(seed,), warm_start=True, schedule="cosine",
        dtype="float32", progress=progress, **sizes,
    )  # fmt: skip
    return result, eigenvalues
