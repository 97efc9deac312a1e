"""Critical slowing down, measured: relaxation times of training across a sweep of sigma'^2.

The prediction (:mod:`theory.dynamics`): linearised at a stationary point, gradient
descent with step size lr relaxes a perturbation of mode j's parameters like
(1 - lr h)^t for each eigenvalue h of the mode's Hessian in the trainer's coordinates;
the slowest, h_min, gives tau = -1 / log(1 - lr h_min) steps, which diverges like
|sigma'^2 - sigma'^2_c|^-1 at the mode's critical point, with amplitudes in the ratio
1/2 (active side : collapsed side).

The measurement: the linear VAE of :mod:`numerics.training._linear` (its parameters, its
units, its exact-expectation gradient, :func:`~numerics.training._linear.loss_and_grads`)
on data whose covariance is the given spectrum exactly, started at the theory's optimum
with mode j's own parameters (w_j, v_j, log s_j^2) displaced by a small seeded random
perturbation.  Every sweep point and every mode is one run, all trained at once.  The
distance of mode j's parameters from the optimum is recorded at every step; its decay
rate over the second half of the run (a least-squares line of log distance against the
step) gives the measured tau = -1 / slope.  A run whose distance fell by less than 5 %
over that half relaxes more slowly than the run can show (``None``).

With plain gradient descent the linearisation is exact up to terms of the order of the
perturbation, so measured and predicted tau agree except within a few percent of a
critical point, where the quadratic term vanishes and the quartic one takes over.
With Adam (``optimizer="adam"``) the update is rescaled by running gradient moments:
no relaxation time is predicted, and the measurement only reports what happens.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from numerics.core._bridge import compiled_laws, relaxation_laws
from numerics.core._validation import (
    InputError,
    check_choice,
    check_encoder_variance,
    check_int,
    check_latent_dim,
    check_positive,
    check_sigma2_sweep,
    check_spectrum,
)
from numerics.training._distributed import aligned, cluster_options, map_blocks
from numerics.training._linear import batch_moments, loss_and_grads, stable_gd_step
from numerics.training._loop import optimiser

OPTIMIZERS = ("gd", "adam")
#: Size of the initial displacement of the perturbed mode's parameters (trainer units):
#: small enough that the quartic terms stay below the quadratic ones except within
#: about 1e-6 of a critical point.
PERTURBATION = 1e-4
#: A run must lose at least this fraction of its distance over the fitted half.
MIN_DECAY = 0.05
#: Distances below this fraction of the initial one are at the rounding floor (a
#: parameter of order 1 in float64 is resolved to about 1e-16, the perturbation is 1e-4).
FLOOR = 1e-9
#: Window of relative distances t = |1 - sigma'^2 / sigma'^2_c| in which exponents are
#: fitted: close enough for the leading power to dominate (at t = 0.05 the next order
#: shifts a local slope by a few hundredths), far enough to relax within a run.
FIT_WINDOW = (0.002, 0.05)
#: Sweep points added on each side of every critical point by :func:`default_sweep`.
NEAR_CRITICAL = np.geomspace(0.002, 0.05, 6)


@dataclass(frozen=True)
class SideFit:
    """tau ~ amplitude * t^exponent fitted on one side of one critical point."""

    side: str
    points: int
    exponent: float | None
    amplitude: float | None
    predicted_exponent: float


@dataclass(frozen=True)
class DynamicsResult:
    """Relaxation times per sweep point and mode, predicted and measured.

    ``predicted`` and ``measured`` have shape (S, k): mode j's relaxation time in steps
    at sweep point s (NaN: not predicted - Adam, or at a critical point - or slower than
    the run).  ``fits[j]`` holds the two sides of mode j's critical point, fitted to the
    measured times; ``prediction_fits[j]`` the same fit of the predicted times.  The
    exponent -1 and the ratio 1/2 are limits at the critical point: in the window
    :data:`FIT_WINDOW` the next order of the prediction already moves the fitted ratio
    by a few hundredths, so measurement and theory are compared fit against fit.
    """

    sigma2: np.ndarray
    eigenvalues: np.ndarray
    critical_sigma2: np.ndarray
    optimizer: str
    lr: float
    steps: int
    predicted: np.ndarray
    measured: np.ndarray
    fits: list[dict[str, SideFit]]
    predicted_amplitude_ratio: float
    curve_sigma2: np.ndarray
    curve_tau: np.ndarray  # predicted tau on a dense grid, (M, k), for figures
    options: dict[str, Any] = field(default_factory=dict)
    #: The same fits applied to the predicted times at the same sweep points (gd only):
    #: what the prediction itself gives in the finite window, next to its limits.
    prediction_fits: list[dict[str, SideFit]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary: ``points`` and the fits per critical point."""

        def num(x: float) -> float | None:
            return None if not np.isfinite(x) else float(x)

        points = [
            {
                "sigma2": float(s),
                "predicted_relaxation_steps": [num(x) for x in self.predicted[i]],
                "measured_relaxation_steps": [num(x) for x in self.measured[i]],
            }
            for i, s in enumerate(self.sigma2)
        ]
        fits = []
        for j, sides in enumerate(self.fits):
            entry: dict[str, Any] = {
                "mode": j + 1,
                "critical_sigma2": float(self.critical_sigma2[j]),
                "predicted_amplitude_ratio": self.predicted_amplitude_ratio,
            }
            of_prediction = self.prediction_fits[j] if self.prediction_fits else {}
            for side, fit in sides.items():
                entry[side] = {
                    "points": fit.points,
                    "fitted_exponent": fit.exponent,
                    "predicted_exponent": fit.predicted_exponent,
                    "amplitude": fit.amplitude,
                    "prediction_fitted_exponent": (
                        of_prediction[side].exponent if of_prediction else None
                    ),
                }
            entry["measured_amplitude_ratio"] = amplitude_ratio(sides)
            entry["prediction_fitted_amplitude_ratio"] = (
                amplitude_ratio(of_prediction) if of_prediction else None
            )
            fits.append(entry)
        return {
            "optimizer": self.optimizer,
            "lr": self.lr,
            "steps": self.steps,
            "eigenvalues": self.eigenvalues.tolist(),
            "critical_sigma2": self.critical_sigma2.tolist(),
            "points": points,
            "exponents": fits,
            "options": self.options,
        }


