"""Write a map's figures, CSV and JSON into a folder, all or nothing."""

from __future__ import annotations

import csv
import json
import os
import tempfile
from pathlib import Path

from numerics.app._plots import (
    plot_derivatives,
    plot_kl,
    plot_phase_diagram,
    plot_staircase,
    plot_training,
)
from numerics.core._maps import MapResult, PhaseDiagram
from numerics.core._validation import InputError
from numerics.training._sweep import ACTIVE_KL


def _write_csv(path: Path, header: list[str], rows) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)


def _publish(staged: list[Path], out: Path) -> list[Path]:
    """Move every staged file into ``out`` (same file system: each move is atomic)."""
    final = []
    for path in staged:
        target = out / path.name
        os.replace(path, target)
        final.append(target)
    return final


def write_map(result: MapResult, pd: PhaseDiagram, out: Path) -> list[Path]:
    """Figures (PNG and PDF), curves.csv, critical_points.csv, phase_diagram.csv, map.json.

    The files are made in a scratch folder inside ``out`` and moved in only when
    all of them were written: an error leaves ``out`` as it was.
    """
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out) as scratch:
        tmp = Path(scratch)
        staged = []
        staged += plot_kl(result, tmp)
        staged += plot_derivatives(result, tmp)
        staged += plot_staircase(result, tmp)
        staged += plot_phase_diagram(pd, tmp)
        names, table = result.curve_table()
        _write_csv(tmp / "curves.csv", names, (list(map(repr, row)) for row in table.tolist()))
        staged.append(tmp / "curves.csv")
        cps = [c.to_dict() for c in result.critical_points]
        header = [result.variable, "eigenvalue", "modes"]
        for q in ("kl", "neg_elbo"):
            for n in ("d", "d2"):
                header += [f"{n}_{q}_left", f"{n}_{q}_right", f"{n}_{q}_jump"]
        rows = []
        for c in cps:
            row = [c[result.variable], c["eigenvalue"], " ".join(map(str, c["modes"]))]
            for q in ("kl", "neg_elbo"):
                for n in ("d", "d2"):
                    v = c[f"{n}_{q}"]
                    row += [v["left"], v["right"], v["jump"]]
            rows.append(row)
        _write_csv(tmp / "critical_points.csv", header, rows)
        staged.append(tmp / "critical_points.csv")
        _write_csv(
            tmp / "phase_diagram.csv",
            ["sigma2", "beta", "n_active"],
            (
                [s, b, int(pd.n_active[i, j])]
                for i, b in enumerate(pd.beta)
                for j, s in enumerate(pd.sigma2)
            ),
        )
        staged.append(tmp / "phase_diagram.csv")
        (tmp / "map.json").write_text(json.dumps(result.to_dict()))
        staged.append(tmp / "map.json")
        return _publish(staged, out)


def write_training(report, out: Path) -> list[Path]:
    """training.png/pdf (over the theory), train.json and points.csv, all or nothing."""
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: exists and is not a folder")
    s = report.sweep
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out) as scratch:
        tmp = Path(scratch)
        staged = plot_training(report, report.theory, tmp)
        (tmp / "train.json").write_text(json.dumps(report.to_dict()))
        staged.append(tmp / "train.json")
        k = s.kl.shape[-1]
        mean = s.kl.mean(axis=1)
        _write_csv(
            tmp / "points.csv",
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
        staged.append(tmp / "points.csv")
        return _publish(staged, out)
