"""A whole sweep trained at once against the same sweep trained one point after another.

``numerics.training._linear.train_linear_sweep`` trains every sweep point (and seed) of a
sweep at once, along a leading sweep axis.  The baseline is what the published PyTorch
scripts do: a Python loop over the sweep points, training one model per point -- here the
same function called with one sigma'^2 at a time, so both sides run the same code, the
same steps, the same minibatches and the same noise (seed r's draws are shared by all
points), and must give the same numbers.  Both run in this one process, on the bundled
digits (1797 x 64, pixel values 0..16), k = 4 latents, a log-spaced sweep of
sigma'^2 over [80, 220] (the top four critical points are ~179, 164, 142 and 101), beta 1.

Reported per trainer (the linear VAE with one reparameterised sample per point, the
linear VAE with the exact expectation over q, and the MLP VAE of
``numerics.training._mlp.train_mlp_sweep`` with one sample, widths (32, 32), cold-started so
that every point trains alone exactly as in the sweep): wall-clock seconds of each side
(the best of ``--repeats``, taken round-robin), the speed-up, and the largest difference
of the results (KL per latent, neg_elbo).

Run ``python -m benchmarks sweep`` (32 points, 2000 steps, ~1 minute) or add ``--quick``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from numerics.training._linear import train_linear_sweep
from numerics.training._mlp import train_mlp_sweep

#: name -> (trainer, its options besides the sweep, steps and seed).  The minibatch is
#: pinned (128 rows linear, 256 MLP) and the same on both sides: the linear trainer's
#: default is adaptive (``default_batch``: all 1797 rows of digits), and 128 keeps the
#: figures comparable with the earlier ones in README.md.
TRAINERS = {
    "sampled": (train_linear_sweep, dict(exact_expectation=False, batch_size=128)),
    "exact": (train_linear_sweep, dict(exact_expectation=True, batch_size=128)),
    "mlp": (
        train_mlp_sweep,
        dict(hidden=(32, 32), warm_start=False, kl_warmup=0, batch_size=256),
    ),
}


def load_digits() -> np.ndarray:
    """The bundled 8x8 digits, 1797 x 64 float64 (no download)."""
    from sklearn.datasets import load_digits as _load

    return _load().data.astype(float)


def run(
    X: np.ndarray, sigma2: np.ndarray, trainer: str, steps: int, repeats: int, seed: int
) -> dict:
    """Time the vectorised sweep and the point-by-point loop; return one table row."""
    train, options = TRAINERS[trainer]
    kw = dict(latent_dim=4, steps=steps, seeds=(seed,), progress=False, **options)
    times: dict[str, list[float]] = {"vectorised": [], "loop": []}
    for _ in range(repeats):
        t0 = time.perf_counter()
        swept = train(X, sigma2, **kw)
        times["vectorised"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        alone = [train(X, [s], **kw) for s in sigma2]
        times["loop"].append(time.perf_counter() - t0)
    kl = np.concatenate([a.kl for a in alone])
    neg_elbo = np.concatenate([a.neg_elbo for a in alone])
    vec, loop = min(times["vectorised"]), min(times["loop"])
    return {
        "vectorised": vec,
        "loop": loop,
        "speedup": loop / vec,
        "dkl": float(np.max(np.abs(kl - swept.kl))),
        "dF": float(np.max(np.abs(neg_elbo - swept.neg_elbo))),
        "per_step_us": 1e6 * vec / steps,
    }


def main(argv: list[str] | None = None, *, quick: bool = False) -> int:
    """Run the sweep benchmark; ``argv`` as on the command line (see ``--help``)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks sweep", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="500 steps instead of 2000")
    parser.add_argument("--points", type=int, default=32, help="sweep points (32)")
    parser.add_argument("--steps", type=int, default=None, help="Adam steps (2000)")
    parser.add_argument("--repeats", type=int, default=1, help="best of this many runs (1)")
    parser.add_argument("--seed", type=int, default=0, help="training seed (0)")
    parser.add_argument(
        "--trainers", default=",".join(TRAINERS), help=f"{','.join(TRAINERS)} (all)"
    )
    args = parser.parse_args([] if argv is None else argv)
    quick = quick or args.quick
    steps = args.steps or (500 if quick else 2000)
    X = load_digits()
    sigma2 = np.geomspace(80.0, 220.0, args.points)
    print(
        f"sweep: VAEs on digits {X.shape[0]} x {X.shape[1]}, k = 4, beta = 1, "
        f"{args.points} sigma2 points in [80, 220], 1 seed, {steps} Adam steps "
        "(batch 128 linear, 256 MLP); "
        f"vectorised (all points at once) vs a Python loop over the points; "
        f"best of {args.repeats}"
    )
    print(
        f"{'trainer':<11}{'vectorised s':>14}{'loop s':>10}{'speed-up':>10}"
        f"{'us/step':>10}{'max |dKL|':>12}{'max |dF|':>11}"
    )
    for name in (e for e in args.trainers.split(",") if e):
        if name not in TRAINERS:
            parser.error(f"unknown trainer {name!r}: expected one of {', '.join(TRAINERS)}")
        row = run(X, sigma2, name, steps, args.repeats, args.seed)
        print(
            f"{name:<11}{row['vectorised']:>14.2f}{row['loop']:>10.2f}{row['speedup']:>9.1f}x"
            f"{row['per_step_us']:>10.0f}{row['dkl']:>12.1e}{row['dF']:>11.1e}"
        )
    print(
        "(us/step: vectorised time per Adam step for the whole sweep; the differences are "
        "between the two runs' KL per latent and neg_elbo: the sweep axis changes nothing)"
    )
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
