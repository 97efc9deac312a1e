"""The model family (learnable, fixed isotropic zeta^2, fixed anisotropic zeta_j^2) end to end.

Independent routes: published values (Dang, Tran, Nguyen & Ho 2024, Theorem 1), brute
force over every assignment of latents to eigen-directions with each pair minimised
numerically (no law of the theory), and unrestricted direct minimisation of the full
matrix objective of ``tests/helpers.py`` (written from the Gaussian identities).
"""

from __future__ import annotations

import itertools
import json
import math
from fractions import Fraction

import numpy as np
import pytest
import sympy as sp
from helpers import Packing, objective, objective_and_gradient, rotated_data
from scipy.optimize import minimize

from numerics.app.cli import main
from numerics.core._optimum import optimum, thresholds
from numerics.core._validation import InputError
from numerics.spectra import exact_thresholds
from theory import derive, fixed_anisotropic_encoder_variance, fixed_encoder_variance
from theory import symbols as S


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# -- published values -----------------------------------------------------------------
def test_dang_et_al_theorem_1(capsys):
    """Dang et al. (2024), Theorem 1: eigenvalues (4, 2, 1), encoder standard deviations
    (0.5, 0.8, 1.0), beta = sigma'^2 = eta^2 = 1: decoder singular values 1.732051,
    0.876224 and 0 (the brief's six decimals; the exact second value is
    sqrt(sqrt(3.125) - 1) = 0.87622312, so the check is to 1e-6)."""
    code, out, err = run(
        capsys,
        "optimum", "--spectrum", "4,2,1", "--sigma2", "1",
        "--encoder-variance", "fixed:0.25,0.64,1", "--json",
    )  # fmt: skip
    assert code == 0 and err == ""
    result = json.loads(out)
    norms = [m["decoder_norm"] for m in result["modes"]]
    assert norms == pytest.approx([1.732051, 0.876224, 0.0], abs=1e-6)
    assert result["model"] == {
        "encoder_variance": "fixed-anisotropic",
        "specification": "fixed-anisotropic-encoder-variance",
        "zeta2": [0.25, 0.64, 1.0],
        "eta2": 1.0,
        "latent_dim": 3,
    }
    # The third latent sits exactly at its threshold sigma'^2_c = 1: collapsed.
    assert [m["active"] for m in result["modes"]] == [True, True, False]


def test_pairing_rule_is_derived_not_assumed():
    """The exchange argument's hypotheses, checked by the engine, give the rule."""
    for spec in (fixed_encoder_variance(), fixed_anisotropic_encoder_variance()):
        rule = derive(spec).pairing
        assert rule.continuous_at_boundary and rule.slope_sign == -1 and rule.cross_sign == 1
        assert rule.variance_order == "ascending" and rule.proven
        # The cross derivative is the engine's, evaluated: positive on the active side.
        value = rule.cross_derivative.subs(
            {S.lam: 3.0, S.sigma2: 1.0, S.beta: 1.0, S.eta2: 1.0, S.zeta2: 0.5}
        )
        assert float(value) > 0


# -- brute force over assignments -------------------------------------------------------
def _pair_minimum(lam: float, zeta2: float, sigma2: float, beta: float, eta2: float) -> float:
    """min over (w, v) of F for one latent on one direction of variance lam (numerically).

    The objective is the helpers' full objective on 1-D data of variance exactly lam,
    bias at the mean; the collapsed start (0, 0) and an active start are both tried.
    """
    X, _ = rotated_data([lam], 400, seed=3)
    b = X.mean(axis=0)

    def f(p):
        return objective(X, np.array([[p[0]]]), np.array([[p[1]]]), np.array([zeta2]), b,
                         sigma2, beta, eta2)  # fmt: skip

    starts = ([0.0, 0.0], [1.0, 0.5], [-1.0, -0.5])
    return min(
        minimize(f, s, method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-14}).fun
        for s in starts
    )


