"""The theory's per-mode laws compiled to NumPy functions.

This module types no formula: it asks :mod:`theory` for the SymPy laws and
compiles them with :func:`sympy.lambdify`.  ``dummify=True`` everywhere: the
symbol named ``beta`` would otherwise be printed as ``beta`` and could be
resolved to the special function of that name in the generated code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np
import sympy as sp

from theory import QUANTITIES, derive, linear_vae
from theory import symbols as S

#: Argument order of every compiled per-mode law.
LAW_ARGS = (S.lam, S.sigma2, S.beta, S.eta2)

Law = Callable[..., np.ndarray]


def _compile(expr: sp.Expr, args: tuple[sp.Symbol, ...] = LAW_ARGS) -> Law:
    fn = sp.lambdify(args, expr, modules="numpy", dummify=True)

    def law(*values: np.ndarray) -> np.ndarray:
        # A constant law (e.g. KL = 0 when collapsed) returns a scalar: broadcast it.
        shape = np.broadcast_shapes(*(np.shape(v) for v in values))
        return np.broadcast_to(np.asarray(fn(*values), dtype=float), shape).copy()

    law.expr = expr  # type: ignore[attr-defined]
    return law


@dataclass(frozen=True)
class CompiledLaws:
    """NumPy versions of one variant's laws; arguments ``(lam, sigma2, beta, eta2)``."""

    encoder_variance: str
    active: dict[str, Law]
    collapsed: dict[str, Law]
    unpaired_neg_elbo: Law
    boundary: Law  # lambda_c(sigma2, beta, eta2): a mode is active iff lambda > boundary
    critical_sigma2: Law  # sigma'^2_c(lambda, beta, eta2)


@cache
def compiled_laws(encoder_variance: str) -> CompiledLaws:
    """Compile the laws of the named variant (cached per process)."""
    d = derive(linear_vae(encoder_variance))
    if not d.gain_decreases_with_lambda:  # the pairing rule below relies on it
        raise ArithmeticError("the theory does not order latents by eigenvalue")
    laws = d.optimum
    return CompiledLaws(
        encoder_variance=encoder_variance,
        active={q: _compile(laws.active[q]) for q in QUANTITIES},
        collapsed={q: _compile(laws.collapsed[q]) for q in QUANTITIES},
        unpaired_neg_elbo=_compile(d.unpaired_laws["neg_elbo"]),
        boundary=_compile(d.critical_boundary),
        critical_sigma2=_compile(d.critical_sigma2),
    )
