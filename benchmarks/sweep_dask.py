"""A sweep on a local Dask cluster of 1 and 2 workers against the same sweep in this process.

``train_linear_sweep`` and ``train_mlp_sweep`` with ``scheduler=`` split the runs into one
block of sweep points per worker, one block a task (:mod:`numerics.training._distributed`).
The baseline is the same call without a cluster, in this process, all runs at once.  The
cluster (``distributed.LocalCluster``, single-threaded worker processes) is started once
per worker count before the clock runs; its start is reported on its own.  Each time is
the best of ``--repeats`` runs, taken round-robin so a slow spell of a shared machine
hits every side alike, and every cluster run must equal the baseline bit for bit
(``identical``: KL, F, informations and every trained parameter).  Like the command
line, the benchmark keeps freed memory in its process (:mod:`numerics.training._allocator`),
and the sweep tasks do the same on the workers.

On the bundled digits (1797 x 64), k = 4 latents, sigma'^2 log-spaced over [80, 220]:

* ``mlp``: the MLP VAE, widths (32, 32), warm start (an anchor of ``steps`` steps, then
  the sweep), batches of 256;
* ``linear``: the linear VAE with one reparameterised sample per point, batches of 128.

Run ``python -m benchmarks sweep-dask`` (64 points; about 3 minutes) or add ``--quick``.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import time

import numpy as np

from numerics.training._allocator import keep_freed_memory
from numerics.training._linear import train_linear_sweep
from numerics.training._mlp import train_mlp_sweep

#: name -> (trainer, its options besides the sweep, steps and progress).
TRAINERS = {
    "mlp": (train_mlp_sweep, dict(hidden=(32, 32), batch_size=256)),
    "linear": (train_linear_sweep, dict(exact_expectation=False, batch_size=128)),
}
#: Default steps per trainer (the MLP's anchor trains as many again).
STEPS = {"mlp": 1000, "linear": 8000}


def load_digits() -> np.ndarray:
    """The bundled 8x8 digits, 1797 x 64 float64 (no download)."""
    from sklearn.datasets import load_digits as _load

    return _load().data.astype(float)


def identical(a, b) -> bool:
    """Whether two SweepResults agree bit for bit (arrays and trained parameters)."""
    fields = ("kl", "encoder_variance", "neg_elbo", "information")
    same = all(np.array_equal(getattr(a, f), getattr(b, f)) for f in fields)
    pa, pb = a.state.params, b.state.params
    return same and all(np.array_equal(pa[name], pb[name]) for name in pa)


def run(X, sigma2, trainer: str, steps: int, repeats: int, clients: dict) -> dict:
    """Time the sweep in this process and on each cluster; return one table row."""
    train, options = TRAINERS[trainer]
    kw = dict(latent_dim=4, steps=steps, seeds=(0,), progress=False, **options)
    if trainer == "mlp":
        kw["anchor_steps"] = steps
    times: dict = {"process": [], **{n: [] for n in clients}}
    same = True
    for _ in range(repeats):
        t0 = time.perf_counter()
        ref = train(X, sigma2, **kw)
        times["process"].append(time.perf_counter() - t0)
        for n, client in clients.items():
            t0 = time.perf_counter()
            got = train(X, sigma2, scheduler=client, **kw)
            times[n].append(time.perf_counter() - t0)
            same = same and identical(ref, got)
    return {key: min(values) for key, values in times.items()} | {"identical": same}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; ``argv`` as on the command line (see ``--help``)."""
    import distributed

    parser = argparse.ArgumentParser(prog="python -m benchmarks sweep-dask", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="16 points, a quarter of the steps")
    parser.add_argument("--points", type=int, default=None, help="sweep points (64)")
    parser.add_argument("--repeats", type=int, default=1, help="best of this many runs (1)")
    parser.add_argument("--trainers", default=",".join(TRAINERS), help="mlp,linear (both)")
    args = parser.parse_args([] if argv is None else argv)
    points = args.points or (16 if args.quick else 64)
    X = load_digits()
    sigma2 = np.geomspace(80.0, 220.0, points)
    names = [e for e in args.trainers.split(",") if e]
    for name in names:
        if name not in TRAINERS:
            parser.error(f"unknown trainer {name!r}: expected one of {', '.join(TRAINERS)}")
    keep_freed_memory()  # as the command line does, here and (through it) on the workers
    with contextlib.ExitStack() as stack:
        clients, started = {}, {}
        for n in (1, 2):
            t0 = time.perf_counter()
            options = dict(threads_per_worker=1, processes=True, dashboard_address=":0")
            cluster = stack.enter_context(
                distributed.LocalCluster(n_workers=n, silence_logs=logging.CRITICAL, **options)
            )
            clients[n] = stack.enter_context(distributed.Client(cluster, set_as_default=False))
            started[n] = time.perf_counter() - t0
        print(
            f"sweep-dask: VAEs on digits {X.shape[0]} x {X.shape[1]}, k = 4, {points} sigma2 "
            f"points in [80, 220], 1 seed; in this process vs a local Dask cluster of 1 and 2 "
            f"single-threaded workers (started in {started[1]:.1f} and {started[2]:.1f} s, "
            f"not timed below); best of {args.repeats}"
        )
        print(f"{'trainer':<8}{'steps':>7}{'process s':>11}{'1 worker s':>12}{'2 workers s':>13}"
              f"{'1 -> 2':>8}{'process -> 2':>14}  identical")  # fmt: skip
        for name in names:
            steps = STEPS[name] // (4 if args.quick else 1)
            row = run(X, sigma2, name, steps, args.repeats, clients)
            print(
                f"{name:<8}{steps:>7}{row['process']:>11.2f}{row[1]:>12.2f}{row[2]:>13.2f}"
                f"{row[1] / row[2]:>7.2f}x{row['process'] / row[2]:>13.2f}x  {row['identical']}"
            )
    print("(mlp steps: the anchor and the sweep phase each; the anchor is one task, so it does "
          "not scale with workers)")  # fmt: skip
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
