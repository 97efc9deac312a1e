"""The linear VAE with a learnable decoder log-variance, trained over a sweep of beta.

With sigma'^2 trained, beta is the control: each sweep point has its own beta, and every
run also trains l = log(sigma'^2 / a^2) (a the parameter unit of
:mod:`numerics.training._linear`).  The model is the linear trainer's: its gradients in
W, b, V and the encoder log-variances come from :func:`numerics.training._linear._grads_moments`
through the exact identity

    grad_theta F(theta; sigma'^2, beta) = beta grad_theta F(theta; beta sigma'^2, 1)

(F = d/2 log(2 pi sigma'^2) + E(theta) / (2 sigma'^2) + beta KL(theta): dividing by beta
puts beta into the decoder variance), so one call serves every point's beta.  The new
gradient is dF/dl = d/2 - E / (2 sigma'^2~), E the minibatch's mean squared residual in
scaled units (with the exact expectation, its trace term included).  Nothing changes for
the fixed-sigma'^2 trainer: this module only calls it.

Everything else - minibatches, Adam, schedules, the warm start (from the smallest beta,
where the most latents are active), KL warm-up, divergence checks - is the one loop of
:mod:`numerics.training._loop`.  The sweep's ``control`` is ``beta``: its ``sigma2`` field
holds the betas, and :attr:`LearnedSweep.sigma2` the trained decoder variances.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from numerics.core._bridge import compiled_laws, objective_pieces
from numerics.core._decoder_variance import (
    BetaThresholdResult,
    learned_optimum,
    learned_thresholds,
)
from numerics.core._model import resolve_model
from numerics.core._validation import (
    InputError,
    check_choice,
    check_latent_dim,
    check_positive,
    check_samples,
    check_sweep,
)
from numerics.spectra._covariance import covariance_spectrum
from numerics.training._config import configure
from numerics.training._linear import (
    DEFAULTS,
    INIT_SCALE,
    LinearModel,
    LinearState,
    _grads_moments,
    _moments,
    data_scale,
    default_batch,
    evaluate,
    kl_moments,
    squared_residual_moments,
    to_data_units,
)
from numerics.training._loop import check_finite, sweep_labels, train_sweep
from numerics.training._sweep import ACTIVE_KL, SweepResult
from numerics.training._transitions import ESTIMATOR, MeasuredTransition, measure_transitions

#: Encoder variances the learnable-sigma'^2 trainer supports (one log-variance per latent
#: or none: the gradient comes from the minibatch moments).
VARIANTS = ("learnable", "fixed")


@dataclass
class LearnedVarianceModel:
    """The linear VAE with a learnable log sigma'^2, as a ``SweepModel``.

    The sweep values the loop passes as ``sigma2`` are the points' betas; the ``beta``
    it passes is the KL warm-up fraction (the configuration's beta is 1).  The trained
    parameter is phi = log(sigma'^2 / a^2) / ``sigma2_step``: Adam moves every parameter by
    about its step size, so log sigma'^2 moves ``sigma2_step`` times as far per step as
    the others (an exact reparametrisation; 1: the same step).
    """

    base: LinearModel
    initial_sigma2: float  # data units
    sigma2_step: float = 1.0  # Adam's step on log sigma'^2, relative to the other parameters
    name: str = "linear"
    loss_every_step: bool = False

    def init(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        params = self.base.init(rng)
        log_s2 = math.log(self.initial_sigma2 / self.base.scale**2)
        params["logsigma2"] = np.full((1, 1), log_s2 / self.sigma2_step)
        return params

    def sigma2(self, phi: np.ndarray) -> np.ndarray:
        """sigma'^2 in scaled units from the trained parameter phi."""
        return np.exp(self.sigma2_step * phi)

    def run_bytes(self, batch: int) -> int:
        return self.base.run_bytes(batch) + 8 * 6  # one more parameter, its moments

    def noise_shape(self, batch: int) -> tuple[int, ...] | None:
        return self.base.noise_shape(batch)

    def loss_and_grads(self, params, batch, control, eps, beta, with_loss, out):
        b = np.asarray(control, dtype=float) * beta  # each point's KL weight
        inner = {name: w for name, w in params.items() if name != "logsigma2"}
        s2 = self.sigma2(params["logsigma2"][:, 0])  # scaled units
        B = batch.shape[0]
        shared = self.base.moments_of(batch)
        mom = _moments(inner, batch, self.base.eta2, self.base.variant, eps, shared)
        scale2 = self.base.scale**2
        grads = _grads_moments(inner, mom, B, b * s2 * scale2, self.base.scale, 1.0,
                               self.base.eta2, self.base.variant)  # fmt: skip
        for name, g in grads.items():
            out[name][...] = g * b.reshape((-1,) + (1,) * (g.ndim - 1))
        sq = squared_residual_moments(inner, mom, B)
        out["logsigma2"][:, 0] = self.sigma2_step * (0.5 * self.base.d - sq / (2 * s2))
        if not with_loss:
            return None
        kl = kl_moments(inner, mom, B, self.base.eta2)
        const = self.base.d * objective_pieces().log_normaliser(s2 * scale2)
        return const + sq / (2 * s2) + b * kl


@dataclass(frozen=True)
class LearnedSweep:
    """A trained beta sweep: the sweep (``sweep.sigma2`` holds the betas) and the trained
    decoder variances ``sigma2`` (S, R), in data units."""

    sweep: SweepResult
    sigma2: np.ndarray

    @property
    def beta(self) -> np.ndarray:
        """The sweep's betas, ascending."""
        return self.sweep.sigma2


def _check_betas(beta) -> np.ndarray:
    """The KL weights of a sweep: finite, > 0, at least one; returned ascending."""
    return check_sweep("beta", beta, "KL weights")


def _check_init_scale(value: float) -> float:
    """``init_scale`` >= 0: 0 starts every run exactly collapsed (W = V = 0)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise InputError(f"init_scale={value!r}: expected a finite number >= 0")
    if not math.isfinite(value):
        raise InputError(f"init_scale={value!r}: expected a finite number >= 0")
    return float(value)


def _learned_model(
    X, latent_dim, encoder_variance, eta2, exact_expectation, init_scale, initial_sigma2,
    sigma2_step,
) -> tuple[LearnedVarianceModel, np.ndarray]:  # fmt: skip
    """The model (units set from the data) and the data in scaled units."""
    n, d = X.shape
    base = LinearModel(
        d=d, k=check_latent_dim(latent_dim, d),
        variant=check_choice("encoder_variance", encoder_variance, VARIANTS), scale=1.0,
        eta2=check_positive("eta2", eta2), init_scale=_check_init_scale(init_scale),
        exact_expectation=bool(exact_expectation), method="moments",
    )  # fmt: skip
    with threadpool_limits(1, user_api="blas"):
        mean, base.scale = data_scale(X)
    Y = (X - mean) / base.scale
    if initial_sigma2 is None:
        # The variance per dimension, tr Sigma / d: what a model that explains nothing fits.
        initial_sigma2 = float(np.sum(Y * Y) / n / d) * base.scale**2
    model = LearnedVarianceModel(base, check_positive("initial_sigma2", initial_sigma2),
                                 check_positive("sigma2_step", sigma2_step))  # fmt: skip
    return model, Y


def train_learned_variance_sweep(
    X,
    beta,
    *,
    latent_dim: int | None = None,
    encoder_variance: str = "learnable",
    eta2: float = 1.0,
    initial_sigma2: float | None = None,
    sigma2_step: float = 1.0,
    exact_expectation: bool = True,
    init_scale: float = INIT_SCALE,
    **training: Any,
) -> LearnedSweep:
    """Train the linear VAE with sigma'^2 learned at every beta and seed, all at once.

    Parameters
    ----------
    X : array (n, d)
        Training data, rows are samples, in their own units.
    beta : float or sequence
        The KL weights of the sweep (sorted ascending in the result).
    latent_dim, encoder_variance, eta2, exact_expectation, init_scale
        As for :func:`numerics.training._linear.train_linear_sweep` (encoder variance
        ``learnable`` or ``fixed``); ``init_scale`` = 0 starts exactly collapsed, where the
        exact gradient keeps every run (the collapsed set is invariant).
    initial_sigma2 : float, optional
        The decoder variance every run starts from, data units (default tr Sigma / d).
    sigma2_step : float
        Adam's step on log sigma'^2 relative to the other parameters' (default 1).  Below
        1, sigma'^2 moves slowly and the encoder and decoder follow the fixed-sigma'^2
        optimum of the sigma'^2 they are at: from a large initial sigma'^2 the run stays in
        the basin of the collapsed state (module docstring).
    **training
        Fields of :class:`~numerics.training._config.TrainingConfig` (its ``beta`` is the
        KL warm-up's scale, 1; each point's beta is in ``beta``).

    Returns
    -------
    LearnedSweep
        The sweep (KL, encoder variances, F and principal informations on all data, as for
        the fixed-sigma'^2 trainer; ``control`` is ``beta``) and the trained sigma'^2.
    """
    start = time.perf_counter()
    X = check_samples(X)
    betas = _check_betas(beta)
    training.setdefault("anchor_steps", training.get("steps"))
    if training.get("batch_size") is None:
        training["batch_size"] = default_batch(*X.shape)
    config = configure(DEFAULTS, {**training, "beta": 1.0}).checked(X.shape[0])
    model, Y = _learned_model(X, latent_dim, encoder_variance, eta2, exact_expectation,
                              init_scale, initial_sigma2, sigma2_step)  # fmt: skip
    params = train_sweep(model, Y, betas, config, control="beta")
    R = len(config.seeds)
    beta_p = np.repeat(betas, R)
    scale2 = model.base.scale**2
    sigma2_p = model.sigma2(params.pop("logsigma2")[:, 0]) * scale2
    with threadpool_limits(1, user_api="blas"), np.errstate(over="ignore", invalid="ignore"):
        result = evaluate(params, Y, sigma2_p, scale=model.base.scale, beta=beta_p,
                          eta2=model.base.eta2, variant=model.base.variant)  # fmt: skip
    check_finite(result.neg_elbo, config.steps, sweep_labels(betas, config.seeds, "beta"))
    options = _options(model, config, X.shape[0])
    if config.warm_start:
        options["warm_start_anchor_beta"] = float(betas[0])
    mean = X.mean(axis=0)
    state = LinearState(to_data_units(params, mean, model.base.scale), mean, model.base.variant,
                        model.base.eta2)  # fmt: skip
    sweep = SweepResult.from_runs(
        betas, config.seeds, result.kl, result.encoder_variance, result.neg_elbo, "linear",
        options, seconds=time.perf_counter() - start, information=result.information,
        state=state,
    )  # fmt: skip
    return LearnedSweep(replace(sweep, control="beta"), sigma2_p.reshape(betas.size, R))


def _options(model: LearnedVarianceModel, config, n: int) -> dict[str, Any]:
    """Everything that defines a learnable-sigma'^2 sweep, for its ``options``."""
    base = model.base
    record = config.record()
    record.pop("beta")
    return {
        **record,
        "decoder_variance": "learnable",
        "control": "beta",
        "initial_sigma2": model.initial_sigma2,
        "sigma2_step": model.sigma2_step,
        "eta2": base.eta2,
        "latent_dim": base.k,
        "encoder_variance": base.variant,
        "exact_expectation": base.exact_expectation,
        "gradient_method": base.method,
        "n_samples": n,
        "parameter_scale": base.scale,
        "init_scale": base.init_scale,
        "sigma2_parameter": "log(sigma2 / parameter_scale^2), trained with the rest",
        "warm_start_anchor_beta": None,
    }


@dataclass(frozen=True)
class LearnedTrainingReport:
    """A trained beta sweep with sigma'^2 learned, its predictions and measured transitions.

    ``predicted[r]`` is beta_c,r of the optimum (:func:`numerics.core.learned_thresholds`);
    ``at_trained[r]`` the beta at which the r-th mode crosses its fixed-sigma'^2 threshold
    at the sigma'^2 each run reached (NaN: not crossed in the sweep) - the two agree when
    training reached the optimum, and the second is where a run that stayed in the basin of
    the collapsed state (a slow sigma'^2) switches.  ``optimum_sigma2`` is the
    self-consistent sigma'^2 at each beta of the sweep.
    """

    learned: LearnedSweep
    eigenvalues: np.ndarray
    predicted: np.ndarray
    at_trained: np.ndarray
    measured: list[MeasuredTransition]
    optimum_sigma2: np.ndarray
    thresholds: BetaThresholdResult
    data: dict[str, Any]

    @property
    def sweep(self) -> SweepResult:
        """The trained sweep (its ``sigma2`` field holds the betas)."""
        return self.learned.sweep

    def sigma2_deviation(self) -> np.ndarray:
        """(trained - self-consistent) / self-consistent sigma'^2 at each point (seed mean)."""
        return self.learned.sigma2.mean(axis=1) / self.optimum_sigma2 - 1.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (README, "Learnable decoder variance")."""
        s = self.sweep
        info = s.measure.mean(axis=1)
        points = [
            {"beta": float(b), "sigma2": self.learned.sigma2[i].tolist(),
             "optimum_sigma2": float(self.optimum_sigma2[i]), "kl": s.kl[i].mean(axis=0).tolist(),
             "information": info[i].tolist(), "n_active": int((info[i] > ACTIVE_KL).sum()),
             "neg_elbo": float(s.neg_elbo[i].mean())}
            for i, b in enumerate(s.sigma2)
        ]  # fmt: skip
        return {
            "model": s.model, "decoder_variance": "learnable", "control": "beta",
            "seeds": list(s.seeds), "options": s.options, "seconds": s.seconds,
            "data": self.data, "eigenvalues": self.eigenvalues.tolist(),
            "predicted_critical_beta": self.predicted.tolist(),
            "critical_beta_at_trained_sigma2": [None if np.isnan(x) else float(x)
                                                for x in self.at_trained],
            "measured_critical_beta": [m.estimate for m in self.measured],
            "measured": [m.to_dict() for m in self.measured],
            "collapse_stable_beta": self.thresholds.collapse_stable_beta,
            "estimator": ESTIMATOR.replace("sigma'^2", "beta"),
            "active_threshold": ACTIVE_KL, "points": points,
        }  # fmt: skip


def _at_trained(learned: LearnedSweep, eigenvalues, k: int, encoder_variance: str, eta2: float):
    """beta where each of the top k modes crosses its fixed-sigma'^2 threshold at the trained
    sigma'^2: the zero of log beta - log beta_c(lambda_r, sigma'^2 of the run), interpolated
    linearly in log beta between the sweep points around it (NaN if it does not cross)."""
    model = resolve_model(encoder_variance, None, eta2, k, len(eigenvalues))
    laws = compiled_laws(model.spec)
    z = model.zeta2_array()
    betas, s2 = learned.beta, learned.sigma2.mean(axis=1)
    out = np.full(k, np.nan)
    for r in range(k):
        zr = None if z is None else z[r]
        crit = laws.critical_value("beta", eigenvalues[r], s2, 1.0, eta2, zr)
        g = np.log(betas) - np.log(np.maximum(crit, np.finfo(float).tiny))
        up = np.flatnonzero((g[:-1] < 0) & (g[1:] >= 0))
        if up.size:
            i = int(up[0])
            t = -g[i] / (g[i + 1] - g[i])
            out[r] = float(np.exp(np.log(betas[i]) + t * np.log(betas[i + 1] / betas[i])))
    return out


def train_and_measure_learned(
    X, *, beta=None, points: int = 24, latent_dim: int = 4, encoder_variance: str = "learnable",
    eta2: float = 1.0, eigenvalues=None, data: dict[str, Any] | None = None, **options: Any,
) -> LearnedTrainingReport:  # fmt: skip
    """Train over a beta sweep with sigma'^2 learned, and measure every transition.

    ``beta``: the sweep (default: log-spaced from 0.85 x the smallest to 1.1 x the largest
    predicted beta_c,r).  ``eigenvalues``: the spectrum of the centred 1/N covariance of
    exactly ``X`` (computed here if not given).  ``options`` go to
    :func:`train_learned_variance_sweep` (None values keep their defaults).
    """
    X = np.asarray(X, dtype=float)
    spectrum = (covariance_spectrum(X).eigenvalues if eigenvalues is None
                else np.asarray(eigenvalues, dtype=float))  # fmt: skip
    th = learned_thresholds(spectrum, latent_dim, encoder_variance, eta2)
    predicted = np.array(th.critical_beta)
    if beta is None:
        positive = predicted[predicted > 0]
        beta = np.geomspace(0.85 * positive.min(), 1.1 * positive.max(), points)
    options = {key: v for key, v in options.items() if v is not None}
    learned = train_learned_variance_sweep(X, np.sort(np.asarray(beta, dtype=float)),
                                           latent_dim=latent_dim, encoder_variance=encoder_variance,
                                           eta2=eta2, **options)  # fmt: skip
    optimum_sigma2 = np.array([
        learned_optimum(spectrum, float(b), latent_dim, encoder_variance, eta2,
                        count_index=False).sigma2 for b in learned.beta
    ])  # fmt: skip
    measured = measure_transitions(learned.sweep, predicted)
    at = _at_trained(learned, spectrum, latent_dim, encoder_variance, eta2)
    return LearnedTrainingReport(learned, spectrum, predicted, at, measured, optimum_sigma2, th,
                                 data or {})  # fmt: skip


__all__ = [
    "LearnedSweep",
    "LearnedTrainingReport",
    "LearnedVarianceModel",
    "train_and_measure_learned",
    "train_learned_variance_sweep",
]
