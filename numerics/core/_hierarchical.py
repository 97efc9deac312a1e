"""Optimum, thresholds, maps and phase diagrams of the two-level hierarchical linear VAE.

Every number comes from :func:`theory.hierarchical.law_expressions` through the bridge:
the stationary points of one latent pair on one eigen-direction, where each exists
(``exists`` margins positive) and where it is the minimum (``minimum`` margins positive
too), the quantities there, and the roots of the margins (the candidate critical
values).  The latent pairs take the top k eigen-directions, one each (hypothesis H3 of
the derivation, checked by direct minimisation in the tests); directions beyond the k-th
carry only their reconstruction cost.

The minimum of a mode is the point whose minimum region holds, as derived; on a boundary
(a margin exactly 0, where two points coincide) the existing point of lowest F.  A
transition of a mode along sigma'^2 is a root of a margin at which that point changes:
its value is the derived root, and which points it separates is read off just below and
just above it (relative offset :data:`SIDE`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import cache
from typing import Any

import numpy as np

from numerics.core._bridge import compile_law, family_expressions
from numerics.core._validation import (
    InputError,
    check_int,
    check_latent_dim,
    check_positive,
    check_range,
    check_spectrum,
)
from theory.hierarchical import (
    FIRST_VARIANCES,
    JUMP_QUANTITIES,
    QUANTITIES,
    TOP_VARIANCES,
    HierarchicalVAE,
    law_expressions,
)

#: Relative offset at which the points on the two sides of a critical value are read.
SIDE = 1e-7
#: The law arguments by the names the evaluators take.
_NAMES = {"lambda": "lam", "sigma2": "sigma2", "beta": "beta", "beta2": "beta2",
          "eta2": "eta2", "zeta2_1": "zeta2_1", "zeta2_2": "zeta2_2"}  # fmt: skip


@dataclass(frozen=True)
class HierarchicalModel:
    """A concrete two-level hierarchical VAE: specification and numbers.

    ``zeta2_1`` is the fixed first-level encoder variance (None: learnable), ``zeta2_2``
    the fixed top-level one (None: learnable); ``beta2`` the top level's KL weight (the
    first level's is the ``beta`` of every call).
    """

    spec: HierarchicalVAE
    latent_dim: int
    eta2: float
    beta2: float
    zeta2_1: float | None
    zeta2_2: float | None

    def describe(self) -> str:
        """One line for the command line."""
        first = "learnable" if self.zeta2_1 is None else f"fixed, zeta2 = {self.zeta2_1:g}"
        top = "learnable" if self.zeta2_2 is None else f"fixed, zeta2 = {self.zeta2_2:g}"
        return f"first level {first}; top level {top}; beta2 = {self.beta2:g}"

    def record(self) -> dict[str, Any]:
        """The ``model`` entry of every JSON output."""
        return {
            "family": "hvae",
            "specification": self.spec.name,
            "encoder_variance": self.spec.first,
            "zeta2": None if self.zeta2_1 is None else [self.zeta2_1],
            "top_encoder_variance": self.spec.top,
            "top_zeta2": self.zeta2_2,
            "beta2": self.beta2,
            "eta2": self.eta2,
            "latent_dim": self.latent_dim,
        }

    def arguments(self, lam, sigma2, beta) -> dict[str, Any]:
        """The law arguments by name."""
        return {"lam": lam, "sigma2": sigma2, "beta": beta, "beta2": self.beta2,
                "eta2": self.eta2, "zeta2_1": self.zeta2_1, "zeta2_2": self.zeta2_2}  # fmt: skip


def resolve_hierarchical(
    encoder_variance: str = "fixed",
    zeta2: float | None = None,
    top_encoder_variance: str = "learnable",
    top_zeta2: float | None = None,
    beta2: float = 1.0,
    eta2: float = 1.0,
    latent_dim: int | None = None,
    d: int | None = None,
    beta: float | None = None,
) -> HierarchicalModel:
    """The :class:`HierarchicalModel` a caller means, every value checked.

    ``encoder_variance``: ``fixed`` (zeta_1^2 = ``zeta2``, default eta^2) or ``learnable``;
    ``top_encoder_variance``: ``learnable`` or ``fixed`` (zeta_2^2 = ``top_zeta2``, default
    eta^2).  A learnable first level needs beta < beta2 (``beta`` given): the derivation
    finds F unbounded below for beta > beta2 and a flat family of minima at beta = beta2.
    """
    if encoder_variance not in FIRST_VARIANCES:
        raise InputError(
            f"encoder_variance={encoder_variance!r}: the hierarchical VAE's first level is "
            f"one of {', '.join(FIRST_VARIANCES)} (one value for every latent)"
        )
    if top_encoder_variance not in TOP_VARIANCES:
        raise InputError(
            f"top_encoder_variance={top_encoder_variance!r}: expected learnable or fixed[:Z]"
        )
    eta2 = check_positive("eta2", eta2)
    beta2 = check_positive("beta2", beta2)
    spec = HierarchicalVAE(encoder_variance, top_encoder_variance)
    if encoder_variance == "learnable" and beta is not None and not beta < beta2:
        raise InputError(
            f"beta={beta:g} with beta2={beta2:g}: a learnable first-level encoder variance "
            "needs beta < beta2 (F is unbounded below for beta > beta2 and its minima form a "
            "flat family at beta = beta2; derivations/hierarchical-vae.tex)"
        )
    z1 = (
        None
        if encoder_variance == "learnable"
        else check_positive("zeta2", eta2 if zeta2 is None else zeta2)
    )
    z2 = None if top_encoder_variance == "learnable" else check_positive(
        "top zeta2", eta2 if top_zeta2 is None else top_zeta2
    )  # fmt: skip
    k = check_latent_dim(latent_dim, d if d is not None else latent_dim or 1)
    return HierarchicalModel(spec, k, eta2, beta2, z1, z2)


class HierarchicalLaws:
    """The derived expressions of one specification, compiled on first use."""

    def __init__(self, spec: HierarchicalVAE, expressions: dict) -> None:
        self.spec = spec
        self.expressions = expressions
        self.args = tuple(expressions["arguments"])
        self.keys: list[str] = list(expressions["points"])
        self._compiled: dict[tuple, Any] = {}

    def _law(self, key: tuple, expr):
        if key not in self._compiled:
            self._compiled[key] = compile_law(expr, self.args)
        return self._compiled[key]

    def _values(self, model: HierarchicalModel, lam, sigma2, beta) -> tuple:
        given = model.arguments(lam, sigma2, beta)
        return tuple(given[_NAMES[a.name]] for a in self.args)

    def evaluate(self, group: str, key: str, model, lam, sigma2, beta) -> list[np.ndarray]:
        """The margins of ``group`` (``exists``, ``minimum``) of point ``key``."""
        values = self._values(model, lam, sigma2, beta)
        with np.errstate(invalid="ignore", divide="ignore"):
            return [self._law((group, key, i), m)(*values)
                    for i, m in enumerate(self.expressions[group][key])]  # fmt: skip

    def law(self, key: str, q: str, model, lam, sigma2, beta, order: int = 0) -> np.ndarray:
        """Quantity ``q`` at point ``key`` (``order`` > 0: its derivative in sigma'^2)."""
        expr = (self.expressions["laws"][key][q] if order == 0
                else self.expressions["derivatives"][key][q][order - 1])  # fmt: skip
        with np.errstate(invalid="ignore", divide="ignore"):
            return self._law(("law", key, q, order), expr)(*self._values(model, lam, sigma2, beta))

    def unpaired(self, model, lam, sigma2, beta, order: int = 0) -> np.ndarray:
        """F (or its derivative in sigma'^2) of directions no latent pair takes."""
        expr = self.expressions["unpaired"][order]
        return self._law(("unpaired", order), expr)(*self._values(model, lam, sigma2, beta))

    def roots(self, variable: str, model, lam, sigma2, beta) -> np.ndarray:
        """Candidate critical values of ``variable``: (roots, *broadcast shape)."""
        values = self._values(model, lam, sigma2, beta)
        shape = np.broadcast_shapes(*(np.shape(v) for v in values if v is not None))
        out = [self._law(("root", variable, i), r)(*values)
               for i, r in enumerate(self.expressions["roots"][variable])]  # fmt: skip
        return np.array(out) if out else np.empty((0, *shape))

    def phase(self, model: HierarchicalModel, lam, sigma2, beta) -> np.ndarray:
        """Index into :attr:`keys` of the minimum's point (module docstring)."""
        lam, sigma2, beta = np.broadcast_arrays(*(np.asarray(v, dtype=float)
                                                  for v in (lam, sigma2, beta)))  # fmt: skip
        n = len(self.keys)
        inside = np.zeros((n, *lam.shape), dtype=bool)
        value = np.full((n, *lam.shape), np.inf)
        for i, key in enumerate(self.keys):
            exists = np.ones(lam.shape, dtype=bool)
            for m in self.evaluate("exists", key, model, lam, sigma2, beta):
                exists &= np.broadcast_to(m, lam.shape) > 0
            minimum = exists.copy()
            for m in self.evaluate("minimum", key, model, lam, sigma2, beta):
                minimum &= np.broadcast_to(m, lam.shape) > 0
            inside[i] = minimum
            f = np.broadcast_to(self.law(key, "neg_elbo", model, lam, sigma2, beta), lam.shape)
            value[i] = np.where(exists & np.isfinite(f), f, np.inf)
        unique = inside.sum(axis=0) == 1
        return np.where(unique, np.argmax(inside, axis=0), np.argmin(value, axis=0))

    def active(self, index: np.ndarray, level: str) -> np.ndarray:
        """Whether the ``first`` or ``top`` level is active at the points ``index``."""
        states = np.array([self.expressions[level][k] == "active" for k in self.keys])
        return states[index]


@cache
def hierarchical_laws(spec: HierarchicalVAE) -> HierarchicalLaws:
    """The compiled laws of ``spec`` (derived once, then from the disk cache)."""
    return HierarchicalLaws(spec, family_expressions(spec.name, lambda: law_expressions(spec)))


@dataclass(frozen=True)
class HierarchicalMode:
    """The minimum of the latent pair on the ``index``-th largest eigenvalue.

    ``point`` is the stationary point (``cc``, ``ac``, ``ca``, ``aa``: first level, then
    top level, collapsed or active); the quantities are those of
    :data:`theory.hierarchical.QUANTITIES` (Dang et al.'s singular values:
    ``encoder_singular_value`` = |v_1| sqrt(lambda), ``decoder2_singular_value`` = |w_2|).
    """

    index: int
    eigenvalue: float
    point: str
    first_active: bool
    top_active: bool
    values: dict[str, float]


@dataclass(frozen=True)
class HierarchicalOptimum:
    """The optimum of the hierarchical VAE at one (sigma'^2, beta_1) for a spectrum."""

    sigma2: float
    beta: float
    eigenvalues: tuple[float, ...]
    modes: tuple[HierarchicalMode, ...]
    neg_elbo: float
    model: HierarchicalModel = field(repr=False)

    def total(self, q: str) -> float:
        """Sum of quantity ``q`` over the latent pairs."""
        return float(sum(m.values[q] for m in self.modes))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return {
            "sigma2": self.sigma2,
            "beta": self.beta,
            "beta2": self.model.beta2,
            "model": self.model.record(),
            "eigenvalues": list(self.eigenvalues),
            "modes": [asdict(m) for m in self.modes],
            "n_active_first": sum(m.first_active for m in self.modes),
            "n_active_top": sum(m.top_active for m in self.modes),
            "kl1_total": self.total("kl1"),
            "kl2_total": self.total("kl2"),
            "neg_elbo": self.neg_elbo,
        }


def _model(eigenvalues, model: dict[str, Any], beta: float):
    lam = check_spectrum(eigenvalues)
    m = resolve_hierarchical(**model, d=lam.size, beta=beta)
    return lam, m, hierarchical_laws(m.spec)


def hierarchical_optimum(
    eigenvalues, sigma2: float, beta: float = 1.0, **model: Any
) -> HierarchicalOptimum:
    """The optimum of the two-level hierarchical VAE (``model``: :func:`resolve_hierarchical`).

    Examples
    --------
    Dang et al. (2024), learnable Sigma_2, sigma_1 = 1, beta_1 = beta_2 = 1, theta = 2, sqrt 2, 1:

    >>> r = hierarchical_optimum([4, 2, 1], sigma2=1.0)
    >>> [round(m.values["encoder_singular_value"], 6) for m in r.modes]
    [1.732051, 1.0, 0.0]
    """
    sigma2 = check_positive("sigma2", sigma2)
    beta = check_positive("beta", beta)
    lam, m, laws = _model(eigenvalues, model, beta)
    paired = lam[: m.latent_dim]
    index = laws.phase(m, paired, sigma2, beta)
    values = {q: np.empty(paired.size) for q in QUANTITIES}
    for i, key in enumerate(laws.keys):
        at = index == i
        if at.any():
            for q in QUANTITIES:
                values[q][at] = np.broadcast_to(
                    laws.law(key, q, m, paired[at], sigma2, beta), (int(at.sum()),)
                )
    first, top = laws.active(index, "first"), laws.active(index, "top")
    modes = tuple(
        HierarchicalMode(r + 1, float(paired[r]), laws.keys[index[r]], bool(first[r]),
                         bool(top[r]), {q: float(values[q][r]) for q in QUANTITIES})
        for r in range(paired.size)
    )  # fmt: skip
    unpaired = laws.unpaired(m, lam[m.latent_dim :], sigma2, beta)
    total = float(values["neg_elbo"].sum() + np.sum(unpaired))
    return HierarchicalOptimum(sigma2, beta, tuple(map(float, lam)), modes, total, m)


@dataclass(frozen=True)
class Transition:
    """Mode ``mode`` goes from point ``before`` to ``after`` as sigma'^2 rises past ``sigma2``."""

    mode: int
    sigma2: float
    before: str
    after: str

    def changes(self, level: int) -> str | None:
        """``collapses`` / ``activates`` for level 0 (first) or 1 (top), None if unchanged."""
        a, b = self.before[level], self.after[level]
        return None if a == b else ("collapses" if a == "a" else "activates")


@dataclass(frozen=True)
class HierarchicalThresholds:
    """Every transition of every latent pair along sigma'^2 at fixed beta_1, beta_2.

    ``first_collapse[r]`` / ``top_collapse[r]``: the sigma'^2 above which the first / top
    level of mode r + 1 stays collapsed (None: never collapses; 0: collapsed throughout).
    """

    beta: float
    eigenvalues: tuple[float, ...]
    transitions: tuple[Transition, ...]
    first_collapse: tuple[float | None, ...]
    top_collapse: tuple[float | None, ...]
    model: HierarchicalModel = field(repr=False)

    def collapses_first(self, r: int) -> str:
        """Which level of mode r + 1 collapses first as sigma'^2 grows: ``first``, ``top``,
        ``together`` or ``neither``."""
        a, b = self.first_collapse[r], self.top_collapse[r]
        if a is None and b is None:
            return "neither"
        if a is None or (b is not None and b < a):
            return "top"
        if b is None or a < b:
            return "first"
        return "together"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        k = self.model.latent_dim
        return {
            "beta": self.beta,
            "beta2": self.model.beta2,
            "model": self.model.record(),
            "eigenvalues": list(self.eigenvalues),
            "first_collapse_sigma2": list(self.first_collapse),
            "top_collapse_sigma2": list(self.top_collapse),
            "collapses_first": [self.collapses_first(r) for r in range(k)],
            "transitions": [asdict(t) for t in self.transitions],
        }


def hierarchical_thresholds(eigenvalues, beta: float = 1.0, **model: Any) -> HierarchicalThresholds:
    """Critical sigma'^2 of every latent pair (module docstring), at fixed beta_1 and beta_2.

    Examples
    --------
    >>> t = hierarchical_thresholds([4, 2, 1], beta=1.0, zeta2=1.5)
    >>> t.top_collapse, t.first_collapse
    ((2.449489742783178, 1.7320508075688772, 1.5), (None, None, 1.0))
    """
    beta = check_positive("beta", beta)
    lam, m, laws = _model(eigenvalues, model, beta)
    transitions = []
    first, top = [], []
    for r, value in enumerate(lam[: m.latent_dim]):
        found = _mode_transitions(laws, m, r, float(value), beta)
        transitions += found
        first.append(_settles(found, 0, laws, m, value, beta))
        top.append(_settles(found, 1, laws, m, value, beta))
    return HierarchicalThresholds(beta, tuple(map(float, lam)), tuple(transitions),
                                  tuple(first), tuple(top), m)  # fmt: skip


def _mode_transitions(laws, m, r: int, lam: float, beta: float) -> list[Transition]:
    """The transitions of mode r + 1: roots of the margins where its point changes."""
    roots = np.ravel(laws.roots("sigma2", m, lam, 1.0, beta))
    roots = np.unique(roots[np.isfinite(roots) & (roots > 0)])
    # Roots of different margins that are equal up to rounding are one critical value.
    roots = [c for i, c in enumerate(roots) if i == 0 or c > roots[i - 1] * (1 + 1e-12)]
    out = []
    for c in roots:
        sides = laws.phase(m, lam, np.array([c * (1 - SIDE), c * (1 + SIDE)]), beta)
        before, after = (laws.keys[int(i)] for i in sides)
        if before != after:
            out.append(Transition(r + 1, float(c), before, after))
    return out


def _settles(found: list[Transition], level: int, laws, m, lam, beta) -> float | None:
    """sigma'^2 above which ``level`` stays collapsed (None: active at large sigma'^2)."""
    end = laws.keys[int(laws.phase(m, lam, 1e300**0.5, beta))]
    if end[level] == "a":
        return None
    ups = [t.sigma2 for t in found if t.changes(level) == "collapses"]
    return max(ups) if ups else 0.0


@dataclass(frozen=True)
class HierarchicalMap:
    """Curves of the optimum against sigma'^2 (beta_1, beta_2 fixed) and its critical points.

    ``critical_points``: one dict per distinct critical sigma'^2 with the modes that switch
    (``mode``, ``before``, ``after``) and the one-sided first and second derivatives of the
    totals ``kl1``, ``kl2`` and ``neg_elbo`` (left: below, right: above).
    """

    beta: float
    eigenvalues: np.ndarray
    grid: np.ndarray
    curves: dict[str, np.ndarray]
    critical_points: tuple[dict[str, Any], ...]
    model: HierarchicalModel = field(repr=False)
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary: critical points first, then the curves."""
        return {
            "variable": "sigma2",
            "beta": self.beta,
            "beta2": self.model.beta2,
            "model": self.model.record(),
            **({"data": self.data} if self.data else {}),
            "eigenvalues": [float(x) for x in self.eigenvalues],
            "critical_points": list(self.critical_points),
            "curves": {
                "sigma2": self.grid.tolist(),
                **{k: v.tolist() for k, v in self.curves.items()},
            },
        }

    def curve_table(self) -> tuple[list[str], np.ndarray]:
        """Column names and the matrix of the curves (for CSV)."""
        return ["sigma2", *self.curves], np.column_stack([self.grid, *self.curves.values()])


def _totals(laws, m, lam, sigma2, beta, index, order: int = 0) -> dict[str, np.ndarray]:
    """Per-mode quantities (order 0) or derivatives of JUMP_QUANTITIES at the points ``index``,
    summed over modes: arrays over the trailing shape of ``sigma2``."""
    qs = QUANTITIES if order == 0 else JUMP_QUANTITIES
    shape = index.shape
    out = {q: np.zeros(shape) for q in qs}
    lam_b, sig_b = np.broadcast_to(lam, shape), np.broadcast_to(sigma2, shape)
    for i, key in enumerate(laws.keys):
        at = index == i
        if at.any():
            for q in qs:
                value = laws.law(key, q, m, lam_b[at], sig_b[at], beta, order)
                out[q][at] = np.broadcast_to(value, (int(at.sum()),))
    return out


def hierarchical_map(
    eigenvalues, beta: float = 1.0, lo: float | None = None, hi: float | None = None,
    points: int = 400, data: dict[str, Any] | None = None, **model: Any,
) -> HierarchicalMap:  # fmt: skip
    """The optimum against sigma'^2 with every critical point located exactly."""
    points = check_int("points", points, 2, 100_000)
    th = hierarchical_thresholds(eigenvalues, beta, **model)
    m, laws = th.model, hierarchical_laws(th.model.spec)
    lam = np.asarray(th.eigenvalues)
    crits = sorted({t.sigma2 for t in th.transitions})
    d_lo, d_hi = (0.5 * min(crits), 2.0 * max(crits)) if crits else (0.1, 10.0)
    lo, hi = check_range("range", d_lo if lo is None else lo, d_hi if hi is None else hi)
    extra = [c * f for c in crits if lo <= c <= hi for f in (1 - 1e-9, 1.0, 1 + 1e-9)]
    grid = np.unique(np.concatenate([np.geomspace(lo, hi, points), extra]))
    grid = grid[(grid >= lo) & (grid <= hi)]
    k = m.latent_dim
    paired = lam[:k, None]
    index = laws.phase(m, paired, grid[None, :], beta)
    per = _totals(laws, m, paired, grid[None, :], beta, index)
    curves = {f"{q}_total": per[q].sum(axis=0) for q in ("kl1", "kl2", "information1",
                                                          "information2")}  # fmt: skip
    curves["neg_elbo"] = per["neg_elbo"].sum(axis=0) + laws.unpaired(
        m, lam[k:, None], grid[None, :], beta).sum(axis=0)  # fmt: skip
    curves["n_active_first"] = laws.active(index, "first").sum(axis=0).astype(float)
    curves["n_active_top"] = laws.active(index, "top").sum(axis=0).astype(float)
    for j in range(k):
        curves[f"encoder_singular_value_{j + 1}"] = per["encoder_singular_value"][j]
        curves[f"decoder2_singular_value_{j + 1}"] = per["decoder2_singular_value"][j]
    points_out = tuple(_critical_point(laws, m, lam, beta, c, th) for c in crits)
    return HierarchicalMap(beta, lam, grid, curves, points_out, m, data or {})


def _critical_point(laws, m, lam, beta, c: float, th: HierarchicalThresholds) -> dict:
    """One-sided derivatives of the totals at sigma'^2 = c (module docstring)."""
    k = m.latent_dim
    paired = lam[:k, None]
    sides = laws.phase(m, paired, np.array([[c * (1 - SIDE), c * (1 + SIDE)]]), beta)
    out: dict[str, Any] = {
        "sigma2": c,
        "switches": [asdict(t) for t in th.transitions if t.sigma2 == c],
    }
    for n in (1, 2):
        left = _totals(laws, m, paired, np.full((1, 1), c), beta, sides[:, :1], n)
        right = _totals(laws, m, paired, np.full((1, 1), c), beta, sides[:, 1:], n)
        for q in JUMP_QUANTITIES:
            a, b = float(left[q].sum()), float(right[q].sum())
            if q == "neg_elbo":
                smooth = float(np.sum(laws.unpaired(m, lam[k:], c, beta, n)))
                a, b = a + smooth, b + smooth
            out[f"d{n}_{q}" if n > 1 else f"d_{q}"] = {"left": a, "right": b, "jump": b - a}
    return out


@dataclass(frozen=True)
class HierarchicalPhaseDiagram:
    """Active first-level and top-level latents on a log grid of (beta_1, beta_2) at one sigma'^2
    (NaN where the specification has no minimum)."""

    sigma2: float
    beta: np.ndarray
    beta2: np.ndarray
    n_first: np.ndarray  # (len(beta2), len(beta))
    n_top: np.ndarray


def hierarchical_phase_diagram(
    eigenvalues, sigma2: float, beta_range: tuple[float, float] = (0.1, 10.0),
    beta2_range: tuple[float, float] = (0.1, 10.0), points: int = 200, **model: Any,
) -> HierarchicalPhaseDiagram:  # fmt: skip
    """Numbers of active latents of each level over (beta_1, beta_2) (the derived phases)."""
    sigma2 = check_positive("sigma2", sigma2)
    points = check_int("points", points, 2, 5000)
    lam = check_spectrum(eigenvalues)
    b1 = np.geomspace(*check_range("beta range", *beta_range), points)
    b2 = np.geomspace(*check_range("beta2 range", *beta2_range), points)
    m = resolve_hierarchical(**model, d=lam.size)
    laws = hierarchical_laws(m.spec)
    n_first = np.zeros((points, points))
    n_top = np.zeros((points, points))
    for i, value in enumerate(b2):  # one beta_2 at a time: the model holds beta_2
        row = HierarchicalModel(m.spec, m.latent_dim, m.eta2, float(value), m.zeta2_1, m.zeta2_2)
        index = laws.phase(row, lam[: m.latent_dim, None], sigma2, b1[None, :])
        n_first[i] = laws.active(index, "first").sum(axis=0)
        n_top[i] = laws.active(index, "top").sum(axis=0)
        if m.spec.first == "learnable":  # no minimum for beta_1 >= beta_2 (derived)
            n_first[i, b1 >= value] = n_top[i, b1 >= value] = np.nan
    return HierarchicalPhaseDiagram(sigma2, b1, b2, n_first, n_top)