def _unpaired(lam: float, sigma2: float) -> float:
    """F of a direction without a latent: 1/2 log(2 pi sigma'^2) + lam / (2 sigma'^2)."""
    X, _ = rotated_data([lam], 400, seed=3)
    return objective(X, np.zeros((1, 0)), np.zeros((0, 1)), np.zeros(0), X.mean(axis=0), sigma2)


@pytest.mark.parametrize("seed", range(4))
def test_pairing_against_brute_force_over_assignments(seed):
    """Every injective assignment of k latents to the d directions, each pair minimised
    numerically: the best total is the library's optimum, reached by its pairing."""
    rng = np.random.default_rng(seed)
    d = int(rng.integers(2, 5))
    k = int(rng.integers(2, d + 1))
    lam = np.sort(rng.uniform(0.3, 5.0, d))[::-1]
    zeta2 = rng.uniform(0.2, 2.0, k)
    sigma2, beta, eta2 = rng.uniform(0.3, 1.5), rng.uniform(0.5, 2.0), rng.uniform(0.5, 2.0)
    pair = {(i, j): _pair_minimum(lam[i], zeta2[j], sigma2, beta, eta2)
            for i in range(d) for j in range(k)}  # fmt: skip
    free = [_unpaired(x, sigma2) for x in lam]
    totals = {}
    for dirs in itertools.permutations(range(d), k):
        used = set(dirs)
        totals[dirs] = sum(pair[(i, j)] for j, i in enumerate(dirs)) + sum(
            free[i] for i in range(d) if i not in used
        )
    best = min(totals.values())
    r = optimum(lam, sigma2, beta, k, "fixed", eta2, zeta2=list(zeta2))
    # Nelder-Mead on a 2-parameter smooth problem: ~1e-12; 1e-9 leaves room.
    assert r.neg_elbo == pytest.approx(best, abs=1e-9)
    derived = [None] * k
    for m in r.modes:
        derived[m.latent - 1] = m.index - 1
    assert totals[tuple(derived)] == pytest.approx(best, abs=1e-9)
    # And the rule, stated: the smallest zeta^2 takes the largest eigenvalue.
    assert [m.latent - 1 for m in r.modes] == list(np.argsort(zeta2, kind="stable"))


# -- direct minimisation of the full objective ----------------------------------------------
def _random_case(rng: np.random.Generator):
    """A random model (d <= 5, k <= d) with sigma'^2 >= 8 % away from every threshold."""
    while True:
        d = int(rng.integers(1, 6))
        k = int(rng.integers(1, d + 1))
        lam = np.sort(rng.uniform(0.2, 5.0, d))[::-1]
        kind = rng.choice(["learnable", "isotropic", "anisotropic"])
        eta2 = float(rng.uniform(0.5, 2.0))
        zeta2 = None if kind == "learnable" else (
            float(rng.uniform(0.3, 2.0)) if kind == "isotropic" else list(rng.uniform(0.3, 2.0, k))
        )  # fmt: skip
        beta, sigma2 = float(rng.uniform(0.5, 2.0)), float(rng.uniform(0.2, 3.0))
        variant = "learnable" if kind == "learnable" else "fixed"
        crit = np.array(thresholds(lam, beta, k, variant, eta2, zeta2=zeta2).critical_sigma2)
        if np.min(np.abs(sigma2 / crit - 1.0)) > 0.08:
            return lam, k, variant, eta2, zeta2, beta, sigma2


