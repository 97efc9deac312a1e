"""The theory's per-mode laws compiled to NumPy functions.

This module types no formula: it asks :mod:`theory` for the SymPy laws of a model
specification and compiles them with :func:`sympy.lambdify`, with the
specification's ``law_arguments`` as arguments: (lambda, sigma'^2, beta, eta^2) for
the learnable encoder variance, and the latent's fixed variance zeta^2 after them
for the fixed ones.  ``dummify=True`` everywhere: the
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
import math
import os
import pickle
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import sympy as sp
from sympy.codegen.cfunctions import expm1, log1p

import theory
from numerics.core._validation import InputError
from theory import QUANTITIES, LinearVAE, derive, linear_vae
from theory import symbols as S
from theory.landscape import BLOCK_ARGS, BLOCK_TYPES
from theory.objective import latent_kl, reconstruction_constant

#: Names of the law arguments, as :meth:`CompiledLaws.values` takes them.
ARGUMENT_NAMES = {
    S.lam: "lam",
    S.sigma2: "sigma2",
    S.beta: "beta",
    S.eta2: "eta2",
    S.zeta2: "zeta2",
}
#: Quantities whose one-sided derivatives at critical points are kept (maps report jumps).
JUMP_QUANTITIES = ("kl", "order_parameter", "neg_elbo")
#: The relative gap (lambda - lambda_c) / lambda_c; an extra first argument of stable laws.
GAP = sp.Symbol("g", positive=True)

Law = Callable[..., np.ndarray]


def _compile(expr: sp.Expr, args: tuple[sp.Symbol, ...], modules="numpy") -> Law:
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


def _dd_times(hi: np.ndarray, lo: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(hi + lo) * b as an unevaluated sum, to about twice the working precision."""
    p, e = two_product(hi, b)
    e = e + lo * b
    s = p + e  # renormalise (Fast2Sum: |p| >= |e|)
    return s, e - (s - p)


