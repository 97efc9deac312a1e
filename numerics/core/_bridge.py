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

Deriving the laws (stationary points, their stability, the limits) takes a few
seconds of SymPy.  The expressions are therefore kept in a disk cache keyed by a
hash of the source of :mod:`theory` and of this module and the SymPy version: any
change to the derivation invalidates it, so the cache never stands in for the
theory.  It lives in ``$VAE_COLLAPSE_CACHE`` (``off`` disables it), else
``$XDG_CACHE_HOME/vae-collapse``, else ``~/.cache/vae-collapse``; a cache that
cannot be read or written is ignored.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from functools import cache
from pathlib import Path

import numpy as np
import sympy as sp
from sympy.codegen.cfunctions import expm1, log1p

import theory
from theory import QUANTITIES, derive, linear_vae
from theory import symbols as S
from theory.objective import latent_kl, reconstruction_constant

#: Argument order of every compiled per-mode law.
LAW_ARGS = (S.lam, S.sigma2, S.beta, S.eta2)
#: Quantities whose one-sided derivatives at critical points are kept (maps report jumps).
JUMP_QUANTITIES = ("kl", "neg_elbo")
#: The relative gap (lambda - lambda_c) / lambda_c; an extra first argument of stable laws.
GAP = sp.Symbol("g", positive=True)

Law = Callable[..., np.ndarray]


def _compile(expr: sp.Expr, args: tuple[sp.Symbol, ...] = LAW_ARGS, modules="numpy") -> Law:
    """The one place where a theory expression becomes a callable (``sympy.lambdify``)."""
    fn = sp.lambdify(args, expr, modules=modules, dummify=True)
    if modules != "numpy":  # mpmath numbers and intervals: no array broadcasting
        return fn

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


class CompiledLaws:
    """NumPy versions of one model's laws; arguments ``(lam, sigma2, beta, eta2)``.

    Every law is compiled from its SymPy expression on first use and kept: a command
    that needs five laws does not pay for the hundred it does not use.

    Attributes
    ----------
    name : str
        The model's name (``learnable``, ``fixed``).
    expressions : dict
        The derived SymPy expressions (:func:`law_expressions`).
    """

    def __init__(self, name: str, expressions: dict) -> None:
        self.name = name
        self.expressions = expressions
        self._compiled: dict[tuple, Law] = {}

    def __repr__(self) -> str:
        return f"CompiledLaws({self.name!r})"

    @property
    def encoder_variance(self) -> str:
        """The encoder-variance variant these laws belong to."""
        return self.name

    def _law(self, key: tuple, expr: sp.Expr, args: tuple = LAW_ARGS, modules="numpy") -> Law:
        if key not in self._compiled:
            self._compiled[key] = _compile(expr, args, modules)
        return self._compiled[key]

    def _group(self, group: str) -> dict[str, Law]:
        args = (GAP, *LAW_ARGS) if group == "stable_active" else LAW_ARGS
        return {q: self._law((group, q), x, args) for q, x in self.expressions[group].items()}

    @property
    def active(self) -> dict[str, Law]:
        """Laws of the active point, per quantity (valid where the mode is active)."""
        return self._group("active")

    @property
    def collapsed(self) -> dict[str, Law]:
        """Laws of the collapsed point, per quantity."""
        return self._group("collapsed")

    @property
    def stable_active(self) -> dict[str, Law]:
        """Active laws in their cancellation-free form; arguments ``(g, lam, ...)``."""
        return self._group("stable_active")

    @property
    def unpaired_neg_elbo(self) -> Law:
        """F of a data direction that no latent is paired with."""
        return self._law(("unpaired",), self.expressions["unpaired_neg_elbo"])

    @property
    def boundary_expr(self) -> sp.Expr:
        """lambda_c(sigma2, beta, eta2) as derived: a mode is active iff lambda > it."""
        return self.expressions["boundary"]

    @property
    def boundary(self) -> Law:
        """lambda_c compiled."""
        return self._law(("boundary",), self.boundary_expr)

    @property
    def critical_sigma2(self) -> Law:
        """sigma'^2_c(lambda, beta, eta2) (the second argument is ignored)."""
        return self._law(("critical_sigma2",), self.expressions["critical_sigma2"])

    @property
    def critical_beta(self) -> Law:
        """beta_c(lambda, sigma2, eta2) (the third argument is ignored)."""
        return self._law(("critical_beta",), self.expressions["critical_beta"])

    def derivative(self, variable: str, side: str, quantity: str, order: int) -> Law:
        """d^order quantity / d variable^order on one side (``Derivation.law_derivatives``)."""
        key = (variable, side, quantity, order)
        return self._law(("derivative", *key), self.expressions["derivatives"][key])

    def one_sided(self, variable: str, quantity: str, order: int) -> tuple[Law, Law]:
        """Left (active) and right (collapsed) limits of a derivative at the critical point."""
        left, right = self.expressions["one_sided"][(variable, quantity, order)]
        key = ("one_sided", variable, quantity, order)
        return self._law((*key, "left"), left), self._law((*key, "right"), right)

    def critical_sigma2_mpmath(self) -> Law:
        """sigma'^2_c(lambda, beta, eta2) on mpmath numbers or intervals (``mpmath.iv``)."""
        args = (S.lam, S.beta, S.eta2)
        return self._law(
            ("critical_sigma2", "mpmath"), self.expressions["critical_sigma2"], args, "mpmath"
        )

    def critical_sigma2_exact(self, lam: Fraction, beta: Fraction, eta2: Fraction) -> Fraction:
        """sigma'^2_c in exact rational arithmetic (SymPy evaluation of the derived law)."""
        law = self.expressions["critical_sigma2"]
        value = law.subs(
            {S.lam: _rational(lam), S.beta: _rational(beta), S.eta2: _rational(eta2)},
            simultaneous=True,
        )
        value = sp.nsimplify(value) if not value.is_Rational else value
        if not value.is_Rational:
            raise ArithmeticError(f"the critical law {law} is not rational at rational inputs")
        return Fraction(int(value.p), int(value.q))

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


