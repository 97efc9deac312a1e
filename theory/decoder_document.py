"""The LaTeX document of the learnable decoder variance.

Written to ``derivations/learnable-decoder-variance.tex``.

Like :mod:`theory.document`, every formula is printed from a SymPy object of a
:class:`~theory.decoder_variance.DecoderVarianceDerivation`, and every statement a
derivation could contradict (a check, a sign, a count) is generated from the object it
states; the prose describes the model, the method and the sources.  One document covers
the learnable and the fixed isotropic encoder variance, step by step.
"""

from __future__ import annotations

import sympy as sp

from theory import decoder_variance as dvm
from theory import symbols as S
from theory.decoder_variance import DecoderVarianceDerivation, derive_decoder_variance
from theory.document import BIBLIOGRAPHY, _check, assemble
from theory.present import display

#: File stem of the document.
NAME = "learnable-decoder-variance"
#: Title of the document.
TITLE = "Posterior collapse in the linear VAE with a learnable decoder variance"

_BIB = {
    **{
        k: BIBLIOGRAPHY[k]
        for k in ("lucas2019", "wang2022", "li2025", "kingma2014", "householder", "haynsworth")
    },
    "tipping1999": r"M.~E.~Tipping and C.~M.~Bishop, \emph{Probabilistic principal component "
    r"analysis}, Journal of the Royal Statistical Society B 61 (1999) 611--622.",
}

_WORD = {1: "positive", -1: "negative", 0: "zero", None: "of no definite sign"}
_MODEL = {
    "learnable": "learnable encoder variance",
    "fixed-isotropic": r"fixed encoder variance $s_j^2=\zeta^2$",
}


def _names(dv: DecoderVarianceDerivation) -> dict:
    names = dict(S.LATEX_NAMES) | dvm.LATEX_NAMES
    for table in (dv.active_sums, dv.complement_sums, dv.above_sums, dv.below_sums):
        names |= table.latex_names()
    return names


#: The eigenvalue of the r-th mode, in the statements about beta_c,r.
_LAM_R = sp.Symbol("lambda_r", positive=True)


def _t(dv: DecoderVarianceDerivation, expr: object, rth: bool = False) -> str:
    """LaTeX of ``expr``: sums by their names, positive terms first (reverse-lexicographic).

    With ``rth`` the mode's own lambda is the r-th eigenvalue lambda_r.
    """
    if rth and isinstance(expr, sp.Basic):
        expr = expr.subs(S.lam, _LAM_R)
    names = _names(dv) | {_LAM_R: r"\lambda_{r}"}
    return S.tex(expr, symbol_names=names, order="rev-lex")


def _sums(dv: DecoderVarianceDerivation, table) -> str:
    """`` with T_{A}=...`` defining the sum symbols of ``table`` ('' if it has none)."""
    defs = [d_ for d_ in table.definitions() if "log" not in d_]
    return "" if not defs else " with $" + "$, $".join(defs) + "$"


def _eq(dv: DecoderVarianceDerivation, lhs: str, expr: object, rth: bool = False) -> str:
    return "\\begin{dmath*}\n" + f"{lhs} = {_t(dv, expr, rth)}\n" + "\\end{dmath*}\n"


def _shown(expr: sp.Expr) -> sp.Expr:
    """A readable form, checked equal to ``expr`` (:func:`theory.present.display`)."""
    return display(expr) if isinstance(expr, sp.Expr) else expr


def _models() -> list[DecoderVarianceDerivation]:
    return [derive_decoder_variance(spec) for spec in dvm.decoder_variance_models()]


# -- model, hypotheses, result -------------------------------------------------------------
def _cap(dv: DecoderVarianceDerivation) -> str:
    text = _MODEL[dv.spec.kind]
    return f"\\emph{{{text[0].upper() + text[1:]}.}}"