def _minimise(lam, k, variant, eta2, zeta2, beta, sigma2, seed):
    X, _ = rotated_data(lam, 600, seed=seed)
    if zeta2 is not None and not isinstance(zeta2, list):
        zeta2 = [zeta2] * k
    packing = Packing(len(lam), k, variant, eta2, None if zeta2 is None else tuple(zeta2))
    rng = np.random.default_rng(seed + 1)
    options = {"maxiter": 30000, "maxfun": 60000, "ftol": 1e-16, "gtol": 1e-12, "maxcor": 30}
    runs = [
        minimize(objective_and_gradient, packing.random(rng, 0.5), args=(X, packing, sigma2, beta),
                 jac=True, method="L-BFGS-B", options=options)
        for _ in range(4)
    ]  # fmt: skip
    best = min(runs, key=lambda r: r.fun)
    _, V, s2, _ = packing.unpack(best.x)
    mu = (X - X.mean(axis=0)) @ V.T
    # The order parameter of latent j is E[mu_j^2] / (2 eta^2) for a fixed variance (KL
    # minus its floor); its rotation-invariant form is the spectrum of E[mu mu^T] / (2 eta^2).
    # For a learnable variance the per-latent KL is identifiable and has no floor.
    if variant == "learnable":
        s = np.asarray(s2)
        order = 0.5 * (s / eta2 + np.mean(mu**2, axis=0) / eta2 - 1 - np.log(s / eta2))
    else:
        order = np.linalg.eigvalsh(mu.T @ mu / (2 * X.shape[0] * eta2))
    return best.fun, int(np.sum(order > 1e-3))


@pytest.mark.parametrize("seed", range(10))
def test_random_models_against_direct_minimisation(seed):
    """Random models (d <= 5, k <= d, random zeta^2, eta^2, beta, sigma'^2): the derived
    optimum equals the unrestricted minimum of the full objective to 1e-8 in neg_elbo,
    and the active counts agree."""
    rng = np.random.default_rng(100 + seed)
    lam, k, variant, eta2, zeta2, beta, sigma2 = _random_case(rng)
    found, n_active = _minimise(lam, k, variant, eta2, zeta2, beta, sigma2, seed)
    r = optimum(lam, sigma2, beta, k, variant, eta2, zeta2=zeta2)
    # L-BFGS-B stops at |grad| ~ 1e-9 away from thresholds: F converged to ~1e-15.
    assert found == pytest.approx(r.neg_elbo, abs=1e-8)
    assert n_active == r.n_active


@pytest.mark.parametrize("seed", range(6))
def test_active_counts_change_exactly_at_the_thresholds(seed):
    """The derived count drops at each reported threshold and nowhere else, and between
    thresholds it is the count of the direct minimisation."""
    rng = np.random.default_rng(200 + seed)
    lam, k, variant, eta2, zeta2, beta, _ = _random_case(rng)
    t = thresholds(lam, beta, k, variant, eta2, zeta2=zeta2)
    crit = np.array(t.critical_sigma2)

    def count(s2: float) -> int:
        return optimum(lam, s2, beta, k, variant, eta2, zeta2=zeta2).n_active

    for c in np.unique(crit):
        # The float c is the exact threshold rounded to the nearest double: the exact value
        # lies strictly between c's two neighbours, and the count is decided exactly.
        below, above = np.nextafter(c, 0), np.nextafter(c, np.inf)
        assert count(below) - count(above) == int(np.sum(crit == c))
    edges = np.concatenate([[crit.max() * 1.6], np.unique(crit)[::-1], [crit.min() * 0.6]])
    for hi, lo in itertools.pairwise(edges):
        if hi / lo < 1.25:  # too close for the optimiser to be trusted near both edges
            continue
        mid = math.sqrt(hi * lo)
        _, n_found = _minimise(lam, k, variant, eta2, zeta2, beta, mid, seed)
        assert n_found == count(mid) == int(np.sum(crit > mid))


# -- thresholds in exact arithmetic for every specification ----------------------------------
MODELS = [
    ("learnable", None),
    ("fixed", None),
    ("fixed:3/4", [Fraction(3, 4)] * 3),
    ("fixed:1/2,2,1/5", [Fraction(1, 2), Fraction(2), Fraction(1, 5)]),
]