def _rational(q: Fraction) -> sp.Rational:
    q = Fraction(q)
    return sp.Rational(q.numerator, q.denominator)


def _one_sided_expressions(d) -> dict:
    """Left/right limits of the first two derivatives of KL and F at each critical point."""
    out = {}
    for var in (S.sigma2, S.beta):
        for q in JUMP_QUANTITIES:
            for ds in d.derivatives[var][q]:
                if ds.order:
                    out[(var.name, q, ds.order)] = (ds.left, ds.right)
    return out


def _derived_expressions(encoder_variance: str) -> dict:
    """Every SymPy expression :class:`CompiledLaws` compiles, derived from :mod:`theory`."""
    d = derive(linear_vae(encoder_variance))
    if not d.gain_decreases_with_lambda:  # the pairing rule of numerics.core._optimum relies on it
        raise ArithmeticError("the theory does not order latents by eigenvalue")
    laws = d.optimum
    boundary = d.critical_boundary
    return {
        "active": {q: laws.active[q] for q in QUANTITIES},
        "collapsed": {q: laws.collapsed[q] for q in QUANTITIES},
        "stable_active": {q: stable_form(laws.active[q], boundary) for q in QUANTITIES},
        "unpaired_neg_elbo": d.unpaired_laws["neg_elbo"],
        "boundary": boundary,
        "critical_sigma2": d.critical_sigma2,
        "critical_beta": d.critical_beta,
        "derivatives": dict(d.law_derivatives),
        "one_sided": _one_sided_expressions(d),
    }


def cache_dir() -> Path | None:
    """Where derived expressions are cached, or None when caching is off."""
    configured = os.environ.get("VAE_COLLAPSE_CACHE")
    if configured:
        return None if configured.lower() == "off" else Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "vae-collapse"


def _source_key(encoder_variance: str) -> str:
    """Hash of everything the cached expressions depend on."""
    h = hashlib.sha256(f"{encoder_variance}|sympy {sp.__version__}|".encode())
    for path in [*sorted(Path(theory.__file__).parent.glob("*.py")), Path(__file__)]:
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:24]