def _section_model() -> str:
    return "\n\n".join(
        [
            r"\section{Model}",
            "Data $x\\in\\mathbb{R}^{d}$ have mean $m$ and covariance "
            "$\\Sigma=\\frac1N\\sum_n(x_n-m)(x_n-m)^{\\top}$ with eigenvalues "
            "$\\lambda_1\\ge\\dots\\ge\\lambda_d\\ge0$ ($d$ counts all of them, zeros included). "
            "The prior is $p(z)=\\mathcal N(0,\\eta^2I_k)$, the decoder "
            "$p(x\\mid z)=\\mathcal N(Wz+b,\\sigma'^2I_d)$ and the encoder "
            "$q(z\\mid x)=\\mathcal N(V(x-m),\\operatorname{diag}(s_1^2,\\dots,s_k^2))$, with "
            "the encoder variances either trained (learnable) or fixed at $s_j^2=\\zeta^2$ "
            "\\cite{wang2022}. The objective is $F=\\mathbb E_x\\mathbb E_q[-\\log p(x\\mid z)]"
            "+\\beta\\,\\mathbb E_x\\mathrm{KL}(q\\,\\|\\,p)$ with the Gaussian KL divergence in "
            "closed form \\cite{kingma2014}, exactly as in the documents of the fixed decoder "
            "variance, which derive the per-mode optimum, the threshold $\\sigma'^2_c$ of each "
            "mode \\cite{li2025} and the Hessian of every aligned stationary point. Here the "
            "decoder variance $\\sigma'^2$ is trained with $W,V,s,b$: $\\beta$ is the only "
            "control. At $\\beta=1$ and with learnable encoder variances this is the linear VAE "
            "of Lucas et al.\\ \\cite{lucas2019}, whose optimum is probabilistic PCA "
            "\\cite{tipping1999}.",
            "\\paragraph{Conventions.} Tipping and Bishop write $q$ for the number of latents, "
            "$\\sigma^2$ for the noise variance and $\\lambda_j$ for the eigenvalues of the sample "
            "covariance $S$ ($1/N$, as here); Lucas et al.\\ write $p(x\\mid z)="
            "\\mathcal N(Wz+\\mu,\\sigma^2I)$ and $q(z\\mid x)=\\mathcal N(V(x-\\mu),D)$. Their "
            "$\\sigma^2$ is our $\\sigma'^2$, their $q$ our $k$ (or the number $m$ of active "
            "latents), and $\\eta^2=1$, $\\beta=1$ in both.",
        ]
    )


def _section_hypotheses() -> str:
    return "\n\n".join(
        [
            r"\section{Hypotheses}",
            "\\begin{description}\n"
            "\\item[H1--H2] As for the fixed decoder variance: $k\\le d$, and ordered "
            "eigenvalues (distinct and positive where Hessian eigenvalues are counted).\n"
            "\\item[H3] (alignment) The stationary points considered are the aligned ones of "
            "the fixed-$\\sigma'^2$ derivation, with $\\sigma'^2$ added. The engine does not "
            "prove that every stationary point is aligned; the test-suite minimises the full "
            "matrix objective with $\\sigma'^2$ free from random starts and finds the optimum "
            "derived here.\n"
            "\\item[H4] $\\sum_{i>k}\\lambda_i>0$: there are fewer latents than nonzero "
            "eigenvalues. Otherwise a state that explains every direction leaves nothing for "
            "$\\sigma'^2$ to fit, and $F$ can fall without bound as $\\sigma'^2\\to0$.\n"
            "\\end{description}",
            "A \\emph{state} is an active set $A$ of latents, each on its own eigen-direction, "
            "the other latents collapsed, with $m=|A|$ and $R=\\sum_{i\\notin A}\\lambda_i$ the "
            "sum of the $d-m$ eigenvalues that no active latent explains (the discarded ones). "
            "With the pairing of the fixed-$\\sigma'^2$ derivation the optimum's active set is "
            "a top set $\\{1,\\dots,m\\}$.",
        ]
    )


