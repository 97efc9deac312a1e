"""``threshold``, ``optimum`` and ``map`` of the two-level hierarchical VAE: text, JSON, files.

Point keys print as two letters, the first level's state then the top level's: ``a``
active, ``c`` collapsed (``ac``: z_1 active, z_2 collapsed).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from numerics.app._output import OutputFolder, strict_json

#: The files of ``map --family hvae --out DIR``.
HVAE_MAP_FILES = [
    *(f"{stem}.{ext}" for stem in ("kl", "phase_diagram") for ext in ("png", "pdf")),
    "curves.csv", "critical_points.csv", "phase_diagram.csv", "map.json",
]  # fmt: skip
_LEVEL = {0: "first level", 1: "top level"}


def _collapse(value: float | None) -> str:
    if value is None:
        return "never"
    return "always" if value == 0 else f"{value:.10g}"


def _what(t) -> str:
    """``first level collapses, top level activates``... for a transition."""
    return ", ".join(f"{_LEVEL[i]} {t.changes(i)}" for i in (0, 1) if t.changes(i))


def print_thresholds(r, header: str) -> None:
    """The text output of ``threshold --family hvae``."""
    print(header)
    print(f"{'mode':>4}  {'eigenvalue':>14}  {'first collapses':>16}  {'top collapses':>16}"
          f"  {'first to collapse':>17}")  # fmt: skip
    for j in range(len(r.first_collapse)):
        print(f"{j + 1:>4}  {r.eigenvalues[j]:>14.10g}  {_collapse(r.first_collapse[j]):>16}  "
              f"{_collapse(r.top_collapse[j]):>16}  {r.collapses_first(j):>17}")  # fmt: skip
    if r.transitions:
        print("transitions as sigma2 grows (points: first level, top level; a active, "
              "c collapsed):")  # fmt: skip
        for t in sorted(r.transitions, key=lambda t: (t.sigma2, t.mode)):
            print(f"  sigma2 = {t.sigma2:<12.10g} mode {t.mode}: {t.before} -> {t.after} "
                  f"({_what(t)})")  # fmt: skip


def print_optimum(r, header: str) -> None:
    """The text output of ``optimum --family hvae``."""
    print(header)
    print(f"{'mode':>4}  {'eigenvalue':>12}  {'point':>5}  {'KL1':>10}  {'KL2':>10}  "
          f"{'enc. s.v.':>10}  {'dec2 s.v.':>10}")  # fmt: skip
    for m in r.modes:
        v = m.values
        print(f"{m.index:>4}  {m.eigenvalue:>12.6g}  {m.point:>5}  {v['kl1']:>10.6g}  "
              f"{v['kl2']:>10.6g}  {v['encoder_singular_value']:>10.6g}  "
              f"{v['decoder2_singular_value']:>10.6g}")  # fmt: skip
    print(f"KL1 total = {r.total('kl1'):.6g}, KL2 total = {r.total('kl2'):.6g}, "
          f"neg_elbo = {r.neg_elbo:.10g}")  # fmt: skip
    print("(enc. s.v. = |v1| sqrt(lambda), dec2 s.v. = |w2|: Dang et al.'s lambda_i, omega_i)")


def print_map(result) -> None:
    """The text output of ``map --family hvae``: one line per critical point."""
    print(f"{len(result.critical_points)} critical points against sigma2:")
    for c in result.critical_points:
        what = "; ".join(f"mode {s['mode']}: {s['before']} -> {s['after']}" for s in c["switches"])
        k1, k2, f2 = c["d_kl1"], c["d_kl2"], c["d2_neg_elbo"]
        print(f"  sigma2_c = {c['sigma2']:<12.8g} ({what}): dKL1 jumps by {k1['jump']:+.6g}, "
              f"dKL2 by {k2['jump']:+.6g}; d2F jumps by {f2['jump']:+.6g}")  # fmt: skip


def _write_csv(path: Path, header: list[str], rows) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)


def hierarchical_map_files(result, pd, folder: Path) -> None:
    """The kl and phase_diagram figures, curves.csv, critical_points.csv, phase_diagram.csv
    and map.json."""
    from numerics.app._hierarchical_plots import plot_hierarchical_map, plot_hierarchical_phases

    folder.mkdir(parents=True, exist_ok=True)
    plot_hierarchical_map(result, folder)
    plot_hierarchical_phases(pd, folder)
    names, table = result.curve_table()
    _write_csv(folder / "curves.csv", names, (list(map(repr, row)) for row in table.tolist()))
    header = ["sigma2", "switches"] + [
        f"{n}_{q}_{s}"
        for q in ("kl1", "kl2", "neg_elbo")
        for n in ("d", "d2")
        for s in ("left", "right", "jump")
    ]
    rows = [[c["sigma2"], " ".join(f"{w['mode']}:{w['before']}>{w['after']}"
                                   for w in c["switches"])]
            + [c[f"{n}_{q}"][s] for q in ("kl1", "kl2", "neg_elbo") for n in ("d", "d2")
               for s in ("left", "right", "jump")] for c in result.critical_points]  # fmt: skip
    _write_csv(folder / "critical_points.csv", header, rows)
    _write_csv(folder / "phase_diagram.csv", ["beta", "beta2", "n_active_first", "n_active_top"],
               ([b1, b2, pd.n_first[i, j], pd.n_top[i, j]] for i, b2 in enumerate(pd.beta2)
                for j, b1 in enumerate(pd.beta)))  # fmt: skip
    (folder / "map.json").write_text(strict_json(result.to_dict()))


def write_hierarchical_map(result, pd, out: Path) -> list[Path]:
    """:func:`hierarchical_map_files` into ``out``, all or nothing."""
    folder = OutputFolder(out).check(HVAE_MAP_FILES)
    with folder.staged() as scratch:
        hierarchical_map_files(result, pd, scratch)
    return folder.published


def header(model, beta: float, sigma2: float | None = None) -> str:
    """``hierarchical VAE: first level ...; top level ...; beta = ..., beta2 = ...``."""
    at = "" if sigma2 is None else f"sigma2 = {sigma2:g}, "
    eta = "" if model.eta2 == 1 else f", eta2 = {model.eta2:g}"
    first = "learnable" if model.zeta2_1 is None else f"fixed, zeta2 = {model.zeta2_1:g}"
    top = "learnable" if model.zeta2_2 is None else f"fixed, zeta2 = {model.zeta2_2:g}"
    return (f"hierarchical VAE: first level {first}; top level {top}; {at}beta = {beta:g}, "
            f"beta2 = {model.beta2:g}{eta}")  # fmt: skip


def record(result: Any, source_record: dict) -> str:
    """One JSON object: the result and the data's record."""
    return strict_json(result.to_dict() | {"data": source_record})
