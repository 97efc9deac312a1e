"""Sweeps spread over a Dask cluster: blocks of sweep points and seeds, one block a task.

The runs of a sweep (sweep point s, seed r) are split into rectangular blocks of
consecutive points x groups of seeds (:func:`plan_blocks`).  The seeds are started
first, one task per group of seeds (their initial parameters and, with a warm start,
their anchor: :func:`numerics.training._loop.start_seeds`); each block is then one task
that trains its runs from its seeds' start (:func:`numerics.training._loop.train_block`)
and evaluates them on all data.  The result is bit for bit that of one process:

* randomness belongs to seeds, not to blocks.  Seed r's generator draws its initial
  parameters and then the same noise at every step, whichever sweep points it serves
  (common random numbers); its state travels from the start task to the blocks.  The
  minibatch order comes from one generator shared by all runs, which every block
  replays from the start;
* each run's arithmetic is its own.  The trainers' products are batched over the runs
  (one BLAS call per run and product, of the same shape in any block), elementwise
  operations do not mix runs, sums per run go through
  :func:`numerics.training._loop.per_run_dot`, and the evaluation's row chunks do not
  depend on how many runs are evaluated together
  (:func:`numerics.training._loop.eval_chunks`).

``tests/test_dask_sweeps.py`` checks the identity on uneven blocks.  Not reproduced:
workers of another CPU type or another NumPy/BLAS build, whose BLAS kernels round
differently.  Of several blocks that diverge, the one a single process would have
stopped at first is reported (anchors first, then the earliest step); its count of
diverged sweep points is that of its block.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from numerics.core._validation import InputError, check_int, check_memory
from numerics.training._allocator import freed_memory_kept, keep_freed_memory
from numerics.training._config import TrainingConfig
from numerics.training._loop import (
    Block,
    SeedStart,
    SweepModel,
    TrainingDiverged,
    _training_context,
    progress_bar,
    start_seeds,
    train_block,
    train_sweep,
)


@dataclass(frozen=True)
class Cluster:
    """Where a sweep runs: the Dask scheduler ``scheduler`` (an address or a Client), or
    a local cluster of ``workers`` processes; in ``blocks`` tasks (default: one per
    worker thread)."""

    scheduler: Any = None
    workers: int | None = None
    blocks: int | None = None


def cluster_options(
    scheduler: Any = None, workers: Any = None, blocks: Any = None
) -> Cluster | None:
    """The checked cluster options (InputError), or None when the sweep stays in this process.

    ``workers`` must be an integer >= 1, ``scheduler`` an address (or a Client), not both;
    ``blocks`` an integer >= 1, only with one of them.  The dask extra must be installed.
    """
    from numerics.data._chunked import require_dask
    from numerics.spectra._dask import check_cluster_options

    workers = check_cluster_options(scheduler, workers)
    if blocks is not None:
        blocks = check_int("blocks", blocks, 1)
        if scheduler is None and workers is None:
            raise InputError(
                f"blocks={blocks}: expected together with scheduler or workers (a block is "
                "a Dask task)"
            )
    if scheduler is None and workers is None:
        return None
    require_dask("a sweep on a Dask cluster (--scheduler, --workers)")
    return Cluster(scheduler, workers, blocks)


def split(count: int, parts: int) -> list[tuple[int, ...]]:
    """``range(count)`` in ``parts`` consecutive pieces as even as they can be."""
    return [tuple(int(i) for i in c) for c in np.array_split(np.arange(count), parts)]


def plan_blocks(S: int, R: int, n: int) -> list[Block]:
    """At most ``n`` blocks of the S x R runs, in order of their sweep points.

    With at least ``n`` points: ``n`` runs of consecutive points, every seed in each
    (fewer, wider blocks vectorise better).  With fewer points: one point a block, its
    seeds in ``n // S`` groups.
    """
    n = max(1, min(n, S * R))
    if n <= S:
        return [Block((c[0], c[-1] + 1), tuple(range(R))) for c in split(S, n)]
    groups = split(R, min(R, n // S))
    return [Block((s, s + 1), g) for s in range(S) for g in groups]


def aligned(a: np.ndarray | None) -> np.ndarray | None:
    """``a`` in C order at an address aligned for its dtype (copied only if it is not).

    An array deserialised on a worker can start at any byte of its message: NumPy then
    takes its products on ``a`` out of BLAS into its own loops, which round differently
    (a 4 x 1797 by 1797 x 4 product differed by 1e-12 relative).
    """
    return None if a is None else np.require(a, requirements=["C", "A"])


def _start_task(model, data, sigma2, config, seeds, labels, keep_memory) -> SeedStart:
    """A Dask task: :func:`numerics.training._loop.start_seeds` of a group of seeds."""
    if keep_memory:  # as the calling process does (numerics/training/_allocator.py)
        keep_freed_memory()
    with _training_context(None):
        return start_seeds(model, aligned(data), aligned(sigma2), config, seeds, labels)


def _block_task(model, data, eval_data, sigma2, config, block, starts, labels, finish, keep):
    """A Dask task: train one block and evaluate it; returns (parameters, evaluation)."""
    if keep:  # as the calling process does (numerics/training/_allocator.py)
        keep_freed_memory()
    lo, hi = block.points
    P = (hi - lo) * len(block.seeds)
    check_memory(f"training a block of {P} runs", P * model.run_bytes(config.batch_size))
    start = SeedStart.merge(list(starts))
    data, eval_data, sigma2 = aligned(data), aligned(eval_data), aligned(sigma2)
    with _training_context(None):
        params = train_block(model, data, sigma2, config, block, start, labels)
        runs_sigma2 = np.repeat(sigma2[lo:hi], len(block.seeds))
        evaluation = finish(params, data if eval_data is None else eval_data, runs_sigma2)
    return {name: np.array(w) for name, w in params.items()}, evaluation


def run_sweep(
    model: SweepModel,
    data: np.ndarray,
    sigma2: np.ndarray,
    config: TrainingConfig,
    finish: Callable[[dict[str, np.ndarray], np.ndarray, np.ndarray], tuple],
    *,
    eval_data: np.ndarray | None = None,
    labels_sigma2: np.ndarray | None = None,
    cluster: Cluster | None = None,
) -> tuple[dict[str, np.ndarray], tuple]:
    """Train every run of a sweep and evaluate it, in this process or on a Dask cluster.

    Parameters
    ----------
    model, data, sigma2, config, labels_sigma2
        As for :func:`numerics.training._loop.train_sweep`.
    finish : callable
        ``finish(params, eval_data, sigma2_of_each_run)``: the evaluation of trained runs,
        a NamedTuple of arrays with the run axis first (a module-level function or a
        ``functools.partial`` of one: it is sent to the workers).
    eval_data : ndarray, optional
        What ``finish`` evaluates on (default ``data``).
    cluster : Cluster, optional
        Where to run (:func:`cluster_options`); None: in this process, all runs at once.

    Returns
    -------
    params : dict of ndarray
        Trained parameters, run p = s * R + r.
    evaluation : tuple
        ``finish``'s result for every run, in the same order.
    """
    if cluster is None:
        params = train_sweep(model, data, sigma2, config, labels_sigma2)
        runs_sigma2 = np.repeat(sigma2, len(config.seeds))
        with _training_context(None):
            return params, finish(params, data if eval_data is None else eval_data, runs_sigma2)
    from numerics.spectra._dask import dask_client

    with dask_client(cluster.scheduler, cluster.workers) as client:
        n = cluster.blocks or max(1, sum(client.nthreads().values()))
        args = (model, data, eval_data, sigma2, config, finish, labels_sigma2)
        return _on_cluster(client, n, *args)


def _on_cluster(client, n, model, data, eval_data, sigma2, config, finish, labels):
    """Submit the start and block tasks, wait with a progress bar, assemble the runs."""
    S, R = sigma2.size, len(config.seeds)
    blocks = plan_blocks(S, R, n)
    groups = split(R, min(R, n))
    # Unique keys (hash=False): a key derived from the data would be shared with an
    # earlier sweep on the same data, whose release could remove it under this one.
    data_f = client.scatter(data, broadcast=True, hash=False)
    eval_f = None if eval_data is None else client.scatter(eval_data, broadcast=True, hash=False)
    keep = freed_memory_kept()
    starts = [
        client.submit(_start_task, model, data_f, sigma2, config, g, labels, keep, pure=False)
        for g in groups
    ]
    tasks = []
    for b in blocks:
        mine = [f for f, g in zip(starts, groups, strict=True) if set(g) & set(b.seeds)]
        args = (model, data_f, eval_f, sigma2, config, b, mine, labels, finish, keep)
        tasks.append(client.submit(_block_task, *args, pure=False))
    desc = f"{model.name} VAE sweep ({S * R} runs in {len(blocks)} Dask tasks)"
    wait_for(starts + tasks, progress_bar(len(starts) + len(tasks), config.progress, desc, "task"))
    raise_first_error(starts, tasks)
    return assemble(blocks, [t.result() for t in tasks], S, R)


def map_blocks(cluster: Cluster, count: int, task: Callable, block_args: Callable) -> list[Any]:
    """``task(*block_args(lo, hi))`` for consecutive blocks [lo, hi) of ``count`` items, on
    the cluster (one block per worker thread unless ``cluster.blocks``); results in order.

    For sweeps whose runs need nothing from each other (no seeds to start): the
    relaxation runs of :mod:`numerics.training._dynamics`.
    """
    from numerics.spectra._dask import dask_client

    with dask_client(cluster.scheduler, cluster.workers) as client:
        n = cluster.blocks or max(1, sum(client.nthreads().values()))
        chunks = split(count, max(1, min(count, n)))
        futures = [client.submit(task, *block_args(c[0], c[-1] + 1), pure=False) for c in chunks]
        wait_for(futures, None)
        raise_first_error([], futures)
        return [f.result() for f in futures]


def wait_for(futures: Sequence[Any], bar) -> None:
    """Wait until every future is done (finished or failed), advancing ``bar`` per task."""
    from distributed import as_completed

    futures = list(futures)
    with contextlib.ExitStack() as stack:
        if bar is not None:
            stack.callback(bar.close)
        # the client's own loop: it need not be the default client
        for _ in as_completed(futures, loop=futures[0].client.loop if futures else None):
            if bar is not None:
                bar.update(1)


def raise_first_error(first: Sequence[Any], then: Sequence[Any]) -> None:
    """Raise what one process would have raised first, if any task failed.

    Any error but a divergence (bad input found on a worker, a lost worker) as it is;
    else the divergence of the earliest phase (``first``: the anchors), then of the
    earliest step, then of the first task.
    """
    for phase in (first, then):
        errors = [f.exception() for f in phase if f.status == "error"]
        others = [e for e in errors if not isinstance(e, TrainingDiverged)]
        if others:
            raise others[0]
        if errors:
            raise min(errors, key=lambda e: math.inf if e.step is None else e.step)


def assemble(blocks: list[Block], results: list[tuple], S: int, R: int):
    """The blocks' (parameters, evaluation) as whole-sweep arrays, run p = s * R + r."""
    params: dict[str, np.ndarray] = {}
    fields: list[np.ndarray] = []
    for block, (part, evaluation) in zip(blocks, results, strict=True):
        runs = block.runs(R)
        for name, w in part.items():
            params.setdefault(name, np.empty((S * R, *w.shape[1:]), dtype=w.dtype))[runs] = w
        if not fields:
            fields = [np.empty((S * R, *a.shape[1:]), dtype=a.dtype) for a in evaluation]
        for out, a in zip(fields, evaluation, strict=True):
            out[runs] = a
    return params, type(results[0][1])(*fields)