def _theorem_items(dv: DecoderVarianceDerivation) -> str:
    sc = dv.self_consistency
    cond = "" if sc.condition is sp.true else f", a stationary point iff ${_t(dv, sc.condition)}$"
    items = [
        "the self-consistent decoder variance of a state with active set $A$ is "
        f"$\\sigma'^2_A={_t(dv, _shown(sc.sigma2))}${_sums(dv, dv.active_sums)}{cond} "
        "and every active mode is above its threshold at $\\sigma'^2_A$;",
        "the Hessian in every parameter and $\\sigma'^2$ has, at each such state, exactly the "
        "negative eigenvalues of the fixed-$\\sigma'^2$ Hessian at $\\sigma'^2_A$ (the "
        "direction of $\\sigma'^2$ adds a positive one);",
        "there is one local minimum, the global one; the $r$-th latent is active there iff "
        f"$\\beta<\\beta_{{c,r}}={_t(dv, dv.critical_beta, rth=True)}$, with $R_r="
        f"\\sum_{{i\\ge r}}\\lambda_i${_sums(dv, dv.above_sums).replace(' with', ',')};",
        f"the fully collapsed state has $\\sigma'^2={_t(dv, dv.collapsed_sigma2)}$ and is a "
        f"minimum iff $\\beta\\ge{_t(dv, dv.collapsed_stable_beta)}=\\beta_{{c,1}}$;",
    ]
    if dv.spec.learnable:
        items.insert(1, "at $\\beta=1$ and $\\eta^2=1$ it is the mean of the discarded "
                     "eigenvalues, Tipping and Bishop's maximum-likelihood noise;")  # fmt: skip
    if dv.critical_beta_at_least_one == 1:
        items.append(
            "$\\beta_{c,r}\\ge1$ at $\\eta^2=1$ (equality only for a flat tail "
            "$\\lambda_i=\\lambda_r$, $i\\ge r$): no latent collapses at $\\beta\\le1$."
        )
    else:
        items.append("$\\beta_{c,r}-1$ has no definite sign at $\\eta^2=1$: latents can "
                     "collapse at $\\beta=1$.")  # fmt: skip
    return "\\begin{enumerate}\n" + "".join(f"\\item {i}\n" for i in items) + "\\end{enumerate}"


def _section_result(models: list[DecoderVarianceDerivation]) -> str:
    parts = [r"\section{Result}\label{sec:result}",
             "\\paragraph{Theorem.} \\emph{Under H1--H4, with $\\sigma'^2$ trained:}"]  # fmt: skip
    for dv in models:
        parts.append(f"\\emph{{With a {_MODEL[dv.spec.kind]}:}}\n" + _theorem_items(dv))
    parts.append(
        "\\paragraph{Does learning $\\sigma'^2$ prevent collapse?} It removes every "
        "spurious collapsed minimum: for every $\\beta$ the only local minimum is the global "
        "one, and a collapsed or partially collapsed state that is not the optimum is a "
        "saddle. It does not stop collapse at large $\\beta$: above $\\beta_{c,r}$ the $r$-th "
        "latent is collapsed at the optimum itself. With learnable encoder variances and "
        "$\\beta\\le1$ no latent collapses (probabilistic PCA keeps its $k$ components); with "
        "a fixed encoder variance one can. Training that starts collapsed ($W=V=0$) stays "
        "collapsed whatever $\\sigma'^2$ it starts from, because that set is invariant "
        "(section~\\ref{sec:collapsed}); at fixed $\\sigma'^2$ the collapsed state attracts "
        "while $\\sigma'^2\\ge\\sigma'^2_{c,1}$, which is why a run that starts with a large "
        "$\\sigma'^2$ and moves it slowly stays collapsed, as Lucas et al.\\ observed for "
        "deep Gaussian VAEs \\cite{lucas2019}.",
    )
    parts.append(
        "\\paragraph{Proof structure.} Section~\\ref{sec:residual} derives what each "
        "direction leaves unexplained at its fixed-$\\sigma'^2$ optimum; "
        "section~\\ref{sec:sc} solves $\\partial F/\\partial\\sigma'^2=0$ for a state; "
        "section~\\ref{sec:hessian} adds $\\sigma'^2$ to the Hessian; "
        "section~\\ref{sec:unique} shows that the optimum over $\\sigma'^2$ is unique; "
        "section~\\ref{sec:beta} finds where each latent collapses; "
        "section~\\ref{sec:collapsed} treats the fully collapsed state.",
    )
    return "\n\n".join(parts)


