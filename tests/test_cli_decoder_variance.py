"""``--decoder-variance learnable`` on the command line (README, "Learnable decoder variance")."""

from __future__ import annotations

import json

import numpy as np
import pytest

from numerics.app.cli import main

SPEC = ["--spectrum", "4,2,1,0.5", "--latent-dim", "3"]
LEARNABLE = ["--decoder-variance", "learnable"]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_optimum_needs_no_sigma2_and_reports_the_self_consistent_one(capsys):
    code, out, err = run(capsys, "optimum", *SPEC, *LEARNABLE, "--json")
    assert code == 0 and err == ""
    r = json.loads(out)
    assert r["decoder_variance"] == "learnable" and r["dimension"] == 4
    # beta = 1, learnable encoder variance, k = 3 on d = 4: Tipping & Bishop's noise is the
    # one discarded eigenvalue, 0.5.
    assert r["sigma2"] == pytest.approx(0.5, rel=1e-15)
    assert r["n_active"] == 3
    assert [s["local_minimum"] for s in r["states"]] == [False, False, False, True]


def test_the_default_latent_count_is_the_largest_that_is_bounded(capsys):
    """Without --latent-dim: one latent fewer than the nonzero eigenvalues (d would leave
    F unbounded below).  Digits: 61 nonzero of 64, so 60 latents; their critical betas
    are those of the same call with --latent-dim 60."""
    code, out, err = run(capsys, "threshold", "--data", "digits", *LEARNABLE, "--json")
    assert code == 0 and err == ""
    default = json.loads(out)
    assert len(default["critical_beta"]) == 60
    code, out, _ = run(
        capsys, "threshold", "--data", "digits", *LEARNABLE, "--latent-dim", "60", "--json"
    )
    assert json.loads(out)["critical_beta"] == default["critical_beta"]
    # beta = 1 with 2 latents on 4, 2, 1: the discarded eigenvalue is pPCA's noise.
    code, out, _ = run(capsys, "optimum", "--spectrum", "4,2,1", *LEARNABLE, "--json")
    assert json.loads(out)["sigma2"] == pytest.approx(1.0, rel=1e-15)


def test_threshold_json(capsys):
    """The command prints what the library derives (the values themselves are checked by
    independent routes in tests/test_decoder_variance.py)."""
    from numerics import learned_thresholds

    code, out, _ = run(capsys, "threshold", *SPEC, *LEARNABLE, "--json")
    r = json.loads(out)
    assert code == 0
    expected = learned_thresholds([4, 2, 1, 0.5], latent_dim=3)
    assert r["critical_beta"] == list(expected.critical_beta)
    assert r["sigma2_at_critical_beta"] == list(expected.sigma2_at_critical)
    assert r["collapsed_sigma2"] == pytest.approx(np.mean([4, 2, 1, 0.5]), rel=1e-15)
    assert r["collapse_stable_beta"] == r["critical_beta"][0]


def test_map_against_beta_writes_its_files(tmp_path, capsys):
    code, out, _ = run(capsys, "map", *SPEC, *LEARNABLE, "--points", "30", "--out",
                       str(tmp_path / "m"))  # fmt: skip
    assert code == 0 and "3 critical points against beta" in out
    names = sorted(p.name for p in (tmp_path / "m").iterdir())
    assert names == [".vae-collapse-files", "critical_points.csv", "curves.csv", "kl.pdf",
                     "kl.png", "map.json"]  # fmt: skip
    curves = json.loads((tmp_path / "m" / "map.json").read_text())["curves"]
    assert np.all(np.diff(curves["n_active"]) <= 0)  # latents only collapse as beta grows


def test_train_json_and_files(tmp_path, capsys):
    data = "synthetic:rotated:spectrum=4;2;1;0.5,n=3000"
    code, out, err = run(capsys, "train", "--data", data, *LEARNABLE, "--latent-dim", "2",
                         "--points", "12", "--json", "--out", str(tmp_path / "t"))  # fmt: skip
    assert code == 0 and err == ""
    r = json.loads(out)
    assert r["decoder_variance"] == "learnable" and len(r["points"]) == 12
    assert set(r["points"][0]) >= {"beta", "sigma2", "optimum_sigma2", "information"}
    assert r["measured_critical_beta"] == pytest.approx(r["predicted_critical_beta"], rel=0.02)
    names = sorted(p.name for p in (tmp_path / "t").iterdir())
    assert names == [".vae-collapse-files", "points.csv", "train.json", "training.pdf",
                     "training.png"]  # fmt: skip


BAD = {
    "optimum with sigma2": (["optimum", *SPEC, *LEARNABLE, "--sigma2", "1"], "--sigma2"),
    "optimum fixed without sigma2": (["optimum", *SPEC], "--sigma2"),
    "threshold digits": (["threshold", *SPEC, *LEARNABLE, "--digits", "20"], "--digits"),
    "threshold beta": (["threshold", *SPEC, *LEARNABLE, "--beta", "1"], "--beta"),
    "map vary sigma2": (["map", *SPEC, *LEARNABLE, "--vary", "sigma2"], "--vary sigma2"),
    "map sigma2": (["map", *SPEC, *LEARNABLE, "--sigma2", "1"], "--sigma2"),
    "k not below the rank": (
        ["optimum", "--spectrum", "4,2,1", "--latent-dim", "3", *LEARNABLE],
        "latent",
    ),
    "unknown decoder variance": (["optimum", *SPEC, "--decoder-variance", "free"], "'free'"),
    "train sigma2 range": (
        ["train", "--data", "digits", *LEARNABLE, "--sigma2-range", "1:2"],
        "--beta-range",
    ),
    "train mlp": (["train", "--data", "digits", *LEARNABLE, "--model", "mlp"], "--model mlp"),
    "train beta": (["train", "--data", "digits", *LEARNABLE, "--beta", "2"], "--beta"),
    "train data-dependent": (
        ["train", "--data", "digits", *LEARNABLE, "--encoder-variance", "data-dependent"],
        "data-dependent",
    ),
    "train initial sigma2 when fixed": (
        ["train", "--data", "digits", "--initial-sigma2", "3"],
        "--initial-sigma2",
    ),
    "train bad initial sigma2": (
        ["train", "--data", "digits", *LEARNABLE, "--initial-sigma2", "-3"],
        "initial_sigma2",
    ),
    "train bad beta range": (
        ["train", "--data", "digits", *LEARNABLE, "--beta-range", "2:1"],
        "--beta-range",
    ),
    "train spectrum": (["train", *SPEC, *LEARNABLE], "--data"),
}


@pytest.mark.parametrize("argv, needle", BAD.values(), ids=BAD.keys())
def test_bad_input_one_line_exit_2(capsys, argv, needle):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("vae-collapse: error: "), err
    assert needle in err and "Traceback" not in err
