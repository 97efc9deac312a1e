"""The one set of SymPy symbols shared by every derivation.

Notation follows the README ("Conventions and notation") and Li, Zhang, Zhang & Chen, "Posterior
Collapse as a Phase Transition in Variational Autoencoders" (arXiv 2510.01621):

============  ==========================================================
symbol        meaning
============  ==========================================================
``sigma2``    decoder variance sigma'^2, the control parameter
``beta``      weight of the KL term (beta = 1: plain negative ELBO)
``eta2``      prior variance eta^2 of p(z) = N(0, eta^2 I_k)
``zeta2``     fixed encoder variance zeta^2 of one latent (zeta^2 = eta^2 is one choice)
``ZETA2``     indexed fixed encoder variances zeta_j^2 of latents j = 1..k
``u``         activity ratio u = sqrt(lambda / lambda_c) of an active mode (u > 1)
``lam``       one eigenvalue lambda of the data covariance
``w``         decoder weight of one latent along one eigen-direction
``v``         encoder weight of one latent along one eigen-direction
``s2``        encoder variance s^2 of one latent
``eps``       standard normal noise of the reparameterised sample
``y``         centred data coordinate along one eigen-direction
``mu``        encoder mean of one latent at one data point
============  ==========================================================

The symbol named ``beta`` shadows ``scipy.special.beta``/``mpmath.beta``
inside ``sympy.lambdify``; every lambdify call in this package therefore
uses ``dummify=True`` (see ``numerics/core/_bridge.py``).
"""

from __future__ import annotations

import sympy as sp
from sympy.printing.latex import LatexPrinter

sigma2 = sp.Symbol("sigma2", positive=True)
beta = sp.Symbol("beta", positive=True)
eta2 = sp.Symbol("eta2", positive=True)
zeta2 = sp.Symbol("zeta2", positive=True)
#: Per-latent fixed encoder variances zeta_j^2 (the anisotropic model; Dang et al. 2024).
ZETA2 = sp.IndexedBase("zeta2", positive=True)
#: Latent index j of sums over latents.
j = sp.Symbol("j", integer=True, positive=True)
#: Number of latents k.
k = sp.Symbol("k", integer=True, positive=True)
lam = sp.Symbol("lambda", positive=True)
w = sp.Symbol("w", real=True)
v = sp.Symbol("v", real=True)
s2 = sp.Symbol("s2", positive=True)
eps = sp.Symbol("epsilon", real=True)
y = sp.Symbol("y", real=True)
mu = sp.Symbol("mu", real=True)
u = sp.Symbol("u", positive=True)
#: The largest eigenvalue of the data covariance.
lam_max = sp.Symbol("lambda_max", positive=True)

# Step e (theory/landscape.py): one block of the full Hessian involves at most two
# latents j, l and two eigen-directions i, a.  Latent j (l) occupies direction i (a)
# when it is active; u_j = sqrt(lambda_i / lambda_c(zeta_j^2)) is its activity ratio.
lam_i = sp.Symbol("lambda_i", positive=True)
lam_a = sp.Symbol("lambda_a", positive=True)
zeta2_j = sp.Symbol("zeta2_j", positive=True)
zeta2_l = sp.Symbol("zeta2_l", positive=True)
u_j = sp.Symbol("u_j", positive=True)
u_l = sp.Symbol("u_l", positive=True)

#: Positive gap parameter used to sample the three regions around a critical
#: boundary (above, at, below); see ``theory/stability.py``.
gap = sp.Symbol("r", positive=True)
#: Relative distance to a critical point, tau > 0 (used for exponents).
tau = sp.Symbol("tau", positive=True)

#: LaTeX names; pass as ``symbol_names`` to :func:`sympy.latex`.
LATEX_NAMES: dict[sp.Symbol, str] = {
    sigma2: r"\sigma^{\prime 2}",
    beta: r"\beta",
    eta2: r"\eta^{2}",
    zeta2: r"\zeta^{2}",
    j: "j",
    k: "k",
    u: "u",
    lam_max: r"\lambda_{\max}",
    lam_i: r"\lambda_{i}",
    lam_a: r"\lambda_{a}",
    zeta2_j: r"\zeta_{j}^{2}",
    zeta2_l: r"\zeta_{l}^{2}",
    u_j: "u_{j}",
    u_l: "u_{l}",
    lam: r"\lambda",
    w: "w",
    v: "v",
    s2: "s^{2}",
    eps: r"\varepsilon",
    y: "y",
    mu: r"\mu",
    gap: "r",
    tau: r"\tau",
}


class _Printer(LatexPrinter):
    """SymPy's LaTeX printer with the toolkit's names for symbols and indexed variances."""

    def _print_Indexed(self, expr: sp.Indexed) -> str:
        if expr.base == ZETA2:  # zeta2[j] -> \zeta_{j}^{2}
            return r"\zeta_{{{}}}^{{2}}".format(",".join(self._print(i) for i in expr.indices))
        return super()._print_Indexed(expr)

    def _print_Pow(self, expr: sp.Pow, **kwargs: object) -> str:
        base, exp = expr.as_base_exp()
        if isinstance(base, sp.Indexed) and base.base == ZETA2 and exp.is_Rational and exp > 0:
            # A power of zeta_j^2 needs brackets: \zeta_{j}^{2}^{2} is not LaTeX.
            inner = rf"\left({self._print(base)}\right)"
            if exp == sp.S.Half:
                return rf"\sqrt{{{self._print(base)}}}"
            return f"{inner}^{{{self._print(exp)}}}"
        return super()._print_Pow(expr, **kwargs)


def tex(expr: object, **settings: object) -> str:
    """Return the LaTeX of ``expr`` in the toolkit's notation."""
    return _Printer({"symbol_names": LATEX_NAMES, **settings}).doprint(expr)
