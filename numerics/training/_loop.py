"""The one training loop: Adam or gradient descent over a sweep axis, minibatches,
schedules, divergence.

Every parameter array carries the sweep axis first (one slice per sweep point and
seed, run p = s * R + r), so one update trains all points of a sweep at once.  A
trainer (:mod:`numerics.training._linear`, :mod:`numerics.training._mlp`) supplies
only its model - initial parameters, the minibatch objective and its gradient - as
a :class:`SweepModel`; :func:`train_sweep` does everything else the same way for both:
the checked :class:`~numerics.training._config.TrainingConfig`, one BLAS thread,
floating-point error state, the progress bar, the warm start from an anchor, the
step-size schedule, KL warm-up, common random numbers per seed and divergence checks.
All parameters of a sweep live in one (P, D) array, and the gradient in another of
the same layout that the model writes into, so the optimiser (:class:`Adam` or
:class:`GradientDescent`) makes one update per step.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from threadpoolctl import threadpool_limits

from numerics.core._validation import check_memory
from numerics.training._config import TrainingConfig

#: Divergence checks (loss and parameters) every this many steps, and at the last step.
CHECK_EVERY = 50
#: The least memory a run of any trainer takes (parameters, optimiser state): what a
#: sweep's size is checked against before the data are read.
MIN_RUN_BYTES = 1024


class TrainingDiverged(ArithmeticError):
    """A sweep point produced NaN or inf; the message names the point and the step.

    ``step`` is that step (None if unknown): of the blocks of a sweep trained on a
    cluster, the one that diverged first is reported.
    """

    def __init__(self, message: str, step: int | None = None) -> None:
        super().__init__(message)
        self.step = step

    def __reduce__(self):  # pickled with its step (it travels back from Dask workers)
        return type(self), (str(self), self.step)


def per_run(values: np.ndarray, ndim: int) -> np.ndarray:
    """One value per run, (P,), shaped to broadcast against a (P, ...) array of ``ndim``
    dimensions: the optimisers' per-sweep-point step sizes."""
    return np.reshape(values, (-1,) + (1,) * (ndim - 1))


