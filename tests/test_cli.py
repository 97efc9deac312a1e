"""The command line: documented outputs and every kind of bad input (README, "Command line")."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from numerics.app.cli import main


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_optimum_json_reference_values(capsys):
    """Issue 2's reference: KL 0.490415, 0.143841, 0 for (4, 2, 1) at sigma'^2 = 1.5.

    Values of the closed form of Wang & Ziyin (NeurIPS 2022, Theorem 2) and Lucas
    et al. (NeurIPS 2019) at beta = 1, quoted to six decimals in the issue.
    """
    code, out, err = run(capsys, "optimum", "--spectrum", "4,2,1", "--sigma2", "1.5", "--json")
    assert code == 0 and err == ""
    result = json.loads(out)
    assert [m["kl"] for m in result["modes"]] == pytest.approx(
        [0.490415, 0.143841, 0.0], abs=5e-7
    )  # six quoted decimals
    assert [m["active"] for m in result["modes"]] == [True, True, False]
    assert set(result) >= {"sigma2", "beta", "modes", "kl_total", "neg_elbo"}
    assert set(result["modes"][0]) >= {
        "eigenvalue",
        "active",
        "kl",
        "encoder_variance",
        "decoder_norm",
    }


def test_threshold_json_beta_half(capsys):
    code, out, _ = run(capsys, "threshold", "--spectrum", "4,2,1", "--beta", "0.5", "--json")
    assert code == 0
    result = json.loads(out)
    assert result["critical_sigma2"] == [8.0, 4.0, 2.0]
    assert result["full_collapse_sigma2"] == 8.0
    assert result["eigenvalues"] == [4.0, 2.0, 1.0]


def test_threshold_latent_dim_and_fractions(capsys):
    code, out, _ = run(capsys, "threshold", "--spectrum", "1/3,4,2", "--latent-dim", "2", "--json")
    assert code == 0
    assert json.loads(out)["critical_sigma2"] == [4.0, 2.0]


def test_human_readable_output(capsys):
    code, out, _ = run(capsys, "optimum", "--spectrum", "4,2,1", "--sigma2", "1.5")
    assert code == 0 and "0.490415" in out and "neg_elbo" in out
    code, out, _ = run(capsys, "threshold", "--spectrum", "4,2,1")
    assert code == 0 and "full collapse" in out


BAD_INPUTS = {
    "non-finite eigenvalue": (["threshold", "--spectrum", "4,inf,1"], "inf"),
    "nan sigma2": (["optimum", "--spectrum", "4,2", "--sigma2", "nan"], "nan"),
    "not a number": (["threshold", "--spectrum", "4,x,1"], "'x'"),
    "empty spectrum": (["threshold", "--spectrum", ""], "expected"),
    "missing eigenvalue": (["threshold", "--spectrum", "4,,1"], "4,,1"),
    "negative eigenvalue": (["threshold", "--spectrum", "4,-2,1"], "-2.0"),
    "negative variance": (["optimum", "--spectrum", "4,2", "--sigma2", "-1"], "-1.0"),
    "zero variance": (["optimum", "--spectrum", "4,2", "--sigma2", "0"], "sigma2=0.0"),
    "beta zero": (["threshold", "--spectrum", "4,2", "--beta", "0"], "beta=0.0"),
    "beta negative": (["threshold", "--spectrum", "4,2", "--beta", "-1"], "beta=-1.0"),
    "k > d": (["threshold", "--spectrum", "4,2", "--latent-dim", "3"], "latent_dim=3"),
    "k = 0": (["threshold", "--spectrum", "4,2", "--latent-dim", "0"], "latent_dim=0"),
    "k not integer": (["threshold", "--spectrum", "4,2", "--latent-dim", "1.5"], "1.5"),
    "unknown option": (["threshold", "--spectrum", "4,2", "--bogus"], "--bogus"),
    "unknown variant": (
        ["threshold", "--spectrum", "4,2", "--encoder-variance", "other"],
        "other",
    ),
    "unknown command": (["frobnicate"], "frobnicate"),
    "missing sigma2": (["optimum", "--spectrum", "4,2"], "--sigma2"),
    "missing source": (["threshold"], "--spectrum"),
    "two sources": (["threshold", "--spectrum", "1", "--data", "digits"], "not allowed"),
    "missing file": (["threshold", "--data", "/nonexistent/x.npy"], "/nonexistent/x.npy"),
    "unknown synthetic": (["threshold", "--data", "synthetic:nosuch"], "'nosuch'"),
    "bad synthetic parameter": (
        ["threshold", "--data", "synthetic:mixture:a=2"],
        "a=2",
    ),
    "moment with spectrum": (["threshold", "--spectrum", "1", "--moment", "uncentred"], "--data"),
    "negative scale": (["threshold", "--data", "digits", "--scale", "-1"], "scale=-1.0"),
    "unknown moment": (["threshold", "--data", "digits", "--moment", "raw"], "'raw'"),
    "digits zero": (["threshold", "--spectrum", "4,2", "--digits", "0"], "digits=0"),
    "digits non-finite beta": (
        ["threshold", "--spectrum", "4,2", "--beta", "inf", "--digits", "5"],
        "--beta: inf: expected a finite number",
    ),
    "map beta without sigma2": (["map", "--spectrum", "4,2", "--vary", "beta"], "--sigma2"),
    "map bad range": (["map", "--spectrum", "4,2", "--range", "3"], "LO:HI"),
    "map reversed range": (["map", "--spectrum", "4,2", "--range", "3:1"], "range=3.0:1.0"),
    "map points": (["map", "--spectrum", "4,2", "--points", "1"], "points=1"),
    "train on a spectrum": (["train", "--spectrum", "4,2"], "needs data"),
    "train one point": (["train", "--data", "digits", "--points", "1"], "--points 1"),
    "train reversed range": (
        ["train", "--data", "digits", "--sigma2-range", "3:1"],
        "--sigma2-range=3.0:1.0: expected LO:HI with 0 < LO < HI",
    ),
    "train negative range": (
        ["train", "--data", "digits", "--sigma2-range=-1:3"],
        "--sigma2-range=-1.0:3.0",
    ),
    "train mlp exact gradients": (
        ["train", "--data", "digits", "--model", "mlp", "--exact-gradients"],
        "--model linear only",
    ),
    "train hidden for linear": (["train", "--data", "digits", "--hidden", "8"], "--model mlp"),
    "train bad widths": (
        ["train", "--data", "digits", "--model", "mlp", "--hidden", "0,3"],
        "'0,3'",
    ),
    "train repeated seeds": (["train", "--data", "digits", "--seeds", "1,1"], "'1,1'"),
    "train zero steps": (["train", "--data", "digits", "--steps", "0"], "steps=0"),
    "train lr": (["train", "--data", "digits", "--lr", "-0.1"], "lr=-0.1"),
    "train unknown model": (["train", "--data", "digits", "--model", "cnn"], "'cnn'"),
}


@pytest.mark.parametrize("argv, needle", BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_input_one_line_exit_2(capsys, argv, needle):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1, err  # one line
    assert err.startswith("vae-collapse: error: ")
    assert needle in err
    assert "Traceback" not in err


def test_derive_out_is_a_file(tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("keep")
    code, out, err = run(capsys, "derive", "--out", str(target), "--no-pdf")
    assert code == 2 and out == "" and str(target) in err
    assert target.read_text() == "keep"  # nothing written over it


@pytest.mark.parametrize(
    "payload, needle",
    [
        (np.array([[1.0, np.nan], [2.0, 3.0]]), "not finite"),
        (np.arange(6.0), "shape (6,)"),
        (np.array([["a", "b"], ["c", "d"]]), "dtype"),
    ],
    ids=["nan", "1-d", "strings"],
)
def test_bad_data_files(tmp_path, capsys, payload, needle):
    path = tmp_path / "x.npy"
    np.save(path, payload)
    code, out, err = run(capsys, "threshold", "--data", str(path))
    assert code == 2 and out == "" and err.count("\n") == 1
    assert needle in err


def test_map_out_is_a_file(tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("keep")
    code, out, err = run(capsys, "map", "--spectrum", "4,2", "--out", str(target))
    assert code == 2 and out == "" and str(target) in err
    assert target.read_text() == "keep"


def test_map_writes_everything(tmp_path, capsys):
    code, out, _ = run(capsys, "map", "--spectrum", "4,2,1", "--out", str(tmp_path / "m"))
    assert code == 0 and "map.json" in out
    names = sorted(p.name for p in (tmp_path / "m").iterdir())
    assert names == sorted(
        [
            f"{s}.{e}"
            for s in ("kl", "derivatives", "staircase", "phase_diagram")
            for e in ("png", "pdf")
        ]
        + ["curves.csv", "critical_points.csv", "phase_diagram.csv", "map.json"]
        + [".vae-collapse-files"]  # the manifest of what the toolkit wrote
    )
    cps = json.loads((tmp_path / "m" / "map.json").read_text())["critical_points"]
    assert [c["sigma2"] for c in cps] == [4.0, 2.0, 1.0]
    assert cps[0]["d_kl"]["jump"] == pytest.approx(1 / 8, rel=1e-15)


def test_threshold_data_json_records_provenance(capsys):
    code, out, _ = run(
        capsys, "threshold", "--data", "synthetic:mixture:n=4000", "--scale", "2", "--json"
    )
    assert code == 0
    result = json.loads(out)
    assert result["data"]["source"] == "synthetic:mixture"
    assert result["data"]["scale"] == 2.0 and result["data"]["moment"] == "centred"
    assert len(result["critical_sigma2"]) == 8


def test_threshold_exact_spectrum_digits(capsys):
    code, out, _ = run(
        capsys, "threshold", "--spectrum", "4,2,1/3", "--beta", "0.7", "--digits", "30", "--json"
    )
    assert code == 0
    result = json.loads(out)
    assert result["critical_sigma2_exact"] == ["40/7", "20/7", "10/21"]
    assert result["critical_sigma2"][2] == "0.476190476190476190476190476190"


def test_console_script_no_traceback():
    """The installed entry point, as a user runs it."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "numerics.app.cli",
            "optimum",
            "--spectrum",
            "4,2",
            "--sigma2",
            "-3",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.strip() == ("vae-collapse: error: sigma2=-3.0: expected a finite number > 0")