# -- steps --------------------------------------------------------------------------------
def _section_residual(models: list[DecoderVarianceDerivation]) -> str:
    parts = [
        r"\section{What a direction leaves unexplained}\label{sec:residual}",
        "Per mode the objective is $f=\\tfrac12\\log(2\\pi\\sigma'^2)+E/(2\\sigma'^2)+\\beta"
        "\\,\\mathrm{KL}$ with $E$ the expected squared reconstruction error of the direction, "
        "so $E=\\sigma'^2-2\\sigma'^4\\,\\partial f/\\partial\\sigma'^2$ at fixed parameters. "
        "At the fixed-$\\sigma'^2$ optimum of each kind of direction the engine finds:",
    ]
    for dv in models:
        res = dv.residual
        parts.append(
            f"{_cap(dv)} Active: $E={_t(dv, _shown(res['active']))}$; collapsed: "
            f"$E={_t(dv, res['collapsed'])}$; unpaired: $E={_t(dv, res['unpaired'])}$. "
            "At the optimum $\\partial f/\\partial\\sigma'^2$ equals the derivative of the "
            "optimum's law (the envelope theorem, the parameters being stationary): "
            f"{_check(dv.envelope_verified)}."
        )
    parts.append(
        "A discarded direction (collapsed or unpaired) leaves its whole eigenvalue; an "
        "active one leaves less: with learnable encoder variances $\\beta\\sigma'^2$, the "
        "noise floor of probabilistic PCA at $\\beta=1$."
    )
    return "\n\n".join(parts)


def _sc_block(dv: DecoderVarianceDerivation) -> list[str]:
    sc = dv.self_consistency
    cond = ("its leading coefficient being positive" if sc.condition is sp.true
            else f"exactly when ${_t(dv, sc.condition)}$")  # fmt: skip
    out = [
        f"{_cap(dv)} Summing $2\\sigma'^4\\,\\partial f/\\partial\\sigma'^2=\\sigma'^2-E$ over "
        f"the $d$ directions{_sums(dv, dv.active_sums)},",
        _eq(dv, "h(\\sigma'^2)", sc.equation),
    ]
    if sc.power != 1:
        out += [f"In $\\tau=(\\sigma'^2)^{{1/{sc.power}}}$ this is the polynomial",
                _eq(dv, "h", sc.polynomial)]  # fmt: skip
    out += [
        "It is a polynomial whose coefficients other "
        "than the leading one are negative. Its signs therefore change once, and by "
        "Descartes' rule of signs (exact for one change) \\cite{householder} it has exactly "
        f"one positive root, {cond}:",
        _eq(dv, "\\sigma'^2_A", _shown(sc.sigma2)),
        f"The root solves $h=0$: {_check(sc.verified)}.",
    ]
    if dv.ppca is not None:
        ok = dv.ppca
        out.append(
            "At $\\beta=1$, $\\eta^2=1$ this is probabilistic PCA \\cite{tipping1999}: "
            "$\\sigma'^2_A=R/(d-m)$, the mean of the $d-m$ discarded eigenvalues (their Eq.~8), "
            f"{_check(ok['noise'])}; an active column has $\\lvert w\\rvert^2="
            "\\lambda-\\sigma'^2$ (their Eq.~7, $W=U_q(\\Lambda_q-\\sigma^2I)^{1/2}R$), "
            f"{_check(ok['columns'])}; and $F$ at the state equals their maximised negative "
            "log-likelihood per data point, $\\tfrac12[d\\log2\\pi+\\sum_{i\\in A}\\log\\lambda_i"
            f"+(d-m)\\log\\sigma'^2+d]$, {_check(ok['likelihood'])}. The variational bound "
            "is tight there: the learnable encoder variance makes $q$ the exact posterior "
            "\\cite{lucas2019}."
        )
    return out


