"""Sweeps over a Dask cluster (numerics.training._distributed): bit for bit one process.

The reference is the same sweep trained in this process, all runs at once; the cluster
trains blocks of sweep points and seeds on two worker processes (another process, other
memory, deserialised arrays), in numbers of blocks that do not divide the sweep evenly.
Every array of the results must be equal, not close: KL, encoder variances, F, principal
informations, every trained parameter and the measured transitions.  One
``distributed.LocalCluster`` of 2 worker processes serves the module (a few seconds).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import distributed
import numpy as np
import pytest
from helpers import rotated_data

from numerics.app.cli import main
from numerics.core import InputError
from numerics.data import load_digits
from numerics.training import measure_transitions, train_linear_sweep, train_mlp_sweep
from numerics.training._config import TrainingConfig
from numerics.training._distributed import cluster_options, plan_blocks
from numerics.training._dynamics import relaxation_sweep
from numerics.training._linear import LinearModel
from numerics.training._loop import (
    Block,
    TrainingDiverged,
    _training_context,
    start_seeds,
    train_block,
    train_sweep,
)

ROOT = str(Path(__file__).resolve().parents[1])


@pytest.fixture(scope="module")
def client():
    """A client of a local cluster of 2 single-threaded worker processes (this checkout)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYTHONPATH", ROOT)  # inherited by the spawned workers
        with (
            distributed.LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
            ) as cluster,
            distributed.Client(cluster, set_as_default=False) as c,
        ):
            yield c


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    return np.asarray(load_digits().X, dtype=float)


def assert_identical(a, b) -> None:
    """Every array of two SweepResults equal (not close), and the trained parameters."""
    for name in ("sigma2", "kl", "encoder_variance", "neg_elbo", "information"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert a.seeds == b.seeds and a.options == b.options
    pa, pb = a.state.params, b.state.params
    assert pa.keys() == pb.keys()
    for name in pa:
        assert pa[name].dtype == pb[name].dtype and np.array_equal(pa[name], pb[name]), name
    predicted = np.array([178.9, 163.6, 141.7, 101.0])[: a.kl.shape[-1]]
    ta, tb = measure_transitions(a, predicted), measure_transitions(b, predicted)
    for x, y in zip(ta, tb, strict=True):
        assert (x.estimate, x.stderr, x.bracket) == (y.estimate, y.stderr, y.bracket)


# ---------------------------------------------------------------------------------------
# Blocks: planning and the two phases, without a cluster
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("S", "R", "n"), [(7, 3, 3), (5, 1, 2), (2, 3, 5), (1, 4, 3), (3, 2, 9)])
def test_blocks_cover_every_run_once(S: int, R: int, n: int) -> None:
    blocks = plan_blocks(S, R, n)
    runs = np.concatenate([b.runs(R) for b in blocks])
    assert np.array_equal(np.sort(runs), np.arange(S * R))
    assert len(blocks) <= max(n, 1) and all(b.points[1] > b.points[0] for b in blocks)


def test_a_block_trained_alone_is_its_runs_in_the_whole_sweep(digits: np.ndarray) -> None:
    """The phases a worker runs give, on any block, the whole sweep's runs exactly."""
    Y = (digits - digits.mean(axis=0)) / 13.4
    model = LinearModel(64, 3, "learnable", 13.4, 1.0, 0.3, False, "moments")
    config = TrainingConfig(
        seeds=(5, 0, 2), steps=60, batch_size=96, lr=0.05, warm_start=True, anchor_steps=40,
        kl_warmup=10, kl_warmup_from=0.5, progress=False,
    )  # fmt: skip
    sigma2 = np.geomspace(90.0, 200.0, 5)
    whole = train_sweep(model, Y, sigma2, config)
    blocks = [Block((0, 2), (0, 1, 2)), Block((2, 5), (1,)), Block((2, 5), (2, 0))]
    got = {name: np.full_like(w, np.nan) for name, w in whole.items()}
    with _training_context(None):  # one BLAS thread, as in train_sweep and on a worker
        for block in blocks:
            start = start_seeds(model, Y, sigma2, config, block.seeds)
            params = train_block(model, Y, sigma2, config, block, start)
            for name, w in params.items():
                got[name][block.runs(3)] = w
    for name in whole:
        assert np.array_equal(whole[name], got[name]), name