def _design(lam: np.ndarray, scale: float) -> np.ndarray:
    """Centred rows whose 1/N second moment is exactly diag(lam) / scale^2 (2d rows)."""
    d = lam.size
    rows = np.zeros((2 * d, d))
    rows[np.arange(d), np.arange(d)] = np.sqrt(d * lam) / scale
    rows[d + np.arange(d), np.arange(d)] = -np.sqrt(d * lam) / scale
    return rows


def _optimum_params(laws, rel, lam, k, sigma2, beta, eta2, scale, variant):
    """Parameters at the aligned optimum (the theory's stationary point that is the
    minimum at each sweep point), (S, ...) in the trainer's units."""
    S, d = sigma2.size, lam.size
    paired = lam[:k]
    # The trainer's fixed variance is the prior's (zeta^2 = eta^2).
    active = laws.is_active(paired[None, :], sigma2[:, None], beta, eta2, eta2)  # (S, k)
    values = {}
    for point in ("collapsed", "active"):
        values[point] = rel.stationary(point, paired[None, :], sigma2[:, None], beta, eta2, eta2)
    pick = {n: np.where(active, values["active"][n], values["collapsed"][n]) for n in ("w", "v")}
    params = {
        "Wt": np.zeros((S, k, d)),
        "b": np.zeros((S, d)),
        "V": np.zeros((S, k, d)),
    }
    idx = np.arange(k)
    params["Wt"][:, idx, idx] = pick["w"] / scale
    params["V"][:, idx, idx] = pick["v"] * scale
    if variant == "learnable":
        s2 = np.where(active, values["active"]["s2"], values["collapsed"]["s2"])
        params["logvar"] = np.log(np.broadcast_to(s2, (S, k))).copy()
    return params


