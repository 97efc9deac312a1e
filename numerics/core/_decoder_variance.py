"""The linear VAE with a learnable decoder variance: its optimum, thresholds in beta, states.

With sigma'^2 trained, beta is the only control.  The theory
(:mod:`theory.decoder_variance`, compiled by :func:`numerics.core._bridge.decoder_variance_laws`)
gives, for a state with the top m modes active (the pairing of the fixed-sigma'^2 model),
its self-consistent sigma'^2_m in closed form over sums of per-mode functions, the
condition for it to exist, the Schur complement of sigma'^2 there (positive), and the
critical beta_c,r at which the r-th latent collapses at the optimum: the r-th latent is
active iff beta < beta_c,r, and the optimum is unique (the profile slope is convex).
Here those laws are evaluated on a spectrum: d is the number of eigenvalues (the whole
spectrum of the data, zeros included), the sums run over the top modes, and the
fixed-sigma'^2 laws (:mod:`numerics.core._optimum`) give everything else at sigma'^2*.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from numerics.core._bridge import (
    CompiledLaws,
    DecoderVarianceLaws,
    compiled_laws,
    decoder_variance_laws,
)
from numerics.core._landscape import stationary_point
from numerics.core._model import Model, resolve_model
from numerics.core._optimum import OptimumResult, optimum
from numerics.core._validation import (
    InputError,
    check_choice,
    check_int,
    check_positive,
    check_range,
    check_spectrum,
)

#: The decoder-variance variants (the command line's ``--decoder-variance``).
DECODER_VARIANCES = ("fixed", "learnable")
#: The states' Hessian indices are counted only when k (k + 1) d is at most this (the
#: landscape evaluates k d blocks per state).
INDEX_BUDGET = 200_000


@dataclass(frozen=True)
class _Setup:
    """A spectrum and a model, with the laws and the per-direction fixed variances."""

    lam: np.ndarray
    model: Model
    laws: CompiledLaws
    dv: DecoderVarianceLaws
    zeta: np.ndarray  # fixed variance of the latent on each of the top k directions

    @property
    def d(self) -> int:
        return self.lam.size

    @property
    def k(self) -> int:
        return self.model.latent_dim

    @property
    def common_zeta2(self) -> float:
        """The one fixed variance of the isotropic model (any value for the others)."""
        return float(self.zeta[0])

    def sums(self, table: dict[str, str], upto: int) -> dict[str, float]:
        """Each per-mode function of ``table`` summed over the top ``upto`` modes."""
        lam, z = self.lam[:upto], self.zeta[:upto]
        return {name: float(np.sum(self.dv.value(key, **{"lambda": lam, "zeta2": z})))
                for name, key in table.items()}  # fmt: skip


def default_latent_dim(eigenvalues) -> int:
    """The default number of latents with a learnable decoder variance: one fewer than the
    nonzero eigenvalues, the most for which F is bounded below (at least 1; with a
    single nonzero eigenvalue no number of latents is valid, and :func:`learned_optimum`
    says so).  With a fixed sigma'^2 the default is d, the most that model allows.
    """
    lam = check_spectrum(eigenvalues)
    return min(lam.size, max(1, int(np.sum(lam > 0)) - 1))


def _setup(eigenvalues, latent_dim, encoder_variance, eta2, zeta2) -> _Setup:
    lam = check_spectrum(eigenvalues)
    if latent_dim is None:
        latent_dim = default_latent_dim(lam)
    model = resolve_model(encoder_variance, zeta2, eta2, latent_dim, lam.size)
    laws = compiled_laws(model.spec)
    dv = decoder_variance_laws(model.spec)
    unproven = [name for name, ok in dv.proven.items() if not ok]
    if unproven:  # the evaluation below relies on every one of them
        raise ArithmeticError(f"the theory does not establish {unproven}")
    k = model.latent_dim
    rank = int(np.sum(lam > 0))
    if rank < 2:  # no number of latents leaves a nonzero eigenvalue unexplained
        raise InputError(
            f"the spectrum has {rank} nonzero eigenvalue{'s' if rank != 1 else ''}: with a "
            "learnable decoder variance expected at least 2 (the latents must leave one "
            "unexplained, else F is unbounded below as sigma2 -> 0)"
        )
    if not lam[k:].sum() > 0:
        # With every eigenvalue beyond the k-th zero, the state with all nonzero modes
        # active leaves nothing unexplained: F falls without bound (or is flat) as
        # sigma'^2 -> 0 for small beta.  Refused for every beta, a sufficient condition.
        raise InputError(
            f"latent_dim={k}: with a learnable decoder variance the latents must be fewer than "
            f"the {rank} nonzero eigenvalues (else F is unbounded below as sigma2 -> 0): "
            f"expected a latent dimension below {rank}"
        )
    z = model.zeta2_by_direction(laws.variance_order)
    z = np.full(k, model.eta2) if z is None else z
    return _Setup(lam, model, laws, dv, z)


def _state_sigma2(s: _Setup, n_active: int, beta: float) -> float | None:
    """sigma'^2 of the state with the top ``n_active`` modes active (None: no such point)."""
    named = {"d": s.d, "m": n_active, "R": float(s.lam[n_active:].sum()), "beta": beta,
             "eta2": s.model.eta2, "zeta2": s.common_zeta2,
             **s.sums(s.dv.active_sums, n_active)}  # fmt: skip
    if not float(s.dv.value("leading", **named)) > 0:
        return None
    sigma2 = float(s.dv.value("sigma2", **named))
    active = s.laws.is_active(s.lam[:n_active], sigma2, beta, s.model.eta2, s.zeta[:n_active])
    return sigma2 if bool(np.all(active)) else None


