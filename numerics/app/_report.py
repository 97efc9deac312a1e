"""``vae-collapse report``: the whole pipeline on one data set, with a Markdown summary.

Derivations -> thresholds (float and certified) -> maps and phase diagram ->
trained confirmations (linear VAE on the data, MLP VAE on the data, and the
follow-up paper's MLP protocol on its 8-dimensional mixture) -> summary.md.

The follow-up protocol does not depend on the data, so it trains in a second
process while the first does everything else, each process with one BLAS thread:
on 2 cores the report takes about as long as the longer of the two.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from numerics.app._decoder_variance import REPORT_FILES as DECODER_VARIANCE_FILES
from numerics.app._documents import check_pdf, derivation_files, derivation_names
from numerics.app._output import OutputFolder
from numerics.app._sources import Source, from_data
from numerics.app._summary import render_summary
from numerics.app._writers import (
    DYNAMICS_FILES,
    MAP_FILES,
    TRAINING_FILES,
    dynamics_files,
    map_files,
    strict_json,
    training_files,
)
from numerics.core._maps import MapResult, collapse_map, phase_diagram
from numerics.core._optimum import ThresholdResult, thresholds
from numerics.core._validation import InputError
from numerics.spectra._bootstrap import BootstrapThresholds, bootstrap_thresholds
from numerics.spectra._exact import ExactThresholds
from numerics.training._dynamics import DynamicsResult, default_sweep, relaxation_sweep
from numerics.training._measure import TrainingReport, measured_report, train_and_measure

#: Latents trained in the confirmations (the top modes are the ones measured; fewer
#: when the data have fewer dimensions).  The follow-up protocol always has 4.
TRAINED_LATENTS = 4
#: Linear VAE on the data: one reparameterised sample per point, as VAEs are trained,
#: with batches of up to 2048 rows and 8000 steps.  Near a threshold the sampling
#: noise is largest where the objective is flattest: with the trainer's defaults
#: (batches of 128, 2000 steps) the top transitions of digits move by -3 to +4 %; with
#: these, seeds 0-2 land within 0.6 % (README, "Sampling noise"), in 12-17 s.
LINEAR_OPTIONS = dict(steps=8000, batch_size=2048, exact_expectation=False)
#: Rows x dimensions per linear minibatch at most: a step costs about batch x d x k per
#: sweep point, so on wider data the batches shrink to keep the training time near that
#: of digits (d = 64, where the bound does not bind); never below 128 rows.  Measured
#: on 50 000 x 256 spiked data: 8000 steps of 2048 rows took about 134 s, of 512 rows
#: 32 s.  The MLP keeps its batches of 256 rows: with 64 or 128 its anchor never left
#: the collapsed state on those data (seeds 0-2), so wide data cost it more time
#: instead (about 90 s there).
LINEAR_BATCH_ELEMENTS = 2048 * 64
LINEAR_MIN_BATCH = 128
#: MLP VAE on the data: a sweep across the top three transitions, from 0.8 lambda_3 to
#: 1.08 lambda_1 (24 log-spaced points), warm-started from an anchor at its low end.  On
#: digits the MLP's third step lies about 12 % below lambda_3 (its residual spectrum
#: puts it there): the sweep reaches far enough down to see it.
MLP_SWEEP = dict(below_third=0.8, above_first=1.08, points=24)
MLP_OPTIONS = dict(
    hidden=(32, 32), warm_start=True, anchor_steps=4000, steps=2000, lr=2e-3, lr_min=0.01,
    kl_warmup=1000, batch_size=256, dtype="float32",
)  # fmt: skip
FOLLOW_UP_SOURCE = "synthetic:mixture (follow-up protocol, arXiv 2610.11257)"
#: Bootstrap replicates of the thresholds' intervals.
BOOTSTRAP_REPLICATES = 200
#: Relaxation times: log-spaced sweep points (six more around each critical point) and
#: gradient-descent steps per run.
DYNAMICS_POINTS, DYNAMICS_STEPS = 21, 10_000
#: Significant digits of the certified threshold table.
CERTIFIED_DIGITS = 30


def _linear_batch(d: int) -> int:
    """The linear confirmation's minibatch size on d-dimensional data."""
    return min(LINEAR_OPTIONS["batch_size"], max(LINEAR_MIN_BATCH, LINEAR_BATCH_ELEMENTS // d))


def _log(msg: str, t0: float) -> None:
    print(f"[{time.perf_counter() - t0:6.1f} s] {msg}", flush=True)


def _follow_up() -> TrainingReport:
    """The follow-up protocol, measured (run in a worker process, without a bar)."""
    from numerics.training._allocator import keep_freed_memory
    from numerics.training._protocols import follow_up_protocol

    keep_freed_memory()  # a fresh process: the command line's setting is not inherited
    with threadpool_limits(1, user_api="blas"):  # one core each (module docstring)
        run = follow_up_protocol(progress=False)
        data = run.data | {"source": FOLLOW_UP_SOURCE}
        return measured_report(run.sweep, run.eigenvalues, 1.0, data, X=run.X)


def mlp_sweep(predicted: np.ndarray) -> np.ndarray:
    """sigma'^2 of the MLP confirmation: across the top three predicted transitions."""
    top = predicted[predicted > 0]
    if top.size == 0:
        raise InputError("every eigenvalue is 0: there is no transition to train across")
    low = MLP_SWEEP["below_third"] * top[min(2, top.size - 1)]
    return np.geomspace(low, MLP_SWEEP["above_first"] * top[0], MLP_SWEEP["points"])


#: The extra derivations the report carries (the VAE's are all there): the learnable
#: decoder variance, which the report trains; the conditional and hierarchical VAE's are
#: written by ``vae-collapse derive``.
REPORT_DOCUMENTS = ("learnable-decoder-variance",)


@dataclass
class ReportResults:
    """Everything the report computed; :func:`numerics.app._summary.render_summary` renders it."""

    data: str
    record: dict
    derivations: list[str]  # paths relative to the report folder
    thresholds: ThresholdResult
    certified: ExactThresholds | None
    bootstrap: BootstrapThresholds | None
    map: MapResult
    linear: TrainingReport
    mlp: TrainingReport
    dynamics: DynamicsResult
    follow_up: TrainingReport | None
    seconds: float = 0.0
    #: The learnable decoder variance: a beta sweep and the basin run (None: not run).
    decoder_variance: dict | None = None
    #: Opt-in sections of the other model families (numerics/app/_family_report.py).
    families: dict = field(default_factory=dict)


def _theory_parts(data: str, source: Source, out: Path, pdf: bool, t0: float) -> dict:
    """Derivations, thresholds (float and certified), maps and the phase diagram."""
    _log("derivations", t0)
    # The VAE's documents (the conditional and hierarchical VAE's: `vae-collapse derive`).
    derived = derivation_files(
        out / "derivations", pdf=None if pdf else False, extras=REPORT_DOCUMENTS
    )
    _log(f"thresholds of {data}", t0)
    lam = source.eigenvalues
    th = thresholds(lam)
    certified = None
    if source.dataset is not None and source.dataset.X.size <= 2_000_000:
        certified = source.exact_thresholds(CERTIFIED_DIGITS)
    boot = None
    if source.dataset is not None:
        X = np.asarray(source.dataset.X, dtype=float)
        boot = bootstrap_thresholds(X, BOOTSTRAP_REPLICATES, latent_dim=min(8, lam.size))
    record = th.to_dict() | ({} if certified is None else {"certified": certified.to_dict()})
    record |= {} if boot is None else {"bootstrap": boot.to_dict()}
    (out / "thresholds.json").write_text(strict_json(record | {"data": source.record}))
    _log("maps and phase diagram", t0)
    result = collapse_map(lam, data=source.record)
    pd = phase_diagram(lam, sigma2_range=(result.grid[0], result.grid[-1]))
    map_files(result, pd, out / "map")
    return dict(
        derivations=[str(p.relative_to(out)) for p in derived],
        thresholds=th,
        certified=certified,
        bootstrap=boot,
        map=result,
    )


def _dynamics_part(source: Source, out: Path, t0: float):
    """Relaxation times of gradient descent across the top transitions (critical slowing
    down), measured against the prediction."""
    _log("relaxation times across the top transitions", t0)
    k = min(TRAINED_LATENTS, source.eigenvalues.size)
    critical = np.array(thresholds(source.eigenvalues, latent_dim=k).critical_sigma2)
    grid = default_sweep(critical, DYNAMICS_POINTS)
    result = relaxation_sweep(source.eigenvalues, grid, latent_dim=k, steps=DYNAMICS_STEPS)
    dynamics_files(result, out / "dynamics")
    return result


def _training_parts(source: Source, out: Path, progress: bool, t0: float) -> dict:
    """The linear and the MLP VAE trained on the data across their transitions."""
    X = np.asarray(source.dataset.X, dtype=float)
    common = dict(
        latent_dim=min(TRAINED_LATENTS, X.shape[1]),
        data=source.record,
        eigenvalues=source.eigenvalues,
        progress=progress,
    )
    _log("training the linear VAE across the top transitions", t0)
    linear = train_and_measure(
        X, model="linear", **common, **(LINEAR_OPTIONS | {"batch_size": _linear_batch(X.shape[1])})
    )
    training_files(linear, out / "train_linear")
    _log("training the MLP VAE across the top two transitions", t0)
    mlp = train_and_measure(
        X, model="mlp", sigma2=mlp_sweep(linear.predicted), **common, **MLP_OPTIONS
    )
    training_files(mlp, out / "train_mlp")
    return dict(linear=linear, mlp=mlp)


def compute_report(
    data, source, out, pdf, progress, t0, follow_up, hierarchical=False, condition_columns=None
) -> ReportResults:
    """Every part of the report, written into ``out``; ``follow_up`` is the worker's result
    (None: the follow-up protocol is not part of this report)."""
    theory = _theory_parts(data, source, out, pdf, t0)
    trained = _training_parts(source, out, progress, t0)
    _log("training the linear VAE with a learnable decoder variance across beta", t0)
    from numerics.app._decoder_variance import report_part

    k = min(TRAINED_LATENTS, int(np.sum(source.eigenvalues > 0)) - 1)
    decoder = report_part(source, out, progress, k) if k >= 1 else None
    dynamics = _dynamics_part(source, out, t0)
    families = {}
    if hierarchical or condition_columns is not None:
        from numerics.app._family_report import family_parts

        _log("training the hierarchical / conditional VAE across their transitions", t0)
        families = family_parts(data, source, out, progress, hierarchical, condition_columns)
    follow = None
    if follow_up is not None:
        _log("waiting for the follow-up protocol", t0)
        follow = follow_up.get()
        training_files(follow, out / "train_mlp_mixture")
    return ReportResults(
        data=data, record=source.record, **theory, **trained, dynamics=dynamics,
        follow_up=follow, seconds=time.perf_counter() - t0, decoder_variance=decoder,
        families=families,
    )  # fmt: skip


def _expected_files(pdf: bool, follow_up: bool) -> list[str]:
    """Every file of a report, relative to its folder (checked before the work)."""
    folders = ["train_linear", "train_mlp", *(["train_mlp_mixture"] if follow_up else [])]
    return [
        "summary.md",
        "thresholds.json",
        *(f"derivations/{n}" for n in derivation_names(pdf, extras=REPORT_DOCUMENTS)),
        *(f"map/{n}" for n in MAP_FILES),
        *(f"{f}/{n}" for f in folders for n in TRAINING_FILES),
        *(f"dynamics/{n}" for n in DYNAMICS_FILES),
        *DECODER_VARIANCE_FILES,
    ]


def _quiet_worker() -> None:
    """Pool initializer: Ctrl-C goes to the main process, which terminates the worker."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def make_report(
    data: str = "digits",
    out: Path = Path("report"),
    pdf: bool = True,
    progress: bool = True,
    follow_up: bool | None = None,
    hierarchical: bool = False,
    condition_columns: str | None = None,
) -> Path:
    """Run everything on ``data`` and write ``out/summary.md`` with what it produced.

    ``follow_up``: train the follow-up paper's protocol on its 8-d mixture too (it does
    not depend on the data: a calibration of the MLP measurement); default: only in the
    default report, on digits.

    All or nothing: the output folder and the data are checked before anything starts,
    the report is built in a scratch folder beside ``out`` and its files are moved in
    only once everything was written (:class:`numerics.app._output.OutputFolder`: files
    of an earlier report are replaced, nothing else is touched).
    """
    t0 = time.perf_counter()
    follow_up = data == "digits" if follow_up is None else bool(follow_up)
    compile_pdf = check_pdf(None if pdf else False)
    from numerics.app._family_report import family_files

    expected = _expected_files(compile_pdf, follow_up)
    folder = OutputFolder(out).check(expected + family_files(hierarchical, bool(condition_columns)))
    source = from_data(data)  # bad data: one error, before anything is printed or written
    if condition_columns is not None:  # the columns checked before the work
        from numerics.app._sources import from_conditional_data

        from_conditional_data(data, condition_columns)
    if not (source.eigenvalues > 0).any():
        raise InputError(
            f"{data}: every covariance eigenvalue is 0 (constant data): no transition to report"
        )
    _log(f"read {data}", t0)
    with folder.staged() as scratch, contextlib.ExitStack() as stack:
        worker = None
        if follow_up:
            # The data-independent protocol trains in a second process meanwhile.  "spawn":
            # a fresh interpreter, not a fork of this one with its BLAS threads.  On any
            # error or Ctrl-C, leaving the `with` terminates the worker at once.
            pool = stack.enter_context(
                multiprocessing.get_context("spawn").Pool(1, initializer=_quiet_worker)
            )
            worker = pool.apply_async(_follow_up)
            _log("the follow-up protocol (MLP VAE on the 8-d mixture) runs in a second process", t0)
            # Two processes on two cores: BLAS threads would only wait for a core (and
            # OpenBLAS's spin while they wait), so each process keeps one.
            stack.enter_context(threadpool_limits(1, user_api="blas"))
        # The opt-in family sections only when asked: the default call is unchanged.
        families = (hierarchical, condition_columns) if hierarchical or condition_columns else ()
        results = compute_report(data, source, scratch, pdf, progress, t0, worker, *families)
        (scratch / "summary.md").write_text(render_summary(results))
    summary = out / "summary.md"
    _log(f"done: {summary}", t0)
    return summary
