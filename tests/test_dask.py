"""Covariance spectra on Dask (numerics.spectra._dask) and chunked stores (numerics.data._chunked).

Independent routes: the in-memory ``covariance_spectrum`` (a pilot-shifted syrk in one
process), NumPy's ``cov`` and the exact rational covariance.  One in-process
``distributed.LocalCluster`` of 2 workers serves the module (a fraction of a second to start).
"""

from __future__ import annotations

import json
import warnings
from fractions import Fraction

import distributed
import numpy as np
import pytest
import zarr
from helpers import random_rotation

from numerics.app.cli import main
from numerics.core import InputError
from numerics.data import load_chunked, parse_data_source
from numerics.spectra import _dask, covariance_spectrum, exact_covariance
from numerics.spectra._dask import (
    block_moments,
    dask_covariance_spectrum,
    merge_moments,
)

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")


def spiked(n: int, d: int, seed: int, mean: float = 3.0) -> np.ndarray:
    """Rows with covariance I + spikes (9, 4, 2) along random directions, mean ~ N(0, mean^2)."""
    rng = np.random.default_rng(seed)
    basis = random_rotation(d, rng)[:, :3]
    X = rng.standard_normal((n, d))
    X += (rng.standard_normal((n, 3)) * np.sqrt([9.0, 4.0, 2.0])) @ basis.T
    return X + mean * rng.standard_normal(d)


@pytest.fixture(scope="module")
def scheduler():
    """The address of an in-process cluster of 2 single-threaded workers."""
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
    ) as cluster:
        yield cluster.scheduler_address


@pytest.fixture(scope="module")
def data() -> np.ndarray:
    return spiked(6000, 24, seed=1)


@pytest.fixture(scope="module")
def shards(tmp_path_factory, data: np.ndarray):
    """The data as 4 uneven .npy shards (float32 and float64 mixed), and as one .npy file."""
    root = tmp_path_factory.mktemp("shards")
    for i, part in enumerate(np.split(data, [1000, 1100, 4000])):
        np.save(root / f"part-{i}.npy", part)
    np.save(root.parent / "whole.npy", data)
    return root


def rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b) / np.abs(b)))


# ---------------------------------------------------------------------------------------
# The one-pass reduction: Chan, Golub & LeVeque's merge
# ---------------------------------------------------------------------------------------


def test_merged_moments_match_numpy_on_uneven_blocks() -> None:
    X = spiked(1000, 7, seed=2)
    parts = [block_moments(b, 0) for b in np.split(X, [1, 2, 250, 251, 900])]
    m = merge_moments(*parts)
    assert m.n == 1000 and m.bad is None
    np.testing.assert_allclose(m.mean, X.mean(axis=0), rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(m.scatter / 1000, np.cov(X.T, bias=True), rtol=1e-12, atol=1e-13)


def test_merge_is_stable_for_a_huge_mean() -> None:
    """Integers offset by 1e9 (spread ~10): X^T X / N - m m^T would lose ~16 digits.

    Reference: the exact rational covariance (every entry an exact integer here).
    """
    rng = np.random.default_rng(3)
    X = rng.integers(-10, 11, size=(600, 4)).astype(np.float64) + 1e9
    exact = exact_covariance(X)
    shift = X[:5].mean(axis=0)  # a pilot mean, as dask_covariance_spectrum takes
    parts = [block_moments(b, 0, shift) for b in np.array_split(X, 7)]
    merged = merge_moments(*parts[:3], merge_moments(*parts[3:]))
    np.testing.assert_allclose(shift + merged.mean, X.mean(axis=0), rtol=1e-15)
    got = merged.scatter / 600
    want = np.array([[float(q) for q in row] for row in exact])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * np.abs(want).max())