def test_a_closed_pipe_is_silent_and_status_141():
    """`vae-collapse threshold ... | head`: the reader goes away before the output is
    written; the command stops without a traceback (status 128 + SIGPIPE)."""
    import os

    read_end, write_end = os.pipe()
    os.close(read_end)  # every write to the pipe now fails: EPIPE
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "numerics.app.cli", "threshold", "--spectrum", "4,2,1"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
    finally:
        os.close(write_end)
    assert proc.returncode == 141
    assert proc.stderr == ""


def test_digits_thresholds_are_the_covariance_eigenvalues(capsys):
    """Issue 3: critical sigma'^2 (beta = 1) = eigenvalues of the 1/N centred covariance."""
    from sklearn.datasets import load_digits

    x = load_digits().data
    ref = np.linalg.eigvalsh(np.cov(x.T, bias=True))[::-1]
    code, out, _ = run(capsys, "threshold", "--data", "digits", "--json")
    assert code == 0
    got = np.array(json.loads(out)["critical_sigma2"])
    # Two float64 eigensolvers agree to ~d eps lambda_max (and values at that level are 0).
    assert np.allclose(got, ref, rtol=1e-12, atol=64 * 2.3e-16 * ref[0])
    code, out, _ = run(capsys, "threshold", "--data", "digits", "--digits", "40", "--json")
    certified = json.loads(out)
    values = np.array([float(v) for v in certified["critical_sigma2"]])
    errors = np.array([float(e) for e in certified["certified_error"]])
    assert np.allclose(values, ref, rtol=1e-12, atol=64 * 2.3e-16 * ref[0])
    # The bound covers the eigenvalue error (~1e-41 relative) and the rounding to 40
    # significant digits (half a unit in the 40th digit, <= 5e-40 relative).
    nonzero = values > 0
    assert np.all(errors[nonzero] <= 1e-39 * values[nonzero])
    assert np.all(errors[~nonzero] == 0) and (~nonzero).sum() == 3  # constant pixels
    assert all(len(v.replace(".", "").lstrip("0")) >= 40 for v in certified["critical_sigma2"][:61])