def _curvature(s: _Setup, n_active: int, beta: float) -> float:
    """The Schur complement of sigma'^2 at the state (derived positive where it exists)."""
    named = {"d": s.d, "m": n_active, "R": float(s.lam[n_active:].sum()), "beta": beta,
             "eta2": s.model.eta2, "zeta2": s.common_zeta2,
             **s.sums(s.dv.active_sums, n_active)}  # fmt: skip
    return float(s.dv.value("curvature", **named))


def _critical_betas(s: _Setup) -> np.ndarray:
    """beta_c,r of the top k modes (0 where the eigenvalue is 0: never active)."""
    out = np.zeros(s.k)
    for r in range(1, s.k + 1):
        if s.lam[r - 1] <= 0:
            continue
        named = {"lambda": s.lam[r - 1], "zeta2": s.zeta[r - 1], "d": s.d, "n": r - 1,
                 "R_r": float(s.lam[r - 1:].sum()), "eta2": s.model.eta2,
                 **s.sums(s.dv.above_sums, r - 1)}  # fmt: skip
        out[r - 1] = float(s.dv.value("critical_beta", **named))
    return out


def _collapsed(s: _Setup) -> tuple[float, float]:
    """(sigma'^2 of the fully collapsed state, the beta above which it is a minimum)."""
    tr = float(s.lam.sum())
    sigma2 = float(s.dv.value("collapsed_sigma2", d=s.d, tr_Sigma=tr))
    beta = float(s.dv.value("collapsed_stable_beta", d=s.d, tr_Sigma=tr, lambda_max=s.lam[0],
                            eta2=s.model.eta2, zeta2=s.zeta[0]))  # fmt: skip
    return sigma2, beta


@dataclass(frozen=True)
class LearnedState:
    """The state with the top ``n_active`` modes active and collapsed latents elsewhere.

    ``sigma2`` is its self-consistent decoder variance (None: the state does not exist at
    this beta); ``index`` the number of negative eigenvalues of the Hessian in every
    parameter and sigma'^2 (None: not counted, see ``INDEX_BUDGET``), ``nullity`` its zero
    eigenvalues (the flat directions of the fixed-sigma'^2 landscape); ``curvature`` the
    Schur complement of sigma'^2.
    """

    n_active: int
    sigma2: float | None
    curvature: float | None = None
    index: int | None = None
    nullity: int | None = None

    @property
    def exists(self) -> bool:
        """The state is a real stationary point at this beta."""
        return self.sigma2 is not None

    @property
    def local_minimum(self) -> bool | None:
        """No descent direction (index 0); None when the index was not counted."""
        if not self.exists:
            return False
        return None if self.index is None else self.index == 0


def _state(s: _Setup, n_active: int, beta: float, count: bool) -> LearnedState:
    sigma2 = _state_sigma2(s, n_active, beta)
    if sigma2 is None:
        return LearnedState(n_active, None)
    curvature = _curvature(s, n_active, beta)
    if not count:
        return LearnedState(n_active, sigma2, curvature)
    order = s.model.pairing(s.laws.variance_order)
    point = stationary_point(
        s.lam, sigma2, beta, s.k, s.model.spec, s.model.eta2,
        None if s.model.zeta2 is None else list(s.model.zeta2),
        pairing={int(order[i]): i for i in range(n_active)},
    )  # fmt: skip
    # The sigma'^2 direction adds the sign of its Schur complement (theory: positive).
    index = point.index + int(curvature < 0)
    return LearnedState(n_active, sigma2, curvature, index, point.nullity + int(curvature == 0))


