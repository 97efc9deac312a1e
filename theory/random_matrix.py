"""Finite-sample spectra: where a population eigenvalue lands in a sample covariance.

A threshold computed from N samples in d dimensions uses the sample covariance, whose
eigenvalues differ from the population's.  For a spiked population - a few eigenvalues
l_i over a flat bulk s (``synthetic:spiked``) - the high-dimensional limit N, d -> oo
with gamma = d / N fixed is the Baik-Ben Arous-Peche transition (Baik, Ben Arous &
Peche, Ann. Probab. 33 (2005) 1643, for complex data; Baik & Silverstein, J. Multivar.
Anal. 97 (2006) 1382, for real data): with x = l / s,

    sample eigenvalue -> s x (1 + gamma / (x - 1))     if x > 1 + sqrt(gamma),
                      -> s (1 + sqrt(gamma))^2          otherwise (the bulk's edge),

so a spike above the threshold is pushed up, and one below it is lost in the
Marchenko-Pastur bulk.  The toolkit evaluates this law (``sample_spike``) through the
theory's critical law to predict the thresholds a sample of N rows will show.
"""

from __future__ import annotations

import sympy as sp

#: Population spike, bulk (noise) level and aspect ratio d / N.
spike = sp.Symbol("l", positive=True)
bulk = sp.Symbol("s", positive=True)
gamma = sp.Symbol("gamma", positive=True)


def bbp_detection_threshold() -> sp.Expr:
    """The smallest spike (relative to the bulk) that separates from it: 1 + sqrt(gamma)."""
    return 1 + sp.sqrt(gamma)


def sample_spike() -> sp.Expr:
    """The limit of the sample eigenvalue of a population eigenvalue ``spike`` (module doc)."""
    x = spike / bulk
    separated = bulk * x * (1 + gamma / (x - 1))
    edge = bulk * (1 + sp.sqrt(gamma)) ** 2
    return sp.Piecewise((separated, x > bbp_detection_threshold()), (edge, True))