def test_train_json_keys_and_files(tmp_path, capsys):
    """README, "Command line": ``points``, ``predicted_critical_sigma2`` (descending) and
    ``measured_critical_sigma2`` (same order, null where unresolved)."""
    out_dir = tmp_path / "t"
    argv = ["train", "--data", "synthetic:rotated:spectrum=4;2;1;0.5,n=3000", "--exact-gradients"]
    code, out, err = run(capsys, *argv, "--latent-dim", "2", "--points", "12", "--json",
                         "--out", str(out_dir))  # fmt: skip
    assert code == 0 and err == ""
    result = json.loads(out)  # one JSON object, nothing else on stdout
    assert len(result["points"]) == 12
    assert set(result["points"][0]) >= {"sigma2", "kl", "active", "neg_elbo"}
    predicted = result["predicted_critical_sigma2"]
    assert predicted == sorted(predicted, reverse=True) and len(predicted) == 2
    measured = result["measured_critical_sigma2"]
    assert len(measured) == 2
    # The two thresholds of the data's top modes (sample eigenvalues near 4 and 2).
    assert measured == pytest.approx(predicted, rel=0.02)
    names = sorted(p.name for p in out_dir.iterdir())
    assert names == [
        ".vae-collapse-files",
        "points.csv",
        "train.json",
        "training.pdf",
        "training.png",
    ]


