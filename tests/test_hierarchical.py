"""The two-level hierarchical VAE: published checks, direct minimisation of the full matrix
objective, finite-difference Hessians against the derived classification, transitions,
the command line and training.

Independent routes: the full objective below is written here in NumPy from the model's
definition (Gaussian identities on the covariance), minimised over every weight matrix
from random starts; the per-mode objective is written here too and its Hessian taken by
finite differences.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.optimize import minimize

from numerics.app.cli import main
from numerics.core._hierarchical import (
    hierarchical_laws,
    hierarchical_optimum,
    hierarchical_thresholds,
    resolve_hierarchical,
)
from numerics.data._datasets import load_digits
from numerics.spectra._covariance import covariance_spectrum
from numerics.training._family_measure import train_and_measure_hierarchical
from theory.hierarchical import all_hierarchical, derive_hierarchical, hierarchical_vae


# -- published checks (Dang et al., ICLR 2024, learnable Sigma_2; eta = 1) ----------------------
def test_dang_learnable_sigma2_sigma1_one():
    r = hierarchical_optimum([4, 2, 1], sigma2=1.0, beta=1.0, zeta2=1.0, beta2=1.0)
    enc = [m.values["encoder_singular_value"] for m in r.modes]
    dec = [m.values["decoder2_singular_value"] for m in r.modes]
    np.testing.assert_allclose(enc, [1.732051, 1, 0], atol=1e-6)
    np.testing.assert_allclose(dec, [1.732051, 1, 0], atol=1e-6)


def test_dang_learnable_sigma2_sigma1_point_eight():
    r = hierarchical_optimum([4, 2, 1], sigma2=1.0, beta=1.0, zeta2=0.64, beta2=2.0)
    enc = [m.values["encoder_singular_value"] for m in r.modes]
    # Published to six places as (0.979796, 0.700980, 0.4); the middle value is
    # sqrt(0.8 (sqrt 2 - 0.8)) = 0.7009785 (their formula), 0.70098 to five places.
    np.testing.assert_allclose(enc, [0.979796, math.sqrt(0.8 * (math.sqrt(2) - 0.8)), 0.4],
                               atol=1e-6)  # fmt: skip
    assert abs(enc[1] - 0.700980) < 2e-6
    assert all(not m.top_active and m.values["decoder2_singular_value"] == 0 for m in r.modes)


def test_derivation_checks_pass():
    """The learnable first level here; the documents print (and tests/test_derivations.py
    checks) every check of the other variants."""
    d = derive_hierarchical(all_hierarchical()[2])
    assert d.top_identity_verified and d.stationarity_verified and d.schur_verified
    assert d.partition_checked > 0 and d.continuous_transitions


# -- the full objective -------------------------------------------------------------------------
def _unpack(theta, d, k, learnable_first, learnable_top):
    n = 0
    out = {}
    for name, shape in (("W1", (d, k)), ("V1", (k, d)), ("W2", (k, k)), ("V2", (k, k))):
        size = shape[0] * shape[1]
        out[name] = theta[n : n + size].reshape(shape)
        n += size
    out["l1"] = theta[n : n + k] if learnable_first else None
    n += k if learnable_first else 0
    out["l2"] = theta[n : n + k] if learnable_top else None
    return out


def _objective(theta, cov, k, sigma2, beta, beta2, eta2, zeta1, zeta2):
    """F of the hierarchical VAE at covariance ``cov`` (b = m), zeta None: learnable."""
    d = cov.shape[0]
    p = _unpack(theta, d, k, zeta1 is None, zeta2 is None)
    s1 = np.exp(p["l1"]) if zeta1 is None else np.full(k, zeta1)
    s2 = np.exp(p["l2"]) if zeta2 is None else np.full(k, zeta2)
    W1, V1, W2, V2 = p["W1"], p["V1"], p["W2"], p["V2"]
    A = np.eye(d) - W1 @ V1
    rec = d / 2 * np.log(2 * np.pi * sigma2) + (
        np.trace(A @ cov @ A.T) + np.trace(W1 @ np.diag(s1) @ W1.T)
    ) / (2 * sigma2)
    C1 = V1 @ cov @ V1.T + np.diag(s1)  # E[z1 z1^T]
    B = np.eye(k) - W2 @ V2  # z1 - W2 z2 = B z1 - W2 s2^1/2 eps2
    kl1 = np.sum(0.5 * np.log(sigma2 / s1) - 0.5) + (
        np.trace(B @ C1 @ B.T) + np.trace(W2 @ np.diag(s2) @ W2.T)
    ) / (2 * sigma2)
    kl2 = 0.5 * (np.trace(V2 @ C1 @ V2.T) + s2.sum()) / eta2 + np.sum(0.5 * np.log(eta2 / s2) - 0.5)
    return rec + beta * kl1 + beta2 * kl2


CASES = [
    # spectrum, sigma2, beta, beta2, zeta1, zeta2 (None: learnable)
    ((4.0, 2.0, 1.0), 1.3, 1.0, 1.0, 1.5, None),
    ((4.0, 2.5, 0.6), 0.9, 1.2, 0.7, 0.8, None),
    ((3.0, 1.7, 0.5), 1.0, 2.0, 1.0, 1.0, 1.0),
    ((5.0, 2.0, 0.4), 1.1, 0.8, 1.3, 1.4, 0.6),
    ((4.0, 2.0, 1.0), 1.2, 0.5, 1.5, None, None),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(map(str, c[1:])))
def test_direct_minimisation_matches_the_derived_optimum(case):
    spectrum, sigma2, beta, beta2, zeta1, zeta2 = case
    rng = np.random.default_rng(7)
    q = np.linalg.qr(rng.standard_normal((3, 3)))[0]
    cov = q @ np.diag(spectrum) @ q.T  # a rotated spectrum: no alignment given
    k = 2
    n = 2 * 3 * k + 2 * k * k + k * (zeta1 is None) + k * (zeta2 is None)
    args = (cov, k, sigma2, beta, beta2, 1.0, zeta1, zeta2)
    best = min(
        (minimize(_objective, 0.7 * rng.standard_normal(n), args=args, method="BFGS",
                  options={"gtol": 1e-11, "maxiter": 50000}) for _ in range(6)),
        key=lambda r: r.fun,
    )  # fmt: skip
    model = {"encoder_variance": "fixed" if zeta1 else "learnable", "zeta2": zeta1,
             "top_encoder_variance": "fixed" if zeta2 else "learnable", "top_zeta2": zeta2,
             "beta2": beta2, "latent_dim": k}  # fmt: skip
    derived = hierarchical_optimum(list(spectrum), sigma2, beta, **model).neg_elbo
    assert abs(best.fun - derived) < 1e-8


def test_dang_code_condition_for_fixed_variances_at_beta1_two():
    """beta_1 = 2, beta_2 = 1, eta = sigma' = sigma_1 = sigma_2 = 1, lambda = 1.7: the derived
    minimum has z_1 active (point aa), where the condition in Dang et al.'s code selects a
    collapsed z_1; direct minimisation of the per-mode objective agrees with the derivation."""
    r = hierarchical_optimum([1.7], 1.0, 2.0, zeta2=1.0, top_encoder_variance="fixed",
                             top_zeta2=1.0, beta2=1.0)  # fmt: skip
    assert r.modes[0].point == "aa"
    args = (np.array([[1.7]]), 1, 1.0, 2.0, 1.0, 1.0, 1.0, 1.0)
    rng = np.random.default_rng(0)
    best = min(
        (
            minimize(
                _objective,
                rng.standard_normal(4),
                args=args,
                method="BFGS",
                options={"gtol": 1e-12},
            )
            for _ in range(8)
        ),
        key=lambda x: x.fun,
    )
    assert abs(best.fun - r.neg_elbo) < 1e-9
    v1 = _unpack(best.x, 1, 1, False, False)["V1"][0, 0]
    assert abs(abs(v1) * math.sqrt(1.7) - r.modes[0].values["encoder_singular_value"]) < 1e-5


# -- Hessians of the per-mode objective by finite differences ------------------------------------
def _mode_objective(x, lam, sigma2, beta, beta2, eta2, zeta1):
    """Per-mode f(w1, v1, w2, v2, log s2^2) with s1^2 = zeta1 fixed."""
    w1, v1, w2, v2, l2 = x
    s2 = math.exp(l2)
    E = v1 * v1 * lam + zeta1
    rec = 0.5 * math.log(2 * math.pi * sigma2) + ((1 - w1 * v1) ** 2 * lam
                                                   + w1 * w1 * zeta1) / (2 * sigma2)  # fmt: skip
    kl1 = (
        0.5 * math.log(sigma2 / zeta1)
        - 0.5
        + ((1 - w2 * v2) ** 2 * E + w2 * w2 * s2) / (2 * sigma2)
    )
    kl2 = 0.5 * math.log(eta2 / s2) - 0.5 + (v2 * v2 * E + s2) / (2 * eta2)
    return rec + beta * kl1 + beta2 * kl2


def _fd_hessian(f, x, h=1e-4):
    n = x.size
    out = np.empty((n, n))
    for i in range(n):
        for j in range(n):
            e_i, e_j = np.eye(n)[i] * h, np.eye(n)[j] * h
            out[i, j] = (f(x + e_i + e_j) - f(x + e_i - e_j) - f(x - e_i + e_j)
                         + f(x - e_i - e_j)) / (4 * h * h)  # fmt: skip
    return out


@pytest.mark.parametrize(
    "params",
    [
        (4.0, 1.3, 1.0, 1.0, 1.0, 1.5),
        (0.8, 0.5, 1.0, 1.0, 1.0, 1.5),
        (3.0, 2.5, 1.0, 0.8, 1.0, 1.0),
        (2.0, 0.7, 1.5, 1.0, 1.0, 0.9),
    ],
)
def test_finite_difference_hessians_match_the_derived_classification(params):
    """Every existing stationary point: a minimum where the derivation says so, else a saddle."""
    lam, sigma2, beta, beta2, eta2, zeta1 = params
    spec = hierarchical_vae("fixed", "learnable")
    model = resolve_hierarchical(zeta2=zeta1, beta2=beta2, eta2=eta2)
    laws = hierarchical_laws(spec)
    minima = 0
    for key in laws.keys:
        exists = all(m > 0 for m in laws.evaluate("exists", key, model, lam, sigma2, beta))
        if not exists:
            continue
        minimum = all(m > 0 for m in laws.evaluate("minimum", key, model, lam, sigma2, beta))
        q = {n: float(laws.law(key, n, model, lam, sigma2, beta)) for n in
             ("decoder1_norm", "encoder_singular_value", "decoder2_singular_value",
              "encoder2_norm", "top_variance")}  # fmt: skip
        x = np.array([q["decoder1_norm"], q["encoder_singular_value"] / math.sqrt(lam),
                      q["decoder2_singular_value"], q["encoder2_norm"],
                      math.log(q["top_variance"])])  # fmt: skip
        f = lambda y: _mode_objective(y, lam, sigma2, beta, beta2, eta2, zeta1)  # noqa: E731
        grad = [(f(x + 1e-6 * e) - f(x - 1e-6 * e)) / 2e-6 for e in np.eye(5)]
        assert max(map(abs, grad)) < 1e-7, (key, grad)
        eig = np.linalg.eigvalsh(_fd_hessian(f, x))
        assert (eig.min() > 1e-6) == minimum, (key, eig)
        minima += minimum
    assert minima == 1


# -- transitions --------------------------------------------------------------------------------
@pytest.mark.parametrize("zeta1", [0.5, 1.5, 3.0])
def test_points_change_exactly_at_the_derived_critical_values(zeta1):
    lam = [4.0, 2.0, 1.0]
    th = hierarchical_thresholds(lam, 1.0, zeta2=zeta1)
    assert th.transitions
    for t in th.transitions:
        below = hierarchical_optimum(lam, t.sigma2 * (1 - 1e-9), zeta2=zeta1).modes[t.mode - 1]
        above = hierarchical_optimum(lam, t.sigma2 * (1 + 1e-9), zeta2=zeta1).modes[t.mode - 1]
        assert (below.point, above.point) == (t.before, t.after)
    # Theory (derivations/hierarchical-vae.tex): for lambda > beta zeta_1^2 the top level
    # collapses at sqrt(beta zeta_1^2 lambda) / beta_2 and the first never does.
    for r, value in enumerate(lam):
        if value > zeta1:
            assert th.first_collapse[r] is None
            assert th.top_collapse[r] == pytest.approx(math.sqrt(zeta1 * value), rel=1e-12)
            assert th.collapses_first(r) == "top"
        else:
            assert th.collapses_first(r) == "first"


# -- the command line ---------------------------------------------------------------------------
def test_cli_optimum_prints_dang_values(capsys):
    assert main(["optimum", "--spectrum", "4,2,1", "--sigma2", "1", "--family", "hvae",
                 "--json"]) == 0  # fmt: skip
    out = json.loads(capsys.readouterr().out)
    enc = [m["values"]["encoder_singular_value"] for m in out["modes"]]
    np.testing.assert_allclose(enc, [math.sqrt(3), 1, 0], atol=1e-12)
    assert out["model"]["encoder_variance"] == "fixed" and out["model"]["zeta2"] == [1.0]


def test_cli_map_writes_its_files(tmp_path, capsys):
    out = tmp_path / "map"
    assert main(["map", "--spectrum", "4,2,1", "--family", "hvae", "--encoder-variance",
                 "fixed:1.5", "--points", "50", "--out", str(out)]) == 0  # fmt: skip
    names = sorted(p.name for p in out.iterdir())
    assert "phase_diagram.png" in names and "curves.csv" in names and "map.json" in names
    assert "4 critical points against sigma2" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["threshold", "--spectrum", "4,2,1", "--beta2", "2"], "hvae only"),
        (["threshold", "--spectrum", "4,2,1", "--top-encoder-variance", "learnable"],
         "hvae only"),
        (["threshold", "--spectrum", "4,2,1", "--family", "hvae", "--encoder-variance",
          "learnable"], "needs beta < beta2"),
        (["threshold", "--spectrum", "4,2,1", "--family", "hvae", "--encoder-variance",
          "fixed:1,2,3"], "takes one fixed variance"),
        (["threshold", "--spectrum", "4,2,1", "--family", "hvae", "--top-encoder-variance",
          "fixed:0"], "Z > 0"),
        (["threshold", "--spectrum", "4,2,1", "--family", "hvae", "--beta2", "0"],
         "expected a finite number > 0"),
        (["threshold", "--spectrum", "4,2,1", "--family", "hvae", "--digits", "20"],
         "--digits applies"),
        (["map", "--spectrum", "4,2,1", "--family", "hvae", "--vary", "beta", "--sigma2", "1"],
         "--vary beta applies"),
        (["train", "--data", "digits", "--family", "hvae", "--encoder-variance",
          "data-dependent"], "trains learnable or fixed"),
    ],
)  # fmt: skip
def test_bad_combinations_are_one_line_errors(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


# -- training -----------------------------------------------------------------------------------
def test_trained_hierarchical_vae_lands_on_both_levels_collapses():
    """Digits with zeta_1^2 = 120: the top level of modes 1-3 collapses first (at
    sqrt(120 lambda)); mode 4 (lambda < 120) loses its first level first, then its top."""
    X = load_digits().X
    lam = covariance_spectrum(X).eigenvalues
    report = train_and_measure_hierarchical(
        X, lam, latent_dim=4, model={"encoder_variance": "fixed", "zeta2": 120.0},
        progress=False,
    )  # fmt: skip
    measured = report.top + report.first
    assert len(report.top) == 4 and len(report.first) == 1
    errors = [m.relative_error for m in measured]
    assert all(e is not None and abs(e) < 0.02 for e in errors), errors


def test_report_sections_train_both_families(tmp_path):
    """The opt-in report sections (report --hierarchical --condition-columns) on small data."""
    from numerics.app._family_report import family_parts, family_summary
    from numerics.app._sources import from_data

    data = "synthetic:correlated:d=4,rho=0.5,spectrum=4;3;2;1,n=3000"
    source = from_data(data)
    results = family_parts(data, source, tmp_path, False, True, "0:4")
    for folder in ("train_hierarchical", "train_conditional"):
        assert (tmp_path / folder / "training.png").stat().st_size > 0
    lines = "\n".join(family_summary(results, data))
    assert "hierarchical VAE" in lines and "conditional VAE" in lines
    measured = results["hierarchical"].top + results["conditional"].measured
    assert all(m.relative_error is not None and abs(m.relative_error) < 0.02 for m in measured)


def test_cli_train_hierarchical_defaults_to_a_fixed_first_level(capsys):
    data = "synthetic:correlated:d=3,rho=0.5,n=2000"
    assert main(["train", "--data", data, "--family", "hvae", "--latent-dim", "3",
                 "--no-progress", "--json"]) == 0  # fmt: skip
    out = json.loads(capsys.readouterr().out)
    assert out["theory"]["model"]["encoder_variance"] == "fixed"
    assert out["theory"]["model"]["zeta2"] == [1.0]
