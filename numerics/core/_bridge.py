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


def _dd_product(factors: list) -> tuple[np.ndarray, np.ndarray]:
    """The product of ``factors`` in double-double arithmetic (Dekker 1971)."""
    hi, lo = np.asarray(factors[0], dtype=float), np.zeros(np.shape(factors[0]))
    for f in factors[1:]:
        hi, lo = _dd_times(hi, lo, np.asarray(f, dtype=float))
    return hi, lo


def _ordered(spec: LinearVAE, lam, sigma2, beta, eta2, zeta2=None) -> tuple:
    """Named law arguments in the order of ``spec.law_arguments``."""
    given = {"lam": lam, "sigma2": sigma2, "beta": beta, "eta2": eta2, "zeta2": zeta2}
    out = tuple(given[ARGUMENT_NAMES[a]] for a in spec.law_arguments)
    if any(v is None for v in out):
        raise ValueError(f"{spec.name}: the laws need {spec.law_arguments}")
    return out


class CompiledLaws:
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

    def __init__(self, spec: LinearVAE, expressions: dict) -> None:
        self.spec = spec
        self.name = spec.name
        self.expressions = expressions
        self.arguments = tuple(spec.law_arguments)
        self._compiled: dict[tuple, Law] = {}

    def __repr__(self) -> str:
        return f"CompiledLaws({self.name!r})"

    @property
    def encoder_variance(self) -> str:
        """The encoder-variance variant these laws belong to (``learnable``, ``fixed``)."""
        return self.spec.encoder_variance

    def values(self, lam, sigma2, beta, eta2, zeta2=None) -> tuple:
        """The law arguments in the order the compiled laws take them."""
        return _ordered(self.spec, lam, sigma2, beta, eta2, zeta2)

    def _law(self, key: tuple, expr: sp.Expr, args: tuple | None = None, modules="numpy") -> Law:
        if key not in self._compiled:
            self._compiled[key] = _compile(expr, args or self.arguments, modules)
        return self._compiled[key]

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
            return law(*self.values(lam, sigma2, beta, eta2, zeta2))
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
            out[idx] = float(top / bottom)  # Fraction -> float rounds to nearest
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
        a_hi, a_lo = _dd_product([lam, *(given[n] for n in den)])
        b_hi, b_lo = _dd_product([float(const), *(given[n] for n in num)])
        return ((a_hi - b_hi) + (a_lo - b_lo)) / (b_hi + b_lo)

    def is_active(self, lam, sigma2, beta, eta2, zeta2=None) -> np.ndarray:
        """True where a mode of eigenvalue lambda is active (lambda > lambda_c)."""
        return self.gap(lam, sigma2, beta, eta2, zeta2) > 0

    def active_value(self, q: str, lam, sigma2, beta, eta2, zeta2=None) -> np.ndarray:
        """Active law of quantity ``q``, evaluated in its cancellation-free form."""
        g = self.gap(lam, sigma2, beta, eta2, zeta2)
        return self.stable_active[q](g, *self.values(lam, sigma2, beta, eta2, zeta2))

    def law_value(self, side: str, q: str, lam, sigma2, beta, eta2, zeta2=None) -> np.ndarray:
        """``active`` or ``collapsed`` law of quantity ``q`` at the named arguments."""
        return getattr(self, side)[q](*self.values(lam, sigma2, beta, eta2, zeta2))


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


class RelaxationLaws:
    """Relaxation of gradient descent near one mode's stationary points, compiled.

    From :func:`theory.dynamics.relaxation`: the Hessian of the per-mode objective in
    the trainer's coordinates at the ``collapsed`` and ``active`` points, and the
    stationary parameter values (w, v, s^2) of each point.  Arguments of every law: the
    specification's ``law_arguments`` by name, and ``a``, the trainer's unit of decoder
    weights.
    """

    def __init__(self, spec: LinearVAE, expressions: dict) -> None:
        self.spec = spec
        self.name = spec.name
        self.expressions = expressions
        self.arguments = tuple(spec.law_arguments)
        self._compiled: dict[tuple, Law] = {}

    def _law(self, key: tuple, expr: sp.Expr, args: tuple) -> Law:
        if key not in self._compiled:
            self._compiled[key] = _compile(expr, args)
        return self._compiled[key]

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