# ---------------------------------------------------------------------------------------
# On the cluster: bit for bit
# ---------------------------------------------------------------------------------------


LINEAR_CASES = {
    "exact, full batch": dict(latent_dim=4, steps=150),
    "sampled, 3 seeds": dict(latent_dim=4, steps=150, exact_expectation=False, batch_size=128),
    "rows, warm start": dict(
        latent_dim=3,
        steps=100,
        encoder_variance="data-dependent",
        exact_expectation=False,
        batch_size=20,
        warm_start=True,
        anchor_steps=60,
    ),
    "fixed, one latent": dict(latent_dim=1, steps=100, encoder_variance="fixed", batch_size=64),
}


@pytest.mark.parametrize("case", LINEAR_CASES)
@pytest.mark.parametrize(("points", "seeds", "blocks"), [(7, (0, 1, 2), 3), (5, (4,), 2)])
def test_linear_sweep_on_the_cluster_is_bit_identical(
    client, digits, case: str, points: int, seeds: tuple, blocks: int
) -> None:
    grid = np.geomspace(95.0, 200.0, points)
    kw = dict(seeds=seeds, progress=False, **LINEAR_CASES[case])
    ref = train_linear_sweep(digits, grid, **kw)
    got = train_linear_sweep(digits, grid, scheduler=client, blocks=blocks, **kw)
    assert_identical(ref, got)


def test_linear_sweep_with_several_evaluation_chunks(client) -> None:
    """40 000 rows: the evaluation sums over three row chunks, in every block alike."""
    X, _ = rotated_data(np.geomspace(200.0, 1.0, 64), n=40_000, seed=3)
    grid = np.geomspace(20.0, 200.0, 5)
    kw = dict(latent_dim=3, steps=40, seeds=(1, 2), progress=False)
    ref = train_linear_sweep(X, grid, **kw)
    got = train_linear_sweep(X, grid, scheduler=client, blocks=3, **kw)
    assert_identical(ref, got)


MLP_CASES = {
    "warm start": dict(latent_dim=4, steps=60, anchor_steps=60),
    "float32, cold": dict(
        latent_dim=3, steps=60, warm_start=False, dtype="float32", hidden=(16, 8), batch_size=100
    ),
}


@pytest.mark.parametrize("case", MLP_CASES)
@pytest.mark.parametrize(("points", "seeds", "blocks"), [(7, (0, 2), 3), (2, (1, 3, 0), 5)])
def test_mlp_sweep_on_the_cluster_is_bit_identical(
    client, digits, case: str, points: int, seeds: tuple, blocks: int
) -> None:
    grid = np.geomspace(95.0, 200.0, points)
    kw = dict(seeds=seeds, progress=False, **MLP_CASES[case])
    ref = train_mlp_sweep(digits, grid, **kw)
    got = train_mlp_sweep(digits, grid, scheduler=client, blocks=blocks, **kw)
    assert_identical(ref, got)


@pytest.mark.parametrize("optimizer", ["gd", "adam"])
def test_relaxation_sweep_on_the_cluster_is_bit_identical(client, optimizer: str) -> None:
    grid = np.geomspace(0.5, 8.0, 11)
    kw = dict(steps=600, optimizer=optimizer)
    ref = relaxation_sweep([4, 2, 1], grid, **kw)
    got = relaxation_sweep([4, 2, 1], grid, scheduler=client, blocks=4, **kw)
    assert np.isfinite(ref.measured).sum() >= 10
    assert np.array_equal(ref.measured, got.measured, equal_nan=True)
    assert np.array_equal(ref.predicted, got.predicted, equal_nan=True)