def _section_self_consistency(models: list[DecoderVarianceDerivation]) -> str:
    parts = [
        r"\section{The self-consistent decoder variance}\label{sec:sc}",
        "At a state every latent sits at its fixed-$\\sigma'^2$ stationary point, so "
        "$\\partial F/\\partial\\sigma'^2$ is the sum of the per-direction derivatives of the "
        "laws. Sums over the modes of $A$ are written with the mode's own numbers; "
        "$m=\\sum_{i\\in A}1$ and $R=\\sum_{i\\notin A}\\lambda_i$.",
    ]
    for dv in models:
        parts += _sc_block(dv)
    return "\n\n".join(parts)


def _section_hessian(models: list[DecoderVarianceDerivation]) -> str:
    parts = [
        r"\section{The Hessian with $\sigma'^2$ as a parameter}\label{sec:hessian}",
        "With $\\sigma'^2$ a parameter, the Hessian of $F$ at a state gains one row and "
        "column. The engine checked on the $d=4$, $k=4$ instance of the fixed-$\\sigma'^2$ "
        "derivation (two active latents, two collapsed, two free directions) that the mixed "
        "derivatives $\\partial^2F/\\partial\\sigma'^2\\partial p$ vanish for every parameter "
        "$p$ except those of an active latent on its own direction ($W_{ii}$, $V_{ii}$ and, "
        "when learnable, $s_i^2$); the blocks of the fixed-$\\sigma'^2$ Hessian are unchanged. "
        "The own blocks of active latents are positive definite (step~e of the fixed-"
        "$\\sigma'^2$ documents), so Haynsworth's inertia "
        "additivity \\cite{haynsworth} pivoting on them leaves one new entry, the Schur "
        "complement $C_A$ of $\\sigma'^2$, which per mode is the second derivative of the "
        "optimum's law (a second-order envelope identity).",
    ]
    for dv in models:
        parts += [
            f"{_cap(dv)} Coupling only to the own blocks: "
            f"{_check(dv.coupling_verified, 'confirmed', 'NOT CONFIRMED')}; per-mode Schur "
            f"identity: {_check(dv.schur_identity_verified)}. Per active mode the law's "
            f"curvature is ${_t(dv, _shown(dv.law_curvature['active']))}$, per discarded "
            f"direction ${_t(dv, _shown(dv.law_curvature['discarded']))}$. Summed over the "
            "directions, with $R$ eliminated by $h=0$,",
            _eq(dv, "C_A", dv.curvature_at_stationarity),
            "at $\\sigma'^2=\\sigma'^2_A$, that is,",
            _eq(dv, "C_A", dv.profile_curvature),
            f"which is {_WORD[dv.curvature_sign]} wherever the state exists"
            + ("" if dv.self_consistency.condition is sp.true else
               f" (with ${_t(dv, dv.self_consistency.condition)}$)") + ".",
        ]  # fmt: skip
    parts.append(
        "So the index of a state with $\\sigma'^2$ learned is the index of the same aligned "
        "point of the fixed-$\\sigma'^2$ model at $\\sigma'^2_A$ (its step~e), and a state is "
        "a local minimum iff it is one at fixed $\\sigma'^2=\\sigma'^2_A$."
    )
    return "\n\n".join(parts)


