"""The theory's per-mode laws compiled to NumPy functions.

This module types no formula: it asks :mod:`theory` for the SymPy laws and
compiles them with :func:`sympy.lambdify`.  ``dummify=True`` everywhere: the
symbol named ``beta`` would otherwise be printed as ``beta`` and could be
resolved to the special function of that name in the generated code.

Near a critical point the active laws suffer cancellation: log(lambda / (beta
sigma'^2)) and sqrt(lambda / (beta sigma'^2)) - 1 are differences of nearly
equal numbers.  Every active law is therefore rewritten, symbolically, in the
relative gap g = (lambda - lambda_c) / lambda_c with SymPy's log1p and expm1
(``sympy.codegen.cfunctions``) wherever the difference would be formed, see
:func:`stable_form`.  The gap
itself is computed with an error-free product when lambda_c is a product of
parameters (Dekker's TwoProduct, via Veltkamp splitting), so that lambda -
beta sigma'^2 carries no rounding error beyond the final division.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np
import sympy as sp
from sympy.codegen.cfunctions import expm1, log1p

from theory import QUANTITIES, derive, linear_vae
from theory import symbols as S

#: Argument order of every compiled per-mode law.
LAW_ARGS = (S.lam, S.sigma2, S.beta, S.eta2)
#: The relative gap (lambda - lambda_c) / lambda_c; an extra first argument of stable laws.
GAP = sp.Symbol("g", positive=True)

Law = Callable[..., np.ndarray]


def _compile(expr: sp.Expr, args: tuple[sp.Symbol, ...] = LAW_ARGS) -> Law:
    fn = sp.lambdify(args, expr, modules="numpy", dummify=True)

    def law(*values: np.ndarray) -> np.ndarray:
        # A constant law (e.g. KL = 0 when collapsed) returns a scalar: broadcast it.
        shape = np.broadcast_shapes(*(np.shape(v) for v in values))
        return np.broadcast_to(np.asarray(fn(*values), dtype=float), shape).copy()

    law.expr = expr  # type: ignore[attr-defined]
    return law


def stable_form(expr: sp.Expr, boundary: sp.Expr) -> sp.Expr:
    """``expr`` in terms of the gap g, free of cancellation as g -> 0.

    lambda = lambda_c u^2 with u = sqrt(1 + g); after factoring, every u - 1
    becomes expm1(log1p(g) / 2), log(u) becomes log1p(g) / 2 and the remaining
    u become exp(log1p(g) / 2): each is accurate to a few ulps for small g.
    """
    u = sp.Symbol("u", positive=True)
    half_log = log1p(GAP) / 2
    e = sp.expand_log(expr.subs(S.lam, boundary * u**2), force=True)
    e = sp.factor(sp.simplify(e), deep=True)
    e = e.replace(lambda x: x.is_Add and sp.expand(x - (u - 1)) == 0, lambda x: expm1(half_log))
    e = e.replace(lambda x: isinstance(x, sp.log) and x.args[0] == u, lambda x: half_log)
    return e.subs(u, sp.exp(half_log))


def _split(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # Veltkamp splitting: a = hi + lo exactly, each half with <= 26 significant bits.
    c = 134217729.0 * a  # 2**27 + 1
    hi = c - (c - a)
    return hi, a - hi


def two_product(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """a * b = p + e exactly (Dekker 1971), barring overflow/underflow."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    p = a * b
    ah, al = _split(a)
    bh, bl = _split(b)
    e = ((ah * bh - p) + ah * bl + al * bh) + al * bl
    return p, e


@dataclass(frozen=True)
class CompiledLaws:
    """NumPy versions of one variant's laws; arguments ``(lam, sigma2, beta, eta2)``."""

    encoder_variance: str
    active: dict[str, Law]
    collapsed: dict[str, Law]
    stable_active: dict[str, Law]  # arguments (g, lam, sigma2, beta, eta2)
    unpaired_neg_elbo: Law
    boundary_expr: sp.Expr
    boundary: Law  # lambda_c(sigma2, beta, eta2): a mode is active iff lambda > boundary
    critical_sigma2: Law  # sigma'^2_c(lambda, beta, eta2)
    critical_beta: Law  # beta_c(lambda, sigma2, eta2)
    derivatives: dict[tuple[str, str, str, int], Law]

    def gap(self, lam, sigma2, beta, eta2) -> np.ndarray:
        """(lambda - lambda_c) / lambda_c, with lambda_c = beta sigma'^2 formed exactly."""
        lam = np.asarray(lam, dtype=float)
        if self.boundary_expr == S.beta * S.sigma2:
            hi, lo = two_product(beta, sigma2)
            return ((lam - hi) - lo) / hi
        lc = self.boundary(lam, sigma2, beta, eta2)  # generic: one rounding in lambda_c
        return (lam - lc) / lc

    def is_active(self, lam, sigma2, beta, eta2) -> np.ndarray:
        """True where a mode of eigenvalue lambda is active (lambda > lambda_c)."""
        return self.gap(lam, sigma2, beta, eta2) > 0

    def active_value(self, q: str, lam, sigma2, beta, eta2) -> np.ndarray:
        """Active law of quantity ``q``, evaluated in its cancellation-free form."""
        g = self.gap(lam, sigma2, beta, eta2)
        return self.stable_active[q](g, lam, sigma2, beta, eta2)


@cache
def compiled_laws(encoder_variance: str) -> CompiledLaws:
    """Compile the laws of the named variant (cached per process)."""
    d = derive(linear_vae(encoder_variance))
    if not d.gain_decreases_with_lambda:  # the pairing rule of numerics.collapse relies on it
        raise ArithmeticError("the theory does not order latents by eigenvalue")
    laws = d.optimum
    boundary = d.critical_boundary
    return CompiledLaws(
        encoder_variance=encoder_variance,
        active={q: _compile(laws.active[q]) for q in QUANTITIES},
        collapsed={q: _compile(laws.collapsed[q]) for q in QUANTITIES},
        stable_active={
            q: _compile(stable_form(laws.active[q], boundary), (GAP, *LAW_ARGS)) for q in QUANTITIES
        },
        unpaired_neg_elbo=_compile(d.unpaired_laws["neg_elbo"]),
        boundary_expr=boundary,
        boundary=_compile(boundary),
        critical_sigma2=_compile(d.critical_sigma2),
        critical_beta=_compile(d.critical_beta),
        derivatives={key: _compile(expr) for key, expr in d.law_derivatives.items()},
    )
