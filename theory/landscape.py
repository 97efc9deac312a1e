"""Step e: the Hessian of the full multi-latent objective at aligned stationary points.

An aligned stationary point is given by an active set A of latents and an injective
pairing pi of A with eigen-directions: latent j in A sits at the per-mode active
point of direction pi(j) (it exists iff lambda_pi(j) > lambda_c(zeta_j^2)), every other
latent at the collapsed point, the bias at b = m.  In the eigenbasis of Sigma the
Hessian of F in (W, V[, s]) at such a point is block diagonal, with one block per

* ``own``: active latent j with its own direction i = pi(j) (the per-mode Hessian);
* ``active-free``: active latent j and a free direction a (no active latent on it);
* ``rotation``: two active latents j, l and the directions i = pi(j), a = pi(l)
  (parameters W_aj, V_ja, W_il, V_li);
* ``collapsed-free``: collapsed latent j and a free direction a;
* ``collapsed-occupied``: collapsed latent j and the direction a of an active latent l;
* ``variance``: the variance s_j of a collapsed latent (learnable model only);

and the bias block I / sigma'^2.  Each block type is derived here from a minimal
instance of the matrix objective (:func:`theory.objective.matrix_objective`); the
block structure itself is checked on a d = 4, k = 4 instance (two active latents,
two collapsed, two free directions) holding every type.  A Hessian entry couples the
parameters of at most two latents and two directions, and at an aligned point it
depends on a third latent only through the product w_m v_m of the latent on the
direction involved; the instance holds every such configuration.

Active points are written with the activity ratio u = sqrt(lambda / lambda_c) > 1
(:attr:`theory.derivation.ModeDerivation.active_in_u`), which removes nested radicals.
The inertia of each block type is derived region by region (orderings of the
eigenvalues and variances involved) by Descartes' rule (:func:`theory.stability.inertia`)
on a parametrisation of the region, or, where no parametrisation is given, by
Haynsworth's inertia additivity In(B) = In(A) + In(B / A) on a positive definite
pivot block A and the sign of det B read off its factors.  This is Lucas, Tucker,
Grosse & Norouzi (NeurIPS 2019, section 4 and Appendix C: pairings that skip a larger
eigenvalue are saddles) generalised to beta, eta^2 and fixed, possibly different,
encoder variances, and the linear case of the residual-spectrum criterion of Li
(arXiv 2610.11257, Eq. 24) for the collapsed latents.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache, cached_property
from typing import TYPE_CHECKING

import sympy as sp

from theory import objective as obj
from theory import symbols as S
from theory.stability import Inertia, UndecidedSign, inertia, sign_of

if TYPE_CHECKING:
    from theory.derivation import Derivation

#: Positive gap symbols of the region parametrisations.
_t, _q = sp.symbols("t q", positive=True)
_r = S.gap

#: Block types, in the order they are documented.
BLOCK_TYPES: tuple[str, ...] = (
    "own",
    "active-free",
    "rotation",
    "collapsed-free",
    "collapsed-occupied",
    "variance",
)

#: Parameter names (LaTeX) of each block type, in the order of its rows.
PARAMETER_NAMES: dict[str, tuple[str, ...]] = {
    "own": ("W_{ij}", "V_{ji}", "s_{j}^{2}"),
    "active-free": ("W_{aj}", "V_{ja}"),
    "rotation": ("W_{aj}", "V_{ja}", "W_{il}", "V_{li}"),
    "collapsed-free": ("W_{aj}", "V_{ja}"),
    "collapsed-occupied": ("W_{aj}", "V_{ja}"),
    "variance": ("s_{j}^{2}",),
}

#: Arguments of every block matrix in lambda form (what numerics compiles).
BLOCK_ARGS: tuple[sp.Symbol, ...] = (
    S.lam_i,
    S.lam_a,
    S.zeta2_j,
    S.zeta2_l,
    S.sigma2,
    S.beta,
    S.eta2,
)


@dataclass(frozen=True)
class Latent:
    """One latent of a local instance: active on a direction (with its ratio u), or not."""

    var: sp.Expr
    direction: int | None = None
    u: sp.Expr | None = None


@dataclass(frozen=True)
class Region:
    """A region of the block's arguments, with its inertia.

    ``relations`` are (expression, sign) pairs that define it, ``condition`` the same as
    a SymPy relation for display, ``sample`` a rational parametrisation (None: the
    inertia comes from the determinant's factors, see the module docstring).
    """

    name: str
    condition: sp.Basic
    relations: tuple[tuple[sp.Expr, int], ...]
    sample: dict | None
    inertia: Inertia | None = None


@dataclass
class BlockType:
    """One type of diagonal block of the full Hessian at an aligned stationary point."""

    name: str
    parameters: tuple[str, ...]
    matrix: sp.Matrix
    determinant: sp.Expr
    regions: list[Region] = field(default_factory=list)

    @property
    def size(self) -> int:
        """Number of parameters in the block."""
        return self.matrix.shape[0]


class Landscape:
    """Step e of a :class:`theory.derivation.Derivation` (see the module docstring)."""

    def __init__(self, derivation: Derivation) -> None:
        self.d = derivation
        self.spec = derivation.spec
        self.mode = derivation.mode
        # The variances of latents j and l: their own symbols when they may differ
        # (anisotropic), the common zeta^2 otherwise (unused by the learnable model).
        aniso = self.spec.anisotropic
        self.var_j = S.zeta2_j if aniso else S.zeta2
        self.var_l = S.zeta2_l if aniso else S.zeta2

    # -- the local objective ---------------------------------------------------------
    def boundary(self, var: sp.Expr) -> sp.Expr:
        """lambda_c of a latent of (fixed) variance ``var``."""
        return self.mode.critical_boundary.subs(S.zeta2, var)

    def _active_values(self, latent: Latent) -> dict[sp.Symbol, sp.Expr]:
        values = self.mode.active_in_u
        return {p: v.subs({S.u: latent.u, S.zeta2: latent.var}) for p, v in values.items()}

    def instance(self, lams: list[sp.Expr | None], latents: list[Latent]):
        """Objective, parameters and stationary point of a local instance.

        ``lams[i]`` is the eigenvalue of direction i, or None for a direction an active
        latent occupies (its eigenvalue is then lambda_c(zeta_j^2) u_j^2).
        """
        lams = list(lams)
        for lat in latents:
            if lat.direction is not None:
                lams[lat.direction] = self.boundary(lat.var) * lat.u**2
        d, k = len(lams), len(latents)
        W = sp.Matrix(d, k, lambda i, j: sp.Symbol(f"W_{i}{j}", real=True))
        V = sp.Matrix(k, d, lambda j, i: sp.Symbol(f"V_{j}{i}", real=True))
        learnable = self.spec.learnable
        s = [sp.Symbol(f"s_{j}", positive=True) if learnable else lat.var
             for j, lat in enumerate(latents)]  # fmt: skip
        zero = sp.zeros(d, 1)
        terms = obj.matrix_objective(
            self.spec.mode_spec, W, V, sp.diag(*lams), sp.diag(*s), zero, zero, d, k
        )
        total = sp.expand((terms.reconstruction + S.beta * terms.kl).doit())
        params = [p for i in range(d) for j in range(k) for p in (W[i, j], V[j, i])]
        point = {p: sp.S.Zero for p in params}
        for j, lat in enumerate(latents):
            if learnable:
                point[s[j]] = S.eta2
            if lat.direction is not None:
                vals = self._active_values(lat)
                point[W[lat.direction, j]] = vals[S.w]
                point[V[j, lat.direction]] = vals[S.v]
                if learnable:
                    point[s[j]] = vals[S.s2]
        if learnable:
            params += s
        return total, params, point, (W, V, s)

    def local_hessian(self, lams, latents, chosen) -> sp.Matrix:
        """Hessian of a local instance in the ``chosen(W, V, s)`` parameters, at its point."""
        total, params, point, mats = self.instance(lams, latents)
        h = hessian_at(total, params, point, chosen(*mats))
        return h.applyfunc(lambda e: sp.factor(sp.cancel(e)))

    # -- the block types -------------------------------------------------------------------
    @cached_property
    def blocks(self) -> dict[str, BlockType]:
        """Every block type with its matrix (u form), determinant and regions.

        The isotropic model's blocks are the anisotropic model's at zeta_j^2 = zeta_l^2 =
        zeta^2 (the same instance objectives), restricted to the regions of equal
        variances; they are specialised from those rather than derived again.
        """
        if not self.spec.learnable and not self.spec.anisotropic:
            from theory.derivation import derive  # the anisotropic model's derivation
            from theory.model import fixed_anisotropic_encoder_variance

            return _specialise(derive(fixed_anisotropic_encoder_variance()).landscape.blocks)
        vj, vl = self.var_j, self.var_l
        j_act = Latent(vj, 0, S.u_j)
        out = {
            "own": self._block(
                "own", [None], [j_act],
                lambda W, V, s: [W[0, 0], V[0, 0], *s[:1]] if self.spec.learnable
                else [W[0, 0], V[0, 0]],
            ),
            "active-free": self._block(
                "active-free", [None, S.lam_a], [j_act], lambda W, V, s: [W[1, 0], V[0, 1]]
            ),
            "rotation": self._block(
                "rotation", [None, None], [j_act, Latent(vl, 1, S.u_l)],
                lambda W, V, s: [W[1, 0], V[0, 1], W[0, 1], V[1, 0]],
            ),
            "collapsed-free": self._block(
                "collapsed-free", [S.lam_a], [Latent(vj)],
                lambda W, V, s: [W[0, 0], V[0, 0]],
            ),
            "collapsed-occupied": self._block(
                "collapsed-occupied", [None], [Latent(vj), Latent(vl, 0, S.u_l)],
                lambda W, V, s: [W[0, 0], V[0, 0]],
            ),
        }  # fmt: skip
        if self.spec.learnable:
            out["variance"] = self._block(
                "variance", [S.lam_a], [Latent(vj)], lambda W, V, s: [s[0]]
            )
        for block in out.values():
            block.regions = [self._classify(block, r) for r in self._regions(block.name)]
        return out

    def _block(self, name, lams, latents, chosen) -> BlockType:
        matrix = self.local_hessian(lams, latents, chosen)
        names = PARAMETER_NAMES[name][: matrix.shape[0]]
        return BlockType(name, names, matrix, sp.factor(sp.cancel(matrix.det())))

    def lambda_form(self, block: BlockType) -> sp.Matrix:
        """The block as a function of :data:`BLOCK_ARGS` (u_j, u_l eliminated)."""
        sub = {
            S.u_j: sp.sqrt(S.lam_i / self.boundary(self.var_j)),
            S.u_l: sp.sqrt(S.lam_a / self.boundary(self.var_l)),
        }
        # Isotropic: the common zeta^2 is passed as zeta2_j.
        return block.matrix.subs(sub).subs(S.zeta2, S.zeta2_j)

    # -- regions ------------------------------------------------------------------------------
    def _regions(self, name: str) -> list[Region]:
        return getattr(self, "_regions_" + name.replace("-", "_"))()

    def _lam(self, var: sp.Expr, u: sp.Expr) -> sp.Expr:
        return self.boundary(var) * u**2

    def _regions_own(self) -> list[Region]:
        bnd = self.boundary(self.var_j)
        cond = sp.StrictGreaterThan(S.lam_i, bnd)
        return [Region("exists", cond, ((self._lam(self.var_j, S.u_j) - bnd, 1),), {S.u_j: 1 + _t})]

    def _regions_variance(self) -> list[Region]:
        return [Region("always", sp.true, (), {})]

    def _regions_collapsed_free(self) -> list[Region]:
        bnd = self.boundary(self.var_j)
        out = []
        for name, factor, rel in _ORDERINGS:
            out.append(Region(name, rel(S.lam_a, bnd), ((S.lam_a - bnd, _SIGN[name]),),
                              {S.lam_a: bnd * factor}))  # fmt: skip
        return out

    def _regions_collapsed_occupied(self) -> list[Region]:
        base = {S.u_l: 1 + _t}
        if not self.spec.anisotropic:  # learnable, or zeta_j^2 = zeta_l^2 = zeta^2
            return [Region("always", sp.true, (), base)]
        return [
            Region(name, rel(S.zeta2_j, S.zeta2_l), ((S.zeta2_j - S.zeta2_l, _SIGN[name]),),
                   base | {S.zeta2_j: S.zeta2_l * factor})
            for name, factor, rel in _ORDERINGS
        ]  # fmt: skip

    def _regions_active_free(self) -> list[Region]:
        lam_i = self._lam(self.var_j, S.u_j)
        return [
            Region(name, rel(S.lam_a, S.lam_i), ((S.lam_a - lam_i, _SIGN[name]),),
                   {S.u_j: 1 + _t, S.lam_a: lam_i.subs(S.u_j, 1 + _t) * factor})
            for name, factor, rel in _ORDERINGS
        ]  # fmt: skip

    def _regions_rotation(self) -> list[Region]:
        lam_i, lam_a = self._lam(self.var_j, S.u_j), self._lam(self.var_l, S.u_l)
        out = []
        # Learnable: no fixed variance; isotropic: zeta_j^2 = zeta_l^2 always.
        var_orders = _orderings(_q) if self.spec.anisotropic else [("at", 1, None)]
        for vname, vfactor, vrel in var_orders:
            for lname, _, lrel in _ORDERINGS:
                rels = [(lam_i - lam_a, _SIGN[lname])]
                conds = [lrel(S.lam_i, S.lam_a)]
                if vrel is not None:
                    rels.append((S.zeta2_j - S.zeta2_l, _SIGN[vname]))
                    conds.insert(0, vrel(S.zeta2_j, S.zeta2_l))
                # zeta_j^2 = zeta_l^2 vfactor, so rho = sqrt(zeta_l^2 / zeta_j^2) = vfactor^(-1/2).
                sample = _rotation_sample(_SIGN[vname], _SIGN[lname], 1 / sp.sqrt(vfactor))
                if sample is not None and vrel is not None:
                    sample[S.zeta2_j] = S.zeta2_l * vfactor
                out.append(Region(f"{vname}/{lname}", sp.And(*conds), tuple(rels), sample))
        return out

    # -- inertia -----------------------------------------------------------------------------
    def _classify(self, block: BlockType, region: Region) -> Region:
        """Inertia by Haynsworth's additivity: In(B) = In(A) + In(B / A).

        A is the block of the decoder entries W (positive diagonal; checked), B / A the
        Schur complement in the other parameters (one or two of them).  The sign of
        det(B / A) = det B / det A is the sign the region's relations give the factors
        of det B (or, failing that, its sign on the region's parametrisation); where it
        is not negative, the sign of the trace of B / A is decided on the
        parametrisation (every point of the region is reached, so it holds on all of it).
        """
        pivots, rest, A, schur_trace = self._schur(block)
        piv = inertia(A) if pivots else Inertia(0, 0, 0)
        if piv.negative or piv.zero:
            raise UndecidedSign(f"{block.name}: the W block is not positive definite")
        det_a = _sign_in_region(A.det(), region) if pivots else 1
        det_sign = _sign_in_region(block.determinant, region) * det_a
        if len(rest) == 1:
            tail = {1: Inertia(1, 0, 0), 0: Inertia(0, 0, 1), -1: Inertia(0, 1, 0)}[det_sign]
        elif len(rest) == 2:
            tail = _inertia_2x2(det_sign, lambda: _sign_in_region(schur_trace, region))
        else:
            raise UndecidedSign(f"{block.name}: expected one or two non-W parameters")
        total = Inertia(
            piv.positive + tail.positive, piv.negative + tail.negative, piv.zero + tail.zero
        )
        return _with_inertia(region, total)

    def _schur(self, block: BlockType):
        """(W indices, other indices, the W block A, trace of the Schur complement B / A)."""
        m = block.matrix
        pivots = [i for i, p in enumerate(block.parameters) if p.startswith("W")]
        rest = [i for i in range(m.shape[0]) if i not in pivots]
        A = m.extract(pivots, pivots)
        schur = m.extract(rest, rest)
        if pivots:
            C = m.extract(rest, pivots)
            schur = schur - C * A.inv() * C.T
        # The trace holds the off-diagonal entries squared: free of radicals.
        return pivots, rest, A, sp.cancel(schur.trace())

    # -- the full structure -------------------------------------------------------------
    @cached_property
    def verified(self) -> bool:
        """The full Hessian of a d = 4, k = 4 instance is the assembly of the block types.

        For the isotropic model this is the anisotropic model's check at equal variances
        (its blocks are specialised from those, and so is its instance).
        """
        if not self.spec.learnable and not self.spec.anisotropic:
            from theory.derivation import derive
            from theory.model import fixed_anisotropic_encoder_variance

            return derive(fixed_anisotropic_encoder_variance()).landscape.verified
        us = sp.symbols("u_1 u_2", positive=True)
        lams = sp.symbols("lambda_3 lambda_4", positive=True)
        variances = (
            sp.symbols("zeta2_1:5", positive=True) if self.spec.anisotropic else [S.zeta2] * 4
        )
        latents = [
            Latent(variances[0], 0, us[0]),
            Latent(variances[1], 1, us[1]),
            Latent(variances[2]),
            Latent(variances[3]),
        ]
        total, params, point, (W, V, s) = self.instance([None, None, *lams], latents)
        full = hessian_at(total, params, point)
        expected = self._assemble(params, latents, [None, None, *lams], W, V, s)
        # u = 1 + t^2 (t > 0, i.e. u > 1) makes sqrt(u - 1) = t: one canonical form for
        # radicals that the two sides may have written differently.
        canon = {u: 1 + t**2 for u, t in zip(us, sp.symbols("t_1 t_2", positive=True), strict=True)}
        diff = (full - expected).subs(canon).applyfunc(lambda e: sp.cancel(_factor_radicands(e)))
        return all(e == 0 for e in diff)

    def _assemble(self, params, latents, lams, W, V, s) -> sp.Matrix:
        """The block-diagonal matrix the block types predict for the instance."""
        index = {p: n for n, p in enumerate(params)}
        out = sp.zeros(len(params))
        occupant = {lat.direction: j for j, lat in enumerate(latents) if lat.direction is not None}

        def put(name, rows, sub):
            # xreplace: a structural renaming of symbols (u_j -> u_1, ...), no evaluation.
            block = self.blocks[name].matrix.xreplace(
                {k: v for k, v in sub.items() if v is not None}
            )
            idx = [index[p] for p in rows]
            for a, ia in enumerate(idx):
                for b, ib in enumerate(idx):
                    out[ia, ib] = block[a, b]

        for j, lat in enumerate(latents):
            sub_j = {S.zeta2_j: lat.var, S.u_j: lat.u}
            if self.spec.learnable and lat.direction is None:
                put("variance", [s[j]], {})
            for i in range(len(lams)):
                pair = [W[i, j], V[j, i]]
                if lat.direction == i:
                    put("own", pair + ([s[j]] if self.spec.learnable else []), sub_j)
                elif i in occupant and lat.direction is not None:
                    other = latents[occupant[i]]
                    rows = [*pair, W[lat.direction, occupant[i]], V[occupant[i], lat.direction]]
                    put("rotation", rows, sub_j | {S.zeta2_l: other.var, S.u_l: other.u})
                elif lat.direction is not None:
                    put("active-free", pair, sub_j | {S.lam_a: lams[i]})
                elif i in occupant:
                    other = latents[occupant[i]]
                    put("collapsed-occupied", pair,
                        {S.zeta2_j: lat.var, S.zeta2_l: other.var, S.u_l: other.u})  # fmt: skip
                else:
                    put("collapsed-free", pair, {S.zeta2_j: lat.var, S.lam_a: lams[i]})
        return out

    @cached_property
    def li_rescaling(self) -> tuple[sp.Expr, sp.Matrix, bool]:
        """The collapsed-free block in Li's form (arXiv 2610.11257, Eq. 24).

        With w -> sqrt(s^2) w and v -> sqrt(beta lambda_a / eta^2) v (s^2 the collapsed
        latent's variance) the block becomes [[1/sigma'^2, -sqrt(L)/sigma'^2],
        [-sqrt(L)/sigma'^2, 1]].  Returns (L, that matrix, whether the rescaled block
        equals it).
        """
        block = self.blocks["collapsed-free"].matrix
        s2 = S.eta2 if self.spec.learnable else self.var_j
        D = sp.diag(1 / sp.sqrt(s2), 1 / sp.sqrt(S.beta * S.lam_a / S.eta2))
        L = S.lam_a * S.eta2 / (S.beta * s2)
        li = sp.Matrix([[1 / S.sigma2, -sp.sqrt(L) / S.sigma2], [-sp.sqrt(L) / S.sigma2, 1]])
        same = (D * block * D - li).applyfunc(sp.simplify).is_zero_matrix
        return L, li, bool(same)

    def run(self) -> Landscape:
        """Compute every block type, its regions and the structure checks now."""
        _ = self.blocks, self.verified, self.li_rescaling
        return self


def _factor_radicands(expr: sp.Expr) -> sp.Expr:
    """Factor the base of every power, so sqrt(t^4 + 2 t^2) becomes t sqrt(t^2 + 2) (t > 0)."""
    return expr.replace(
        lambda x: x.is_Pow and not x.exp.is_Integer, lambda x: sp.factor(x.base) ** x.exp
    )


def _orderings(gap: sp.Symbol) -> tuple:
    """(name, factor of the parametrisation, relation) for below / at / above."""
    return (
        ("below", 1 / (1 + gap) ** 2, sp.StrictLessThan),
        ("at", sp.S.One, sp.Eq),
        ("above", (1 + gap) ** 2, sp.StrictGreaterThan),
    )


_ORDERINGS = _orderings(_r)
_SIGN = {"below": -1, "at": 0, "above": 1}


def _specialise(blocks: dict[str, BlockType]) -> dict[str, BlockType]:
    """Anisotropic blocks at zeta_j^2 = zeta_l^2 = zeta^2, on the regions where that holds."""
    same = {S.zeta2_j: S.zeta2, S.zeta2_l: S.zeta2}
    out = {}
    for name, block in blocks.items():
        regions = []
        for r in block.regions:
            rels = [(e, sg) for e, sg in r.relations if e != S.zeta2_j - S.zeta2_l]
            if len(rels) < len(r.relations) and dict(r.relations)[S.zeta2_j - S.zeta2_l] != 0:
                continue  # a region of unequal variances
            cond = r.condition.xreplace(same)
            sample = None if r.sample is None else {k: v.xreplace(same) for k, v in
                                                     r.sample.items() if k not in same}  # fmt: skip
            relations = tuple((e.xreplace(same), sg) for e, sg in rels)
            regions.append(Region(r.name, cond, relations, sample, r.inertia))
        matrix = block.matrix.xreplace(same)
        out[name] = BlockType(
            name, block.parameters, matrix, sp.factor(block.determinant.xreplace(same)), regions
        )
    return out


def _with_inertia(region: Region, value: Inertia) -> Region:
    return Region(region.name, region.condition, region.relations, region.sample, value)


def _rotation_sample(var_sign: int, lam_sign: int, rho: sp.Expr) -> dict | None:
    """u_j, u_l > 1 with u_j / (rho u_l) ordered as ``lam_sign`` (rho^2 = zeta_l^2/zeta_j^2).

    lambda_i / lambda_a = (u_j / (rho u_l))^2 for fixed variances (rho = 1 when
    learnable).  A chain u_l = 1 + t, u_j = rho kappa u_l covers the region when rho and
    kappa are both >= 1 (and the mirror chain when both are <= 1); the other regions
    (variance and eigenvalue orders opposite: the pairing is anti-sorted) get None.
    """
    kappa = {1: 1 + _r, 0: sp.S.One, -1: 1 / (1 + _r)}[lam_sign]
    # rho >= 1 iff zeta_l^2 >= zeta_j^2, i.e. var_sign <= 0.
    if var_sign <= 0 and lam_sign >= 0:
        return {S.u_l: 1 + _t, S.u_j: rho * kappa * (1 + _t)}
    if var_sign >= 0 and lam_sign <= 0:
        return {S.u_j: 1 + _t, S.u_l: (1 + _t) / (rho * kappa)}
    return None


def _decided(sign: int | None, block: BlockType, region: Region) -> int:
    if sign is None:
        raise UndecidedSign(f"{block.name} in {region.name}: undecided sign")
    return sign


def _inertia_2x2(det_sign: int | None, trace_sign) -> Inertia:
    """Inertia of a real symmetric 2 x 2 matrix from the signs of det and (lazily) trace."""
    if det_sign is None:
        raise UndecidedSign("undecided sign of a determinant")
    if det_sign == -1:
        return Inertia(1, 1, 0)
    t = trace_sign()
    if det_sign == 1:
        return Inertia(2, 0, 0) if t == 1 else Inertia(0, 2, 0)
    return {1: Inertia(1, 0, 1), -1: Inertia(0, 1, 1), 0: Inertia(0, 0, 2)}[t]


def hessian_at(expr: sp.Expr, params: list, point: dict, chosen: list | None = None) -> sp.Matrix:
    """Hessian of ``expr`` in ``chosen`` (default ``params``) at ``point``, exactly.

    The part of ``expr`` that is polynomial in ``params`` is differentiated monomial by
    monomial (a second derivative of c x^e at a point where some x vanish is zero
    unless at most two of its vanishing factors remain); the rest (e.g. log s) by
    SymPy.  Much faster than :func:`sympy.hessian` on the many-parameter instances.
    """
    chosen = list(params) if chosen is None else list(chosen)
    where = {p: n for n, p in enumerate(chosen)}
    pset = set(params)
    poly_terms, other = [], []
    for term in sp.Add.make_args(sp.expand(expr)):
        if term.free_symbols & pset:
            (poly_terms if term.is_polynomial(*params) else other).append(term)
    out = sp.zeros(len(chosen))
    poly = sp.Poly(sp.Add(*poly_terms), *params)
    values = [point[p] for p in params]
    for monom, coeff in poly.terms():
        for (a, b), value in _second_derivatives(monom, values):
            if params[a] in where and params[b] in where:
                ia, ib = where[params[a]], where[params[b]]
                out[ia, ib] += coeff * value
                if ia != ib:
                    out[ib, ia] += coeff * value
    rest = sp.Add(*other)
    involved = [(i, p) for i, p in enumerate(chosen) if p in rest.free_symbols]
    for ia, pa in involved:
        for ib, pb in involved:
            out[ia, ib] += sp.diff(rest, pa, pb).subs(point)
    return out


def _second_derivatives(monom: tuple[int, ...], values: list):
    """((a, b), d^2 x^monom / dx_a dx_b at ``values``) for a <= b, where non-zero."""
    nz = [i for i, e in enumerate(monom) if e]
    if sum(monom[i] for i in nz if values[i] == 0) > 2:
        return
    for ia, a in enumerate(nz):
        for b in nz[ia:]:
            e = list(monom)
            if a == b:
                if e[a] < 2:
                    continue
                c = e[a] * (e[a] - 1)
                e[a] -= 2
            else:
                c = e[a] * e[b]
                e[a] -= 1
                e[b] -= 1
            if any(x and values[i] == 0 for i, x in enumerate(e)):
                continue
            yield (a, b), c * sp.Mul(*(values[i] ** x for i, x in enumerate(e) if x))


def _sign_in_region(expr: sp.Expr, region: Region) -> int:
    """Sign of ``expr`` in ``region``.

    Factor by factor: a factor of known sign, or a multiple of one of the region's
    defining relations; failing that, the whole expression on the region's
    parametrisation (every point of the region is reached, so a sign decided there
    holds on the whole region).
    """
    try:
        num, den = _factored(expr)
        return _sign_of_product(num, region) * _sign_of_product(den, region)
    except UndecidedSign:
        if region.sample is None:
            raise
    value = sign_of(sp.cancel(sp.sympify(expr).xreplace(region.sample)))
    if value is None:
        raise UndecidedSign(f"cannot decide the sign of {expr} in {region.name}")
    return value


@cache
def _factored(expr: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
    """Numerator and denominator of ``expr``, factored (kept: every region asks again)."""
    return sp.fraction(sp.factor(sp.cancel(expr)))


def _sign_of_product(expr: sp.Expr, region: Region) -> int:
    total = 1
    for factor in sp.Mul.make_args(expr):
        base, power = factor.as_base_exp()
        s = sign_of(base)
        if s is None:
            for rel, rel_sign in region.relations:
                ratio = sign_of(sp.cancel(base / rel))
                if ratio in (1, -1):
                    s = ratio * rel_sign
                    break
        if s is None:
            raise UndecidedSign(f"cannot decide the sign of {base} in {region.name}")
        total *= s**power if power.is_Integer else s
    return total
