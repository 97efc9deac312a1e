"""Spectra: eigenvalues of data covariances, in float64 and certified arbitrary precision.

``covariance_spectrum`` chooses between direct and Krylov methods by a cost model
(``_covariance`` dispatches to ``_direct``, ``_krylov`` with ``_passes`` and ``_starts``,
over the row access of ``_rows``; ``_cost`` predicts the seconds);
``dask_covariance_spectrum`` does the covariance in one pass on a Dask cluster, for data
larger than one machine (``_dask``); ``certified_covariance_spectrum`` gives eigenvalues
with rigorous error bounds; ``exact_thresholds`` turns either into critical values with a
certified bound on the printed decimals.  Layer above :mod:`numerics.data` and
:mod:`numerics.core`.
"""

from numerics.spectra._certified import (
    CertifiedSpectrum,
    certified_covariance_spectrum,
    certified_eigenvalues,
    exact_covariance,
    format_significant,
    printed_error_bound,
)
from numerics.spectra._cost import predicted_seconds
from numerics.spectra._covariance import METHODS, SpectrumResult, covariance_spectrum
from numerics.spectra._dask import dask_covariance_spectrum
from numerics.spectra._exact import ExactThresholds, exact_thresholds

__all__ = [
    "METHODS",
    "CertifiedSpectrum",
    "ExactThresholds",
    "SpectrumResult",
    "certified_covariance_spectrum",
    "certified_eigenvalues",
    "covariance_spectrum",
    "dask_covariance_spectrum",
    "exact_covariance",
    "exact_thresholds",
    "format_significant",
    "predicted_seconds",
    "printed_error_bound",
]