def _cached(kind: str, name: str, derived) -> dict:
    """Expressions of ``kind`` for model ``name``: from the disk cache when it matches,
    else ``derived()``, written atomically for the next process.

    A missing, stale (other key), unreadable or corrupt cache file is not an error:
    the expressions are derived and the file is (re)written when possible.
    """
    folder = cache_dir()
    if folder is None:
        return derived()
    path = folder / f"{kind}-{name}-{_source_key(name)}.pickle"
    try:
        # Rebuild each expression from its stored arguments as they are: evaluating
        # again would redistribute numbers (c (a + b) -> c a + c b), which is equal but
        # not the same tree, and the tree is what stable_form arranged.
        with open(path, "rb") as f, sp.evaluate(False):
            return pickle.load(f)
    except Exception:  # no cache yet, or a damaged one: derive below
        pass
    expressions = derived()
    scratch = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # Write then rename: a concurrent reader sees the old file or the whole new one.
        with tempfile.NamedTemporaryFile("wb", dir=folder, delete=False) as f:
            scratch = Path(f.name)
            pickle.dump(expressions, f)
        os.replace(scratch, path)
        for stale in folder.glob(f"{kind}-{name}-*.pickle"):
            if stale != path:  # from an earlier version of the theory
                stale.unlink(missing_ok=True)
    except OSError:  # read-only home, full disk: run without the cache
        if scratch is not None:
            scratch.unlink(missing_ok=True)  # a half-written file, if the rename failed
    return expressions


def law_expressions(encoder_variance: str) -> dict:
    """The variant's law expressions (:func:`_cached`)."""
    return _cached("laws", encoder_variance, lambda: _derived_expressions(encoder_variance))


@cache
def compiled_laws(encoder_variance: str) -> CompiledLaws:
    """The laws of the named variant, compiled on first use (kept per process)."""
    return CompiledLaws(encoder_variance, law_expressions(encoder_variance))


@dataclass(frozen=True)
class ObjectivePieces:
    """The trainers' objective pieces, compiled from :mod:`theory.objective` once.

    ``kl(m2, s2, log_s2, eta2)``: KL(N(mu, s2) || N(0, eta2)) with ``m2`` = mu^2 (or its
    mean over data: the KL is linear in mu^2, s2 and log s2, so the data average of the
    KL is the KL of the averages); ``log s2`` is an argument of its own so that a
    trainer that keeps the log-variance does not take a logarithm of an exponential.
    ``log_normaliser(sigma2)``: 1/2 log(2 pi sigma2), the Gaussian constant of -log p
    per data dimension.
    """

    kl: Law
    log_normaliser: Law


@cache
def objective_pieces() -> ObjectivePieces:
    """Compile the Gaussian KL and the reconstruction constant of :mod:`theory.objective`."""
    m2, log_s2 = sp.Symbol("m2", nonnegative=True), sp.Symbol("log_s2", real=True)
    kl = latent_kl().subs({S.mu**2: m2, sp.log(S.s2): log_s2})
    if kl.has(S.mu) or kl.has(sp.log(S.s2)):  # the substitution must catch every occurrence
        raise ArithmeticError(f"the latent KL {kl} is not linear in mu^2 and log s2")
    constant = reconstruction_constant(linear_vae("learnable"))
    return ObjectivePieces(
        kl=_compile(kl, (m2, S.s2, log_s2, S.eta2)),
        log_normaliser=_compile(constant, (S.sigma2,)),
    )


