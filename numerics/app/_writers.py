"""The files of a map and of a trained sweep: figures, CSV and JSON.

``map_files`` and ``training_files`` write into a folder they are given (a scratch
folder); ``write_map`` and ``write_training`` do so through
:class:`numerics.app._output.OutputFolder`, all or nothing.  JSON is strict: no NaN or
Infinity tokens (:func:`strict_json`).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from numerics.app._output import OutputFolder, strict_json
from numerics.app._plots import (
    plot_derivatives,
    plot_diagnosis,
    plot_finite_sample,
    plot_kl,
    plot_phase_diagram,
    plot_relaxation,
    plot_staircase,
    plot_training,
)
from numerics.core._maps import MapResult, PhaseDiagram
from numerics.core._validation import InputError
from numerics.training._sweep import ACTIVE_KL

#: The files of a map (``map_files``) and of a trained sweep (``training_files``).
MAP_FILES = [
    *(f"{stem}.{ext}" for stem in ("kl", "derivatives", "staircase", "phase_diagram")
      for ext in ("png", "pdf")),
    "curves.csv", "critical_points.csv", "phase_diagram.csv", "map.json",
]  # fmt: skip
TRAINING_FILES = ["training.png", "training.pdf", "train.json", "points.csv"]
DYNAMICS_FILES = ["relaxation.png", "relaxation.pdf", "dynamics.json", "relaxation.csv"]
DIAGNOSIS_FILES = ["diagnosis.png", "diagnosis.pdf", "diagnosis.json"]
FINITE_SAMPLE_FILES = ["finite_sample.png", "finite_sample.pdf", "finite_sample.csv"]


def _write_csv(path: Path, header: list[str], rows) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)


def _critical_points_table(result: MapResult) -> tuple[list[str], list[list]]:
    header = [result.variable, "eigenvalue", "modes"]
    for q in ("kl", "neg_elbo"):
        for n in ("d", "d2"):
            header += [f"{n}_{q}_left", f"{n}_{q}_right", f"{n}_{q}_jump"]
    rows = []
    for c in (c.to_dict() for c in result.critical_points):
        row = [c[result.variable], c["eigenvalue"], " ".join(map(str, c["modes"]))]
        for q in ("kl", "neg_elbo"):
            for n in ("d", "d2"):
                v = c[f"{n}_{q}"]
                row += [v["left"], v["right"], v["jump"]]
        rows.append(row)
    return header, rows


def map_files(result: MapResult, pd: PhaseDiagram, folder: Path) -> None:
    """Figures (PNG and PDF), curves.csv, critical_points.csv, phase_diagram.csv, map.json."""
    folder.mkdir(parents=True, exist_ok=True)
    plot_kl(result, folder)
    plot_derivatives(result, folder)
    plot_staircase(result, folder)
    plot_phase_diagram(pd, folder)
    names, table = result.curve_table()
    _write_csv(folder / "curves.csv", names, (list(map(repr, row)) for row in table.tolist()))
    _write_csv(folder / "critical_points.csv", *_critical_points_table(result))
    _write_csv(
        folder / "phase_diagram.csv",
        ["sigma2", "beta", "n_active"],
        (
            [s, b, int(pd.n_active[i, j])]
            for i, b in enumerate(pd.beta)
            for j, s in enumerate(pd.sigma2)
        ),
    )
    (folder / "map.json").write_text(strict_json(result.to_dict()))


def training_files(report, folder: Path) -> None:
    """training.png/pdf (over the theory), train.json and points.csv."""
    folder.mkdir(parents=True, exist_ok=True)
    s = report.sweep
    plot_training(report, report.theory, folder)
    (folder / "train.json").write_text(strict_json(report.to_dict()))
    k = s.kl.shape[-1]
    mean = s.kl.mean(axis=1)
    _write_csv(
        folder / "points.csv",
        ["sigma2", *(f"kl_{j + 1}" for j in range(k)), "n_active", "neg_elbo"],
        (
            [
                float(x),
                *mean[i].tolist(),
                int((mean[i] > ACTIVE_KL).sum()),
                float(s.neg_elbo[i].mean()),
            ]
            for i, x in enumerate(s.sigma2)
        ),
    )


def write_map(result: MapResult, pd: PhaseDiagram, out: Path) -> list[Path]:
    """:func:`map_files` into ``out``, all or nothing; returns the written paths."""
    folder = OutputFolder(out).check(MAP_FILES)
    with folder.staged() as scratch:
        map_files(result, pd, scratch)
    return folder.published


def write_training(report, out: Path) -> list[Path]:
    """:func:`training_files` into ``out``, all or nothing; returns the written paths."""
    folder = OutputFolder(out).check(TRAINING_FILES)
    with folder.staged() as scratch:
        training_files(report, scratch)
    return folder.published


def dynamics_files(result, folder: Path) -> None:
    """relaxation.png/pdf (measured over predicted), dynamics.json and relaxation.csv."""
    folder.mkdir(parents=True, exist_ok=True)
    plot_relaxation(result, folder)
    (folder / "dynamics.json").write_text(strict_json(result.to_dict()))
    k = result.measured.shape[1]
    _write_csv(
        folder / "relaxation.csv",
        ["sigma2", *(f"{w}_{j + 1}" for j in range(k) for w in ("predicted", "measured"))],
        (
            [float(s), *(float(x) for j in range(k) for x in (p[j], m[j]))]
            for s, p, m in zip(result.sigma2, result.predicted, result.measured, strict=True)
        ),
    )


def write_dynamics(result, out: Path) -> list[Path]:
    """:func:`dynamics_files` into ``out``, all or nothing; returns the written paths."""
    folder = OutputFolder(out).check(DYNAMICS_FILES)
    with folder.staged() as scratch:
        dynamics_files(result, scratch)
    return folder.published


def diagnosis_files(result, folder: Path) -> None:
    """diagnosis.png/pdf (KL per latent against the theory) and diagnosis.json."""
    folder.mkdir(parents=True, exist_ok=True)
    plot_diagnosis(result, folder)
    (folder / "diagnosis.json").write_text(strict_json(result.to_dict()))


def write_diagnosis(result, out: Path) -> list[Path]:
    """:func:`diagnosis_files` into ``out``, all or nothing; returns the written paths."""
    folder = OutputFolder(out).check(DIAGNOSIS_FILES)
    with folder.staged() as scratch:
        diagnosis_files(result, scratch)
    return folder.published


def threshold_files(spiked: bool) -> list[str]:
    """The files of ``threshold --out``: the finite-sample figure only for spiked data."""
    return ["thresholds.json", *(FINITE_SAMPLE_FILES if spiked else [])]


def write_thresholds(record: dict, sampled, out: Path) -> list[Path]:
    """thresholds.json and, given ``sampled`` (``SampledThresholds``), the finite-sample
    figure and its table, into ``out``, all or nothing."""
    folder = OutputFolder(out).check(threshold_files(sampled is not None))
    with folder.staged() as scratch:
        scratch.mkdir(parents=True, exist_ok=True)
        (scratch / "thresholds.json").write_text(strict_json(record))
        if sampled is not None:
            plot_finite_sample(sampled, record["data"]["n_samples"], scratch)
            k = sampled.population.size
            header = ["n_samples"] + [
                f"{what}_{j + 1}" for what in ("bbp", "sampled_mean", "sampled_std")
                for j in range(k)
            ]  # fmt: skip
            mean, std = sampled.sampled.mean(axis=1), sampled.sampled.std(axis=1, ddof=1)
            rows = np.column_stack([sampled.n_samples, sampled.predicted, mean, std])
            _write_csv(scratch / "finite_sample.csv", header, rows.tolist())
    return folder.published


def check_posterior_target(sigma2: str, path: str) -> tuple[float, Path]:
    """The ``--export-posterior SIGMA2 FILE.npz`` arguments, checked before training."""
    from numerics.core._validation import parse_exact

    value = float(parse_exact(sigma2, "--export-posterior SIGMA2"))
    if not value > 0:
        raise InputError(f"--export-posterior SIGMA2={sigma2}: expected a number > 0")
    target = Path(path)
    if target.suffix.lower() != ".npz":
        raise InputError(f"--export-posterior FILE={path!r}: expected a .npz file name")
    folder = target.parent if str(target.parent) else Path(".")
    OutputFolder(folder, "--export-posterior", "choose another file name").check([target.name])
    return value, target


def write_posterior(sweep, X, sigma2: float, target: Path) -> tuple[Path, float]:
    """mu, logvar and reconstruction (first seed, the sweep point nearest ``sigma2``) on X;
    returns the file and the sweep point's sigma'^2 (recorded in the file)."""
    i = int(np.argmin(np.abs(np.log(sweep.sigma2 / sigma2))))
    mu, logvar, recon = sweep.state.posterior(i * len(sweep.seeds), X)
    folder = OutputFolder(target.parent, "--export-posterior", "choose another file name")
    with folder.staged() as scratch:
        np.savez(
            scratch / target.name, mu=mu, logvar=logvar, reconstruction=recon,
            sigma2=np.array(sweep.sigma2[i]), model=np.array(sweep.model),
        )  # fmt: skip
    return folder.published[0], float(sweep.sigma2[i])
