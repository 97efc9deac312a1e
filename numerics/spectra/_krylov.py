"""Block Krylov with certified Rayleigh-Ritz bounds: the engine of ``"krylov"`` and ``"mixed"``.

:class:`Krylov` holds an orthonormal basis Q, the exact products C Q and the Ritz pairs;
:func:`run_lanczos` grows it by one block per pass over the data until every wanted value is
certified (or the budget is spent).  The passes themselves are :mod:`._passes`.

Certification of the iterative methods
--------------------------------------
Rayleigh-Ritz on an orthonormal basis Q with the products C Q computed in float64 gives
Ritz pairs (theta_i, u_i), theta_1 >= theta_2 >= ..., and the residuals
r_i = C u_i - theta_i u_i exactly (up to rounding).  Let R_m = [r_1 ... r_m] and
eps_m = ||R_m||_2.  Then:

* Cauchy interlacing (Poincare; Parlett, *The Symmetric Eigenvalue Problem*, SIAM 1998,
  the interlace theorem of ch. 10): theta_i <= lambda_i, so the values are lower bounds.
* Kahan's residual bound for clustered Ritz values (Parlett ch. 11): m eigenvalues of C
  lie within eps_m of theta_1..theta_m (matched in order); for one vector this is the
  Krylov-Bogoliubov/Weinstein bound, Parlett Thm 4.5.1.
* Quadratic bound for the block: with eta_m = theta_m - (an upper bound of the largest
  eigenvalue of C compressed to span(u_1..u_m)^perp), every lambda_i, i <= m, satisfies
  lambda_i - theta_i <= 2 eps_m^2 / (eta_m + sqrt(eta_m^2 + 4 eps_m^2)) <= eps_m^2 / eta_m
  (C.-K. Li and R.-C. Li, "A note on eigenvalues of perturbed Hermitian matrices",
  Linear Algebra Appl. 395 (2005) 183-190, sharpening Mathias 1998).  It needs a gap
  only after theta_m, not between the wanted values: clusters among them are fine.
* Kato-Temple for one pair (T. Kato 1949; Parlett ch. 10): if lambda_{i+1} <= alpha <
  theta_i then lambda_i - theta_i <= ||r_i||^2 / (theta_i - alpha).

The upper bound on the unconverged part uses the next Ritz value:
lambda_{m+1} <= theta_{m+1} + eps_{m+1} (Kahan, matched in order); by Weyl's theorem the
compressed matrix's top eigenvalue mu then satisfies mu <= lambda_{m+1} + eps_m whenever
mu < theta_m, and mu >= theta_m would force eta_m <= 0, in which case only the linear
bound is used.  This matching assumes the Krylov space has not
missed an eigenvalue above theta_{m+1} -- the one assumption no method that only applies
C to vectors can remove (it fails with probability zero for a random start, which the
subsample start inherits).  Rounding in the float64 products (relative ~ sqrt(N) eps) is
not part of the bound; it is the same for the direct methods.  The run stops when every
bound is <= max(rtol * theta_i, d * eps * theta_1): the second term is the accuracy of a
backward-stable dense eigensolver, so no method is asked for more.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import scipy.linalg

from numerics.spectra._rows import EPS

# Passes "krylov" may spend before its predicted cost is checked against the alternative.
_MIN_PASSES = 2


def _lili(eps: float, eta: float) -> float:
    """Li & Li (2005): eigenvalue shift of a block-diagonal matrix by off-diagonal eps."""
    return 2.0 * eps * eps / (eta + math.sqrt(eta * eta + 4.0 * eps * eps))


def ritz_error_bounds(theta: np.ndarray, R: np.ndarray, top: int) -> np.ndarray:
    """Certified bounds on lambda_i - theta_i >= 0 for the leading ``top`` Ritz values.

    Parameters
    ----------
    theta : numpy.ndarray
        All Ritz values of the subspace, descending (length D >= top).
    R : numpy.ndarray
        d x D residuals, column i = C u_i - theta_i u_i.
    top : int
        How many leading values to bound.

    Returns
    -------
    numpy.ndarray
        One bound per leading Ritz value (``inf`` where none applies), the smaller of the
        block bound (Kahan linear / Li-Li quadratic, the best over block sizes m >= top)
        and the Kato-Temple bound of the pair.  See the module docstring for the theorems
        and the one assumption (no eigenvalue missed by the subspace).
    """
    return _ritz_bounds(theta, R, top)[0]


def _ritz_bounds(theta: np.ndarray, R: np.ndarray, top: int) -> tuple[np.ndarray, bool]:
    """:func:`ritz_error_bounds`, and whether a positive gap after theta_top was found."""
    D = theta.shape[0]
    RtR = R.T @ R
    rho = np.sqrt(np.maximum(np.diag(RtR), 0.0))
    # Block sizes m = top..last are tried (a gap just after the cluster containing
    # theta_top is all that is needed; searching a block further costs more than it finds).
    last = min(D, top + max(4, top))
    # eps[m] = ||R[:, :m]||_2 for m = 1..last+1 (eps[0] = 0), from leading blocks of R^T R.
    eps = np.zeros(min(D, last + 1) + 1)
    for m in range(1, eps.shape[0]):
        top_sq = scipy.linalg.eigvalsh(RtR[:m, :m], subset_by_index=[m - 1, m - 1])[0]
        eps[m] = math.sqrt(max(float(top_sq), 0.0))
    block = math.inf
    has_gap = False
    for m in range(top, last + 1):
        bound_m = eps[m]  # Kahan: linear bound, needs no gap
        if m < D:
            # Upper bound on lambda_max of C compressed to span(u_1..u_m)^perp:
            # lambda_{m+1} <= theta_{m+1} + eps_{m+1}, plus eps_m for the compression.
            eta = float(theta[m - 1] - (theta[m] + eps[m + 1] + eps[m]))
            if eta > 0:
                has_gap = True
                bound_m = min(bound_m, _lili(eps[m], eta))
        block = min(block, bound_m)
    out = np.full(top, block)
    for i in range(min(top, D - 1)):
        alpha = theta[i + 1] + eps[i + 2]  # >= lambda_{i+2 (1-based)} by Kahan
        if theta[i] > alpha:
            out[i] = min(out[i], rho[i] ** 2 / (theta[i] - alpha))
    return out, has_gap


class Krylov:
    """Rayleigh-Ritz on a growing orthonormal basis Q whose products C Q are exact.

    The basis grows by the residuals of the leading Ritz vectors (block Lanczos when all b
    are taken: their span is that of the new directions of C Q_j).  Vectors already
    certified are left out ("soft locking"): the last passes, where only the values next to
    the gap still move, then apply C to a narrower block.
    """

    def __init__(self, d: int, top: int, rtol: float, rng: np.random.Generator) -> None:
        self.d, self.top, self.rtol, self.rng = d, top, rtol, rng
        self.Q = np.zeros((d, 0))
        self.CQ = np.zeros((d, 0))
        self.theta = np.zeros(0)
        self.S = np.zeros((0, 0))
        self.R = np.zeros((d, 0))
        self.bounds = np.full(top, math.inf)
        self.has_gap = False
        self.residual_norms = np.zeros(0)

    @property
    def dim(self) -> int:
        return self.Q.shape[1]

    def add(self, Qj: np.ndarray, CQj: np.ndarray) -> None:
        self.Q = np.hstack([self.Q, Qj])
        self.CQ = np.hstack([self.CQ, CQj])
        H = self.Q.T @ self.CQ
        H = 0.5 * (H + H.T)  # Q^T C Q is symmetric; symmetrise away the rounding
        theta, S = np.linalg.eigh(H)
        self.theta, self.S = theta[::-1].copy(), S[:, ::-1].copy()
        U = self.Q @ self.S
        self.R = self.CQ @ self.S - U * self.theta
        self.residual_norms = np.linalg.norm(self.R, axis=0)
        if self.dim >= self.top:
            self.bounds, self.has_gap = _ritz_bounds(self.theta, self.R, self.top)

    def values(self) -> np.ndarray:
        return self.theta[: self.top]

    def tolerances(self) -> np.ndarray:
        """rtol theta_i, but never below the dense-solver accuracy d eps theta_1."""
        lead = max(float(self.theta[0]), 0.0) if self.dim else 0.0
        return np.maximum(self.rtol * np.maximum(self.values(), 0.0), self.d * EPS * lead)

    def converged(self) -> bool:
        return self.dim >= self.top and bool(np.all(self.bounds <= self.tolerances()))

    def ritz_vectors(self, k: int) -> np.ndarray:
        return self.Q @ self.S[:, :k]

    def next_block(self, width: int) -> np.ndarray | None:
        """Orthonormal new directions, at most ``width`` (None when Q spans R^d).

        Taken from the residuals of the leading ``width`` Ritz vectors: the uncertified
        among the top ones first, then (while no gap after theta_top is established) the
        ones just below, which only serve the gap estimate; the count is rounded up to a
        multiple of 4 (OpenBLAS's GEMM kernels run narrow blocks of 4k columns fastest).
        """
        room = self.d - self.dim
        k = min(width, self.dim, room)
        if k <= 0:
            return None
        ratio = self.bounds / np.maximum(self.tolerances(), 1e-300)
        priority = []
        for i in range(k):
            if i < self.top:
                need = not (self.dim >= self.top and ratio[i] <= 1.0)
                priority.append((2 if need else 0, float(ratio[i]) if need else 0.0))
            else:
                priority.append((0 if self.has_gap else 1, float(self.residual_norms[i])))
        needed = sum(1 for p in priority if p[0] > 0)
        count = min(k, max(4, -(-needed // 4) * 4))
        chosen = sorted(range(k), key=lambda i: priority[i], reverse=True)[:count]
        W = self.R[:, sorted(chosen)].copy()
        W /= np.maximum(np.linalg.norm(W, axis=0), 1e-300)
        for _ in range(2):  # classical Gram-Schmidt twice is enough (Giraud et al. 2005)
            W -= self.Q @ (self.Q.T @ W)
        # A residual at rounding level has lost its direction to the projection: replace
        # such columns (and dependent ones) by random directions -- any subspace is valid
        # for Rayleigh-Ritz, and this keeps the basis growing.
        weak = np.linalg.norm(W, axis=0) < 1e-6
        if weak.any():
            W[:, weak] = self.rng.standard_normal((self.d, int(weak.sum())))
            for _ in range(2):
                W -= self.Q @ (self.Q.T @ W)
        Qn, Rn = np.linalg.qr(W)
        dependent = np.abs(np.diag(Rn)) < 1e-8 * np.linalg.norm(W, axis=0)
        if dependent.any():
            Z = self.rng.standard_normal((self.d, int(dependent.sum())))
            keep = Qn[:, ~dependent]
            basis = np.hstack([self.Q, keep])
            for _ in range(2):
                Z -= basis @ (basis.T @ Z)
            Qn = np.hstack([keep, np.linalg.qr(Z)[0]])
        return Qn


def orthonormal(V: np.ndarray) -> np.ndarray:
    """An orthonormal basis of the columns of V (Householder QR)."""
    return np.linalg.qr(V)[0]


class BlockApplier(Protocol):
    """What :func:`run_lanczos` needs of a pass over the data (:class:`._passes.Passes`)."""

    centred: bool
    shift: np.ndarray
    count: int

    def apply(self, V: np.ndarray, *, with_sums: bool) -> tuple[np.ndarray, np.ndarray]: ...

    def set_shift(self, shift: np.ndarray) -> None: ...


@dataclass
class IterativeOutcome:
    """How a run of :func:`run_lanczos` ended (``reason``: why it was not certified)."""

    kry: Krylov
    passes: int
    iterations: int
    widths: tuple[int, ...]
    converged: bool
    reason: str | None


def _passes_needed(kry: Krylov, top: int, history: list[float]) -> tuple[float, float]:
    """(further passes predicted, observed rate of eps_top per pass).

    Assumes the residual eps_top keeps falling at its last observed rate until the quadratic
    bound eps^2 / eta meets the smallest tolerance (eta: the widest gap after theta_top,
    at least 1e-3 theta_1).
    """
    eps_top = history[-1]
    rate = history[-1] / history[-2] if history[-2] > 0 else 0.0
    tol = float(np.min(kry.tolerances()))
    gaps = kry.theta[top - 1] - kry.theta[top:]
    eta = float(gaps[gaps > 0].max()) if (gaps > 0).any() else 0.0
    target = math.sqrt(max(tol, 1e-300) * max(eta, 1e-3 * float(kry.theta[0])))
    if rate >= 1.0:
        return math.inf, rate
    if eps_top <= target:
        return 1, rate
    return math.ceil(math.log(target / eps_top) / math.log(max(rate, 1e-300))), rate


def run_lanczos(
    passes: BlockApplier,
    V0: np.ndarray,
    *,
    top: int,
    rtol: float,
    rng: np.random.Generator,
    max_steps: int,
    budget_seconds: float | None,
    pass_seconds: float,
) -> IterativeOutcome:
    """Block Lanczos steps on the full data until certified or out of budget.

    ``budget_seconds`` (None: no check) is compared with the cost predicted from the
    observed decrease of the leading residual eps_top per pass, assuming the quadratic
    bound eps^2 / eta takes over: the run is abandoned early when it would not fit.
    """
    kry = Krylov(V0.shape[0], top, rtol, rng)
    Q = orthonormal(V0)
    b = Q.shape[1]
    history: list[float] = []
    widths: list[int] = []
    steps = 0
    reason = None
    while True:
        CQ, delta = passes.apply(Q, with_sums=steps == 0)
        widths.append(Q.shape[1])
        steps += 1
        if steps == 1 and passes.centred:
            # The first pass gives the mean (to rounding); later passes shift by it.
            passes.set_shift(passes.shift + delta)
        kry.add(Q, CQ)
        if kry.converged():
            return IterativeOutcome(kry, passes.count, steps, tuple(widths), True, None)
        if steps >= max_steps:
            reason = f"not certified to rtol={rtol:g} within {max_steps} passes"
            break
        history.append(float(np.linalg.norm(kry.residual_norms[:top])))
        if budget_seconds is not None and steps >= _MIN_PASSES and len(history) >= 2:
            more, rate = _passes_needed(kry, top, history)
            if (steps + more) * pass_seconds > budget_seconds:
                reason = (
                    f"predicted {steps + more} passes (residual rate {rate:.2g} per pass) "
                    f"exceed the budget of {budget_seconds / pass_seconds:.1f}"
                )
                break
        Q = kry.next_block(b)
        if Q is None:  # the basis spans R^d: Rayleigh-Ritz is exact, bounds are rounding
            reason = "basis spans the whole space but the bound exceeds the tolerance"
            break
    return IterativeOutcome(kry, passes.count, steps, tuple(widths), False, reason)