def _section_unique(models: list[DecoderVarianceDerivation]) -> str:
    parts = [
        r"\section{One minimum}\label{sec:unique}",
        "Let $F^*(\\sigma'^2)$ be the optimum at fixed $\\sigma'^2$ (the fixed-$\\sigma'^2$ "
        "theorem: the modes with $\\lambda_i>\\lambda_c(\\sigma'^2)$ active) and "
        "$h(\\sigma'^2)=2\\sigma'^4\\,dF^*/d\\sigma'^2=d\\,\\sigma'^2-\\sum_iE_i(\\sigma'^2)$. "
        "If each active residual $E_{\\mathrm{act}}$ is concave in $\\sigma'^2$, meets "
        "$\\lambda$ at the mode's threshold and rises there, then each term "
        "$\\sigma'^2-E_i$ is continuous and convex across its threshold, $h$ is convex, "
        "$h(0^+)=-\\sum_{i>k}\\lambda_i<0$ (H4, $E_{\\mathrm{act}}\\to0$) and "
        "$h\\to+\\infty$: $h$ has one zero, $F^*$ one stationary point, a minimum. Every "
        "local minimum of $F$ is a local minimum of $F^*$ (the optimum at fixed $\\sigma'^2$ "
        "is unique up to symmetries), so it is the global one.",
    ]
    for dv in models:
        u = dv.uniqueness
        parts.append(
            f"{_cap(dv)} $E_{{\\mathrm{{act}}}}=\\lambda$ at the threshold: "
            f"{_check(u.continuous)}; "
            f"$dE_{{\\mathrm{{act}}}}/d\\sigma'^2={_t(dv, u.slope_at_boundary)}$ there "
            f"({_WORD[u.slope_sign]}); $d^2E_{{\\mathrm{{act}}}}/d(\\sigma'^2)^2="
            f"{_t(dv, _shown(u.curvature))}$ ({_WORD[u.curvature_sign]} on the active side); "
            f"$E_{{\\mathrm{{act}}}}\\to{_t(dv, u.at_zero)}$ as $\\sigma'^2\\to0$. "
            + ("The hypotheses hold." if u.proven else "The argument FAILS.")
        )
    return "\n\n".join(parts)


def _section_beta(models: list[DecoderVarianceDerivation]) -> str:
    parts = [
        r"\section{Where each latent collapses}\label{sec:beta}",
        "At the optimum the $r$-th latent is active iff $\\sigma'^2_{*}<\\sigma'^2_{c,r}$, its "
        "fixed-$\\sigma'^2$ threshold, i.e.\\ iff $h(\\sigma'^2_{c,r})>0$ ($h$ is convex and "
        "crosses zero once, upwards). There the modes above $r$ are active and the $r$-th "
        "meets its threshold, so with $R_r=\\sum_{i\\ge r}\\lambda_i$ and sums over $i<r$:",
    ]
    for dv in models:
        parts += [
            _cap(dv)
            + _sums(dv, dv.above_sums).replace(" with", " With")
            + ("." if dv.above_sums.symbols else ""),
            _eq(dv, "h_r", dv.critical_equation, rth=True),
            f"$\\partial h_r/\\partial\\beta$ is {_WORD[dv.critical_equation_slope]}, so the "
            "latent is active exactly below the root",
            _eq(dv, "\\beta_{c,r}", dv.critical_beta, rth=True),
        ]
        if dv.critical_beta_at_least_one == 1:
            parts.append(
                "Writing $R_r=(d-r+1)\\lambda_r-D$ with $D=\\sum_{i\\ge r}(\\lambda_r-"
                "\\lambda_i)\\ge0$, the numerator of $\\beta_{c,r}-1$ at $\\eta^2=1$ is "
                "$D$ itself: $\\beta_{c,r}\\ge1$, with equality only for a flat tail."
            )
        else:
            parts.append(
                "With $R_r=(d-r+1)\\lambda_r-D$, $D\\ge0$, the numerator of $\\beta_{c,r}-1$ "
                "at $\\eta^2=1$ has no definite sign. For $\\lambda=(100,1)$, $d=2$ and "
                f"$\\zeta^2=\\eta^2=1$, $\\beta_{{c,2}}={_t(dv, _example(dv))}$: the second "
                "latent is collapsed at $\\beta=1$."
            )
    return "\n\n".join(parts)