def _perturbed_runs(params: dict[str, np.ndarray], k: int, seed: int):
    """Every sweep point k times, run p = i * k + j with mode j's own parameters displaced.

    Returns the runs, the perturbed mode of each run, the optimum of its block and the
    displacement (seeded, ``PERTURBATION`` times standard normal draws).
    """
    S = next(iter(params.values())).shape[0]
    runs = {n: np.repeat(w, k, axis=0) for n, w in params.items()}
    modes = np.tile(np.arange(k), S)
    optimum = _block(runs, modes).copy()
    kick = PERTURBATION * np.random.default_rng(seed).standard_normal(optimum.shape)
    P = modes.size
    runs["Wt"][np.arange(P), modes, modes] += kick[:, 0]
    runs["V"][np.arange(P), modes, modes] += kick[:, 1]
    if "logvar" in runs:
        runs["logvar"][np.arange(P), modes] += kick[:, 2]
    return runs, modes, optimum, kick


def _block(params: dict[str, np.ndarray], modes: np.ndarray) -> np.ndarray:
    """Mode j's own parameters (w_j, v_j[, log s_j^2]) of every run, (P, 2 or 3)."""
    P = modes.size
    cols = [params["Wt"][np.arange(P), modes, modes], params["V"][np.arange(P), modes, modes]]
    if "logvar" in params:
        cols.append(params["logvar"][np.arange(P), modes])
    return np.stack(cols, axis=1)