class RelaxationLaws:
    """Relaxation of gradient descent near one mode's stationary points, compiled.

    From :func:`theory.dynamics.relaxation`: the Hessian of the per-mode objective in
    the trainer's coordinates at the ``collapsed`` and ``active`` points, and the
    stationary parameter values (w, v, s^2) of each point.  Arguments of every law:
    ``(lam, sigma2, beta, eta2, a)`` with a the trainer's unit of decoder weights.
    """

    ARGS = (*LAW_ARGS, sp.Symbol("a", positive=True))

    def __init__(self, name: str, expressions: dict) -> None:
        self.name = name
        self.expressions = expressions
        self._compiled: dict[tuple, Law] = {}

    def _law(self, key: tuple, expr: sp.Expr, args: tuple) -> Law:
        if key not in self._compiled:
            self._compiled[key] = _compile(expr, args)
        return self._compiled[key]

    def hessian(self, point: str, lam, sigma2, beta, eta2, a) -> np.ndarray:
        """H at ``point`` for every input, shape (*broadcast shape, n, n)."""
        rows = self.expressions["hessian"][point]
        values = [
            [self._law(("h", point, i, j), e, self.ARGS)(lam, sigma2, beta, eta2, a)
             for j, e in enumerate(row)]
            for i, row in enumerate(rows)
        ]  # fmt: skip
        return np.moveaxis(np.array(values), (0, 1), (-2, -1))

    def hessian_eigenvalues(self, point: str, lam, sigma2, beta, eta2, a) -> np.ndarray:
        """Eigenvalues of H at ``point`` (ascending, last axis); NaN where the point has
        no real value (the active point where the mode is collapsed)."""
        with np.errstate(invalid="ignore"):  # square roots of negative gaps: no point
            h = self.hessian(point, lam, sigma2, beta, eta2, a)
        real = np.isfinite(h).all(axis=(-2, -1))
        h[~real] = np.eye(h.shape[-1])
        values = np.linalg.eigvalsh(h)
        values[~real] = np.nan
        return values

    def stationary(self, point: str, lam, sigma2, beta, eta2) -> dict[str, np.ndarray]:
        """The parameters (``w``, ``v``, ``s2``) of ``point`` (data units; NaN where the
        point has no real value)."""
        with np.errstate(invalid="ignore"):
            return {
                name: self._law(("x", point, name), e, LAW_ARGS)(lam, sigma2, beta, eta2)
                for name, e in self.expressions["stationary"][point].items()
            }

    @property
    def tau_exponent(self) -> dict[str, float]:
        """Derived exponent of the relaxation time on each side of a critical point."""
        return {side: float(e) for side, e in self.expressions["tau_exponent"].items()}

    @property
    def amplitude_ratio(self) -> float:
        """Derived tau_active / tau_collapsed at equal relative distance from the point."""
        return float(self.expressions["amplitude_ratio"])


def _relaxation_expressions(encoder_variance: str) -> dict:
    from theory.dynamics import relaxation, scale

    r = relaxation(linear_vae(encoder_variance))
    d = derive(linear_vae(encoder_variance))
    a = RelaxationLaws.ARGS[-1]
    return {
        "hessian": {
            p: [[e.subs(scale, a) for e in h.row(i)] for i in range(h.rows)]
            for p, h in r.hessian.items()
        },
        "stationary": {
            p: {sym.name: d.point(p).values[sym] for sym in d.spec.mode_parameters}
            for p in ("collapsed", "active")
        },
        "tau_exponent": dict(r.tau_exponent),
        "amplitude_ratio": r.amplitude_ratio,
    }


@cache
def relaxation_laws(encoder_variance: str) -> RelaxationLaws:
    """The relaxation laws of the named variant, compiled on first use."""
    expressions = _cached(
        "relaxation", encoder_variance, lambda: _relaxation_expressions(encoder_variance)
    )
    return RelaxationLaws(encoder_variance, expressions)


@cache
def sample_spike_law() -> Law:
    """:func:`theory.random_matrix.sample_spike` compiled, arguments ``(l, s, gamma)``.

    Both branches of the Piecewise are evaluated by NumPy, the separated one divides by
    zero at the bulk (x = 1) where the other branch is the one selected: those warnings
    are silenced, and the selected values are finite.
    """
    from theory import random_matrix as rm

    law = _compile(rm.sample_spike(), (rm.spike, rm.bulk, rm.gamma))

    def sample(l, s, gamma):  # noqa: E741 - the papers' name of a spike
        with np.errstate(divide="ignore", invalid="ignore"):
            return law(l, s, gamma)

    return sample