def _example(dv: DecoderVarianceDerivation) -> sp.Expr:
    """beta_c,2 of the spectrum (100, 1), d = 2, zeta^2 = eta^2 = 1."""
    sub = {S.lam: 1, dvm.d: 2, dvm.n: 1, dvm.R_r: 1, S.eta2: 1, S.zeta2: 1}
    sub |= {s: sp.sqrt(100) for s in dv.above_sums.symbols.values()}
    return sp.nsimplify(dv.critical_beta.subs(sub))


def _section_collapsed(models: list[DecoderVarianceDerivation]) -> str:
    parts = [
        r"\section{The collapsed state and its basin}\label{sec:collapsed}",
        "At $W=V=0$ the gradients in $W$ and $V$ vanish for every $s^2$, $\\sigma'^2$ and "
        "$\\beta$ (checked on a generic $d=3$, $k=2$ instance of the matrix objective), so "
        "the collapsed set is invariant under every gradient method: a run that starts "
        "there stays there. On it $\\sigma'^2$ relaxes to the state with $m=0$, $R="
        "\\operatorname{tr}\\Sigma$.",
    ]
    for dv in models:
        parts.append(
            f"{_cap(dv)} Invariance: {_check(dv.invariant_manifold_verified)}; "
            f"$\\sigma'^2_\\emptyset={_t(dv, dv.collapsed_sigma2)}$. The collapsed state of a "
            "fixed $\\sigma'^2$ is a minimum iff $\\lambda_{\\max}\\le\\lambda_c$; at "
            f"$\\sigma'^2_\\emptyset$ this is $\\beta\\ge{_t(dv, dv.collapsed_stable_beta)}$, "
            f"which is $\\beta_{{c,1}}$: {_check(dv.collapsed_matches_first)}. Below it the "
            "collapsed state is a saddle, with one negative eigenvalue for each collapsed "
            "latent and each direction with $\\lambda_a>\\lambda_c(\\sigma'^2_\\emptyset)$ "
            "(the collapsed-free blocks of the fixed-$\\sigma'^2$ derivation)."
        )
    parts.append(
        "\\paragraph{The basin.} At a fixed $\\sigma'^2$ the collapsed state attracts every "
        "nearby start iff $\\lambda_1\\le\\lambda_c(\\sigma'^2)$, i.e.\\ "
        "$\\sigma'^2\\ge\\sigma'^2_{c,1}$. With $\\sigma'^2$ learned this basin is left as "
        "$\\sigma'^2$ falls towards $\\sigma'^2_\\emptyset$ unless $\\beta\\ge\\beta_{c,1}$. "
        "When $\\sigma'^2$ moves slowly compared with the other parameters (a small step on "
        "$\\log\\sigma'^2$), the encoder and decoder follow the fixed-$\\sigma'^2$ optimum of "
        "the $\\sigma'^2$ they are at: a run that starts with $\\sigma'^2\\ge"
        "\\sigma'^2_{c,1}$ stays collapsed for as long as its $\\sigma'^2$ stays there, and "
        "its latents switch on at the fixed-$\\sigma'^2$ thresholds of the $\\sigma'^2$ it "
        "has reached. Nothing in the landscape holds it: the trap is dynamical (how fast "
        "$\\sigma'^2$ moves), not a local minimum. When $\\sigma'^2$ moves as fast as the rest, "
        "training reaches the optimum from any start off the invariant set."
    )
    return "\n\n".join(parts)


def render_decoder_variance() -> str:
    """The complete LaTeX document of the learnable decoder variance."""
    models = _models()
    body = [
        _section_model(),
        _section_hypotheses(),
        _section_result(models),
        _section_residual(models),
        _section_self_consistency(models),
        _section_hessian(models),
        _section_unique(models),
        _section_beta(models),
        _section_collapsed(models),
    ]
    return assemble(TITLE, body, _BIB)


__all__ = ["NAME", "TITLE", "render_decoder_variance"]