def test_train_with_plain_gradient_descent(capsys):
    """--optimizer gd: the derived stable step and a constant schedule, recorded; the
    thresholds of a 4, 2, 1, 0.5 spectrum within 0.1 %."""
    argv = ["train", "--data", "synthetic:rotated:spectrum=4;2;1;0.5,n=3000", "--latent-dim",
            "2", "--optimizer", "gd", "--json"]  # fmt: skip
    code, out, err = run(capsys, *argv)
    assert code == 0 and err == ""
    result = json.loads(out)
    assert result["options"]["optimizer"] == "gd"
    assert result["options"]["schedule"] == "constant"
    measured, predicted = result["measured_critical_sigma2"], result["predicted_critical_sigma2"]
    assert measured == pytest.approx(predicted, rel=1e-3)


def test_train_mlp_human_output(capsys):
    argv = ["train", "--data", "synthetic:mixture:n=1000", "--model", "mlp", "--hidden", "8"]
    code, out, err = run(capsys, *argv, "--steps", "50", "--points", "3", "--no-progress")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[1].startswith("MLP VAE, 3 sweep points x 1 seed in ")
    assert lines[2].split() == [
        "rank",
        "predicted",
        "measured",
        "rel.",
        "error",
        "std.",
        "err.",
        "residual",
        "bracket",
    ]
    assert len(lines) == 3 + 4  # four latent ranks


def test_report_checks_its_data_before_doing_anything(tmp_path, capsys):
    out_dir = tmp_path / "report"
    code, out, err = run(capsys, "report", "--data", "/nonexistent/x.npy", "--out", str(out_dir))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "/nonexistent/x.npy" in err
    assert not out_dir.exists()  # nothing half-written


def test_ctrl_c_is_one_line_and_status_130(capsys, monkeypatch):
    from numerics.app import cli

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setitem(cli._COMMANDS, "threshold", interrupted)
    code, out, err = run(capsys, "threshold", "--spectrum", "4,2")
    assert code == 130 and out == ""
    assert err == "vae-collapse: interrupted\n"


def test_divergence_is_one_line_status_1_and_writes_nothing(tmp_path, capsys):
    out_dir = tmp_path / "t"
    argv = ["train", "--data", "digits", "--lr", "1e100", "--points", "3", "--steps", "60"]
    code, out, err = run(capsys, *argv, "--no-progress", "--out", str(out_dir))
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("vae-collapse: error: training diverged at sigma2=")
    assert "at step" in err and "lower --lr" in err
    assert not out_dir.exists()


def test_out_of_memory_is_one_line_and_status_1(capsys, monkeypatch):
    # Measured for real: `train --data digits --points 1000000` asks numpy for 61 GiB
    # and gets this message; here the command raises what numpy raised then.
    from numerics.app import cli

    def too_big(args):
        raise MemoryError("Unable to allocate 61.0 GiB for an array with shape (1000000, 64, 128)")

    monkeypatch.setitem(cli._COMMANDS, "train", too_big)
    code, out, err = run(capsys, "train", "--data", "digits")
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith("vae-collapse: error: out of memory (")
    assert "61.0 GiB" in err


def test_report_refuses_constant_data_before_doing_anything(tmp_path, capsys):
    path = tmp_path / "const.npy"
    np.save(path, np.ones((10, 3)))
    out_dir = tmp_path / "report"
    code, out, err = run(capsys, "report", "--data", str(path), "--out", str(out_dir))
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "every covariance eigenvalue is 0" in err
    assert not out_dir.exists()


@pytest.mark.filterwarnings("error::UserWarning")  # a warning would be a second line
def test_an_empty_csv_is_one_line_without_warnings(tmp_path, capsys):
    path = tmp_path / "empty.csv"
    path.write_text("a,b\n")
    code, out, err = run(capsys, "threshold", "--data", str(path))
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "shape (0, 1)" in err
