"""Every bad input: one line on stderr naming what is wrong, exit status 2, nothing written.

Each case runs the command line in a fresh working folder holding the fixture files
below; afterwards the folder must hold exactly those files, unchanged.  Warnings are
errors here, so a stray numpy RuntimeWarning (a line before the error) fails the case.
"""

from __future__ import annotations

import os
import zipfile

import numpy as np
import pytest

from numerics.app.cli import main


def _fixtures(folder) -> None:
    """Bad and good data files, and a plain file where a folder is expected."""
    rng = np.random.default_rng(0)
    np.save(folder / "good.npy", rng.standard_normal((40, 3)))
    np.save(folder / "vector.npy", np.arange(5.0))
    np.save(folder / "nan.npy", np.array([[1.0, np.nan], [2.0, 3.0], [4.0, 5.0]]))
    np.save(folder / "inf.npy", np.array([[1.0, 2.0], [np.inf, 3.0], [4.0, 5.0]]))
    np.save(folder / "one_row.npy", np.ones((1, 3)))
    np.save(folder / "strings.npy", np.array([["a", "b"], ["c", "d"]]))
    np.savez(folder / "two.npz", a=np.ones((3, 2)), b=np.ones((3, 2)))
    np.savez(folder / "ok.npz", X=rng.standard_normal((30, 2)))
    good = rng.standard_normal((40, 2))
    np.savez(folder / "post.npz", mu=good, logvar=good)
    np.savez(folder / "post_rows.npz", mu=good[:30], logvar=good[:30])
    np.savez(folder / "post_shapes.npz", mu=good, logvar=good[:, :1])
    np.savez(folder / "post_nan.npz", mu=good * np.nan, logvar=good)
    np.savez(folder / "post_huge.npz", mu=good, logvar=good * 1e4)
    np.savez(folder / "post_recon.npz", mu=good, logvar=good, reconstruction=good)
    np.savez(folder / "post_sigma.npz", mu=good, logvar=good, sigma2=np.array(2.0))
    np.savez(folder / "post_nomu.npz", logvar=good)
    data = (folder / "ok.npz").read_bytes()
    (folder / "truncated.npz").write_bytes(data[: len(data) // 2])
    (folder / "notzip.npz").write_text("these are not the bytes of a zip archive")
    (folder / "text.npy").write_text("1,2\n3,4\n")
    (folder / "empty.csv").write_text("")
    (folder / "words.csv").write_text("a,b\n1,2\nx,y\n")
    (folder / "ragged.csv").write_text("1,2\n3\n4,5\n")
    (folder / "constant.csv").write_text("1,2\n1,2\n1,2\n")
    (folder / "data.txt").write_text("1 2\n3 4\n")
    (folder / "afile").write_text("keep me")
    os.mkfifo(folder / "fifo.csv")
    os.symlink("/dev/zero", folder / "zero.npy")
    os.mkdir(folder / "dir.npy")
    with zipfile.ZipFile(folder / "empty.npz", "w"):
        pass


SPEC = ["--spectrum", "4,2,1"]

#: name: (argv, a piece of the error line).
CASES: dict[str, tuple[list[str], str]] = {
    # --- the command itself
    "no command": ([], "COMMAND"),
    "unknown command": (["frobnicate"], "frobnicate"),
    "unknown option": (["threshold", *SPEC, "--bogus"], "--bogus"),
    # --- spectra
    "empty spectrum": (["threshold", "--spectrum", ""], "--spectrum"),
    "missing eigenvalue": (["threshold", "--spectrum", "4,,1"], "4,,1"),
    "negative eigenvalue": (["threshold", "--spectrum", "4,-2,1"], "-2.0"),
    "word eigenvalue": (["threshold", "--spectrum", "4,abc"], "abc"),
    "semicolon spectrum": (["threshold", "--spectrum", "4;abc"], "4;abc"),
    "infinite eigenvalue": (["threshold", "--spectrum", "inf,1"], "inf"),
    "nan eigenvalue": (["threshold", "--spectrum", "nan"], "nan"),
    "overflowing eigenvalue": (["threshold", "--spectrum", "1e400,1"], "1e400"),
    "underflowing eigenvalue": (["threshold", "--spectrum", "1e-400,1"], "1e-400"),
    "huge exponent": (["threshold", "--spectrum", "1e999999999"], "1e999999999"),
    "division by zero": (["threshold", "--spectrum", "1/0"], "1/0"),
    "trailing garbage": (["threshold", "--spectrum", "4,2,1x"], "1x"),
    "hex eigenvalue": (["threshold", "--spectrum", "0x10"], "0x10"),
    # --- beta and the model
    "beta zero": (["threshold", *SPEC, "--beta", "0"], "beta=0.0"),
    "beta negative": (["threshold", *SPEC, "--beta", "-1"], "beta=-1.0"),
    "beta infinite": (["threshold", *SPEC, "--beta", "inf"], "--beta"),
    "beta nan": (["threshold", *SPEC, "--beta", "nan"], "--beta"),
    "beta overflow": (["threshold", *SPEC, "--beta", "1e400"], "1e400"),
    "beta underflow": (["threshold", *SPEC, "--beta", "1e-400"], "1e-400"),
    "beta word": (["threshold", *SPEC, "--beta", "abc"], "abc"),
    "beta twice": (["threshold", *SPEC, "--beta", "1", "--beta", "2"], "--beta given twice"),
    "beta twice with =": (["threshold", *SPEC, "--beta=1", "--beta", "2"], "--beta"),
    "json twice": (["threshold", *SPEC, "--json", "--json"], "--json"),
    "k > d": (["threshold", *SPEC, "--latent-dim", "4"], "latent_dim=4"),
    "k = 0": (["threshold", *SPEC, "--latent-dim", "0"], "latent_dim=0"),
    "k negative": (["threshold", *SPEC, "--latent-dim", "-1"], "latent_dim=-1"),
    "k fraction": (["threshold", *SPEC, "--latent-dim", "1.5"], "1.5"),
    "unknown variant": (["threshold", *SPEC, "--encoder-variance", "other"], "other"),
    "digits zero": (["threshold", *SPEC, "--digits", "0"], "digits=0"),
    "digits too many": (["threshold", *SPEC, "--digits", "1001"], "digits=1001"),
    "digits fraction": (["threshold", *SPEC, "--digits", "2.5"], "2.5"),
    "digits word": (["threshold", *SPEC, "--digits", "many"], "many"),
    # --- sources
    "no source": (["threshold"], "--spectrum"),
    "two sources": (["threshold", *SPEC, "--data", "digits"], "not allowed"),
    "moment with spectrum": (["threshold", *SPEC, "--moment", "uncentred"], "--data"),
    "scale with spectrum": (["threshold", *SPEC, "--scale", "2"], "--data"),
    "unknown moment": (["threshold", "--data", "digits", "--moment", "raw"], "raw"),
    "scale zero": (["threshold", "--data", "digits", "--scale", "0"], "scale=0.0"),
    "scale negative": (["threshold", "--data", "digits", "--scale", "-1"], "scale=-1.0"),
    "scale overflow": (["threshold", "--data", "digits", "--scale", "1e400"], "1e400"),
    "scale squared overflows": (["threshold", "--data", "digits", "--scale", "1e200"], "scale"),
    "scale word": (["threshold", "--data", "digits", "--scale", "big"], "big"),
    "empty data": (["threshold", "--data", ""], "--data ''"),
    "critical value beyond float64": (
        ["threshold", "--spectrum", "1e308", "--beta", "0.01", "--json"],
        "outside float64's normal range",
    ),
    "critical value subnormal": (
        ["threshold", "--spectrum", "1e-300", "--beta", "1e10"],
        "outside float64's normal range",
    ),
    "subnormal eigenvalue": (["optimum", "--spectrum", "4e-320", "--sigma2", "1"], "4e-320"),
    "subnormal sigma2": (["optimum", "--spectrum", "4", "--sigma2", "1e-310"], "1e-310"),
    "F beyond float64": (
        [
            "optimum",
            "--spectrum",
            "1e300,1e300",
            "--sigma2",
            "1e-10",
            "--beta",
            "1e10",
            "--latent-dim",
            "1",
        ],
        "neg_elbo at sigma2=1e-10 is beyond float64's range",
    ),
    "map beyond its range": (["map", "--spectrum", "1e-300,1e-307"], "[1e-150, 1e150]"),
    "bootstrap with a spectrum": (
        ["threshold", "--spectrum", "4,2", "--bootstrap", "100"],
        "--bootstrap resamples the data's rows",
    ),
    "bootstrap too few": (["threshold", "--data", "digits", "--bootstrap", "5"], "replicates=5"),
    "bootstrap word": (["threshold", "--data", "digits", "--bootstrap", "x"], "'x'"),
    "bootstrap anisotropic": (
        [
            "threshold",
            "--data",
            "digits",
            "--latent-dim",
            "2",
            "--bootstrap",
            "100",
            "--encoder-variance",
            "fixed:1,2",
        ],
        "--bootstrap supports learnable",
    ),
    "threshold out with digits": (
        ["threshold", "--spectrum", "4,2", "--digits", "5", "--out", "o"],
        "does not go with --digits",
    ),
    "workers with a spectrum": (
        ["threshold", "--spectrum", "4,2", "--workers", "2"],
        "--scheduler and --workers apply to --data",
    ),
    "missing file": (["threshold", "--data", "missing.npy"], "missing.npy"),
    "a folder named .npy": (["threshold", "--data", "dir.npy"], "holds no .npy shards"),
    "fifo": (["threshold", "--data", "fifo.csv"], "not a regular file"),
    "device": (["threshold", "--data", "zero.npy"], "not a regular file"),
    "text named npy": (["threshold", "--data", "text.npy"], "is not a .npy file"),
    "truncated npz": (["threshold", "--data", "truncated.npz"], "truncated.npz"),
    "text named npz": (["threshold", "--data", "notzip.npz"], "is not a .npz file"),
    "empty npz": (["threshold", "--data", "empty.npz"], "empty.npz"),
    "npz with two arrays": (["threshold", "--data", "two.npz"], "named X"),
    "vector": (["threshold", "--data", "vector.npy"], "shape (5,)"),
    "one row": (["threshold", "--data", "one_row.npy"], "at least 2 rows"),
    "strings": (["threshold", "--data", "strings.npy"], "dtype"),
    "nan data": (["threshold", "--data", "nan.npy"], "not finite"),
    "inf data": (["threshold", "--data", "inf.npy"], "not finite"),
    "empty csv": (["threshold", "--data", "empty.csv"], "empty.csv"),
    "words in csv": (["threshold", "--data", "words.csv"], "words.csv"),
    "ragged csv": (["threshold", "--data", "ragged.csv"], "ragged.csv"),
    "unknown suffix": (["threshold", "--data", "data.txt"], "data.txt"),
    "unknown synthetic": (["threshold", "--data", "synthetic:nosuch"], "nosuch"),
    "synthetic bad a": (["threshold", "--data", "synthetic:mixture:a=2"], "a=2"),
    "synthetic d=0": (["threshold", "--data", "synthetic:exponential:d=0"], "d=0"),
    "synthetic n=1": (["threshold", "--data", "synthetic:exponential:n=1"], "n=1"),
    "synthetic negative rate": (["threshold", "--data", "synthetic:exponential:rate=-1"], "rate"),
    "synthetic unknown key": (["threshold", "--data", "synthetic:exponential:bogus=1"], "bogus"),
    "synthetic no value": (["threshold", "--data", "synthetic:exponential:d"], "key=value"),
    "synthetic word value": (["threshold", "--data", "synthetic:exponential:d=abc"], "abc"),
    "synthetic negative spectrum": (
        ["threshold", "--data", "synthetic:rotated:spectrum=4;-1"],
        "-1",
    ),
    "too many spikes": (["threshold", "--data", "synthetic:spiked:d=2,spikes=5;4;3"], "spikes"),
    "synthetic too large": (
        ["threshold", "--data", "synthetic:exponential:d=100000,n=10"],
        "memory",
    ),
    "synthetic far too large": (
        ["threshold", "--data", "synthetic:mixture:d=1000000000,n=2"],
        "memory",
    ),
    # --- optimum
    "missing sigma2": (["optimum", *SPEC], "--sigma2"),
    "sigma2 zero": (["optimum", *SPEC, "--sigma2", "0"], "sigma2=0.0"),
    "sigma2 negative": (["optimum", *SPEC, "--sigma2", "-1"], "-1.0"),
    "sigma2 nan": (["optimum", *SPEC, "--sigma2", "nan"], "--sigma2"),
    "sigma2 overflow": (["optimum", *SPEC, "--sigma2", "1e400"], "1e400"),
    "sigma2 word": (["optimum", *SPEC, "--sigma2", "one"], "one"),
    "sigma2 twice": (["optimum", *SPEC, "--sigma2", "1", "--sigma2", "2"], "--sigma2"),
    # --- map
    "map unknown vary": (["map", *SPEC, "--vary", "gamma"], "gamma"),
    "map beta without sigma2": (["map", *SPEC, "--vary", "beta"], "--sigma2"),
    "map sigma2 while varying it": (["map", *SPEC, "--sigma2", "1"], "contradicts"),
    "map range one number": (["map", *SPEC, "--range", "3"], "LO:HI"),
    "map range reversed": (["map", *SPEC, "--range", "3:1"], "3.0:1.0"),
    "map range from zero": (["map", *SPEC, "--range", "0:1"], "0.0:1.0"),
    "map range negative": (["map", *SPEC, "--range=-1:3"], "-1.0"),
    "map range overflow": (["map", *SPEC, "--range", "1:1e400"], "1e400"),
    "map range words": (["map", *SPEC, "--range", "a:b"], "'a'"),
    "map one point": (["map", *SPEC, "--points", "1"], "points=1"),
    "map too many points": (["map", *SPEC, "--points", "100001"], "points=100001"),
    "map points word": (["map", *SPEC, "--points", "x"], "'x'"),
    "map out is a file": (["map", *SPEC, "--out", "afile"], "afile"),
    "map out under a file": (["map", *SPEC, "--out", "afile/sub"], "afile"),
    "map out in /proc": (["map", *SPEC, "--out", "/proc/vae-collapse-test"], "/proc"),
    # --- train
    "train on a spectrum": (["train", *SPEC], "needs data"),
    "train one point": (["train", "--data", "digits", "--points", "1"], "--points 1"),
    "train too many points": (
        ["train", "--data", "digits", "--points", "1000000000000"],
        "memory",
    ),
    "train reversed range": (["train", "--data", "digits", "--sigma2-range", "3:1"], "3.0:1.0"),
    "train negative range": (["train", "--data", "digits", "--sigma2-range=-1:3"], "-1.0"),
    "train unknown model": (["train", "--data", "digits", "--model", "cnn"], "cnn"),
    "train mlp exact": (
        ["train", "--data", "digits", "--model", "mlp", "--exact-gradients"],
        "--model linear only",
    ),
    "train hidden for linear": (["train", "--data", "digits", "--hidden", "8"], "--model mlp"),
    "train zero width": (
        ["train", "--data", "digits", "--model", "mlp", "--hidden", "0,3"],
        "0,3",
    ),
    "train width word": (["train", "--data", "digits", "--model", "mlp", "--hidden", "x"], "x"),
    "train repeated seeds": (["train", "--data", "digits", "--seeds", "1,1"], "1,1"),
    "train negative seed": (["train", "--data", "digits", "--seeds=-1"], "-1"),
    "train seed word": (["train", "--data", "digits", "--seeds", "a"], "'a'"),
    "train zero steps": (["train", "--data", "digits", "--steps", "0"], "steps=0"),
    "train negative steps": (["train", "--data", "digits", "--steps", "-5"], "steps=-5"),
    "train zero batch": (["train", "--data", "digits", "--batch-size", "0"], "batch_size=0"),
    "train negative lr": (["train", "--data", "digits", "--lr", "-0.1"], "lr=-0.1"),
    "train zero lr": (["train", "--data", "digits", "--lr", "0"], "lr=0.0"),
    "train infinite lr": (["train", "--data", "digits", "--lr", "inf"], "--lr"),
    "train k = 0": (["train", "--data", "digits", "--latent-dim", "0"], "latent_dim=0"),
    "train k > d": (["train", "--data", "digits", "--latent-dim", "65"], "latent_dim=65"),
    "train uncentred": (["train", "--data", "digits", "--moment", "uncentred"], "centred"),
    "train warm and cold": (
        ["train", "--data", "digits", "--warm-start", "--no-warm-start"],
        "contradicts",
    ),
    "train beta zero": (["train", "--data", "digits", "--beta", "0"], "beta=0.0"),
    "train out is a file": (["train", "--data", "digits", "--out", "afile"], "afile"),
    "train bad data": (["train", "--data", "nan.npy"], "not finite"),
    # --- dynamics
    "dynamics unknown optimizer": (["dynamics", *SPEC, "--optimizer", "sgd"], "sgd"),
    "dynamics negative lr": (["dynamics", *SPEC, "--lr", "-1"], "lr=-1.0"),
    "dynamics few steps": (["dynamics", *SPEC, "--steps", "0"], "steps=0"),
    "dynamics one point": (["dynamics", *SPEC, "--points", "1"], "--points 1"),
    "dynamics reversed range": (["dynamics", *SPEC, "--sigma2-range", "3:1"], "3.0:1.0"),
    "dynamics out is a file": (["dynamics", *SPEC, "--out", "afile"], "afile"),
    "dynamics zero spectrum": (["dynamics", "--spectrum", "0,0"], "every eigenvalue is 0"),
    # --- diagnose
    "diagnose without data": (
        ["diagnose", *SPEC, "--posterior", "post.npz", "--sigma2", "1"],
        "needs the data",
    ),
    "diagnose missing posterior": (
        ["diagnose", "--data", "good.npy", "--posterior", "none.npz", "--sigma2", "1"],
        "--posterior 'none.npz' does not exist",
    ),
    "diagnose not npz": (
        ["diagnose", "--data", "good.npy", "--posterior", "good.npy", "--sigma2", "1"],
        ".npz",
    ),
    "diagnose no mu": (
        ["diagnose", "--data", "good.npy", "--posterior", "post_nomu.npz", "--sigma2", "1"],
        "mu and logvar",
    ),
    "diagnose rows": (
        ["diagnose", "--data", "good.npy", "--posterior", "post_rows.npz", "--sigma2", "1"],
        "N = 40",
    ),
    "diagnose shapes": (
        ["diagnose", "--data", "good.npy", "--posterior", "post_shapes.npz", "--sigma2", "1"],
        "same shape",
    ),
    "diagnose nan": (
        ["diagnose", "--data", "good.npy", "--posterior", "post_nan.npz", "--sigma2", "1"],
        "non-finite",
    ),
    "diagnose overflow": (
        ["diagnose", "--data", "good.npy", "--posterior", "post_huge.npz", "--sigma2", "1"],
        "logvar",
    ),
    "diagnose recon columns": (
        ["diagnose", "--data", "good.npy", "--posterior", "post_recon.npz", "--sigma2", "1"],
        "columns",
    ),
    "diagnose contradicts": (
        ["diagnose", "--data", "good.npy", "--posterior", "post_sigma.npz", "--sigma2", "1"],
        "contradicts",
    ),
    "diagnose sigma2 zero": (
        ["diagnose", "--data", "good.npy", "--posterior", "post.npz", "--sigma2", "0"],
        "sigma2=0.0",
    ),
    "export not npz": (["train", "--data", "digits", "--export-posterior", "1", "x.txt"], ".npz"),
    "export negative": (
        ["train", "--data", "digits", "--export-posterior", "-1", "x.npz"],
        "SIGMA2",
    ),
    "export over a file": (
        ["train", "--data", "digits", "--export-posterior", "1", "afile/x.npz"],
        "afile",
    ),
    # --- derive
    "derive out is a file": (["derive", "--out", "afile"], "afile"),
    "derive out under a file": (["derive", "--out", "afile/x"], "afile"),
    "derive out in /proc": (["derive", "--out", "/proc/vae-collapse-test"], "/proc"),
    "derive pdf and no pdf": (["derive", "--pdf", "--no-pdf"], "not allowed"),
    "derive out twice": (["derive", "--out", "a", "--out", "b"], "--out"),
    # --- report
    "report missing data": (["report", "--data", "missing.npy", "--no-pdf"], "missing.npy"),
    "report constant data": (["report", "--data", "constant.csv", "--no-pdf"], "constant"),
    "report unknown synthetic": (["report", "--data", "synthetic:nosuch"], "nosuch"),
    "report out is a file": (["report", "--out", "afile", "--no-pdf"], "afile"),
    "report unknown option": (["report", "--bogus"], "--bogus"),
    # --- options of one model refused with another (each a different computation)
    "learnable sigma2 with hvae": (
        ["threshold", *SPEC, "--family", "hvae", "--decoder-variance", "learnable"],
        "--family vae only",
    ),
    "bootstrap with cvae": (
        ["threshold", *SPEC, "--family", "cvae", "--bootstrap", "10"],
        "--bootstrap",
    ),
    "hvae sweep on workers": (
        ["train", "--data", "digits", "--family", "hvae", "--workers", "2"],
        "--workers",
    ),
    "learnable sigma2 on workers": (
        ["train", "--data", "digits", "--decoder-variance", "learnable", "--workers", "2"],
        "--workers",
    ),
    "learnable sigma2 finite-sample figure": (
        ["threshold", *SPEC, "--decoder-variance", "learnable", "--out", "x"],
        "--out",
    ),
    "train unknown optimizer": (["train", "--data", "digits", "--optimizer", "sgd"], "sgd"),
    "train mlp gd without lr": (
        ["train", "--data", "digits", "--model", "mlp", "--optimizer", "gd"],
        "--lr",
    ),
    "learnable sigma2, one nonzero eigenvalue": (
        ["optimum", "--spectrum", "4,0,0", "--decoder-variance", "learnable"],
        "1 nonzero eigenvalue",
    ),
    "learnable sigma2, as many latents as nonzero eigenvalues": (
        ["optimum", "--spectrum", "4,2,0", "--decoder-variance", "learnable", "--latent-dim", "2"],
        "latent_dim=2",
    ),
}


def test_there_are_at_least_100_cases():
    assert len(CASES) >= 100


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("argv, needle", CASES.values(), ids=list(CASES))
def test_bad_input(argv, needle, tmp_path, monkeypatch, capsys):
    _fixtures(tmp_path)
    before = {p: (p.stat().st_mtime_ns if p.is_file() else None) for p in tmp_path.rglob("*")}
    monkeypatch.chdir(tmp_path)
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2, err
    assert out == ""
    assert err.startswith("vae-collapse: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    assert needle in err, err
    after = {p: (p.stat().st_mtime_ns if p.is_file() else None) for p in tmp_path.rglob("*")}
    assert after == before  # nothing written, nothing touched
    assert (tmp_path / "afile").read_text() == "keep me"