@pytest.mark.parametrize("model, zetas", MODELS, ids=[m for m, _ in MODELS])
def test_threshold_digits_for_every_specification(capsys, model, zetas):
    """--digits: exact rationals eta^2 lambda / (beta zeta^2) with the smallest zeta^2 on
    the largest eigenvalue (Dang et al. 2024, Thm 1), computed here with fractions."""
    lams, beta, eta2 = [Fraction(4), Fraction(2), Fraction(1, 3)], Fraction(7, 10), Fraction(3, 2)
    code, out, err = run(
        capsys, "threshold", "--spectrum", "4,2,1/3", "--beta", "0.7", "--prior-variance",
        "3/2", "--encoder-variance", model, "--digits", "30", "--json",
    )  # fmt: skip
    assert code == 0, err
    result = json.loads(out)
    if model == "learnable":
        expected = [lam / beta for lam in lams]
    else:
        z = sorted(zetas) if zetas else [eta2] * 3
        expected = [eta2 * lam / (beta * zj) for lam, zj in zip(lams, z, strict=True)]
    assert result["critical_sigma2_exact"] == [str(e) for e in expected]
    assert result["model"]["eta2"] == 1.5


def test_exact_thresholds_pairing_and_bad_counts():
    r = exact_thresholds([4, 2, 1], zeta2=[1, Fraction(1, 4), Fraction(1, 2)], digits=10,
                         encoder_variance="fixed")  # fmt: skip
    assert r.exact == ("16", "4", "1")
    with pytest.raises(InputError, match="zeta2 has 2 values for 3 latents"):
        exact_thresholds([4, 2, 1], zeta2=[1, 2], digits=10, encoder_variance="fixed")


# -- every output records the model -----------------------------------------------------------
@pytest.mark.parametrize(
    "argv",
    [
        ["threshold", "--spectrum", "4,2,1"],
        ["optimum", "--spectrum", "4,2,1", "--sigma2", "1"],
        ["map", "--spectrum", "4,2,1", "--points", "5"],
    ],
    ids=["threshold", "optimum", "map"],
)
@pytest.mark.parametrize(
    "variance, zeta2",
    [("learnable", None), ("fixed", [2.0] * 3), ("fixed:0.5", [0.5] * 3),
     ("fixed:1,0.5,2", [1.0, 0.5, 2.0])],
)  # fmt: skip
def test_json_records_the_model(capsys, argv, variance, zeta2):
    code, out, err = run(
        capsys, *argv, "--encoder-variance", variance, "--prior-variance", "2", "--json"
    )
    assert code == 0, err
    model = json.loads(out)["model"]
    assert model["zeta2"] == zeta2 and model["eta2"] == 2.0 and model["latent_dim"] == 3
    assert model["encoder_variance"] == (
        "fixed-anisotropic" if variance.count(",") else variance.split(":")[0]
    )


def test_map_critical_points_follow_the_pairing(capsys):
    code, out, _ = run(
        capsys, "map", "--spectrum", "4,2,1", "--encoder-variance", "fixed:1,0.5,2",
        "--points", "5", "--json",
    )  # fmt: skip
    assert code == 0
    cps = json.loads(out)["critical_points"]
    # Pairs (4, 0.5), (2, 1), (1, 2): sigma'^2_c = 8, 2, 0.5.
    assert [c["sigma2"] for c in cps] == [8.0, 2.0, 0.5]


def test_order_parameter_vanishes_when_collapsed_and_kl_keeps_its_floor():
    r = optimum([1.0], sigma2=10.0, encoder_variance="fixed", zeta2=0.25)
    floor = 0.5 * (0.25 - 1 - math.log(0.25))  # KL(N(0, zeta^2) || N(0, 1))
    assert r.n_active == 0 and r.order_parameter_total == 0.0
    assert r.kl_total == pytest.approx(floor, rel=1e-15)
    d = derive(fixed_encoder_variance())
    assert sp.simplify(d.optimum.collapsed["order_parameter"]) == 0
