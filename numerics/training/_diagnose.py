"""Diagnose a VAE trained anywhere, from arrays of its encoder and decoder on the data.

Input: the data X (N x d) and, for the same N rows in the same order, the encoder's
posterior means ``mu`` and log-variances ``logvar`` (N x k), and optionally the decoder
mean at the posterior mean, ``reconstruction`` (N x d).  Nothing of the model is needed
beyond these arrays, so any framework can export them (README, "Diagnose a VAE").

Per latent:

* ``kl``: KL(q(z_j|x) || N(0, 1)) averaged over the data (the exact Gaussian KL,
  :mod:`theory.objective`), active when above 1e-3 nats;
* ``active_units``: Burda, Grosse & Salakhutdinov (ICLR 2016, section 5.3): a unit is
  active when Var_x E_q[z_j] = Var_x mu_j(x) > 0.01.

Against the theory (the linear model's thresholds of these data at the given beta, and
with ``reconstruction`` the residual spectrum of :mod:`numerics.spectra._residual`):

* ``predicted_critical_sigma2``: where each latent rank collapses in the linear theory;
* ``residual_top_eigenvalue`` L: what the active latents leave unexplained; a collapsed
  latent would come back where the theory's critical law at lambda = L exceeds the
  model's sigma'^2 (``residual_critical_sigma2``);
* ``verdict``: one sentence, from these numbers (:func:`_verdict`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from numerics.core._bridge import compiled_laws, objective_pieces
from numerics.core._optimum import optimum, thresholds
from numerics.core._validation import InputError, check_positive
from numerics.spectra._residual import ResidualSpectrum, residual_spectrum
from numerics.training._sweep import ACTIVE_KL, active_codes

#: Burda et al.'s active-unit threshold on Var_x E_q[z_j].
ACTIVE_UNIT_VARIANCE = 0.01
#: log-variances beyond this overflow exp() in float64 (e^709 ~ 8e307).
MAX_LOGVAR = 700.0


@dataclass(frozen=True)
class Diagnosis:
    """What :func:`diagnose` finds (module docstring); per-latent lists in the file's order."""

    sigma2: float
    beta: float
    kl: list[float]
    active_kl: list[bool]
    posterior_mean_variance: list[float]
    active_units: list[bool]
    predicted_critical_sigma2: list[float]
    predicted_active: int
    optimum_kl: list[float]
    residual: ResidualSpectrum | None
    residual_critical_sigma2: float | None
    verdict: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (README, "Command line": the keys of ``diagnose --json``)."""
        out = asdict(self)
        out["residual"] = None if self.residual is None else self.residual.to_dict()
        out["residual_top_eigenvalue"] = (
            None if self.residual is None else self.residual.top_eigenvalue
        )
        out["n_active_kl"] = int(sum(self.active_kl))
        out["n_active_units"] = int(sum(self.active_units))
        return out


def check_posterior(arrays: dict[str, np.ndarray], n: int, d: int) -> dict[str, np.ndarray]:
    """``mu``, ``logvar`` (N x k) and optional ``reconstruction`` (N x d), checked."""
    missing = [key for key in ("mu", "logvar") if key not in arrays]
    if missing:
        raise InputError(
            f"posterior file holds {sorted(arrays)}: expected arrays mu and logvar (and "
            "optionally reconstruction)"
        )
    out = {}
    for key, cols in (("mu", None), ("logvar", None), ("reconstruction", d)):
        if key not in arrays:
            continue
        a = np.asarray(arrays[key])
        if a.dtype.kind not in "fiu" or a.ndim != 2 or a.shape[0] != n:
            raise InputError(
                f"posterior {key} has shape {a.shape} and dtype {a.dtype}: expected numbers "
                f"of shape (N, {'k' if cols is None else cols}) with N = {n}, the data's rows"
            )
        if cols is not None and a.shape[1] != cols:
            raise InputError(f"posterior {key} has {a.shape[1]} columns: expected d = {cols}")
        if not np.isfinite(a).all():
            raise InputError(f"posterior {key} has non-finite values: expected finite numbers")
        out[key] = a.astype(float)
    if out["mu"].shape != out["logvar"].shape:
        raise InputError(
            f"posterior mu {out['mu'].shape} and logvar {out['logvar'].shape}: expected the "
            "same shape (N, k)"
        )
    if np.abs(out["logvar"]).max() > MAX_LOGVAR:
        raise InputError(
            f"posterior logvar reaches {np.abs(out['logvar']).max():.3g}: expected |logvar| <= "
            f"{MAX_LOGVAR:g} (exp overflows float64 beyond)"
        )
    return out


def _verdict(n_active: int, n_pred: int, k: int, reactivating: bool, residual: bool) -> str:
    """One sentence from the counts and the residual spectrum (module docstring)."""
    if reactivating:
        return (
            "capacity left unused: the residual spectrum says a collapsed latent would "
            "reactivate at this sigma'^2 (the model is more collapsed than any stable state "
            "allows, or is not yet at one)"
        )
    if n_active == n_pred:
        kind = "complete" if n_active == 0 else "partial" if n_active < k else "absent"
        return f"collapse {kind} as predicted: {n_active} of {k} latents active"
    if n_active < n_pred and residual:
        return (
            f"{n_active} active latent(s) where the linear theory has {n_pred}, and the residual "
            "spectrum confirms that none would come back: the decoder explains more with fewer "
            "latents than a linear one"
        )
    if n_active < n_pred:
        return (
            f"{n_active} active latent(s) where the linear theory has {n_pred}: export the "
            "reconstruction to tell whether one would come back"
        )
    return f"{n_active} active latent(s), more than the linear theory's {n_pred}"


def diagnose(
    X: np.ndarray,
    arrays: dict[str, np.ndarray],
    sigma2: float,
    beta: float = 1.0,
    eigenvalues: np.ndarray | None = None,
) -> Diagnosis:
    """Diagnose the exported posterior of a VAE on the data X (module docstring)."""
    X = np.asarray(X, dtype=float)
    n, d = X.shape
    post = check_posterior(arrays, n, d)
    sigma2, beta = check_positive("sigma2", sigma2), check_positive("beta", beta)
    recorded = arrays.get("sigma2")
    if recorded is not None and np.size(recorded) == 1:
        if not np.isclose(float(recorded), sigma2, rtol=1e-9, atol=0):
            raise InputError(
                f"--sigma2 {sigma2:g} contradicts the posterior file's sigma2 = "
                f"{float(recorded):.10g}: expected the sigma'^2 the model was trained at"
            )
    mu, logvar = post["mu"], post["logvar"]
    k = mu.shape[1]
    if k > d:
        raise InputError(f"posterior has k = {k} latents: expected at most d = {d}")
    kl = objective_pieces().kl(mu * mu, np.exp(logvar), logvar, 1.0).mean(axis=0)
    au = mu.var(axis=0)
    lam = np.linalg.eigvalsh(np.cov(X.T, bias=True))[::-1] if eigenvalues is None else eigenvalues
    th = thresholds(lam, beta, k)
    opt = optimum(lam, sigma2, beta, latent_dim=k)
    residual = crit = None
    reactivating = False
    if "reconstruction" in post:
        residual = residual_spectrum(X, post["reconstruction"], active_codes(mu, logvar))
        crit = float(
            compiled_laws("learnable").critical_value("sigma2", residual.top_eigenvalue, 1, beta, 1)
        )
        # A collapsed latent comes back where the critical law at L exceeds sigma'^2; with
        # every latent active there is none to come back.
        reactivating = bool(crit > sigma2 and (kl <= ACTIVE_KL).any())
    n_active = int((kl > ACTIVE_KL).sum())
    verdict = _verdict(n_active, opt.n_active, k, reactivating, residual is not None)
    return Diagnosis(
        sigma2=sigma2, beta=beta, kl=kl.tolist(), active_kl=(kl > ACTIVE_KL).tolist(),
        posterior_mean_variance=au.tolist(), active_units=(au > ACTIVE_UNIT_VARIANCE).tolist(),
        predicted_critical_sigma2=list(th.critical_sigma2), predicted_active=opt.n_active,
        optimum_kl=[m.kl for m in opt.modes], residual=residual, residual_critical_sigma2=crit,
        verdict=verdict,
    )  # fmt: skip
