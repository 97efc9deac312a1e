"""Resolve a command's SOURCE (a spectrum, or data) into eigenvalues and a record.

Every transformation of the data - the uncentred second moment instead of the
covariance, a rescaling - happens only when asked and is recorded in
``Source.record``, which every command prints.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from numerics.core._validation import InputError, check_positive, check_spectrum
from numerics.data._datasets import Dataset, parse_data_source
from numerics.spectra._exact import ExactThresholds, exact_thresholds

if TYPE_CHECKING:
    from numerics.spectra._covariance import SpectrumResult

#: Which second moment of the data the spectrum is taken of.
MOMENTS = ("centred", "uncentred")


@dataclass(frozen=True)
class Source:
    """Eigenvalues of a SOURCE with their provenance.

    ``exact`` holds the eigenvalues as exact rationals when they were given as
    numbers (``--spectrum 4,2,1/3``); ``dataset`` the samples when data were given.
    """

    eigenvalues: np.ndarray
    record: dict[str, Any]
    exact: tuple[Fraction, ...] | None = None
    dataset: Dataset | None = None
    moment: str = "centred"
    scale: float = 1.0
    extra: dict[str, Any] = field(default_factory=dict)

    def exact_thresholds(self, digits: int, **model: Any) -> ExactThresholds:
        """Critical sigma'^2 to ``digits`` digits with certified bounds (``model``: beta, ...).

        From the exact spectrum when one was given, else from the exact covariance of
        the data as they were read (moment and scale as recorded).
        """
        if self.exact is not None:
            return exact_thresholds(self.exact, digits=digits, **model)
        if self.dataset is None:
            raise InputError("--digits needs an exact spectrum or data")
        return exact_thresholds(
            data=self.dataset.X,
            centred=self.moment == "centred",
            scale=self.scale,
            digits=digits,
            **model,
        )


def from_spectrum(values: list[Fraction]) -> Source:
    """A SOURCE given as eigenvalues (exact rationals, as :func:`parse_exact` returns)."""
    lam = check_spectrum([float(v) for v in values])
    exact = tuple(sorted((Fraction(v) for v in values), reverse=True))
    return Source(eigenvalues=lam, record={"source": "spectrum"}, exact=exact)


def from_data(
    text: str,
    moment: str = "centred",
    scale: float | None = None,
    top: int | None = None,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
) -> Source:
    """A SOURCE given as data: ``digits``, ``synthetic:NAME[:k=v,...]``, a file or a chunked store.

    Chunked stores (a Zarr array, a directory or glob of ``.npy`` shards) are read in one
    pass on a Dask cluster: the one at ``scheduler``, else a local one of ``workers``
    processes.  In-memory data use the in-memory path unless ``scheduler`` or ``workers``
    is given; then they go through the cluster too (a ``.npy`` file is read by the workers
    themselves).
    """
    from numerics.spectra._covariance import covariance_spectrum
    from numerics.spectra._dask import check_cluster_options, dask_client

    if moment not in MOMENTS:
        raise InputError(f"moment={moment!r}: expected one of {', '.join(MOMENTS)}")
    factor = 1.0 if scale is None else check_positive("scale", scale)
    workers = check_cluster_options(scheduler, workers)
    centred = moment == "centred"
    with contextlib.ExitStack() as stack:
        # A scheduler is reached first (a quick check); a local cluster starts only after
        # the data's own checks, which read headers only.
        client = stack.enter_context(dask_client(scheduler)) if scheduler is not None else None
        dataset = parse_data_source(str(text))
        if client is None and (dataset.lazy or workers is not None):
            client = stack.enter_context(dask_client(None, workers))
        if client is None:
            spec = covariance_spectrum(dataset.X, centred=centred, top=top)
        else:
            spec = _dask_spectrum(str(text), dataset, centred, top, client)
    return _source_of(text, dataset, spec, moment, factor, top)


def _dask_spectrum(
    text: str, dataset: Dataset, centred: bool, top: int | None, client: Any
) -> SpectrumResult:
    """The spectrum on the cluster; a ``.npy`` file is read by the workers, not sent."""
    from numerics.data._chunked import load_chunked
    from numerics.spectra._dask import dask_covariance_spectrum

    X = dataset.X
    if not dataset.lazy and Path(text).suffix.lower() == ".npy" and Path(text).is_file():
        X = load_chunked(text).X
    return dask_covariance_spectrum(X, top=top, centred=centred, scheduler=client)


def _source_of(
    text: str, dataset: Dataset, spec: SpectrumResult, moment: str, factor: float, top: int | None
) -> Source:
    """The Source of a data spectrum: scaled, rounding-level values set to 0, recorded."""
    # Scaling the data by c scales every second moment, hence every eigenvalue, by c^2;
    # the products must stay within float64 (an overflow is refused just below).
    with np.errstate(over="ignore"):
        lam = spec.eigenvalues * factor * factor
    if not np.isfinite(lam).all():
        raise InputError(
            f"scale={factor!r}: the eigenvalues times scale^2 exceed the float64 range "
            f"(largest eigenvalue {spec.eigenvalues[0]:.3g}): expected a smaller scale"
        )
    # Eigenvalues at the level of rounding are zero: a float64 eigensolver resolves
    # eigenvalues only to about d * eps * lambda_max in absolute terms (Golub & Van
    # Loan, Matrix Computations, 4th ed., Thm 8.1.15 with the Wilkinson backward
    # error), so anything smaller cannot be told from 0 - and a spurious 1e-16
    # "eigenvalue" would create a spurious critical point at sigma'^2 = 1e-16.
    zero_tol = lam.size * np.finfo(float).eps * (lam[0] if lam.size else 0.0)
    lam = np.where(lam <= zero_tol, 0.0, lam)
    record = dataset.record() | {
        "moment": moment,
        "covariance": "(1/N) sum (x - m)(x - m)^T"
        if moment == "centred"
        else "(1/N) sum x x^T (uncentred)",
        "scale": factor,
        "spectrum_method": spec.method,
        "zero_tolerance": float(zero_tol),
        "zero_eigenvalues": int((lam == 0).sum()),
    }
    if spec.method == "dask":
        record["cluster"] = spec.notes[0]
    if top is not None:
        record["top"] = int(top)
    if not all(math.isfinite(x) for x in lam):
        raise InputError(f"data {str(text)!r}: the covariance has non-finite eigenvalues")
    return Source(eigenvalues=lam, record=record, dataset=dataset, moment=moment, scale=factor)


def from_conditional_data(text: str, columns: str, scale: float | None = None) -> Source:
    """A SOURCE for the conditional VAE: data whose ``columns`` (``--condition-columns``) are
    the condition x and the others the output y; the eigenvalues are those of the residual
    covariance of y given x (:mod:`numerics.spectra._condition`).

    In-memory data only (the regression reads all rows at once); the centred covariance.
    """
    from numerics.spectra._condition import condition_columns, conditional_spectrum

    factor = 1.0 if scale is None else check_positive("scale", scale)
    dataset = parse_data_source(str(text))
    if dataset.lazy:
        raise InputError(
            f"--condition-columns with {text!r}: a chunked store; expected data that fit in "
            "memory (digits, synthetic, .npy, .npz, .csv)"
        )
    mask = condition_columns(columns, dataset.shape[1])
    lam = conditional_spectrum(np.asarray(dataset.X, dtype=float), mask) * factor * factor
    # As for any data spectrum: eigenvalues at the level of rounding are 0 (_source_of).
    zero_tol = lam.size * np.finfo(float).eps * (lam[0] if lam.size else 0.0)
    lam = np.where(lam <= zero_tol, 0.0, lam)
    record = dataset.record() | {
        "family": "cvae",
        "moment": "centred",
        "covariance": "residual of y given x: Sigma_yy - Sigma_yx Sigma_xx^+ Sigma_xy "
        "(least squares)",
        "condition_columns": str(columns),
        "x_dim": int(mask.sum()),
        "y_dim": int((~mask).sum()),
        "scale": factor,
        "spectrum_method": f"eigvalsh of the residual covariance of y given x (x: columns "
        f"{columns})",
        "zero_eigenvalues": int((lam == 0).sum()),
    }
    extra = {"condition_mask": mask}
    return Source(eigenvalues=lam, record=record, dataset=dataset, scale=factor, extra=extra)
