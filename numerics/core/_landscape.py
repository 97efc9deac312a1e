"""Index of every aligned stationary point of the full linear VAE, from the derived blocks.

An aligned stationary point is an active set of latents and an injective pairing of
them with eigen-directions (``theory.landscape``).  Its Hessian in (W, V[, s]) is
block diagonal in the eigenbasis, with block types derived symbolically in
:mod:`theory.landscape` and compiled through the bridge; here the blocks of a
concrete point are evaluated and their eigenvalues counted.  The bias block
(I / sigma'^2, positive) is left out: it never changes the index.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from numerics.core._bridge import CompiledLaws, compiled_laws
from numerics.core._model import Model, resolve_model
from numerics.core._validation import InputError, check_positive, check_spectrum

#: An eigenvalue with |mu| <= ZERO_TOLERANCE * max |block entry| counts as zero: the
#: exact zeros of the derived blocks (e.g. rotations of isotropic latents) evaluate to
#: rounding noise of order 1e-16 times the block's scale.
ZERO_TOLERANCE = 1e-10


@dataclass(frozen=True)
class Block:
    """One diagonal block of the Hessian: its type, latents and directions (1-based)."""

    kind: str
    latents: tuple[int, ...]
    directions: tuple[int, ...]
    eigenvalues: tuple[float, ...]


@dataclass(frozen=True)
class StationaryPoint:
    """An aligned stationary point and the inertia of the full Hessian there.

    Attributes
    ----------
    pairing : dict
        Active latent -> eigen-direction, both 0-based (directions in descending
        order of eigenvalue).
    positive, index, nullity : int
        Numbers of positive, negative and zero Hessian eigenvalues (bias excluded).
    blocks : tuple of Block
        Every block with its eigenvalues.
    W, V, s2 : numpy.ndarray
        The point in the eigenbasis: decoder (d x k), encoder (k x d), encoder variances.
    """

    pairing: dict[int, int]
    positive: int
    index: int
    nullity: int
    blocks: tuple[Block, ...]
    W: np.ndarray
    V: np.ndarray
    s2: np.ndarray

    @property
    def kind(self) -> str:
        """``minimum`` (index 0, no zero eigenvalue), ``saddle``, or ``degenerate``."""
        if self.index:
            return "saddle"
        return "degenerate" if self.nullity else "minimum"


def _point_parameters(laws: CompiledLaws, model: Model, lam, pairing, sigma2, beta):
    d, k, eta2 = lam.size, model.latent_dim, model.eta2
    z = _latent_variances(model)
    W, V, s2 = np.zeros((d, k)), np.zeros((k, d)), z.copy()
    for j, i in pairing.items():
        args = laws.values(lam[i], sigma2, beta, eta2, z[j])
        point = laws.point["active"]
        W[i, j], V[j, i] = float(point["w"](*args)), float(point["v"](*args))
        if "s2" in point:
            s2[j] = float(point["s2"](*args))
    return W, V, s2


def _latent_variances(model: Model) -> np.ndarray:
    """zeta_j^2 per latent; eta^2 (the collapsed variance) for the learnable model."""
    z = model.zeta2_array()
    return np.full(model.latent_dim, model.eta2) if z is None else z


def _check_pairing(pairing: Mapping[int, int], k: int, d: int) -> dict[int, int]:
    out = {}
    for j, i in dict(pairing).items():
        for name, v, n in (("latent", j, k), ("direction", i, d)):
            if isinstance(v, bool) or not isinstance(v, int | np.integer) or not 0 <= v < n:
                raise InputError(f"pairing {dict(pairing)}: {name} {v!r} is not in 0..{n - 1}")
        out[int(j)] = int(i)
    if len(set(out.values())) != len(out):
        raise InputError(f"pairing {dict(pairing)}: two latents on one direction")
    return out


def _block_specs(pairing: dict[int, int], k: int, d: int, learnable: bool):
    """(kind, latents, directions, (lam_i, lam_a, j, l) indices) of every block."""
    occupant = {i: j for j, i in pairing.items()}
    for j in range(k):
        if j in pairing:
            i = pairing[j]
            yield "own", (j,), (i,), (i, i, j, j)
            for a in range(d):
                if a not in occupant:
                    yield "active-free", (j,), (a,), (i, a, j, j)
            for l_, a in pairing.items():
                if l_ > j:
                    yield "rotation", (j, l_), (i, a), (i, a, j, l_)
        else:
            if learnable:
                yield "variance", (j,), (), (0, 0, j, j)
            for a in range(d):
                if a in occupant:
                    yield "collapsed-occupied", (j, occupant[a]), (a,), (a, a, j, occupant[a])
                else:
                    yield "collapsed-free", (j,), (a,), (a, a, j, j)


def stationary_point(
    eigenvalues,
    sigma2: float,
    beta: float = 1.0,
    latent_dim: int | None = None,
    encoder_variance="learnable",
    eta2: float = 1.0,
    zeta2=None,
    pairing: Mapping[int, int] | None = None,
) -> StationaryPoint:
    """The aligned stationary point with active latents ``pairing`` and its Hessian index.

    Parameters
    ----------
    eigenvalues, sigma2, beta, latent_dim, encoder_variance, eta2, zeta2
        The model and the control, as for :func:`numerics.core._optimum.optimum`.
    pairing : mapping, optional
        Active latent j -> eigen-direction i, 0-based, i indexing the eigenvalues in
        descending order; latents not listed are collapsed (default: all collapsed).

    Raises
    ------
    InputError
        Bad model or control values, a pairing that is not injective or out of range, or
        an active latent on a direction where its active point does not exist
        (lambda_i <= lambda_c(zeta_j^2)).
    """
    lam = check_spectrum(eigenvalues)
    sigma2, beta = check_positive("sigma2", sigma2), check_positive("beta", beta)
    model = resolve_model(encoder_variance, zeta2, eta2, latent_dim, lam.size)
    pairing = _check_pairing(pairing or {}, model.latent_dim, lam.size)
    return _stationary_point(lam, sigma2, beta, model, compiled_laws(model.spec), pairing)


def _stationary_point(lam, sigma2, beta, model: Model, laws: CompiledLaws, pairing):
    k, d = model.latent_dim, lam.size
    z = _latent_variances(model)
    for j, i in pairing.items():
        if not laws.is_active(lam[i], sigma2, beta, model.eta2, z[j]):
            raise InputError(
                f"pairing: latent {j} has no active point on direction {i} "
                f"(lambda = {lam[i]:g} is not above its critical value)"
            )
    blocks = []
    for kind, latents, directions, (i, a, j, l_) in _block_specs(
        pairing, k, d, model.spec.learnable
    ):
        matrix = laws.block(kind)(lam[i], lam[a], z[j], z[l_], sigma2, beta, model.eta2)
        mu = np.linalg.eigvalsh(matrix)
        blocks.append(Block(kind, tuple(x + 1 for x in latents), tuple(x + 1 for x in directions),
                            tuple(float(x) for x in mu)))  # fmt: skip
    counts = _inertia(blocks)
    W, V, s2 = _point_parameters(laws, model, lam, pairing, sigma2, beta)
    return StationaryPoint(pairing, *counts, tuple(blocks), W, V, s2)


def _inertia(blocks: list[Block]) -> tuple[int, int, int]:
    positive = negative = zero = 0
    for b in blocks:
        mu = np.array(b.eigenvalues)
        tol = ZERO_TOLERANCE * max(1.0, float(np.max(np.abs(mu))))
        positive += int(np.sum(mu > tol))
        negative += int(np.sum(mu < -tol))
        zero += int(np.sum(np.abs(mu) <= tol))
    return positive, negative, zero


def stationary_points(
    eigenvalues,
    sigma2: float,
    beta: float = 1.0,
    latent_dim: int | None = None,
    encoder_variance="learnable",
    eta2: float = 1.0,
    zeta2=None,
    limit: int = 20_000,
) -> list[StationaryPoint]:
    """Every aligned stationary point (active set and pairing) that exists, with its index.

    Raises
    ------
    InputError
        If there are more than ``limit`` candidate pairings (d and k too large).
    """
    lam = check_spectrum(eigenvalues)
    sigma2, beta = check_positive("sigma2", sigma2), check_positive("beta", beta)
    model = resolve_model(encoder_variance, zeta2, eta2, latent_dim, lam.size)
    k, d = model.latent_dim, lam.size
    candidates = sum(
        len(list(itertools.combinations(range(k), m))) * int(np.prod(range(d - m + 1, d + 1)))
        for m in range(k + 1)
    )
    if candidates > limit:
        raise InputError(f"{candidates} candidate stationary points: expected at most {limit}")
    laws = compiled_laws(model.spec)
    z = _latent_variances(model)
    out = []
    for m in range(k + 1):
        for latents in itertools.combinations(range(k), m):
            for directions in itertools.permutations(range(d), m):
                pairing = dict(zip(latents, directions, strict=True))
                if all(
                    laws.is_active(lam[i], sigma2, beta, model.eta2, z[j])
                    for j, i in pairing.items()
                ):
                    out.append(_stationary_point(lam, sigma2, beta, model, laws, pairing))
    return out