def _dd_product(factors: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The product of ``factors`` as (hi + lo) * 2**e: double-double (Dekker 1971) on the
    mantissas, the binary exponents summed as integers.

    Splitting off the exponents (``frexp`` is exact) keeps every intermediate of the
    error-free products in [2**-n, 1): no overflow in Veltkamp's 2**27 + 1 multiplier
    for factors near 1e308, no lost low parts for factors near 1e-308.
    """
    mantissa, exponent = np.frexp(np.asarray(factors[0], dtype=float))
    hi, lo = mantissa, np.zeros(np.shape(mantissa))
    for f in factors[1:]:
        m, e = np.frexp(np.asarray(f, dtype=float))
        hi, lo = _dd_times(hi, lo, m)
        exponent = exponent + e
    return hi, lo, exponent


def _ordered(spec: LinearVAE, lam, sigma2, beta, eta2, zeta2=None) -> tuple:
    """Named law arguments in the order of ``spec.law_arguments``."""
    given = {"lam": lam, "sigma2": sigma2, "beta": beta, "eta2": eta2, "zeta2": zeta2}
    out = tuple(given[ARGUMENT_NAMES[a]] for a in spec.law_arguments)
    if any(v is None for v in out):
        raise ValueError(f"{spec.name}: the laws need {spec.law_arguments}")
    return out


class _LawSet:
    """Laws of one model specification, each compiled on first use and kept."""

    def __init__(self, spec: LinearVAE, expressions: dict) -> None:
        self.spec = spec
        self.name = spec.name
        self.expressions = expressions
        self.arguments = tuple(spec.law_arguments)
        self._compiled: dict[tuple, Law] = {}

    def _law(self, key: tuple, expr: sp.Expr, args: tuple | None = None, modules="numpy") -> Law:
        if key not in self._compiled:
            self._compiled[key] = _compile(expr, args or self.arguments, modules)
        return self._compiled[key]


class CompiledLaws(_LawSet):
    """NumPy versions of one model's laws; arguments ``spec.law_arguments``.

    Every law is compiled from its SymPy expression on first use and kept: a command
    that needs five laws does not pay for the hundred it does not use.  Callers pass
    values by name through :meth:`values`, so that no caller depends on the order.

    Attributes
    ----------
    spec : LinearVAE
        The model specification.
    expressions : dict
        The derived SymPy expressions (:func:`law_expressions`).
    """

    def __repr__(self) -> str:
        return f"CompiledLaws({self.name!r})"

    @property
    def encoder_variance(self) -> str:
        """The encoder-variance variant these laws belong to (``learnable``, ``fixed``)."""
        return self.spec.encoder_variance

    def values(self, lam, sigma2, beta, eta2, zeta2=None) -> tuple:
        """The law arguments in the order the compiled laws take them."""
        return _ordered(self.spec, lam, sigma2, beta, eta2, zeta2)

    def _group(self, group: str) -> dict[str, Law]:
        args = (GAP, *self.arguments) if group == "stable_active" else self.arguments
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
        """Active laws in their cancellation-free form; arguments ``(g, *law arguments)``."""
        return self._group("stable_active")

    @property
    def point(self) -> dict[str, dict[str, Law]]:
        """Parameters (``w``, ``v``, ``s2``) of the ``active`` and ``collapsed`` points."""
        return {
            side: {p: self._law(("point", side, p), x) for p, x in per.items()}
            for side, per in self.expressions["point"].items()
        }

    @property
    def unpaired_neg_elbo(self) -> Law:
        """F of a data direction that no latent is paired with."""
        return self._law(("unpaired",), self.expressions["unpaired_neg_elbo"])

    @property
    def boundary_expr(self) -> sp.Expr:
        """lambda_c as derived: a mode is active iff lambda > it."""
        return self.expressions["boundary"]

    @property
    def boundary(self) -> Law:
        """lambda_c compiled (law arguments; lambda is ignored)."""
        return self._law(("boundary",), self.boundary_expr)

    @property
    def critical_sigma2(self) -> Law:
        """sigma'^2_c (law arguments; sigma'^2 is ignored)."""
        return self._law(("critical_sigma2",), self.expressions["critical_sigma2"])

    @property
    def critical_beta(self) -> Law:
        """beta_c (law arguments; beta is ignored)."""
        return self._law(("critical_beta",), self.expressions["critical_beta"])

    def critical_value(self, variable: str, lam, sigma2, beta, eta2, zeta2=None) -> np.ndarray:
        """Critical ``variable`` ("sigma2" or "beta") of each mode, correctly rounded.

        When lambda_c = c prod(num) / prod(den) and the variable is one of the numerator
        factors, lambda = lambda_c is solved for it in exact rational arithmetic on the
        float inputs (every float is a binary rational) and rounded once, so the
        reported value is the double nearest to the exact critical value.  Otherwise
        the compiled law (a few roundings).
        """
        given = {"lam": lam, "sigma2": sigma2, "beta": beta, "eta2": eta2, "zeta2": zeta2}
        factors = self.expressions["boundary_factors"]
        if factors is None or variable not in factors[1]:
            law = self.critical_sigma2 if variable == "sigma2" else self.critical_beta
            with np.errstate(over="ignore", under="ignore"):  # checked just below
                out = np.asarray(law(*self.values(lam, sigma2, beta, eta2, zeta2)), dtype=float)
            bad = ~np.isfinite(out) | ((out != 0) & (np.abs(out) < np.finfo(float).tiny))
            if bad.any():
                _out_of_range(variable, float(np.broadcast_to(lam, out.shape)[bad][0]), None)
            return out
        const, num, den = factors
        rest = list(num)
        rest.remove(variable)
        arrays = np.broadcast_arrays(
            *(np.asarray(given[n], dtype=float) for n in ("lam", *den, *rest))
        )
        out = np.empty(arrays[0].shape)
        c = Fraction(int(const.p), int(const.q))
        for idx in np.ndindex(out.shape):
            top, bottom = Fraction(1), c
            for n, a in zip(("lam", *den, *rest), arrays, strict=True):
                value = Fraction(float(a[idx]))
                if n == "lam" or n in den:
                    top *= value
                else:
                    bottom *= value
            value = top / bottom
            if value > _HUGE or 0 < value < _TINY:
                _out_of_range(variable, float(arrays[0][idx]), value)
            out[idx] = float(value)  # Fraction -> float rounds to nearest
        return out

    @property
    def variance_order(self) -> str | None:
        """How latents of fixed variances pair with eigenvalues (``PairingRule``)."""
        return self.expressions["variance_order"]

    def block(self, name: str) -> Law:
        """The derived Hessian block type ``name`` (``theory.landscape``), arguments BLOCK_ARGS.

        Returns an array of shape (..., m, m) for broadcast arguments.
        """
        matrix = self.expressions["blocks"][name]
        m = matrix.shape[0]
        entries = {
            (a, b): self._law(("block", name, a, b), matrix[a, b], BLOCK_ARGS)
            for a in range(m)
            for b in range(a, m)
        }

        def evaluate(*values: np.ndarray) -> np.ndarray:
            shape = np.broadcast_shapes(*(np.shape(v) for v in values))
            out = np.empty((*shape, m, m))
            for (a, b), law in entries.items():
                out[..., a, b] = out[..., b, a] = law(*values)
            return out

        return evaluate

    def derivative(self, variable: str, side: str, quantity: str, order: int) -> Law:
        """d^order quantity / d variable^order on one side (``Derivation.law_derivatives``)."""
        key = (variable, side, quantity, order)
        return self._law(("derivative", *key), self.expressions["derivatives"][key])

    def one_sided(self, variable: str, quantity: str, order: int) -> tuple[Law, Law]:
        """Left (active) and right (collapsed) limits of a derivative at the critical point."""
        left, right = self.expressions["one_sided"][(variable, quantity, order)]
        key = ("one_sided", variable, quantity, order)
        return self._law((*key, "left"), left), self._law((*key, "right"), right)

    @property
    def _critical_arguments(self) -> tuple[sp.Symbol, ...]:
        return tuple(a for a in self.arguments if a != S.sigma2)

    def critical_sigma2_mpmath(self) -> Law:
        """sigma'^2_c on mpmath numbers or intervals; arguments (lambda, beta, eta2[, zeta2])."""
        return self._law(
            ("critical_sigma2", "mpmath"),
            self.expressions["critical_sigma2"],
            self._critical_arguments,
            "mpmath",
        )

    def critical_sigma2_exact(
        self, lam: Fraction, beta: Fraction, eta2: Fraction, zeta2: Fraction | None = None
    ) -> Fraction:
        """sigma'^2_c in exact rational arithmetic (SymPy evaluation of the derived law)."""
        law = self.expressions["critical_sigma2"]
        given = {S.lam: lam, S.beta: beta, S.eta2: eta2, S.zeta2: zeta2}
        sub = {a: _rational(given[a]) for a in self._critical_arguments}
        value = law.subs(sub, simultaneous=True)
        value = sp.nsimplify(value) if not value.is_Rational else value
        if not value.is_Rational:
            raise ArithmeticError(f"the critical law {law} is not rational at rational inputs")
        return Fraction(int(value.p), int(value.q))

    def gap(self, lam, sigma2, beta, eta2, zeta2=None) -> np.ndarray:
        """(lambda - lambda_c) / lambda_c, free of rounding in the difference.

        When lambda_c is a monomial c * prod(num) / prod(den) of the law arguments (as
        derived: beta sigma'^2, zeta^2 beta sigma'^2 / eta^2), the difference is formed
        as lambda prod(den) - c prod(num) with both products in double-double
        arithmetic: near the boundary the leading parts cancel exactly (Sterbenz) and
        the result carries no rounding error beyond the final division.
        """
        lam = np.asarray(lam, dtype=float)
        given = {"lam": lam, "sigma2": sigma2, "beta": beta, "eta2": eta2, "zeta2": zeta2}
        factors = self.expressions["boundary_factors"]
        if factors is None:  # generic boundary: one rounding in lambda_c
            lc = self.boundary(*self.values(lam, sigma2, beta, eta2, zeta2))
            return (lam - lc) / lc
        const, num, den = factors
        a_hi, a_lo, a_exp = _dd_product([lam, *(given[n] for n in den)])
        b_hi, b_lo, b_exp = _dd_product([float(const), *(given[n] for n in num)])
        # lambda / lambda_c = (a / b) 2**shift with a, b in [2**-n, 1).  Far above the
        # boundary 2**shift overflows and g = inf (such modes go to ``mpmath_value``);
        # far below it underflows and g = -1 to within rounding.
        shift = np.clip(a_exp - b_exp, -1100, 1100)
        with np.errstate(over="ignore"):
            a_hi, a_lo = np.ldexp(a_hi, shift), np.ldexp(a_lo, shift)
            return ((a_hi - b_hi) + (a_lo - b_lo)) / (b_hi + b_lo)

    def is_active(self, lam, sigma2, beta, eta2, zeta2=None) -> np.ndarray:
        """True where a mode of eigenvalue lambda is active (lambda > lambda_c)."""
        return self.gap(lam, sigma2, beta, eta2, zeta2) > 0

    def active_value(self, q: str, lam, sigma2, beta, eta2, zeta2=None) -> np.ndarray:
        """Active law of quantity ``q``, evaluated in its cancellation-free form."""
        g = self.gap(lam, sigma2, beta, eta2, zeta2)
        return self.stable_active[q](g, *self.values(lam, sigma2, beta, eta2, zeta2))

    def mpmath_value(
        self, side: str, q: str, lam, sigma2, beta, eta2, zeta2=None, dps: int = 40
    ) -> float:
        """One law at one point in mpmath, rounded once to a double.

        For values float64 holds but whose float evaluation does not: mpmath numbers
        have an unbounded exponent, so a ratio lambda / lambda_c of 1e600 (whose KL is
        1/2 log 1e600 = 690.8) is no overflow.  The result may still round to 0 (a true
        underflow) or to +-inf (a value beyond float64, for the caller to refuse).
        """
        import mpmath

        key = ("mpmath", side, q)
        law = self._law(key, self.expressions[side][q], modules="mpmath")
        with mpmath.workdps(dps):
            # Every double is a binary rational: mpf(x) is exact.
            args = [mpmath.mpf(float(v)) for v in self.values(lam, sigma2, beta, eta2, zeta2)]
            return float(law(*args))

    def law_value(self, side: str, q: str, lam, sigma2, beta, eta2, zeta2=None) -> np.ndarray:
        """``active`` or ``collapsed`` law of quantity ``q`` at the named arguments."""
        return getattr(self, side)[q](*self.values(lam, sigma2, beta, eta2, zeta2))