def _measured_tau(distance: np.ndarray, d0: np.ndarray) -> np.ndarray:
    """-1 / slope of log distance at late times (NaN where the run is too short to tell).

    The fitted window of each run: the steps where the distance lies between
    ``FLOOR`` and half its initial value ``d0`` (past the fast transients, above the
    rounding floor), of which the second half is used: the slowest direction alone.  A
    run that never falls below half its initial distance is fitted over its second half
    if it lost at least ``MIN_DECAY`` of it there, and is too slow to tell otherwise; so
    is a fitted time longer than the run (at a critical point itself, where the decay is
    algebraic, not exponential).
    """
    P, T = distance.shape
    out = np.full(P, np.nan)
    steps = np.arange(T, dtype=float)
    for p in range(P):
        d = distance[p]
        inside = np.flatnonzero((d < 0.5 * d0[p]) & (d > FLOOR * d0[p]))
        if inside.size >= 20:
            window = inside[inside.size // 2 :]
        else:
            window = np.arange(T // 2, T)
            if not d[-1] < (1 - MIN_DECAY) * d[T // 2] or not (d[window] > 0).all():
                continue
        slope = np.polyfit(steps[window], np.log(d[window]), 1)[0]
        if slope < 0 and -1.0 / slope <= T:  # a longer time is not resolved by the run
            out[p] = -1.0 / slope
    return out


def _one_over_e_time(distance: np.ndarray, d0: np.ndarray) -> np.ndarray:
    """Steps until the distance first falls to 1/e of its initial value (NaN: never).

    Adam does not relax exponentially near an optimum (its steps are rescaled by the
    running gradient moments, close to sign descent), so no decay rate is fitted; the
    1/e time is what its relaxation is measured by.
    """
    below = distance <= d0[:, None] / math.e
    first = below.argmax(axis=1).astype(float) + 1
    first[~below.any(axis=1)] = np.nan
    return first


def amplitude_ratio(sides: dict[str, SideFit]) -> float | None:
    """Fitted amplitude of the active side over the collapsed side's (None if either is
    missing)."""
    a, c = sides.get("active"), sides.get("collapsed")
    if a and c and a.amplitude and c.amplitude:
        return a.amplitude / c.amplitude
    return None


def _fit_sides(sigma2, tau, critical, exponents) -> dict[str, SideFit]:
    """Least-squares lines of log tau against log t on each side of ``critical``."""
    out = {}
    for side, sign in (("active", -1), ("collapsed", 1)):
        t = sign * (sigma2 / critical - 1)
        keep = (t >= FIT_WINDOW[0]) & (t <= FIT_WINDOW[1]) & np.isfinite(tau)
        exponent = amplitude = None
        if keep.sum() >= 3:
            p, c = np.polyfit(np.log(t[keep]), np.log(tau[keep]), 1)
            exponent, amplitude = float(p), float(math.exp(c))
        out[side] = SideFit(side, int(keep.sum()), exponent, amplitude, exponents[side])
    return out


def _run(params, optimum, y, sigma2, modes, model, optimizer, lr, steps) -> np.ndarray:
    """Distance of each run's perturbed block from the optimum ``optimum``, every step."""
    distance = np.empty((modes.size, steps))
    opt = optimiser(optimizer, lr)
    shared = batch_moments(y)  # every step trains on all rows: their moments once
    with threadpool_limits(1, user_api="blas"), np.errstate(over="ignore", invalid="ignore"):
        for t in range(steps):
            _, grads = loss_and_grads(
                params, y, sigma2, None, with_loss=False, moments=shared, **model
            )
            opt.step(params, grads)
            distance[:, t] = np.linalg.norm(_block(params, modes) - optimum, axis=1)
    return distance


def _measure(params, optimum, y, sigma2, modes, model, optimizer, lr, steps, d0) -> np.ndarray:
    """Measured relaxation steps of each run: the decay time (gd) or the 1/e time (adam)."""
    distance = _run(params, optimum, y, sigma2, modes, model, optimizer, lr, steps)
    if optimizer == "gd":
        return _measured_tau(distance, d0)
    return _one_over_e_time(distance, d0)


def _measure_task(params, optimum, y, sigma2, modes, model, optimizer, lr, steps, d0):
    """:func:`_measure` of a block of runs on a Dask worker (arrays realigned there)."""
    params = {name: aligned(w) for name, w in params.items()}
    arrays = (aligned(a) for a in (optimum, y, sigma2, modes))
    return _measure(params, *arrays, model, optimizer, lr, steps, aligned(d0))


def predicted_tau(laws, rel, lam, sigma2, beta, eta2, scale, lr) -> np.ndarray:
    """Predicted relaxation steps of plain gradient descent, (len(sigma2), len(lam)).

    tau = -1 / log(1 - lr h_min) with h_min the smallest eigenvalue of the mode's Hessian
    in the trainer's coordinates at the stationary point that is the minimum there (the
    active point below sigma'^2_c, the collapsed one above); NaN at a critical point.
    """
    active = laws.is_active(lam[None, :], sigma2[:, None], beta, eta2, eta2)
    out = np.full(active.shape, np.nan)
    for point, where in (("active", active), ("collapsed", ~active)):
        h = rel.hessian_eigenvalues(point, lam[None, :], sigma2[:, None], beta, eta2, scale, eta2)
        h = h[..., 0]  # the slowest direction
        with np.errstate(invalid="ignore", divide="ignore"):
            tau = -1.0 / np.log1p(-lr * h)
        # At a critical point h = 0 up to rounding: no finite relaxation time.
        out[where] = np.where(lr * h > 1e-12, tau, np.nan)[where]
    return out


def relaxation_sweep(
    eigenvalues,
    sigma2,
    *,
    beta: float = 1.0,
    latent_dim: int | None = None,
    encoder_variance: str = "learnable",
    eta2: float = 1.0,
    optimizer: str = "gd",
    lr: float | None = None,
    steps: int = 20_000,
    seed: int = 0,
    scheduler: Any = None,
    workers: int | None = None,
    blocks: int | None = None,
) -> DynamicsResult:
    """Relaxation times of every mode at every sweep point, measured and predicted.

    Parameters
    ----------
    eigenvalues : array_like
        Spectrum of the data covariance (the linear model sees only it).
    sigma2 : array_like
        Sweep points.
    beta, latent_dim, encoder_variance, eta2
        The model (``learnable`` or ``fixed`` encoder variance).
    optimizer : {"gd", "adam"}
        Plain gradient descent (where the prediction is exact to first order) or Adam.
    lr : float, optional
        Step size in the trainer's units (default for ``gd``: 1 / h_max, the largest
        curvature of any mode at any point, so that no mode oscillates; for ``adam``:
        1e-6, a hundredth of the initial displacement, since Adam moves every parameter
        by about lr per step whatever the curvature).
    steps : int
        Steps per run.
    seed : int
        Seed of the perturbations.
    scheduler, workers, blocks
        Train on a Dask cluster instead of in this process: the running scheduler at
        ``scheduler`` (an address or a ``distributed.Client``) or a local cluster of
        ``workers`` processes, in ``blocks`` tasks of consecutive sweep points (default one
        per worker thread).  The perturbations are drawn here and every run's arithmetic
        is its own, so the result is bit for bit the same.
    """
    lam = check_spectrum(eigenvalues)
    s = check_sigma2_sweep(sigma2)
    k = check_latent_dim(latent_dim, lam.size)
    beta, eta2 = check_positive("beta", beta), check_positive("eta2", eta2)
    variant = check_encoder_variance(encoder_variance)
    optimizer = check_choice("optimizer", optimizer, OPTIMIZERS)
    steps = check_int("steps", steps, 10)
    cluster = cluster_options(scheduler, workers, blocks)
    if not lam[0] > 0:
        raise InputError("every eigenvalue is 0: there is no transition to relax across")
    laws, rel = compiled_laws(variant), relaxation_laws(variant)
    scale = math.sqrt(float(lam[0]))  # the trainer's unit: sqrt(lambda_max)
    # Only the k paired directions carry parameters; the others add a constant to F and
    # nothing to the dynamics, so the runs use the top k eigenvalues alone (d = k).
    lam = lam[:k]
    if lr is None:
        lr = stable_gd_step(lam[:k], s, beta, eta2, scale, variant) if optimizer == "gd" else 1e-6
    lr = check_positive("lr", lr)
    runs, modes, optimum, kick = _perturbed_runs(
        _optimum_params(laws, rel, lam, k, s, beta, eta2, scale, variant), k, seed
    )
    S = s.size
    model = dict(beta=beta, eta2=eta2, variant=variant, scale=scale, method="moments")
    y, s_runs, d0 = _design(lam, scale), np.repeat(s, k), np.linalg.norm(kick, axis=1)
    if cluster is None:
        measured = _measure(runs, optimum, y, s_runs, modes, model, optimizer, lr, steps, d0)
    else:  # blocks of whole sweep points, run p = i * k + j

        def block(lo: int, hi: int) -> tuple:
            r = slice(lo * k, hi * k)
            part = {name: w[r] for name, w in runs.items()}
            return part, optimum[r], y, s_runs[r], modes[r], model, optimizer, lr, steps, d0[r]

        measured = np.concatenate(map_blocks(cluster, S, _measure_task, block))
    measured = measured.reshape(S, k)
    predicted = np.full((S, k), np.nan)
    curve = np.geomspace(s[0], s[-1], 600)
    curve_tau = np.full((curve.size, k), np.nan)
    if optimizer == "gd":
        predicted = predicted_tau(laws, rel, lam[:k], s, beta, eta2, scale, lr)
        curve_tau = predicted_tau(laws, rel, lam[:k], curve, beta, eta2, scale, lr)
    critical = laws.critical_value("sigma2", lam[:k], 1.0, beta, eta2, eta2)
    exponents = rel.tau_exponent
    fits = [_fit_sides(s, measured[:, j], critical[j], exponents) for j in range(k)]
    prediction_fits = []
    if optimizer == "gd":
        prediction_fits = [_fit_sides(s, predicted[:, j], critical[j], exponents) for j in range(k)]
    return DynamicsResult(
        sigma2=s, eigenvalues=lam, critical_sigma2=critical, optimizer=optimizer, lr=lr,
        steps=steps, predicted=predicted, measured=measured, fits=fits,
        predicted_amplitude_ratio=rel.amplitude_ratio, curve_sigma2=curve, curve_tau=curve_tau,
        options={
            "beta": beta, "eta2": eta2, "latent_dim": k, "encoder_variance": variant,
            "perturbation": PERTURBATION, "seed": seed, "parameter_scale": scale,
            "gradient": "exact expectation over q, all data (the covariance)",
            "fit_window": list(FIT_WINDOW),
            "estimator": "tau = -1/slope of log |theta_j - theta_j*| over the second half",
        },
        prediction_fits=prediction_fits,
    )  # fmt: skip


def default_sweep(critical: np.ndarray, points: int = 41, lo=None, hi=None) -> np.ndarray:
    """A log grid over [lo, hi] (default: half the smallest to twice the largest positive
    critical value) and, around every critical point inside it, six points on each side
    at relative distances 0.002 to 0.05: where the exponents are fitted."""
    crit = critical[critical > 0]
    if crit.size == 0:
        raise InputError("every eigenvalue is 0: there is no transition to relax across")
    lo = 0.5 * crit.min() if lo is None else lo
    hi = 2.0 * crit.max() if hi is None else hi
    near = [c * (1 + sign * NEAR_CRITICAL) for c in crit for sign in (-1, 1)]
    grid = np.unique(np.concatenate([np.geomspace(lo, hi, points), *near]))
    return grid[(grid >= lo) & (grid <= hi)]
