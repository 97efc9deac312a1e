"""The one set of SymPy symbols shared by every derivation.

Notation follows the README ("Conventions and notation") and Li, Zhang, Zhang & Chen, "Posterior
Collapse as a Phase Transition in Variational Autoencoders" (arXiv 2510.01621):

============  ==========================================================
symbol        meaning
============  ==========================================================
``sigma2``    decoder variance sigma'^2, the control parameter
``beta``      weight of the KL term (beta = 1: plain negative ELBO)
``eta2``      prior variance eta^2 of p(z) = N(0, eta^2 I_k)
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
uses ``dummify=True`` (see ``numerics/laws.py``).
"""

from __future__ import annotations

import sympy as sp

sigma2 = sp.Symbol("sigma2", positive=True)
beta = sp.Symbol("beta", positive=True)
eta2 = sp.Symbol("eta2", positive=True)
lam = sp.Symbol("lambda", positive=True)
w = sp.Symbol("w", real=True)
v = sp.Symbol("v", real=True)
s2 = sp.Symbol("s2", positive=True)
eps = sp.Symbol("epsilon", real=True)
y = sp.Symbol("y", real=True)
mu = sp.Symbol("mu", real=True)

#: Positive gap parameter used to sample the three regions around a critical
#: boundary (above, at, below); see ``theory/stability.py``.
gap = sp.Symbol("r", positive=True)
#: Relative distance to a critical point, tau > 0 (used for exponents).
tau = sp.Symbol("tau", positive=True)

#: LaTeX names; pass as ``symbol_names`` to :func:`sympy.latex`.
LATEX_NAMES: dict[sp.Symbol, str] = {
    sigma2: r"\sigma'^{2}",
    beta: r"\beta",
    eta2: r"\eta^{2}",
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


def tex(expr: object) -> str:
    """Return the LaTeX of ``expr`` in the toolkit's notation."""
    return sp.latex(expr, symbol_names=LATEX_NAMES)