# ---------------------------------------------------------------------------------------
# On the cluster: the same spectrum as in memory
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("centred", [True, False])
def test_dask_equals_in_memory(scheduler, data: np.ndarray, centred: bool) -> None:
    ref = covariance_spectrum(data, top=6, centred=centred, method="eigh").eigenvalues
    res = dask_covariance_spectrum(data, top=6, centred=centred, scheduler=scheduler, rows=700)
    assert res.method == "dask" and res.passes == 1 and res.n_samples == 6000
    assert "9 tasks" in res.notes[0] and "2 workers" in res.notes[0]
    # relative to each value (centred); to lambda_1 for the uncentred moment, whose small
    # eigenvalues sit ~1e-4 below a lambda_1 of ~200 (dense-solver accuracy d eps lambda_1)
    scale = np.abs(ref) if centred else ref[0]
    assert np.max(np.abs(res.eigenvalues - ref) / scale) <= 1e-10


def test_shards_zarr_and_glob_equal_in_memory(scheduler, shards, data, tmp_path) -> None:
    ref = covariance_spectrum(data, top=5, method="eigh").eigenvalues
    store = tmp_path / "x.zarr"
    z = zarr.open_array(store, mode="w", shape=data.shape, chunks=(512, 24), dtype="f8")
    z[:] = data
    for source in (shards, f"{shards}/part-*.npy", store, shards.parent / "whole.npy"):
        res = dask_covariance_spectrum(source, top=5, scheduler=scheduler, rows=1000)
        assert rel(res.eigenvalues, ref) <= 1e-10, source


def test_lazy_dataset_is_not_loaded(shards) -> None:
    ds = parse_data_source(str(shards))
    assert ds.lazy and ds.shape == (6000, 24)
    assert ds.params == {"format": "npy shards", "shards": 4}
    assert len(ds.X.chunks[0]) == 4  # one task per shard at this size, nothing read yet


# ---------------------------------------------------------------------------------------
# Bad input: one-line InputErrors, before any work
# ---------------------------------------------------------------------------------------


def test_shard_with_other_columns(tmp_path) -> None:
    np.save(tmp_path / "a.npy", np.zeros((4, 3)))
    np.save(tmp_path / "b.npy", np.zeros((4, 2)))
    with pytest.raises(InputError, match=r"b\.npy' has 2 columns: expected 3, like .*a\.npy"):
        load_chunked(tmp_path)


def test_empty_glob_and_empty_directory(tmp_path) -> None:
    with pytest.raises(InputError, match="no file matches"):
        load_chunked(f"{tmp_path}/none-*.npy")
    with pytest.raises(InputError, match=r"holds no \.npy shards and is not a Zarr array"):
        load_chunked(tmp_path)


def test_not_an_array_shard(tmp_path) -> None:
    np.save(tmp_path / "a.npy", np.zeros(5))
    with pytest.raises(InputError, match=r"shape \(5,\).*expected a 2-D array"):
        load_chunked(tmp_path)


def test_a_shard_that_is_not_a_npy_file_is_named(tmp_path) -> None:
    """A text file among the shards, or a glob that takes another format: checked like a
    data file (issue 9: not numpy's "pickled (object) data")."""
    np.save(tmp_path / "a.npy", np.zeros((4, 2)))
    (tmp_path / "b.npy").write_text("not numpy")
    with pytest.raises(InputError, match=r"shard '.*b\.npy' is not a \.npy file"):
        load_chunked(tmp_path)
    (tmp_path / "b.npy").unlink()
    (tmp_path / "c.csv").write_text("1,2\n3,4\n")
    with pytest.raises(InputError, match=r"shard '.*c\.csv': expected a \.npy file"):
        load_chunked(str(tmp_path / "*"))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"workers": 0}, r"workers=0: expected an integer >= 1"),
        ({"workers": 2, "scheduler": "tcp://127.0.0.1:8786"}, "expected one of them"),
        ({"scheduler": "no port"}, r"scheduler='no port': expected the address"),
        ({"top": 25}, r"top=25"),
    ],
)
def test_bad_options(shards, kwargs, match) -> None:
    with pytest.raises(InputError, match=match):
        dask_covariance_spectrum(shards, **kwargs)