#: float64's largest finite and smallest normal values, as exact rationals.
_HUGE = Fraction(np.finfo(float).max)
_TINY = Fraction(np.finfo(float).tiny)


def _out_of_range(variable: str, lam: float, value: Fraction | None) -> None:
    """A critical value float64 cannot hold (overflow, or a subnormal with lost digits)."""
    size = "" if value is None else f" (about 1e{_log10(value):.0f})"
    raise InputError(
        f"the critical {variable} of eigenvalue {lam:.6g}{size} is outside float64's normal "
        "range (2.2e-308 to 1.8e308): expected eigenvalues and parameters closer in scale "
        "(rescale the units; `threshold --digits N` prints exact decimals)"
    )


def _log10(q: Fraction) -> float:
    """log10 of a positive rational of any size (math.log10 takes integers of any size)."""
    return math.log10(q.numerator) - math.log10(q.denominator)


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


def boundary_factors(boundary: sp.Expr) -> tuple[sp.Rational, tuple, tuple] | None:
    """(c, numerator names, denominator names) if lambda_c = c prod(num) / prod(den), else None.

    Every factor must be a law argument to the first power.
    """
    num, den = sp.fraction(sp.together(boundary))
    out = []
    const = sp.S.One
    for part in (num, den):
        names = []
        for f in sp.Mul.make_args(part):
            if f.is_Rational:
                const = const * f if part is num else const / f
            elif f in ARGUMENT_NAMES and f != S.lam:
                names.append(ARGUMENT_NAMES[f])
            else:
                return None
        out.append(tuple(sorted(names)))
    return const, out[0], out[1]


