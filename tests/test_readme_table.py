"""README, "What it finds": every cell of the table of derived results is the engine's.

Each row is the README's cell as printed and the same formula typed in SymPy here
(the reader's reading of the cell); the test checks that the cell is in the README and
that the formula equals what ``theory.derive`` derives.  Editing either side alone fails.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sympy as sp

from theory import derive, linear_vae
from theory import symbols as S

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
lam, s2, beta, eta2, zeta2 = S.lam, S.sigma2, S.beta, S.eta2, S.zeta2


def _jump(d, quantity: str, order: int) -> sp.Expr:
    """right - left of d^order quantity / d sigma2^order at the critical point."""
    sides = d.mode.derivatives[S.sigma2][quantity][order]
    return sides.right - sides.left


ENGINE = {
    "boundary": lambda d: d.mode.critical_boundary,
    "critical": lambda d: d.mode.critical_sigma2,
    "w2": lambda d: d.optimum.active["decoder_norm"] ** 2,
    "kl_active": lambda d: d.optimum.active["kl"],
    "kl_collapsed": lambda d: d.optimum.collapsed["kl"],
    "jump_dkl": lambda d: _jump(d, "kl", 1),
    "jump_d2f": lambda d: _jump(d, "neg_elbo", 2),
    "exponents": lambda d: (
        d.mode.exponents["order_parameter"].exponent,
        d.mode.exponents["decoder_norm"].exponent,
    ),
}

ROWS = {
    "learnable": {
        "boundary": ("| mode active iff | λ > βσ'² |", beta * s2),
        "critical": ("| critical σ'² | λ/β |", lam / beta),
        "w2": ("| (λ − βσ'²)/η² |", (lam - beta * s2) / eta2),
        "kl_active": ("| ½ log(λ/βσ'²) |", sp.log(lam / (beta * s2)) / 2),
        "kl_collapsed": ("| KL of a collapsed mode (floor) | 0 |", sp.S.Zero),
        "jump_dkl": ("| β/(2λ) |", beta / (2 * lam)),
        "jump_d2f": ("| β³/(2λ²) |", beta**3 / (2 * lam**2)),
        "exponents": ("| exponents (order parameter, decoder amplitude) | 1, ½ |", (1, sp.S.Half)),
    },
    "fixed": {
        "boundary": ("| λ > βσ'²ζ²/η² |", beta * s2 * zeta2 / eta2),
        "critical": ("| η²λ/(βζ²) |", eta2 * lam / (beta * zeta2)),
        "w2": (
            "| √(βσ'²λ/(η²ζ²)) − βσ'²/η² |",
            sp.sqrt(beta * s2 * lam / (eta2 * zeta2)) - beta * s2 / eta2,
        ),
        "kl_active": (
            "| ½ √(λζ²/(βη²σ'²)) − ½ − ½ log(ζ²/η²) |",
            sp.sqrt(lam * zeta2 / (beta * eta2 * s2)) / 2 - sp.S.Half - sp.log(zeta2 / eta2) / 2,
        ),
        "kl_collapsed": (
            "| ½ (ζ²/η² − 1 − log(ζ²/η²)) |",
            (zeta2 / eta2 - 1 - sp.log(zeta2 / eta2)) / 2,
        ),
        "jump_dkl": ("| βζ⁴/(4η⁴λ) |", beta * zeta2**2 / (4 * eta2**2 * lam)),
        "jump_d2f": ("| β³ζ⁶/(4η⁶λ²) |", beta**3 * zeta2**3 / (4 * eta2**3 * lam**2)),
        "exponents": ("| 1, ½ | 1, ½ |", (1, sp.S.Half)),
    },
}

CASES = [
    pytest.param(model, key, id=f"{model}-{key}") for model, rows in ROWS.items() for key in rows
]


def _equal(a, b) -> bool:
    if isinstance(a, tuple):
        return all(_equal(x, y) for x, y in zip(a, b, strict=True))
    # On the active side (lambda above the boundary) every radicand is positive.
    return sp.simplify(sp.expand_log(sp.sympify(a) - b, force=True)) == 0


@pytest.mark.parametrize(("model", "key"), CASES)
def test_readme_cell_is_the_engines(model, key):
    cell, formula = ROWS[model][key]
    assert cell in README, f"README, What it finds: the cell {cell!r} is gone"
    derived = ENGINE[key](derive(linear_vae(model)))
    assert _equal(formula, derived), (cell, derived)