@dataclass(frozen=True)
class LearnedOptimum:
    """The global optimum at one beta with sigma'^2 trained, and the structure around it.

    ``optimum`` is the fixed-sigma'^2 optimum at the self-consistent sigma'^2 (its
    ``sigma2``); ``states`` every state with the top m modes active (m = 0..k);
    ``critical_beta[r]`` where the (r+1)-th latent collapses.
    """

    beta: float
    optimum: OptimumResult
    states: tuple[LearnedState, ...]
    critical_beta: tuple[float, ...]
    collapsed_sigma2: float
    collapse_stable_beta: float
    dimension: int

    @property
    def sigma2(self) -> float:
        """The self-consistent decoder variance of the optimum."""
        return self.optimum.sigma2

    @property
    def n_active(self) -> int:
        """Active latents at the optimum."""
        return sum(b > self.beta for b in self.critical_beta)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the optimum's keys, with ``decoder_variance`` and the states."""
        return self.optimum.to_dict() | {
            "decoder_variance": "learnable",
            "dimension": self.dimension,
            "critical_beta": list(self.critical_beta),
            "collapsed_sigma2": self.collapsed_sigma2,
            "collapse_stable_beta": self.collapse_stable_beta,
            "states": [
                asdict(st) | {"exists": st.exists, "local_minimum": st.local_minimum}
                for st in self.states
            ],
        }


def learned_optimum(
    eigenvalues,
    beta: float = 1.0,
    latent_dim: int | None = None,
    encoder_variance="learnable",
    eta2: float = 1.0,
    zeta2=None,
    count_index: bool | None = None,
) -> LearnedOptimum:
    """The optimum of the linear VAE whose decoder variance is trained with the rest.

    Parameters
    ----------
    eigenvalues : array_like
        The whole spectrum of the data covariance (d values, zeros included).
    beta, latent_dim, encoder_variance, eta2, zeta2
        As for :func:`numerics.core._optimum.optimum` (no ``sigma2``: it is learned),
        except the default ``latent_dim``: :func:`default_latent_dim`.
    count_index : bool, optional
        Count the Hessian index of every state (default: when k (k + 1) d <= INDEX_BUDGET).

    Examples
    --------
    >>> r = learned_optimum([4, 2, 1], beta=1.0, latent_dim=2)
    >>> r.sigma2  # Tipping & Bishop: the mean of the discarded eigenvalue(s)
    1.0
    >>> [round(m.kl, 6) for m in r.optimum.modes]
    [0.693147, 0.346574]
    """
    beta = check_positive("beta", beta)
    s = _setup(eigenvalues, latent_dim, encoder_variance, eta2, zeta2)
    crit = _critical_betas(s)
    n_active = int(np.sum(beta < crit))
    sigma2 = _state_sigma2(s, n_active, beta)
    if sigma2 is None:  # beta exactly at a threshold: the state above it, by continuity
        sigma2 = _state_sigma2(s, n_active + 1, beta) if n_active < s.k else None
    if sigma2 is None:
        raise ArithmeticError(f"no self-consistent sigma2 with {n_active} active latents")
    count = s.k * (s.k + 1) * s.d <= INDEX_BUDGET if count_index is None else count_index
    states = tuple(_state(s, m, beta, count) for m in range(s.k + 1))
    opt = optimum(s.lam, sigma2, beta, s.k, s.model.spec, s.model.eta2,
                  None if s.model.zeta2 is None else list(s.model.zeta2))  # fmt: skip
    opt = _with_model(opt, s.model)
    collapsed_sigma2, stable_beta = _collapsed(s)
    return LearnedOptimum(beta, opt, states, tuple(float(b) for b in crit), collapsed_sigma2,
                          stable_beta, s.d)  # fmt: skip


def _with_model(result: OptimumResult, model: Model) -> OptimumResult:
    """``result`` recording the model as the caller gave it (with its label)."""
    from dataclasses import replace

    return replace(result, model=model, encoder_variance=model.label)


