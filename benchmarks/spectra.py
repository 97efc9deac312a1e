"""Top covariance eigenvalues of large data: ``covariance_spectrum`` against plain NumPy.

The baseline is what a user would write, ``numpy.linalg.eigvalsh(numpy.cov(X.T))``
(1/(N-1), so its values are rescaled by (N-1)/N before comparing with the 1/N convention).
Every method runs in this one process on the same data; each time is the best of
``--repeats`` runs, taken round-robin so a slow spell of a shared machine hits all methods
alike.  The error is the largest relative difference of the top ``--top`` eigenvalues from
the baseline's.

Two kinds of data, both N x d float64 from a seeded generator with a non-zero mean:

* ``spiked``: 16 spikes (population eigenvalues 1 + geomspace(50, 5)) on unit isotropic
  noise, under a random rotation -- a clear gap after the 16th eigenvalue;
* ``smooth``: population eigenvalues exp(-(i - 1) / 50) under a random rotation -- no gap
  (lambda_17 / lambda_16 = 0.98).

Run ``python -m benchmarks spectra`` (200 000 x 1 000, ~2-3 minutes) or add ``--quick``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from numerics.spectra._covariance import covariance_spectrum

KINDS = ("spiked", "smooth")
METHODS = ("eigh", "krylov", "mixed", "auto")


def _rotation(d: int, rng: np.random.Generator) -> np.ndarray:
    """A random orthogonal d x d matrix (QR of a Gaussian matrix, signs fixed)."""
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return q * np.sign(np.diag(r))


def make_data(kind: str, n: int, d: int, seed: int, top: int = 16) -> tuple[np.ndarray, str]:
    """Generate the benchmark data (rows are samples) and a one-line description.

    Parameters
    ----------
    kind : {"spiked", "smooth"}
        See the module docstring.
    n, d : int
        Shape.
    seed : int
        Seed of ``numpy.random.default_rng``.
    top : int
        Number of spikes of the ``spiked`` kind.
    """
    rng = np.random.default_rng(seed)
    X = np.empty((n, d))
    mean = rng.normal(0.0, 1.0, d)
    step = 20_000
    if kind == "spiked":
        spikes = np.geomspace(50.0, 5.0, top)
        basis = _rotation(d, rng)[:, :top]
        for start in range(0, n, step):
            r = min(step, n - start)
            block = rng.standard_normal((r, d))
            block += (rng.standard_normal((r, top)) * np.sqrt(spikes)) @ basis.T
            X[start : start + r] = block + mean
        text = f"{top} spikes 1+geomspace(50, 5) over unit noise, random rotation, mean ~ N(0, 1)"
    elif kind == "smooth":
        lam = np.exp(-np.arange(d) / 50.0)
        rotation = _rotation(d, rng)
        for start in range(0, n, step):
            r = min(step, n - start)
            X[start : start + r] = (rng.standard_normal((r, d)) * np.sqrt(lam)) @ rotation.T
            X[start : start + r] += mean
        text = "population eigenvalues exp(-(i-1)/50), random rotation, mean ~ N(0, 1)"
    else:
        raise ValueError(f"kind={kind!r}: expected one of {', '.join(KINDS)}")
    return X, text


def _cpu_busy(seconds: float) -> float:
    """Fraction of all CPUs busy over ``seconds`` (Linux /proc/stat; 0.0 elsewhere)."""

    def sample() -> list[int]:
        with open("/proc/stat") as f:
            return [int(v) for v in f.readline().split()[1:]]

    try:
        a = sample()
        time.sleep(seconds)
        b = sample()
    except OSError:
        return 0.0
    delta = [y - x for x, y in zip(a, b, strict=False)]
    total = sum(delta)
    return 0.0 if total <= 0 else 1.0 - (delta[3] + delta[4]) / total  # idle + iowait


def wait_idle(threshold: float = 0.1, window: float = 1.0, patience: float = 120.0) -> bool:
    """Wait until the machine is idle (< ``threshold`` busy over ``window`` s), at most
    ``patience`` seconds; return whether it was.  For timing on a shared machine."""
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        if _cpu_busy(window) < threshold:
            return True
    return False


def _timed(fn: Callable[[], object], times: list[float], cpu: list[float]) -> object:
    c0, t0 = time.process_time(), time.perf_counter()
    out = fn()
    times.append(time.perf_counter() - t0)
    cpu.append(time.process_time() - c0)
    return out


def run_kind(
    kind: str,
    n: int,
    d: int,
    top: int,
    repeats: int,
    rtol: float,
    seed: int,
    methods: tuple,
    idle: bool = False,
) -> list[dict]:
    """Time the baseline and each method on one kind of data; return one row per method."""
    X, text = make_data(kind, n, d, seed, top)
    print(f"\n[{kind}] {n} x {d} float64: {text}")

    def baseline() -> np.ndarray:
        return np.linalg.eigvalsh(np.cov(X.T))

    calls: dict[str, Callable[[], object]] = {"numpy eigvalsh(cov)": baseline}
    for m in methods:
        calls[m] = lambda m=m: covariance_spectrum(X, top=top, method=m, rtol=rtol, seed=seed)
    times: dict[str, list[float]] = {name: [] for name in calls}
    cpu: dict[str, list[float]] = {name: [] for name in calls}
    results: dict[str, object] = {}
    for _ in range(repeats):
        for name, fn in calls.items():
            if idle:
                wait_idle()
            results[name] = _timed(fn, times[name], cpu[name])
    full = np.asarray(results["numpy eigvalsh(cov)"])[::-1] * (n - 1) / n  # 1/(N-1) -> 1/N
    ref = full[:top]
    print(
        f"sample spectrum: lambda_1 = {full[0]:.4g}, lambda_{top} = {full[top - 1]:.4g}, "
        f"lambda_{top + 1} / lambda_{top} = {full[top] / full[top - 1]:.3f}"
    )
    base = min(times["numpy eigvalsh(cov)"])
    rows = []
    for name in calls:
        t = min(times[name])
        median = float(np.median(times[name]))
        cpu_best = min(cpu[name])
        res = results[name]
        if name == "numpy eigvalsh(cov)":
            row = {"method": name, "seconds": t, "median": median, "cpu": cpu_best}
            row.update(speedup=1.0, error=0.0)
        else:
            err = float(np.max(np.abs(res.eigenvalues - ref) / ref))
            label = name if res.method == name else f"{name} -> {res.method}"
            row = {
                "method": label,
                "seconds": t,
                "median": median,
                "cpu": cpu_best,
                "speedup": base / t,
                "error": err,
                "passes": res.passes,
                "bound": None
                if res.error_bounds is None
                else float(np.max(res.error_bounds / res.eigenvalues)),
                "fallback": res.fallback,
            }
        rows.append(row)
    _print_table(rows, top, rtol)
    return rows


def _print_table(rows: list[dict], top: int, rtol: float) -> None:
    print(
        f"{'method':<22}{'seconds':>9}{'(median)':>10}{'cpu s':>8}{'speed-up':>10}"
        f"{'max rel err':>13}"
        f"{'passes':>8}{'certified rel':>15}"
    )
    for row in rows:
        err = "(reference)" if row["method"].startswith("numpy") else f"{row['error']:.1e}"
        passes = str(row.get("passes", ""))
        bound = row.get("bound")
        bound_text = "" if bound is None else f"{bound:.1e}"
        median = f"({row['median']:.3f})"
        print(
            f"{row['method']:<22}{row['seconds']:>9.3f}{median:>10}{row['cpu']:>8.2f}"
            f"{row['speedup']:>9.2f}x{err:>13}"
            f"{passes:>8}{bound_text:>15}"
        )
        if row.get("fallback"):
            print(f"{'':<4}note: {row['fallback']}")
    print(
        f"(iterative methods certify rtol={rtol:g}; 'certified rel' = largest certified "
        "bound / eigenvalue; passes = full reads of X; cpu s = process CPU time, best run)"
    )


def main(argv: list[str] | None = None) -> int:
    """Run the spectra benchmark; ``argv`` as on the command line (see ``--help``)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks spectra", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small data (40 000 x 400)")
    parser.add_argument("--n", type=int, default=None, help="rows (default 200000)")
    parser.add_argument("--d", type=int, default=None, help="columns (default 1000)")
    parser.add_argument("--top", type=int, default=16, help="eigenvalues wanted (16)")
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs (3)")
    parser.add_argument("--rtol", type=float, default=1e-10, help="certified rtol (1e-10)")
    parser.add_argument("--seed", type=int, default=0, help="data and start-block seed (0)")
    parser.add_argument("--kinds", default=",".join(KINDS), help="spiked,smooth")
    parser.add_argument("--methods", default=",".join(METHODS), help="eigh,krylov,mixed,auto")
    parser.add_argument(
        "--wait-idle",
        action="store_true",
        help="before each timed call wait (<= 2 min) for the CPUs to be idle: for shared machines",
    )
    args = parser.parse_args(argv)
    n = args.n or (40_000 if args.quick else 200_000)
    d = args.d or (400 if args.quick else 1_000)
    kinds = tuple(k for k in args.kinds.split(",") if k)
    methods = tuple(m for m in args.methods.split(",") if m)
    print(
        f"spectra: top {args.top} eigenvalues of the centred 1/N covariance, {n} x {d} "
        f"float64, best of {args.repeats}, rtol={args.rtol:g}"
        + (", each call started on an idle machine" if args.wait_idle else "")
    )
    for kind in kinds:
        run_kind(kind, n, d, args.top, args.repeats, args.rtol, args.seed, methods, args.wait_idle)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