@dataclass
class Adam:
    """Adam (Kingma & Ba, ICLR 2015, Algorithm 1) on a dict of arrays, elementwise.

    Parameters
    ----------
    lr : float or ndarray
        Step size; an array of shape (P,) gives each sweep point its own.

    Notes
    -----
    The update is evaluated operation by operation in the order of
    ``lr * (m / c1) / (sqrt(v / c2) + eps)``, into two scratch arrays kept between
    steps instead of a new temporary per operation: the same roundings without
    allocations.  Its divisions and the square root are most of its time (at 32
    sweep points of the (32, 32) MLP on digits, 215 296 parameters, 0.8 ms a step);
    the one by c1 = 1 - beta1^t is skipped once c1 rounds to 1.
    """

    lr: float | np.ndarray = 1e-3
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    t: int = 0
    m: dict[str, np.ndarray] = field(default_factory=dict)
    v: dict[str, np.ndarray] = field(default_factory=dict)
    scratch: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    def step(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        """Update ``params`` in place from ``grads``."""
        self.t += 1
        c1 = 1 - self.beta1**self.t
        c2 = 1 - self.beta2**self.t
        for name, g in grads.items():
            if name not in self.m:
                self.m[name] = np.zeros_like(g)
                self.v[name] = np.zeros_like(g)
                self.scratch[name] = (np.empty_like(g), np.empty_like(g))
            m, v = self.m[name], self.v[name]
            a, b = self.scratch[name]
            m *= self.beta1
            m += np.multiply(1 - self.beta1, g, out=a)
            v *= self.beta2
            a = np.multiply(1 - self.beta2, g, out=a)
            v += np.multiply(a, g, out=a)
            if isinstance(self.lr, np.ndarray):  # one step size per sweep point
                lr = per_run(self.lr, g.ndim)
                params[name] -= lr * (m / c1) / (np.sqrt(v / c2) + self.eps)
                continue
            # From step 356 on (beta1 = 0.9) c1 rounds to 1.0 exactly: m / c1 = m.
            step = np.multiply(self.lr, m if c1 == 1.0 else np.divide(m, c1, out=a), out=a)
            denominator = np.sqrt(np.divide(v, c2, out=b), out=b)
            denominator += self.eps
            params[name] -= np.divide(step, denominator, out=a)


@dataclass
class GradientDescent:
    """Plain gradient descent, theta -= lr * gradient, with :class:`Adam`'s interface.

    Parameters
    ----------
    lr : float or ndarray
        Step size; an array of shape (P,) gives each sweep point its own.
    """

    lr: float | np.ndarray = 1e-3
    scratch: dict[str, np.ndarray] = field(default_factory=dict)

    def step(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        """Update ``params`` in place from ``grads``."""
        for name, g in grads.items():
            if name not in self.scratch:
                self.scratch[name] = np.empty_like(g)
            lr = per_run(self.lr, g.ndim) if isinstance(self.lr, np.ndarray) else self.lr
            params[name] -= np.multiply(lr, g, out=self.scratch[name])


def optimiser(name: str, lr: float | np.ndarray) -> Adam | GradientDescent:
    """A fresh optimiser of :data:`numerics.training._config.OPTIMIZERS` ``name``."""
    return Adam(lr=lr) if name == "adam" else GradientDescent(lr=lr)


def lr_factor(schedule: str, t: int, steps: int, lr_min: float) -> float:
    """Step-size multiplier at step t = 1..steps: from 1 down to ``lr_min`` at the last step.

    ``exponential``: lr_min ** u (the same factor every step: geometric cooling);
    ``cosine``: lr_min + (1 - lr_min) (1 + cos(pi u)) / 2; ``linear``: 1 - (1 - lr_min) u;
    ``constant``: 1; with u = (t - 1) / (steps - 1).
    """
    u = (t - 1) / max(steps - 1, 1)
    if schedule == "constant":
        return 1.0
    if schedule == "cosine":
        return lr_min + (1 - lr_min) * 0.5 * (1 + math.cos(math.pi * u))
    if schedule == "exponential":
        return lr_min**u if lr_min > 0 else 1 - u
    return 1 - (1 - lr_min) * u  # linear


def minibatches(n: int, batch_size: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Endless stream of index arrays: a fresh permutation each epoch.

    Every batch has exactly ``batch_size`` rows (the vectorised trainers keep one
    array shape for the whole run), so the last ``n % batch_size`` rows of each
    permutation wait for the next epoch.  Which rows wait is random every epoch, so
    each row is equally likely in every batch: the stochastic gradient stays unbiased.
    """
    if batch_size >= n:  # the whole data every step: the same array, so that the
        everything = np.arange(n)  # batch (and what a model derives from it) is reused
        while True:
            yield everything
    while True:
        order = rng.permutation(n)
        for start in range(0, n - batch_size + 1, batch_size):
            yield order[start : start + batch_size]


def check_finite(values: np.ndarray, step: int, labels: list[str]) -> None:
    """Raise :class:`TrainingDiverged` naming the first sweep point with a non-finite value.

    ``values`` has the sweep axis first; ``labels[p]`` describes sweep point p.
    """
    bad = ~np.isfinite(values.reshape(values.shape[0], -1)).all(axis=1)
    if bad.any():
        p = int(np.flatnonzero(bad)[0])
        raise TrainingDiverged(
            f"training diverged at {labels[p]} at step {step} (non-finite loss or "
            f"parameters; {int(bad.sum())} of {bad.size} sweep points): lower --lr",
            step,
        )


def sweep_labels(sigma2: np.ndarray, seeds: tuple[int, ...], control: str = "sigma2") -> list[str]:
    """One label per run, sweep point p = s * R + r: what a divergence message names.

    ``control`` names what the sweep varies (``beta`` when sigma'^2 is learned).
    """
    return [f"{control}={s:g}, seed {r}" for s in sigma2 for r in seeds]


def progress_bar(total: int, enabled: bool, desc: str, unit: str = "step"):
    """A tqdm bar over ``total`` steps (or ``unit``), or None when disabled or tqdm is missing."""
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # optional: no bar without tqdm
        return None
    return tqdm(total=total, desc=desc, unit=unit, leave=False)


def seed_noise(
    rngs: list[np.random.Generator],
    n_sigma2: int,
    shape: tuple[int, ...],
    dtype: Any = np.float64,
) -> np.ndarray:
    """Standard normal draws for every run, run p = s * R + r drawing from seed r.

    Common random numbers: each seed draws ``shape`` once per step and every sweep
    point of that seed uses the same draws, so a sweep gives what its points trained
    one at a time give.  Returns (n_sigma2 * R, *shape); with one seed (1, *shape),
    which broadcasts over the sweep axis without a copy.
    """
    draws = np.stack([rng.standard_normal(shape, dtype=dtype) for rng in rngs])
    if len(rngs) == 1:
        return draws
    return np.broadcast_to(draws, (n_sigma2, *draws.shape)).reshape(-1, *shape)


def transposed(m: np.ndarray) -> np.ndarray:
    """Every run's matrix transposed, (P, a, b) -> (P, b, a): a view, no copy."""
    return m.transpose(0, 2, 1)


def per_run_dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """sum(a[p] * b[p]) for every run p, (P,): each run's elements summed in C order.

    The sum of a row of the product laid out contiguously is the same however many runs
    there are (unlike einsum, whose iteration and buffering depend on the whole shape,
    or a matrix-vector product over the runs, whose BLAS kernel blocks them).
    """
    prod = np.multiply(a, b)
    return prod.reshape(prod.shape[0], -1).sum(axis=1)


#: Floats of one run's temporaries in an evaluation on all data (a row chunk), and of
#: all runs evaluated together (see :func:`eval_chunks`).
EVAL_RUN_FLOATS = 1 << 20
EVAL_FLOATS = 1 << 24


def eval_chunks(n: int, row_cost: int, runs: int) -> Iterator[tuple[slice, list[slice]]]:
    """Row chunks of an evaluation on all data, each with the groups of runs to evaluate.

    ``row_cost`` is the number of floats one data row costs one run (e.g. its widest
    layer).  A chunk has ``EVAL_RUN_FLOATS / row_cost`` rows, whatever the number of
    runs, so every run sums over the same chunks in the same order however many runs
    are evaluated with it (a block of a sweep on a Dask worker gives what the whole
    sweep gives); the runs are taken in groups whose temporaries stay below
    ``EVAL_FLOATS``.  Both trainers evaluate this way.
    """
    rows = max(1, min(n, EVAL_RUN_FLOATS // max(row_cost, 1)))
    group = max(1, EVAL_FLOATS // (rows * max(row_cost, 1)))
    groups = [slice(g, min(runs, g + group)) for g in range(0, runs, group)]
    for start in range(0, n, rows):
        yield slice(start, min(n, start + rows)), groups


class SweepModel(Protocol):
    """What a trainer supplies to :func:`train_sweep`: its model and gradients only."""

    #: ``linear`` or ``mlp``: names the progress bar.
    name: str
    #: The loss comes free with the gradient (checked every step) or costs extra
    #: (computed only at the divergence checks).
    loss_every_step: bool

    def init(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """One seed's initial parameters, each with a leading axis of length 1."""

    def run_bytes(self, batch: int) -> int:
        """Memory one run (sweep point and seed) needs at once: parameters, Adam's
        moments, gradients and the temporaries of one step."""

    def noise_shape(self, batch: int) -> tuple[int, ...] | None:
        """Shape of one seed's reparameterisation draws per step (None: no sampling)."""

    def loss_and_grads(
        self,
        params: dict[str, np.ndarray],
        batch: np.ndarray,
        sigma2: np.ndarray,
        eps: np.ndarray | None,
        beta: float,
        with_loss: bool,
        out: dict[str, np.ndarray],
    ) -> np.ndarray | None:
        """Minibatch objective (P,) or None; writes its gradient for every run into
        ``out`` (views shaped like ``params``)."""


def _views(theta: np.ndarray, params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Named views into the (P, D) array ``theta``, shaped like ``params``, in order."""
    views, offset = {}, 0
    for name, w in params.items():
        size = w[0].size
        views[name] = theta[:, offset : offset + size].reshape(w.shape)
        if not np.shares_memory(views[name], theta):  # a copy would not be trained
            raise AssertionError(f"parameter {name} is not a view of the packed array")
        offset += size
    return views


def _packed(params: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Copy ``params`` into one (P, D) array; return it and named views into it.

    One array means one Adam update per step instead of one per parameter group: the
    same arithmetic with fewer Python-level calls.  The views of (P, fan_in, fan_out)
    weights are strided along P only, so every product still runs in BLAS.
    """
    P = next(iter(params.values())).shape[0]
    theta = np.concatenate([w.reshape(P, -1) for w in params.values()], axis=1)
    return theta, _views(theta, params)


@dataclass
class _Phase:
    """One phase of training: all runs of ``sigma2`` for ``steps`` steps."""

    sigma2: np.ndarray  # (P,) in the model's training units
    n_sigma2: int  # sweep points (P = n_sigma2 * number of seeds)
    steps: int
    labels: list[str]
    kl_warmup: int = 0
    kl_warmup_from: float = 1.0


class _Run:
    """State shared by the phases of one sweep: data, noise, batches, the bar.

    ``rngs`` are the noise generators of the runs' seeds; the minibatch stream starts
    ``skip`` batches in (a block of the sweep phase after a warm-start anchor trained
    elsewhere: the batches are cheap to replay, and replaying them is what makes the
    block's batches those of the whole sweep).
    """

    def __init__(
        self,
        model: SweepModel,
        data: np.ndarray,
        config: TrainingConfig,
        bar,
        rngs: list[np.random.Generator],
        skip: int = 0,
    ) -> None:
        self.model = model
        self.data = data
        self.config = config
        self.bar = bar
        self.rngs = rngs
        self.batches = minibatches(
            data.shape[0], config.batch_size, np.random.default_rng([config.batch_seed, 1])
        )
        for _ in range(skip):
            next(self.batches)

    def beta_at(self, t: int, phase: _Phase) -> float:
        """KL weight at step t: linear warm-up from kl_warmup_from * beta over kl_warmup."""
        beta = self.config.beta
        if t <= phase.kl_warmup:
            return beta * (
                phase.kl_warmup_from + (1 - phase.kl_warmup_from) * (t - 1) / phase.kl_warmup
            )
        return beta

    def train(self, params: dict[str, np.ndarray], phase: _Phase) -> dict[str, np.ndarray]:
        """``phase.steps`` optimiser steps on every run; returns the trained parameters."""
        model, config = self.model, self.config
        theta, params = _packed(params)
        gradient = np.empty_like(theta)  # the models write into its views
        grads = _views(gradient, params)
        opt = optimiser(config.optimizer, config.lr)
        losses = np.empty((CHECK_EVERY, phase.sigma2.size))
        first = 1  # the step of losses[0]
        idx = batch = None
        for t in range(1, phase.steps + 1):
            last, idx = idx, next(self.batches)
            if idx is not last:  # full batches: the same rows every step, copied once
                batch = self.data[idx]
            shape = model.noise_shape(idx.size)
            eps = None
            if shape is not None:  # seed r's draws serve every sweep point of seed r
                eps = seed_noise(self.rngs, phase.n_sigma2, shape, self.data.dtype)
            check = t - first + 1 == CHECK_EVERY or t == phase.steps
            loss = model.loss_and_grads(
                params, batch, phase.sigma2, eps, self.beta_at(t, phase),
                model.loss_every_step or check, grads,
            )  # fmt: skip
            if loss is not None:
                losses[t - first] = loss
            if check:
                self._check(losses, first, t, phase.labels, model.loss_every_step)
                self._progress(t - first + 1, losses[t - first])
                first = t + 1
            opt.lr = config.lr * lr_factor(config.schedule, t, phase.steps, config.lr_min)
            opt.step({"theta": theta}, {"theta": gradient})
            if t % CHECK_EVERY == 0:
                check_finite(theta, t, phase.labels)
        check_finite(theta, phase.steps, phase.labels)  # after the last update
        return params

    def _progress(self, steps: int, loss: np.ndarray) -> None:
        if self.bar is not None:
            self.bar.update(steps)
            self.bar.set_postfix(loss=f"{float(np.mean(loss)):.4g}", refresh=False)

    @staticmethod
    def _check(losses: np.ndarray, first: int, t: int, labels: list[str], every: bool) -> None:
        """Raise at the first step of the window with a non-finite loss."""
        window = losses[: t - first + 1] if every else losses[t - first : t - first + 1]
        start = first if every else t
        bad = np.flatnonzero(~np.isfinite(window).all(axis=1))
        if bad.size:
            check_finite(window[int(bad[0])], start + int(bad[0]), labels)


@dataclass(frozen=True)
class Block:
    """Runs of a sweep trained together: sweep points ``points`` x the seeds ``seeds``.

    ``seeds`` are indices into ``config.seeds``; the block's own runs are numbered
    q = i * len(seeds) + j for its i-th point and j-th seed, like the whole sweep's.
    """

    points: tuple[int, int]  # [start, stop) of the sweep points
    seeds: tuple[int, ...]

    def runs(self, n_seeds: int) -> np.ndarray:
        """The block's runs in the whole sweep's numbering p = s * R + r, in block order."""
        s = np.arange(*self.points)
        return (s[:, None] * n_seeds + np.asarray(self.seeds)[None, :]).ravel()


@dataclass
class SeedStart:
    """Where the sweep phase of some seeds starts: their parameters (the trained anchor
    with a warm start, else the initial ones), one row per seed, and the state of each
    seed's noise generator at that point (a plain dict: every block rebuilds its own)."""

    seeds: tuple[int, ...]  # indices into config.seeds
    params: dict[str, np.ndarray]
    rng_states: list[dict[str, Any]]

    def generators(self, seeds: tuple[int, ...]) -> list[np.random.Generator]:
        """Fresh generators of ``seeds`` (a subset of this start's), in their states here."""
        out = []
        for i in seeds:
            rng = np.random.Generator(np.random.PCG64())
            rng.bit_generator.state = self.rng_states[self.seeds.index(i)]
            out.append(rng)
        return out

    @classmethod
    def merge(cls, starts: list[SeedStart]) -> SeedStart:
        """One start holding the seeds of all ``starts``."""
        return cls(
            tuple(i for st in starts for i in st.seeds),
            {name: np.concatenate([st.params[name] for st in starts]) for name in starts[0].params},
            [state for st in starts for state in st.rng_states],
        )

    def rows(self, seeds: tuple[int, ...]) -> dict[str, np.ndarray]:
        """The parameters of ``seeds``, one row each, in that order."""
        pick = [self.seeds.index(i) for i in seeds]
        return {name: w[pick] for name, w in self.params.items()}


@contextlib.contextmanager
def _training_context(bar) -> Iterator[None]:
    """One BLAS thread, expected floating-point errors silenced, the bar closed at the end."""
    with contextlib.ExitStack() as stack:
        if bar is not None:
            stack.callback(bar.close)
        # The products are small (P x B x width) and many: BLAS threads mostly contend on
        # 2 cores (3-4x slower on a loaded machine), so use one.
        stack.enter_context(threadpool_limits(1, user_api="blas"))
        # Overflow is expected when training diverges; it is detected and reported.
        stack.enter_context(np.errstate(over="ignore", invalid="ignore", divide="ignore"))
        yield


def start_seeds(
    model: SweepModel,
    data: np.ndarray,
    sigma2: np.ndarray,
    config: TrainingConfig,
    seeds: tuple[int, ...],
    labels_sigma2: np.ndarray | None = None,
    bar=None,
    control: str = "sigma2",
) -> SeedStart:
    """Initialise the runs of ``seeds`` (indices into ``config.seeds``) and, with a warm
    start, train their anchor at ``sigma2[0]``: the first phase of :func:`train_sweep`.

    Each seed draws from its own generator only, so a seed's start does not depend on
    the other seeds trained with it.
    """
    rngs = [np.random.default_rng(config.seeds[i]) for i in seeds]
    inits = [model.init(rng) for rng in rngs]
    params = {name: np.concatenate([p[name] for p in inits]) for name in inits[0]}
    if config.warm_start:
        shown = sigma2 if labels_sigma2 is None else labels_sigma2
        picked = tuple(config.seeds[i] for i in seeds)
        labels = [
            f"{label} (the warm-start anchor)" for label in sweep_labels(shown[:1], picked, control)
        ]
        anchor = _Phase(
            np.full(len(seeds), sigma2[0]), 1, config.anchor_steps, labels,
            kl_warmup=config.kl_warmup, kl_warmup_from=config.kl_warmup_from,
        )  # fmt: skip
        params = _Run(model, data, config, bar, rngs).train(params, anchor)
        params = {name: np.array(w) for name, w in params.items()}  # not views of theta
    return SeedStart(tuple(seeds), params, [rng.bit_generator.state for rng in rngs])


def train_block(
    model: SweepModel,
    data: np.ndarray,
    sigma2: np.ndarray,
    config: TrainingConfig,
    block: Block,
    start: SeedStart,
    labels_sigma2: np.ndarray | None = None,
    bar=None,
    control: str = "sigma2",
) -> dict[str, np.ndarray]:
    """The sweep phase of one block of runs, from its seeds' ``start``.

    ``sigma2`` is the whole sweep; the block trains its points ``block.points`` and seeds
    ``block.seeds``.  Returns the block's parameters, run q = i * len(seeds) + j.  The
    minibatches and every seed's noise are those of the whole sweep, and every run's
    arithmetic is its own (the models' products are batched over the runs), so the
    block gives exactly what the same runs give inside the whole sweep.
    """
    lo, hi = block.points
    S = hi - lo
    shown = sigma2 if labels_sigma2 is None else labels_sigma2
    picked = tuple(config.seeds[i] for i in block.seeds)
    rows = start.rows(block.seeds)
    params = {name: np.tile(w, (S,) + (1,) * (w.ndim - 1)) for name, w in rows.items()}
    skip = config.anchor_steps if config.warm_start else 0
    run = _Run(model, data, config, bar, start.generators(block.seeds), skip)
    warmup = {} if config.warm_start else dict(
        kl_warmup=config.kl_warmup, kl_warmup_from=config.kl_warmup_from
    )  # fmt: skip
    phase = _Phase(
        np.repeat(sigma2[lo:hi], len(picked)), S, config.steps,
        sweep_labels(shown[lo:hi], picked, control), **warmup,
    )  # fmt: skip
    return run.train(params, phase)


def train_sweep(
    model: SweepModel,
    data: np.ndarray,
    sigma2: np.ndarray,
    config: TrainingConfig,
    labels_sigma2: np.ndarray | None = None,
    control: str = "sigma2",
) -> dict[str, np.ndarray]:
    """Train ``model`` at every sweep point and seed at once; return the parameters.

    Parameters
    ----------
    model : SweepModel
        The trainer's model (initial parameters, objective, gradient).
    data : ndarray (n, d)
        Training data in the model's units (dtype: the training precision).
    sigma2 : ndarray (S,)
        Sweep points in the model's units, ascending.
    config : TrainingConfig
        The checked configuration (seeds, steps, batch size, step size and schedule,
        warm start, KL warm-up, minibatch seed, progress).
    labels_sigma2 : ndarray (S,), optional
        The sweep points as the user gave them, for divergence messages (default
        ``sigma2``).
    control : str
        What the sweep points are, for those messages: ``sigma2`` (the model's ``sigma2``
        argument), or ``beta`` for a model that learns sigma'^2 and takes beta there.

    Returns
    -------
    dict of ndarray
        Trained parameters with the sweep axis first, run p = s * R + r.

    Raises
    ------
    TrainingDiverged
        A loss or parameter became NaN or inf; the message names the sweep point, the
        seed (and the anchor) and the first step at which it was seen.

    Notes
    -----
    Two phases: :func:`start_seeds` (initialisation, and the anchor of a warm start) and
    :func:`train_block` on one block of every run.  A Dask cluster runs the same two
    functions on blocks of the sweep (:mod:`numerics.training._distributed`).
    """
    S, R = sigma2.size, len(config.seeds)
    check_memory(
        f"training {S} sweep points x {R} seeds", S * R * model.run_bytes(config.batch_size)
    )
    total = config.steps + (config.anchor_steps if config.warm_start else 0)
    bar = progress_bar(total, config.progress, f"{model.name} VAE sweep ({S * R} runs)")
    every = tuple(range(R))
    with _training_context(bar):
        start = start_seeds(model, data, sigma2, config, every, labels_sigma2, bar, control)
        block = Block((0, S), every)
        return train_block(
            model, data, sigma2, config, block, start, labels_sigma2, bar, control
        )  # fmt: skip
