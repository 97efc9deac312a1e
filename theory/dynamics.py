"""Critical slowing down: relaxation rates of gradient descent in the trainer's coordinates.

The linear trainer (``numerics/training/_linear.py``) keeps, for a latent paired with
one eigen-direction, the decoder weight in units of the data scale a (w = a omega), the
encoder weight in its inverse (v = nu / a) and the log-variance (s^2 = exp(l)).  Gradient
descent with step size ``lr`` on f(omega, nu, l), linearised at a stationary point,
is delta_{t+1} = (I - lr H) delta_t with H the Hessian in those coordinates: each
eigen-direction of H decays like (1 - lr h)^t, and the slowest one sets the relaxation
time

    tau = -1 / log(1 - lr h_min)  ~  1 / (lr h_min)  steps        (lr h_min << 1).

Derived here, for the collapsed and the active point of one mode:

* H in the trainer's coordinates (at a stationary point the gradient vanishes, so the
  change of coordinates only rescales rows and columns: H = J^T (d^2 f) J);
* det H and e_{n-1}(H), the sum of its principal minors of order n - 1: where one
  eigenvalue vanishes and the others stay finite, h_min = det H / e_{n-1}(H) to
  leading order (the last two coefficients of the characteristic polynomial);
* the leading power of h_min in the distance t = |1 - sigma'^2 / sigma'^2_c| on each
  side of the critical point, with its amplitude: tau ~ 1 / (lr A t^p), so the
  relaxation time diverges with exponent -p (critical slowing down; Hohenberg &
  Halperin, Rev. Mod. Phys. 49 (1977) 435, for the general theory), and the ratio of
  the amplitudes of tau on the two sides.

Only the mode's own block is derived: at an aligned stationary point the Hessian of the
whole model is block diagonal in the modes (``Derivation.collapse_stability``), so a
perturbation of one mode's parameters relaxes at that mode's rates.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import sympy as sp

from theory import symbols as S
from theory.derivation import derive
from theory.model import LinearVAE

#: The trainer's unit of decoder weights (a = sqrt(lambda_max) of the data).
scale = sp.Symbol("a", positive=True)
#: Decoder and encoder weights in the trainer's units, and the log-variance.
omega = sp.Symbol("omega", real=True)
nu = sp.Symbol("nu", real=True)
log_s2 = sp.Symbol("l", real=True)
#: Relative distance to the critical point, t > 0.
distance = sp.Symbol("t", positive=True)

_TRAINER = {S.w: scale * omega, S.v: nu / scale, S.s2: sp.exp(log_s2)}


@dataclass(frozen=True)
class SideLaw:
    """h_min ~ amplitude * t^power as t = |1 - sigma'^2 / sigma'^2_c| -> 0 on one side."""

    point: str  # the stationary point that is the minimum on this side
    power: sp.Expr
    amplitude: sp.Expr


@dataclass(frozen=True)
class Relaxation:
    """Relaxation rates of one mode under gradient descent (module docstring).

    ``hessian[point]`` is H in the trainer's coordinates (``coordinates``) at the
    ``collapsed`` or ``active`` point; ``smallest_rate[point]`` is det H / e_{n-1}(H),
    its smallest eigenvalue to leading order near the critical point; ``sides`` maps
    ``active`` (sigma'^2 < sigma'^2_c) and ``collapsed`` (sigma'^2 > sigma'^2_c) to the
    leading behaviour there; ``amplitude_ratio`` is tau_active / tau_collapsed at equal
    distance t from the critical point.
    """

    coordinates: tuple[sp.Symbol, ...]
    hessian: dict[str, sp.Matrix]
    smallest_rate: dict[str, sp.Expr]
    sides: dict[str, SideLaw]
    amplitude_ratio: sp.Expr

    @property
    def tau_exponent(self) -> dict[str, sp.Expr]:
        """tau ~ t^exponent on each side: the negative of the rate's power."""
        return {side: -law.power for side, law in self.sides.items()}


def trainer_coordinates(spec: LinearVAE) -> tuple[sp.Symbol, ...]:
    """(omega, nu[, l]): the trainer's coordinates of the mode's trained parameters."""
    names = {S.w: omega, S.v: nu, S.s2: log_s2}
    return tuple(names[p] for p in spec.mode_parameters)


def _point_in_trainer_coordinates(values: dict[sp.Symbol, sp.Expr]) -> dict[sp.Symbol, sp.Expr]:
    out = {omega: values[S.w] / scale, nu: values[S.v] * scale}
    if S.s2 in values:
        out[log_s2] = sp.log(values[S.s2])
    return out


def _minor_sum(h: sp.Matrix) -> sp.Expr:
    """e_{n-1}(H): the sum of the principal minors of order n - 1."""
    n = h.shape[0]
    if n == 1:
        return sp.S.One
    return sp.Add(*(h.minor(i, i) for i in range(n)))


def _side_law(rate: sp.Expr, critical: sp.Expr, sign: int, point: str) -> SideLaw:
    """Leading term of ``rate`` at sigma'^2 = critical (1 + sign t), t -> 0+."""
    near = sp.simplify(rate.subs(S.sigma2, critical * (1 + sign * distance)))
    lead = sp.simplify(sp.series(near, distance, 0, 2).removeO().as_leading_term(distance))
    amplitude, power = lead.as_coeff_exponent(distance)
    return SideLaw(point, sp.simplify(power), sp.factor(sp.simplify(amplitude)))


@cache
def relaxation(spec: LinearVAE) -> Relaxation:
    """Derive the relaxation rates of ``spec``'s per-mode objective (module docstring)."""
    d = derive(spec)
    coords = trainer_coordinates(spec)
    f = d.mode_objective.subs({p: _TRAINER[p] for p in spec.mode_parameters})
    full = sp.hessian(f, coords)
    hessians, rates = {}, {}
    for name in ("collapsed", "active"):
        at = _point_in_trainer_coordinates(d.point(name).values)
        h = full.subs(at).applyfunc(lambda e: sp.factor(sp.simplify(e)))
        hessians[name] = h
        rates[name] = sp.factor(sp.simplify(h.det() / _minor_sum(h)))
    critical = d.critical_sigma2
    sides = {
        "active": _side_law(rates["active"], critical, -1, "active"),
        "collapsed": _side_law(rates["collapsed"], critical, +1, "collapsed"),
    }
    ratio = sp.simplify(sides["collapsed"].amplitude / sides["active"].amplitude)
    return Relaxation(coords, hessians, rates, sides, ratio)