def _derived_expressions(spec: LinearVAE) -> dict:
    """Every SymPy expression :class:`CompiledLaws` compiles, derived from :mod:`theory`."""
    d = derive(spec)
    rule = d.pairing
    if not rule.proven:  # the pairing rule of numerics.core._optimum relies on it
        raise ArithmeticError("the theory does not prove how latents pair with eigenvalues")
    laws = d.optimum
    boundary = d.critical_boundary
    landscape = d.landscape
    return {
        "active": {q: laws.active[q] for q in QUANTITIES},
        "collapsed": {q: laws.collapsed[q] for q in QUANTITIES},
        "stable_active": {q: stable_form(laws.active[q], boundary) for q in QUANTITIES},
        "point": {
            "active": {p.name: v for p, v in d.point("active").values.items()},
            "collapsed": {p.name: v for p, v in spec.collapsed_point.items()},
        },
        "unpaired_neg_elbo": d.unpaired_laws["neg_elbo"],
        "boundary": boundary,
        "boundary_factors": boundary_factors(boundary),
        "critical_sigma2": d.critical_sigma2,
        "critical_beta": d.critical_beta,
        "variance_order": rule.variance_order,
        "blocks": {n: landscape.lambda_form(b) for n, b in landscape.blocks.items()},
        "block_types": BLOCK_TYPES,
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


def _source_key(name: str) -> str:
    """Hash of everything the cached expressions depend on."""
    h = hashlib.sha256(f"{name}|sympy {sp.__version__}|".encode())
    for path in [*sorted(Path(theory.__file__).parent.glob("*.py")), Path(__file__)]:
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:24]


