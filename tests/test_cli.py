"""The command line: documented outputs and every kind of bad input (DESIGN.md section 6)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from numerics.cli import main


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


def test_console_script_no_traceback():
    """The installed entry point, as a user runs it."""
    proc = subprocess.run(
        [sys.executable, "-m", "numerics.cli", "optimum", "--spectrum", "4,2", "--sigma2", "-3"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.strip() == ("vae-collapse: error: sigma2=-3.0: expected a finite number > 0")
