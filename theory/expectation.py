"""Exact expectations of polynomial expressions, the engine's only calculus.

Two operators turn a random expression into its expectation:

* :func:`standard_normal_expectation` integrates out independent standard
  normal variables using their moments, E[eps^n] = (n-1)!! for even n and 0
  for odd n (e.g. Bishop, PRML, eq. 2.57 ff.).  This is exact for any
  polynomial in the noise.
* :func:`second_moment_expectation` averages over the data.  The data need not
  be Gaussian: the operator only accepts expressions of degree <= 2 in the
  centred data coordinates, and then E[y_a] = 0 and E[y_a y_b] = Sigma_ab are
  all it needs.  Raising on higher degree is what *proves* that the objective
  depends on the data only through its mean and covariance.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import sympy as sp


def _monomials(expr: sp.Expr, gens: Sequence[sp.Symbol]):
    """Yield (powers of ``gens``, coefficient) for each term of expanded ``expr``.

    A plain walk over the terms; much faster than ``sympy.Poly`` when the
    coefficients hold many other symbols (Poly falls back to its slow EX domain).
    """
    for term in sp.Add.make_args(sp.expand(expr)):
        factors = term.as_powers_dict()
        powers = []
        coeff = term
        for g in gens:
            n = factors.get(g, 0)
            if not (isinstance(n, sp.Integer | int) and n >= 0):
                raise ValueError(f"{term} is not polynomial in {g}")
            powers.append(int(n))
            coeff = coeff / g**n
        yield tuple(powers), coeff


def standard_normal_expectation(expr: sp.Expr, noises: Sequence[sp.Symbol]) -> sp.Expr:
    """Expectation of ``expr`` over independent standard normals ``noises``.

    Parameters
    ----------
    expr : sympy.Expr
        Polynomial in ``noises`` (coefficients may be any expression).
    noises : sequence of sympy.Symbol
        The independent N(0, 1) variables to integrate out.

    Returns
    -------
    sympy.Expr
        The exact expectation.
    """
    total = sp.S.Zero
    for powers, coeff in _monomials(expr, noises):
        moment = sp.S.One
        for n in powers:
            moment *= 0 if n % 2 else sp.factorial2(n - 1)
        total += coeff * moment
    return sp.expand(total)


def second_moment_expectation(
    expr: sp.Expr,
    centred: Sequence[sp.Symbol],
    covariance: sp.Matrix | Mapping[tuple[int, int], sp.Expr],
) -> sp.Expr:
    """Expectation over centred data with the given covariance.

    Parameters
    ----------
    expr : sympy.Expr
        Polynomial of total degree at most 2 in ``centred``.
    centred : sequence of sympy.Symbol
        Centred data coordinates y_a with E[y_a] = 0.
    covariance : Matrix or mapping
        E[y_a y_b] for every pair of indices.

    Raises
    ------
    ValueError
        If ``expr`` has degree > 2 in the data: then the expectation would
        depend on more than the first two moments.
    """
    total = sp.S.Zero
    for powers, coeff in _monomials(expr, centred):
        degree = sum(powers)
        if degree > 2:
            raise ValueError(
                f"term of degree {degree} in the data: the expectation needs moments "
                "beyond the covariance"
            )
        if degree == 0:
            total += coeff
        elif degree == 2:
            idx = [i for i, n in enumerate(powers) for _ in range(n)]
            total += coeff * covariance[idx[0], idx[1]]
        # degree 1: E[y_a] = 0 for centred data.
    return sp.expand(total)