def _spec(model: str | LinearVAE) -> LinearVAE:
    return model if isinstance(model, LinearVAE) else linear_vae(model)


def _cache_file(kind: str, name: str) -> Path | None:
    """The cache file of ``kind`` for model ``name`` (None: caching is off)."""
    folder = cache_dir()
    return None if folder is None else folder / f"{kind}-{name}-{_source_key(name)}.pickle"


def _load(path: Path) -> Any:
    """What ``path`` holds, or None when it is missing, unreadable or corrupt."""
    try:
        # Rebuild each expression from its stored arguments as they are: evaluating
        # again would redistribute numbers (c (a + b) -> c a + c b), which is equal but
        # not the same tree, and the tree is what stable_form arranged.
        with open(path, "rb") as f, sp.evaluate(False):
            return pickle.load(f)
    except Exception:  # no cache yet, or a damaged one: the caller derives
        return None


def _store(path: Path, kind: str, name: str, value: Any) -> None:
    """Write ``value`` to ``path`` atomically and remove the model's stale files."""
    scratch = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename: a concurrent reader sees the old file or the whole new one.
        with tempfile.NamedTemporaryFile("wb", dir=path.parent, delete=False) as f:
            scratch = Path(f.name)
            pickle.dump(value, f)
        os.replace(scratch, path)
        for stale in path.parent.glob(f"{kind}-{name}-*.pickle"):
            if stale != path:  # from an earlier version of the theory
                stale.unlink(missing_ok=True)
    except OSError:  # read-only home, full disk: run without the cache
        if scratch is not None:
            scratch.unlink(missing_ok=True)  # a half-written file, if the rename failed


def _cached(kind: str, name: str, derived) -> Any:
    """Expressions of ``kind`` for model ``name``: from the disk cache when it matches,
    else ``derived()``, written atomically for the next process.

    A missing, stale (other key), unreadable or corrupt cache file is not an error:
    the expressions are derived and the file is (re)written when possible.
    """
    path = _cache_file(kind, name)
    if path is None:
        return derived()
    value = _load(path)
    if value is None:
        value = derived()
        _store(path, kind, name, value)
    return value


def derivation_document(model: str | LinearVAE, derive_missing: bool = True) -> str | None:
    """The LaTeX derivation of ``model`` (:func:`theory.document.render` of its
    :func:`theory.derive`), kept in the disk cache like the laws and under the same key.

    Rendering derives the whole model again (6-10 s of SymPy per model); the document is
    a function of the theory's source and SymPy's version alone, which the key holds.
    With ``derive_missing=False``, None when it is not in the cache.
    """
    from theory.document import render

    spec = _spec(model)
    if derive_missing:
        return _cached("document", spec.name, lambda: render(derive(spec)))
    path = _cache_file("document", spec.name)
    return None if path is None else _load(path)


def cached_document(stem: str, render: Callable[[], str] | None) -> str | None:
    """A derivation document that is not one model's (file ``stem``), kept in the disk
    cache like :func:`derivation_document`; ``render=None``: None when not cached."""
    if render is not None:
        return _cached("document", stem, render)
    path = _cache_file("document", stem)
    return None if path is None else _load(path)