@dataclass(frozen=True)
class BetaThresholdResult:
    """Critical beta of every latent with sigma'^2 learned (see :func:`learned_thresholds`).

    ``critical_beta[r]`` belongs to the latent paired with the (r+1)-th largest
    eigenvalue; ``sigma2_at_critical[r]`` is the self-consistent sigma'^2 there (the
    latent's fixed-sigma'^2 threshold, reached by the learned sigma'^2).
    """

    eta2: float
    encoder_variance: str
    eigenvalues: tuple[float, ...]
    critical_beta: tuple[float, ...]
    sigma2_at_critical: tuple[float, ...]
    collapsed_sigma2: float
    collapse_stable_beta: float
    latents: tuple[int, ...] = ()
    model: Model | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (README, "Learnable decoder variance")."""
        return {
            "decoder_variance": "learnable",
            "model": self.model.record() if self.model else None,
            "dimension": len(self.eigenvalues),
            "eigenvalues": list(self.eigenvalues),
            "latents": list(self.latents),
            "critical_beta": list(self.critical_beta),
            "sigma2_at_critical_beta": list(self.sigma2_at_critical),
            "collapsed_sigma2": self.collapsed_sigma2,
            "collapse_stable_beta": self.collapse_stable_beta,
        }


def learned_thresholds(
    eigenvalues, latent_dim: int | None = None, encoder_variance="learnable", eta2: float = 1.0,
    zeta2=None,
) -> BetaThresholdResult:  # fmt: skip
    """beta_c,r of every latent, and the fully collapsed state, with sigma'^2 learned.

    The r-th latent is active at the optimum iff beta < beta_c,r; the fully collapsed
    state (sigma'^2 = tr Sigma / d) is a minimum iff beta >= beta_c,1 and a saddle below.

    Examples
    --------
    >>> [round(b, 6) for b in learned_thresholds([4, 2, 1], latent_dim=2).critical_beta]
    [1.714286, 1.2]
    """
    s = _setup(eigenvalues, latent_dim, encoder_variance, eta2, zeta2)
    crit = _critical_betas(s)
    at = [float(s.laws.critical_value("sigma2", s.lam[r], 1.0, b, s.model.eta2, s.zeta[r]))
          if b > 0 else 0.0 for r, b in enumerate(crit)]  # fmt: skip
    collapsed_sigma2, stable_beta = _collapsed(s)
    order = s.model.pairing(s.laws.variance_order)
    return BetaThresholdResult(
        eta2=s.model.eta2, encoder_variance=s.model.label,
        eigenvalues=tuple(float(x) for x in s.lam), critical_beta=tuple(float(b) for b in crit),
        sigma2_at_critical=tuple(at), collapsed_sigma2=collapsed_sigma2,
        collapse_stable_beta=stable_beta, latents=tuple(int(j) + 1 for j in order),
        model=s.model,
    )  # fmt: skip


@dataclass(frozen=True)
class LearnedMap:
    """The optimum against beta with sigma'^2 learned: curves and critical points."""

    grid: np.ndarray
    curves: dict[str, np.ndarray]
    thresholds: BetaThresholdResult
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the thresholds, then the sampled curves."""
        return {"variable": "beta", **self.thresholds.to_dict(),
                **({"data": self.data} if self.data else {}),
                "curves": {"beta": self.grid.tolist(),
                           **{k: v.tolist() for k, v in self.curves.items()}}}  # fmt: skip

    def curve_table(self) -> tuple[list[str], np.ndarray]:
        """Column names and the matrix of the sampled curves (for CSV)."""
        return ["beta", *self.curves], np.column_stack([self.grid, *self.curves.values()])


def learned_map(
    eigenvalues, lo: float | None = None, hi: float | None = None, points: int = 200,
    latent_dim: int | None = None, encoder_variance="learnable", eta2: float = 1.0, zeta2=None,
    data: dict[str, Any] | None = None,
) -> LearnedMap:  # fmt: skip
    """Map the optimum against beta (log grid from ``lo`` to ``hi``, every beta_c,r added).

    Curves: ``sigma2`` (self-consistent), ``n_active``, ``kl_<j>`` per latent rank,
    ``kl_total``, ``neg_elbo``.  Default range: half the smallest to twice the largest
    positive beta_c,r.
    """
    points = check_int("points", points, 2, 100_000)
    th = learned_thresholds(eigenvalues, latent_dim, encoder_variance, eta2, zeta2)
    crit = np.array([b for b in th.critical_beta if b > 0])
    d_lo, d_hi = (0.5 * crit.min(), 2.0 * crit.max()) if crit.size else (0.1, 10.0)
    lo, hi = check_range("range", d_lo if lo is None else lo, d_hi if hi is None else hi)
    grid = np.unique(
        np.concatenate([np.geomspace(lo, hi, points), crit[(crit >= lo) & (crit <= hi)]])
    )
    rows = [learned_optimum(eigenvalues, float(b), latent_dim, encoder_variance, eta2, zeta2,
                            count_index=False) for b in grid]  # fmt: skip
    k = len(th.critical_beta)
    curves = {"sigma2": np.array([r.sigma2 for r in rows]),
              "n_active": np.array([float(r.optimum.n_active) for r in rows])}  # fmt: skip
    for j in range(k):
        curves[f"kl_{j + 1}"] = np.array([r.optimum.modes[j].kl for r in rows])
    curves["kl_total"] = np.array([r.optimum.kl_total for r in rows])
    curves["neg_elbo"] = np.array([r.optimum.neg_elbo for r in rows])
    return LearnedMap(grid, curves, th, data or {})


def check_decoder_variance(value: str) -> str:
    """``fixed`` or ``learnable`` (InputError otherwise)."""
    return check_choice("decoder_variance", value, DECODER_VARIANCES)


__all__ = [
    "DECODER_VARIANCES",
    "BetaThresholdResult",
    "LearnedMap",
    "LearnedOptimum",
    "LearnedState",
    "check_decoder_variance",
    "learned_map",
    "learned_optimum",
    "learned_thresholds",
]