def test_progress_bar_counts_tasks(client, digits, capsys) -> None:
    train_linear_sweep(digits, [100.0, 150.0, 200.0], steps=20, scheduler=client, blocks=2)
    err = capsys.readouterr().err
    assert "linear VAE sweep (3 runs in 2 Dask tasks)" in err and "task" in err


def test_divergence_on_the_cluster_names_the_run_one_process_names(client, digits) -> None:
    kw = dict(latent_dim=4, steps=100, lr=1e9, batch_size=64, progress=False)
    grid = np.geomspace(100.0, 200.0, 5)
    with pytest.raises(TrainingDiverged) as ref:
        train_linear_sweep(digits, grid, **kw)
    with pytest.raises(TrainingDiverged) as got:
        train_linear_sweep(digits, grid, scheduler=client, blocks=2, **kw)
    where = re.compile(r"at sigma2=\S+, seed \d+ at step \d+")
    assert where.search(str(ref.value)).group() == where.search(str(got.value)).group()
    assert got.value.step == ref.value.step is not None


# ---------------------------------------------------------------------------------------
# Bad input, before any work
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(workers=0), r"^workers=0: expected an integer >= 1$"),
        (dict(workers=2, scheduler="tcp://127.0.0.1:1"), r"^workers=2 with scheduler="),
        (dict(blocks=2), r"^blocks=2: expected together with scheduler or workers"),
        (dict(workers=1, blocks=0), r"^blocks=0: expected an integer >= 1$"),
        (dict(scheduler="nowhere"), r"^scheduler='nowhere': expected the address"),
    ],
)
def test_bad_cluster_options(kwargs: dict, match: str) -> None:
    with pytest.raises(InputError, match=match):
        cluster_options(**kwargs)


def test_unreachable_scheduler_is_an_input_error(monkeypatch, digits) -> None:
    from numerics.spectra import _dask

    monkeypatch.setattr(_dask, "CONNECT_SECONDS", 0.5)
    with pytest.raises(InputError, match=r"no Dask scheduler answered"):
        train_mlp_sweep(digits, [100.0, 200.0], steps=10, scheduler="tcp://127.0.0.1:1")


# ---------------------------------------------------------------------------------------
# The command line
# ---------------------------------------------------------------------------------------


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_train_with_workers_equals_one_process(client, monkeypatch, capsys) -> None:
    """``--workers 2`` starts a local cluster of worker processes; the JSON is the same."""
    monkeypatch.setenv("PYTHONPATH", ROOT)
    argv = ["train", "--data", "digits", "--steps", "100", "--points", "5", "--seeds", "0,1"]
    code, out, _ = run(capsys, *argv, "--json")
    assert code == 0
    code, got, err = run(capsys, *argv, "--workers", "2", "--json")
    assert code == 0, err
    ref, got = json.loads(out), json.loads(got)
    for report in (ref, got):
        report["seconds"] = None
    assert got == ref
    argv += ["--scheduler", client.scheduler.address, "--no-progress"]
    code, text, _ = run(capsys, *argv)
    assert code == 0 and "5 sweep points x 2 seeds in" in text and "on 2 Dask workers" in text


def test_cli_dynamics_on_a_scheduler_equals_one_process(client, capsys) -> None:
    argv = ["dynamics", "--spectrum", "4,2,1", "--steps", "800", "--points", "9", "--json"]
    code, out, _ = run(capsys, *argv)
    assert code == 0
    code, got, err = run(capsys, *argv, "--scheduler", client.scheduler.address)
    assert code == 0, err
    assert json.loads(got) == json.loads(out)


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (["--workers", "0"], "workers=0: expected an integer >= 1"),
        (["--workers", "2", "--scheduler", "tcp://127.0.0.1:1"], "expected one of them"),
    ],
)
@pytest.mark.parametrize("command", ["train", "dynamics"])
def test_cli_bad_cluster_options_before_the_data(capsys, command: str, extra, match) -> None:
    """The options are refused before the data are read (this file does not exist)."""
    code, out, err = run(capsys, command, "--data", "/nonexistent/x.npy", *extra)
    assert code == 2 and out == ""
    assert match in err and len(err.strip().splitlines()) == 1