def law_expressions(model: str | LinearVAE) -> dict:
    """The model's law expressions (:func:`_cached`); ``model`` is a specification or a
    name :func:`theory.linear_vae` accepts."""
    spec = _spec(model)
    return _cached("laws", spec.name, lambda: _derived_expressions(spec))


@cache
def _compiled(spec: LinearVAE) -> CompiledLaws:
    return CompiledLaws(spec, law_expressions(spec))


def compiled_laws(model: str | LinearVAE) -> CompiledLaws:
    """The laws of ``model`` (a specification or a name), compiled on first use (per process)."""
    return _compiled(_spec(model))


compiled_laws.cache_clear = _compiled.cache_clear  # type: ignore[attr-defined]


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


class RelaxationLaws(_LawSet):
    """Relaxation of gradient descent near one mode's stationary points, compiled.

    From :func:`theory.dynamics.relaxation`: the Hessian of the per-mode objective in
    the trainer's coordinates at the ``collapsed`` and ``active`` points, and the
    stationary parameter values (w, v, s^2) of each point.  Arguments of every law: the
    specification's ``law_arguments`` by name, and ``a``, the trainer's unit of decoder
    weights.
    """

    def hessian(self, point: str, lam, sigma2, beta, eta2, a, zeta2=None) -> np.ndarray:
        """H at ``point`` for every input, shape (*broadcast shape, n, n)."""
        rows = self.expressions["hessian"][point]
        args = (*self.arguments, SCALE)
        given = (*_ordered(self.spec, lam, sigma2, beta, eta2, zeta2), a)
        values = [
            [self._law(("h", point, i, j), e, args)(*given) for j, e in enumerate(row)]
            for i, row in enumerate(rows)
        ]
        return np.moveaxis(np.array(values), (0, 1), (-2, -1))

    def hessian_eigenvalues(self, point: str, lam, sigma2, beta, eta2, a, zeta2=None):
        """Eigenvalues of H at ``point`` (ascending, last axis); NaN where the point has
        no real value (the active point where the mode is collapsed)."""
        with np.errstate(invalid="ignore"):  # square roots of negative gaps: no point
            h = self.hessian(point, lam, sigma2, beta, eta2, a, zeta2)
        real = np.isfinite(h).all(axis=(-2, -1))
        h[~real] = np.eye(h.shape[-1])
        values = np.linalg.eigvalsh(h)
        values[~real] = np.nan
        return values

    def stationary(self, point: str, lam, sigma2, beta, eta2, zeta2=None) -> dict:
        """The parameters (``w``, ``v``, ``s2``) of ``point`` (data units; NaN where the
        point has no real value)."""
        given = _ordered(self.spec, lam, sigma2, beta, eta2, zeta2)
        with np.errstate(invalid="ignore"):
            return {
                name: self._law(("x", point, name), e, self.arguments)(*given)
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


#: The trainer's unit of decoder weights, an extra argument of the relaxation laws.
SCALE = sp.Symbol("a", positive=True)


def _relaxation_expressions(spec: LinearVAE) -> dict:
    from theory.dynamics import relaxation, scale

    r = relaxation(spec)
    d = derive(spec)
    return {
        "hessian": {
            p: [[e.subs(scale, SCALE) for e in h.row(i)] for i in range(h.rows)]
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
def _relaxation(spec: LinearVAE) -> RelaxationLaws:
    expressions = _cached("relaxation", spec.name, lambda: _relaxation_expressions(spec))
    return RelaxationLaws(spec, expressions)


def relaxation_laws(model: str | LinearVAE) -> RelaxationLaws:
    """The relaxation laws of ``model`` (a specification or a name), compiled on first use."""
    return _relaxation(_spec(model))


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


# -- the decoder variance as a trained parameter (theory/decoder_variance.py) ---------------
class DecoderVarianceLaws:
    """The learnable-sigma'^2 laws of one encoder-variance model, compiled on first use.

    From :class:`theory.decoder_variance.DecoderVarianceDerivation`: the self-consistent
    sigma'^2 of a state with ``m`` active modes, the existence condition (its leading
    coefficient > 0), the Schur complement of sigma'^2 there, the critical beta of the
    r-th mode, the per-mode functions whose sums the first three take (``T_*`` over the
    active modes, ``U_*`` over the modes above the r-th), and the collapsed state's
    sigma'^2 and stability beta.  Every law is called with named values (:meth:`value`):
    symbols by name (``d``, ``m``, ``n``, ``R``, ``R_r``, ``beta``, ``eta2``, ``zeta2``,
    ``lambda``, ``tr_Sigma``, ``lambda_max``, and the sum symbols).
    """

    def __init__(self, spec: LinearVAE, expressions: dict) -> None:
        self.spec = spec
        self.expressions = expressions
        self._compiled: dict[str, tuple[tuple[str, ...], Law]] = {}

    def __repr__(self) -> str:
        return f"DecoderVarianceLaws({self.spec.name!r})"

    def _law(self, key: str) -> tuple[tuple[str, ...], Law]:
        if key not in self._compiled:
            expr = self.expressions["laws"][key]
            args = tuple(sorted(expr.free_symbols, key=lambda s: s.name))
            self._compiled[key] = (tuple(a.name for a in args), _compile(expr, args))
        return self._compiled[key]

    def value(self, key: str, **named) -> np.ndarray:
        """Law ``key`` at the named values (extra names are ignored)."""
        names, law = self._law(key)
        missing = [n for n in names if n not in named]
        if missing:
            raise ValueError(f"{key}: missing values for {missing}")
        return law(*(named[n] for n in names))

    @property
    def active_sums(self) -> dict[str, str]:
        """Sum symbol over the active modes -> key of its per-mode law."""
        return self.expressions["active_sums"]

    @property
    def above_sums(self) -> dict[str, str]:
        """Sum symbol over the modes above the r-th -> key of its per-mode law."""
        return self.expressions["above_sums"]

    @property
    def proven(self) -> dict[str, bool]:
        """The facts the numerics rely on (uniqueness, the sign of the Schur complement)."""
        return self.expressions["proven"]


def _decoder_variance_expressions(spec: LinearVAE) -> dict:
    from theory.decoder_variance import derive_decoder_variance

    dv = derive_decoder_variance(spec)
    sc = dv.self_consistency
    laws = {
        "sigma2": sc.sigma2,
        "leading": sc.leading,
        "curvature": dv.profile_curvature,
        "critical_beta": dv.critical_beta,
        "collapsed_sigma2": dv.collapsed_sigma2,
        "collapsed_stable_beta": dv.collapsed_stable_beta,
    }
    active, above = {}, {}
    for table, out in ((dv.active_sums, active), (dv.above_sums, above)):
        for dep, symbol in table.symbols.items():
            laws[f"sum:{symbol.name}"] = dep
            out[symbol.name] = f"sum:{symbol.name}"
    proven = {
        "uniqueness": dv.uniqueness.proven,
        "curvature_positive": dv.curvature_sign == 1,
        "active_below_critical_beta": dv.critical_equation_slope == -1,
        "collapsed_is_first": dv.collapsed_matches_first,
        "self_consistency": sc.verified,
    }
    return {"laws": laws, "active_sums": active, "above_sums": above, "proven": proven}


@cache
def _decoder_variance(spec: LinearVAE) -> DecoderVarianceLaws:
    expressions = _cached("decoder-variance", spec.name,
                          lambda: _decoder_variance_expressions(spec))  # fmt: skip
    return DecoderVarianceLaws(spec, expressions)


def decoder_variance_laws(model: str | LinearVAE) -> DecoderVarianceLaws:
    """The learnable-sigma'^2 laws of ``model`` (a specification or a name)."""
    return _decoder_variance(_spec(model))


# -- the model families beyond the VAE (numerics/core/_hierarchical.py) -----------------------
def compile_law(expr: sp.Expr, args: tuple[sp.Symbol, ...]) -> Law:
    """One theory expression as a NumPy function of ``args`` (broadcasting): the bridge's
    lambdify, for the modules of the other model families."""
    return _compile(expr, args)


def family_expressions(name: str, derived: Callable[[], dict]) -> dict:
    """Expressions of another model family, disk-cached like the VAE's (:func:`_cached`).

    ``derived`` must take every expression from :mod:`theory` (the cache key hashes the
    theory's sources), e.g. ``lambda: theory.hierarchical.law_expressions(spec)``.
    """
    return _cached("laws", name, derived)