def test_unreachable_scheduler(monkeypatch, shards) -> None:
    monkeypatch.setattr(_dask, "CONNECT_SECONDS", 0.5)
    with pytest.raises(InputError, match=r"'tcp://127\.0\.0\.1:1': no Dask scheduler answered"):
        dask_covariance_spectrum(shards, scheduler="tcp://127.0.0.1:1")


def test_non_finite_entry_named_by_its_row(scheduler, tmp_path, data) -> None:
    bad = data.copy()
    bad[4321, 7] = np.nan
    for i, part in enumerate(np.array_split(bad, 3)):
        np.save(tmp_path / f"p{i}.npy", part)
    with pytest.raises(InputError, match=r"X\[4321, 7\] = nan is not finite"):
        dask_covariance_spectrum(tmp_path, scheduler=scheduler, rows=500)


def test_overflow_is_reported_without_warnings(scheduler, data) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(InputError, match="overflows float64"):
            dask_covariance_spectrum(data * 1e160, scheduler=scheduler, rows=700)


# ---------------------------------------------------------------------------------------
# Certified digits of chunked data: the exact covariance, block by block
# ---------------------------------------------------------------------------------------


def test_exact_covariance_of_blocks_equals_in_memory() -> None:
    """Blocks with very different binary scales and an all-zero column in one block."""
    import dask.array as da

    rng = np.random.default_rng(5)
    X = rng.normal(size=(30, 3))
    X[:10] *= 2.0**-40
    X[10:20] *= 2.0**30
    X[20:, 1] = 0.0
    lazy = da.from_array(X, chunks=(10, 3))
    got = exact_covariance(lazy)
    assert got == exact_covariance(X)
    assert all(isinstance(q, Fraction) for row in got for q in row)


# ---------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_scheduler_equals_in_memory(capsys, scheduler, shards) -> None:
    code, out, _ = run(capsys, "threshold", "--data", str(shards.parent / "whole.npy"), "--json")
    assert code == 0
    ref = json.loads(out)
    # --scheduler before --data: the options travel with the SOURCE in any order
    argv = ["threshold", "--scheduler", scheduler, "--data", str(shards), "--json"]
    code, out, _ = run(capsys, *argv)
    assert code == 0
    got = json.loads(out)
    assert got["data"]["spectrum_method"] == "dask"
    assert got["data"]["params"] == {"format": "npy shards", "shards": 4}
    assert rel(np.array(got["eigenvalues"][:5]), np.array(ref["eigenvalues"][:5])) <= 1e-10


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (["--workers", "0"], "workers=0: expected an integer >= 1"),
        (["--scheduler", "nowhere"], "scheduler='nowhere': expected the address"),
    ],
)
def test_cli_bad_cluster_options(capsys, shards, extra, match) -> None:
    code, out, err = run(capsys, "threshold", "--data", str(shards), *extra)
    assert code == 2 and out == ""
    assert match in err and len(err.strip().splitlines()) == 1


def test_local_cluster_of_worker_processes(monkeypatch, shards, data) -> None:
    """The default route: a local cluster of worker processes (they import this checkout)."""
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[1])
    monkeypatch.setenv("PYTHONPATH", root)  # inherited by the spawned workers
    res = dask_covariance_spectrum(shards, top=3, workers=1)
    assert "1 workers at tcp://" in res.notes[0]
    ref = covariance_spectrum(data, top=3, method="eigh").eigenvalues
    assert rel(res.eigenvalues, ref) <= 1e-10


def test_without_the_dask_extra(monkeypatch, shards) -> None:
    monkeypatch.setitem(__import__("sys").modules, "dask.array", None)  # import fails
    with pytest.raises(InputError, match=r"needs dask: expected the dask extra"):
        load_chunked(shards)
