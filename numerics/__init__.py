"""numerics: evaluate the theory's laws on data, and the command line.

Public API::

    from numerics import optimum, thresholds
    optimum([4, 2, 1], sigma2=1.5).kl_total
"""

from numerics.core._decoder_variance import learned_optimum, learned_thresholds
from numerics.core._optimum import ModeOptimum, OptimumResult, ThresholdResult, optimum, thresholds

__all__ = [
    "ModeOptimum",
    "OptimumResult",
    "ThresholdResult",
    "learned_optimum",
    "learned_thresholds",
    "optimum",
    "thresholds",
]
