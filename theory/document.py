"""LaTeX documents that walk through a :class:`~theory.derivation.Derivation`.

Every displayed formula is printed from a SymPy object of the derivation by
:func:`theory.symbols.tex`, in a display form checked equal to it
(:mod:`theory.present`).  Every statement that a derivation could contradict - a
sign, a classification, an order of non-analyticity, a check that passed - is
generated from the derived object it states; the hand-written prose only describes
the model, the method and the sources.  The output is deterministic, so the
committed ``derivations/*.tex`` can be compared byte for byte with a fresh rendering.
"""

from __future__ import annotations

import re

import sympy as sp

from theory import symbols as S
from theory.derivation import Derivation
from theory.present import display, factored, matrix_entry
from theory.stability import sign_of
from theory.stationary import REGIONS, region_condition

_QUANTITY_TEX = {
    "kl": r"\mathrm{KL}",
    "order_parameter": r"\Phi",
    "encoder_variance": r"s^{2}",
    "decoder_norm": r"\lvert w\rvert",
    "neg_elbo": r"f",
}
#: Quantities of the per-mode optimum shown in the document (|w| as |w|^2, see below).
_SHOWN = ("kl", "order_parameter", "encoder_variance", "decoder_norm", "neg_elbo")

_PREAMBLE = r"""\documentclass[11pt]{article}
\usepackage[margin=2.2cm]{geometry}
\usepackage{amsmath,amssymb}
\usepackage{booktabs}
\usepackage{array}
\usepackage[expansion=false]{microtype}
\usepackage{breqn}
\allowdisplaybreaks
\setlength{\parindent}{0pt}
\setlength{\parskip}{0.6em}
\sloppy
"""

_WORD = {1: "positive", -1: "negative", 0: "zero", None: "of undecided sign"}

#: Bibliography: key -> entry.  Cited with \cite{key}.
BIBLIOGRAPHY = {
    "li2025": r"Y.~Li, Z.~Zhang, Y.~Zhang and J.~Chen, \emph{Posterior collapse as a phase "
    r"transition in variational autoencoders}, arXiv:2510.01621 (v1 and v2, 2025).",
    "wang2022": r"Z.~Wang and L.~Ziyin, \emph{Posterior collapse of a linear latent variable "
    r"model}, Advances in Neural Information Processing Systems 35 (NeurIPS 2022); "
    r"arXiv:2205.04009.",
    "dang2024": r"H.~Dang, T.~Tran, T.~Nguyen and N.~Ho, \emph{Beyond vanilla variational "
    r"autoencoders: detecting posterior collapse in conditional and hierarchical variational "
    r"autoencoders}, ICLR 2024; arXiv:2306.05023.",
    "lucas2019": r"J.~Lucas, G.~Tucker, R.~Grosse and M.~Norouzi, \emph{Don't blame the ELBO! "
    r"A linear VAE perspective on posterior collapse}, Advances in Neural Information "
    r"Processing Systems 32 (NeurIPS 2019); arXiv:1911.02469.",
    "li2026": r"Z.~Li, \emph{Residual spectral instability of posterior collapse in "
    r"variational autoencoders}, arXiv:2610.11257 (Eq.~24).",
    "kingma2014": r"D.~P.~Kingma and M.~Welling, \emph{Auto-encoding variational Bayes}, "
    r"ICLR 2014, Appendix~B.",
    "landau": r"L.~D.~Landau and E.~M.~Lifshitz, \emph{Statistical Physics, Part~1}, "
    r"3rd ed., Pergamon, 1980, \S\,143.",
    "householder": r"A.~S.~Householder, \emph{The Theory of Matrices in Numerical Analysis}, "
    r"Blaisdell, 1964, \S\,3.3 (Descartes' rule and Sylvester's law of inertia).",
    "haynsworth": r"E.~V.~Haynsworth, \emph{Determination of the inertia of a partitioned "
    r"Hermitian matrix}, Linear Algebra and its Applications 1 (1968) 73--81.",
}


# -- small printers -------------------------------------------------------------------------
def _eq(lhs: str, expr: object, show: bool = True) -> str:
    """A display equation ``lhs = expr`` (breqn breaks it when it is too wide)."""
    value = display(expr) if show and isinstance(expr, sp.Expr) else expr
    return "\\begin{dmath*}\n" + f"{lhs} = {_tex(value)}\n" + "\\end{dmath*}\n"


def _matrix(lhs: str, matrix: sp.Matrix) -> str:
    """A display of a matrix of factored entries (small type when it is wide)."""
    body = S.tex(matrix.applyfunc(matrix_entry))
    wide = matrix.shape[1] > 3
    return (
        "\\begin{equation*}\n"
        + ("\\small " if wide else "")
        + f"{lhs} = {body}\n"
        + "\\end{equation*}\n"
    )


def _tex(expr: object, **settings: object) -> str:
    """LaTeX of ``expr`` with the positive terms of a sum first (lambda - beta sigma'^2)."""
    if not isinstance(expr, sp.Add):
        return S.tex(expr, **settings)
    terms = sp.Add.make_args(expr)
    pos = [t for t in terms if not t.could_extract_minus_sign()]
    neg = [-t for t in terms if t.could_extract_minus_sign()]
    if not pos:
        return S.tex(expr, **settings)
    out = " + ".join(S.tex(t, **settings) for t in pos)
    return out + "".join(" - " + S.tex(t, **settings) for t in neg)


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _rel(expr: sp.Basic) -> str:
    return "$" + S.tex(expr) + "$"


def _inline(expr: sp.Expr) -> str:
    return "$" + S.tex(display(expr) if isinstance(expr, sp.Expr) else expr) + "$"


def _check(ok: bool, yes: str = "identical", no: str = "DIFFERENT") -> str:
    return yes if ok else no


def _lam_r() -> tuple[sp.Symbol, sp.Symbol]:
    return sp.Symbol("lambda_r", positive=True), sp.Symbol("zeta2_r", positive=True)


_R_NAMES = {"lambda_r": r"\lambda_{r}", "zeta2_r": r"\zeta_{r}^{2}"}


def _tex_r(expr: sp.Expr) -> str:
    """LaTeX with lambda_r, zeta_r^2 (the r-th eigenvalue and its latent's variance)."""
    lam_r, z_r = _lam_r()
    names = dict(S.LATEX_NAMES) | {lam_r: _R_NAMES["lambda_r"], z_r: _R_NAMES["zeta2_r"]}
    return _tex(expr, symbol_names=names)


def _at_r(expr: sp.Expr) -> sp.Expr:
    lam_r, z_r = _lam_r()
    return expr.subs({S.lam: lam_r, S.zeta2: z_r}, simultaneous=True)


# -- model and hypotheses -------------------------------------------------------------------
_ENCODER_TEXT = {
    "learnable": "with every $s_j^2$ trained (the model of \\cite{li2025,lucas2019}).",
    "fixed-isotropic": "with $s_j^2=\\zeta^{2}$ for every latent, fixed and not trained "
    "\\cite{wang2022}. The value $\\zeta^2=\\eta^2$ (the command line's \\texttt{fixed}) is "
    "the special case in which the collapsed posterior $\\mathcal N(0,\\zeta^2)$ is the prior.",
    "fixed-anisotropic": "with $s_j^2=\\zeta_j^2$, one fixed value per latent, not trained "
    "\\cite{dang2024}. Latents differ only through their $\\zeta_j^2$; the per-mode problem "
    "of a latent is that of a fixed variance $\\zeta^2=\\zeta_j^2$.",
}


def _section_model(d: Derivation) -> str:
    spec = d.spec
    z = sp.Symbol("z")
    return "\n\n".join(
        [
            r"\section{Model}",
            "Data $x\\in\\mathbb{R}^{d}$ have mean $m$ and covariance "
            "$\\Sigma=\\frac1N\\sum_n (x_n-m)(x_n-m)^{\\top}$ with eigenvalues "
            "$\\lambda_1\\ge\\dots\\ge\\lambda_d\\ge0$. The prior is "
            f"$p(z)=\\mathcal N(0,{S.tex(spec.prior_variance)} I_k)$, the decoder "
            f"$p(x\\mid z)=\\mathcal N(Wz+b,{S.tex(spec.decoder_variance)} I_d)$ with "
            f"${S.tex(spec.decoder_variance)}$ the control parameter, and the encoder "
            "$q(z\\mid x)=\\mathcal N(V(x-m),\\operatorname{diag}(s_1^2,\\dots,s_k^2))$ "
            + _ENCODER_TEXT[spec.kind],
            "The objective, minimised, is "
            "$F=\\mathbb E_x\\mathbb E_q[-\\log p(x\\mid z)]+\\beta\\,\\mathbb E_x"
            "\\,\\mathrm{KL}(q(z\\mid x)\\,\\|\\,p(z))$ including the Gaussian constant. "
            "Along one eigen-direction, with centred coordinate $y$ and one latent, a "
            "reparameterised sample is",
            _eq("z", spec.latent_sample(), show=False),
            f"and the decoder mean along the direction is ${S.tex(spec.decoder_mean(z))}$. "
            f"The trained parameters of one mode are "
            f"${', '.join(S.tex(p) for p in spec.mode_parameters)}$.",
        ]
    )


_ALIGNMENT = {
    "learnable": "For $\\beta=1$ this is Lucas et al.\\ \\cite{lucas2019} (section 4.1 and "
    "Appendix C, via probabilistic PCA); for general $\\beta$ and $\\eta^2$ it is Wang and "
    "Ziyin \\cite{wang2022}.",
    "fixed-isotropic": "For a fixed encoder variance and general $\\beta$ this is Wang and "
    "Ziyin \\cite{wang2022}; with $\\zeta^2=\\eta^2$ it reduces to the model of "
    "\\cite{lucas2019}.",
    "fixed-anisotropic": "For fixed, possibly different, encoder variances this is Dang et "
    "al.\\ \\cite{dang2024}, Theorem~1 (stated for $\\eta^2=1$; the prior variance only "
    "rescales $V$), building on \\cite{wang2022}.",
}


def _section_hypotheses(d: Derivation) -> str:
    return "\n\n".join(
        [
            r"\section{Hypotheses}",
            "\\begin{description}\n"
            "\\item[H1] $k\\le d$: there are at most as many latents as data dimensions.\n"
            "\\item[H2] The eigenvalues are ordered, $\\lambda_1\\ge\\dots\\ge\\lambda_d\\ge0$. "
            "Where a statement counts eigenvalues of Hessians (step e) they are also taken "
            "distinct and positive; equal eigenvalues give equal critical values, whose jumps "
            "add, and extra flat directions (rotations within the eigenspace), but they do "
            "not change the optimum's value.\n"
            "\\item[H3] (alignment) The global minimum of $F$ is attained at parameters "
            "aligned with the eigenvectors of $\\Sigma$: each latent is paired with at most "
            "one eigen-direction and the pairs decouple. "
            + _ALIGNMENT[d.spec.kind]
            + " The engine does not prove H3. It derives which aligned stationary points are "
            "minima and which are saddles (step e), and the test-suite confirms H3 by "
            "unrestricted numerical minimisation of the full matrix objective.\n"
            "\\end{description}",
        ]
    )


# -- theorem ------------------------------------------------------------------------------------
def _pairing_sentence(d: Derivation) -> str:
    rule = d.pairing
    if rule.slope_sign != -1:
        return "the pairing of latents with eigen-directions is NOT DERIVED"
    top = "the $k$ latents take the $k$ largest eigenvalues $\\lambda_1,\\dots,\\lambda_k$"
    if not d.spec.anisotropic:
        return top + ", in any order (the latents are interchangeable)"
    order = {"ascending": "smallest", "descending": "largest"}.get(rule.variance_order)
    if order is None:
        return top + "; which latent takes which is NOT DERIVED"
    return (
        top + f"; the latent with the $r$-th {order} variance, written $\\zeta_r^2$, takes "
        "$\\lambda_r$ (step e)"
    )


def _order_phrase(n: int | None, jump: str, infinite: bool) -> str:
    """How a quantity behaves at a critical point, from its first non-analytic order."""
    if n is None:
        return "is smooth (its derivatives up to order 2 agree on both sides)"
    if n == 0:
        return f"is discontinuous (it jumps by {jump})"
    cont = {1: "is continuous", 2: "is continuous with a continuous first derivative"}.get(
        n, f"is continuous with continuous derivatives up to order {n - 1}"
    )
    what = {1: "its first derivative", 2: "its second derivative"}.get(n, f"its derivative {n}")
    if infinite:
        return f"{cont}, and {what} diverges on the active side"
    return f"{cont}, and {what} jumps by {jump}"


def _behaviour(d: Derivation, q: str) -> str:
    """As :func:`_behaviour_at` in sigma'^2, written for the r-th mode (lambda_r, zeta_r^2)."""
    return _behaviour_at(d, S.sigma2, q, r=True)


def _kl_phi(laws) -> str:
    """KL_r and Phi_r of an active latent (one line when they are the same law)."""
    kl, phi = (display(_at_r(laws.active[q])) for q in ("kl", "order_parameter"))
    if (
        sp.simplify(sp.expand_log(laws.active["kl"] - laws.active["order_parameter"], force=True))
        == 0
    ):
        return (
            "\\begin{equation*}\n\\mathrm{KL}_r = \\Phi_r = " + _tex_r(kl) + "\n\\end{equation*}\n"
        )
    return (
        "\\begin{dmath*}\n\\mathrm{KL}_r = " + _tex_r(kl) + "\n\\end{dmath*}\n"
        "\\begin{dmath*}\n\\Phi_r = " + _tex_r(phi) + "\n\\end{dmath*}\n"
    )


def _section_theorem(d: Derivation) -> str:
    laws = d.optimum
    crit = _at_r(d.critical_sigma2)
    w2 = display(_at_r(laws.active["decoder_norm"] ** 2))
    stable = d.collapse_stability.stable_condition.subs(S.lam, S.lam_max)
    if d.spec.anisotropic:
        # Every latent against every direction: the binding pair is the largest eigenvalue
        # with the smallest variance.
        z_min = sp.Symbol("zeta2_min", positive=True)
        cond = stable.subs(S.zeta2, z_min)
        names = dict(S.LATEX_NAMES) | {z_min: r"\zeta_{\min}^{2}"}
        stable_text = (
            f"${S.tex(cond, symbol_names=names)}$, with $\\zeta_{{\\min}}^2$ the smallest "
            "fixed variance (every collapsed latent must be stable on every direction)"
        )
    else:
        stable_text = f"{_rel(stable)}"
    parts = [
        r"\section{Result}\label{sec:result}",
        "\\paragraph{Theorem.} \\emph{Under H1--H3, " + _pairing_sentence(d) + ". "
        "The latent on $\\lambda_r$ is active, with a positive order parameter "
        "$\\Phi_r=\\mathrm{KL}_r-\\mathrm{KL}_r^{\\mathrm{collapsed}}$, iff "
        "$\\sigma'^2<\\sigma'^2_{c,r}$, where}",
        "\\begin{dmath*}\n\\sigma'^{2}_{c,r} = " + _tex_r(crit) + "\n\\end{dmath*}\n",
        "\\emph{There}",
        "\\begin{dmath*}\n\\lvert w_r\\rvert^{2} = " + _tex_r(w2) + "\n\\end{dmath*}\n",
        _kl_phi(laws),
        "\\emph{and otherwise $w_r=0$, $\\Phi_r=0$ and $\\mathrm{KL}_r="
        + _tex_r(display(_at_r(laws.collapsed["kl"])))
        + "$. At each $\\sigma'^2_{c,r}$ the total KL divergence "
        + _behaviour(d, "kl")
        + "; the free energy $F$ "
        + _behaviour(d, "neg_elbo")
        + ". The fully collapsed state is a minimum iff "
        + stable_text
        + ".}",
        "\\paragraph{Proof structure.} Step~a (section~\\ref{sec:a}) integrates the "
        "objective exactly and reduces it, at aligned parameters, to one objective per mode; "
        "step~b (section~\\ref{sec:b}) finds every stationary point of one mode; step~c "
        "(section~\\ref{sec:c}) classifies them by the inertia of their Hessians; step~d "
        "(section~\\ref{sec:d}) follows the optimum across the critical point; step~e "
        "(section~\\ref{sec:e}) assembles the modes: which latent takes which direction, "
        "and the Hessian of the whole multi-latent objective at every aligned stationary "
        "point. Section~\\ref{sec:totals} sums the modes; section~\\ref{sec:nonanalytic} "
        "states what is non-analytic.",
    ]
    return "\n\n".join(parts)


# -- step a -------------------------------------------------------------------------------------
def _sum_last(lhs: str, expr: sp.Expr) -> str:
    """``lhs = expr`` with sums printed last (a printed sum swallows what follows it)."""
    terms = sp.Add.make_args(expr)
    first = [t for t in terms if not t.has(sp.Sum)]
    last = [t for t in terms if t.has(sp.Sum)]
    body = " + ".join(S.tex(t) for t in [sp.Add(*first), *last] if t != 0)
    return "\\begin{dmath*}\n" + f"{lhs} = {body}\n" + "\\end{dmath*}\n"


def _floor_sentence(d: Derivation) -> str:
    """What the variance part of E[KL] is, from its derived form."""
    if d.spec.learnable:
        return ""
    floor = d.mode.mode_terms.kl.subs(d.spec.collapsed_point)
    zeros = sp.solve(sp.Eq(floor, 0), S.zeta2)
    where = ", ".join(f"$\\zeta^2={S.tex(z)}$" for z in zeros) or "no $\\zeta^2$"
    return (
        " With a fixed variance the last part is a constant, the KL divergence of the "
        "collapsed posterior $\\mathcal N(0,\\zeta_j^2)$ from the prior, summed over "
        f"latents; per latent it vanishes only at {where}."
    )


def _section_objective(d: Derivation) -> str:
    m = d.matrix_objective
    bias = ", ".join(f"{S.tex(k)} = {S.tex(v)}" for k, v in d.optimal_bias.items())
    var = S.tex(d.spec.encoder_variance_expr)
    cov = {
        "learnable": "S=\\operatorname{diag}(s_1^2,\\dots,s_k^2)",
        "fixed-isotropic": "\\zeta^2 I_k",
        "fixed-anisotropic": "Z=\\operatorname{diag}(\\zeta_1^2,\\dots,\\zeta_k^2)",
    }[d.spec.kind]
    parts = [
        r"\section{Step a: the expected objective}\label{sec:a}",
        "For one reparameterised sample, the two random integrands are",
        _eq(r"-\log p(y\mid z)", d.integrands.reconstruction, show=False),
        _eq(r"\log q(z\mid y)-\log p(z)", d.integrands.kl, show=False),
        "The engine integrates them exactly: over $\\varepsilon$ with the moments of "
        "the standard normal, over the data with $\\mathbb E[y]=0$, "
        "$\\mathbb E[y^2]=\\lambda$ (the integrands are of degree two in the data, so "
        "only the covariance enters). For one mode this gives",
        _eq(r"\mathbb E\left[-\log p(y\mid z)\right]", d.mode_terms.reconstruction),
        _eq(r"\mathbb E\left[\mathrm{KL}\right]", d.mode_terms.kl),
        f"In matrix form, for $k$ latents, $d$ data dimensions and encoder covariance ${cov}$,",
        _eq(r"\mathbb E\left[-\log p(x\mid z)\right]", m.reconstruction, show=False),
        _sum_last(r"\mathbb E\left[\mathrm{KL}\right]", m.kl),
        "(Gaussian KL divergence \\cite{kingma2014}; linear VAE \\cite{lucas2019})."
        + _floor_sentence(d)
        + " The engine checked this matrix form against the exact integration of a "
        "generic instance ($d=3$, $k=2$, every entry of $W$, $V$, $\\Sigma$, $m$, $b$ "
        f"a free symbol): {_check(d.matrix_form_verified)}. "
        f"Setting $\\partial F/\\partial b=0$ there gives ${bias}$: the optimal bias is "
        "the data mean, and the offset term drops out.",
        "In the eigenbasis of $\\Sigma$, with latent $j$ paired with eigen-direction "
        "$j$ ($W=[\\operatorname{diag}(w);0]$, $V=[\\operatorname{diag}(v),0]$), the "
        "objective splits into independent per-mode objectives. A paired direction "
        f"contributes (with ${var}$ the variance of its latent)",
        _eq(
            r"f(" + ",".join(S.tex(p) for p in d.spec.mode_parameters) + r";\lambda)",
            d.mode_objective,
        ),
        "and a direction no latent is paired with contributes",
        _eq(r"g(\lambda)", d.unpaired_objective),
        "so that $F=\\sum_{j\\le k} f_j+\\sum_{i>k}g(\\lambda_i)$. "
        "The engine checked this split on a generic instance ($d=3$, $k=2$): "
        f"{_check(d.reduction_verified)}. That the global minimum lies among aligned "
        "parameters is hypothesis H3.",
    ]
    return "\n\n".join(parts)


# -- step b -------------------------------------------------------------------------------------
def _u_definition(d: Derivation) -> str:
    return (
        "the activity ratio $u=\\sqrt{\\lambda/\\lambda_c}$, $\\lambda_c="
        + S.tex(d.critical_boundary)
        + "$ ($u>1$ exactly when $\\lambda>\\lambda_c$)"
    )


def _existence_phrase(d: Derivation, pt) -> str:
    cond = d.existence_condition(pt)
    if cond is sp.true:
        return "It is a real point for every $\\lambda>0$"
    if cond is sp.false:
        return "It is not a real point for any $\\lambda>0$ (its values are complex)"
    return f"It is a real point, distinct from the collapsed one, iff {_rel(cond)}"


def _point_values(d: Derivation, pt) -> str:
    if pt.name == "collapsed":
        values = pt.values
    else:
        sub = {S.lam: d.critical_boundary * S.u**2}
        values = {p: sp.simplify(v.subs(sub)) for p, v in pt.values.items()}
    body = ",\\quad ".join(f"{S.tex(p)} = {S.tex(v)}" for p, v in values.items())
    return "\\begin{equation*}\n" + body + "\n\\end{equation*}\n"


def _section_stationary(d: Derivation) -> str:
    parts = [r"\section{Step b: stationary points of one mode}\label{sec:b}",
             "The stationary equations are"]  # fmt: skip
    for p, eq in zip(d.spec.mode_parameters, d.stationary_equations, strict=True):
        parts.append(
            "\\begin{equation*}\n"
            + f"\\frac{{\\partial f}}{{\\partial {S.tex(p)}}} = {S.tex(factored(eq))} = 0\n"
            + "\\end{equation*}\n"
        )
    parts.append(
        f"SymPy solves them over the complex numbers; there are {len(d.stationary_points)} "
        "solution families (a mirror pair $(w,v)\\to(-w,-v)$ counted once). Whether each "
        "is a real point (with a positive variance) is decided on each side of the "
        "boundary $\\lambda=\\lambda_c$ where the Hessian at the collapsed point is singular "
        "(step~c). Points other than the collapsed one are written with " + _u_definition(d) + "."
    )
    for pt in d.stationary_points:
        mirror = " (and its mirror image $w\\to-w$, $v\\to-v$)" if pt.mirrored else ""
        parts.append(
            f"\\paragraph{{The {pt.name} point{mirror}.}} {_existence_phrase(d, pt)}:\n"
            + _point_values(d, pt)
        )
    return "\n\n".join(parts)


# -- step c -------------------------------------------------------------------------------------
def _inertia_table(d: Derivation) -> str:
    rows = []
    for pt in d.stationary_points:
        for region in d.distinct_regions(pt):
            if region not in pt.inertia:
                continue
            i = pt.inertia[region]
            kind = d.collapse_stability.kind[region] if pt.name == "collapsed" else i.kind
            rows.append(
                f"{pt.name} & {_rel(region_condition(region, sp.Symbol('lambda_c')))} & "
                f"{i.positive} & {i.negative} & {i.zero} & {kind} \\\\"
            )
    return (
        "\\begin{center}\n\\begin{tabular}{llcccl}\n\\toprule\n"
        "point & region & $n_+$ & $n_-$ & $n_0$ & classification \\\\\n\\midrule\n"
        + "\n".join(rows)
        + "\n\\bottomrule\n\\end{tabular}\n\\end{center}\n"
    )


def _boundary_sentence(d: Derivation) -> str:
    cs = d.collapse_stability
    at = d.point("collapsed").inertia.get("at")
    if at is None or not at.zero:
        return ""
    text = (
        "At $\\lambda=\\lambda_c$ the Hessian of the collapsed point is singular "
        f"($n_0={at.zero}$), so its inertia does not classify it. The quartic Landau "
        "coefficient there (step~d) is "
        f"${S.tex(cs.quartic_at_boundary)}$, which is {_WORD[sign_of(cs.quartic_at_boundary)]}"
    )
    if cs.resolved_at_boundary:
        return text + ": the collapsed point is still a minimum at the boundary."
    return text + ": the classification at the boundary is left open."


def _section_stability(d: Derivation) -> str:
    cs = d.collapse_stability
    parts = [
        r"\section{Step c: Hessians and stability of one mode}\label{sec:c}",
        "The Hessian of $f$ in the trained parameters is",
        _matrix("H", d.hessian),
        "At the collapsed point it is",
        _matrix("H", d.point("collapsed").hessian),
        f"and $\\det H$ vanishes at $\\lambda=\\lambda_c={S.tex(cs.boundary)}$. At the "
        "active point, with " + _u_definition(d) + ",",
        _matrix("H", d.point("active").hessian.subs(S.lam, cs.boundary * S.u**2)),
        "The inertia (numbers of positive, negative and zero eigenvalues) follows exactly "
        "from Descartes' rule of signs applied to the characteristic polynomial, whose "
        "roots are all real because $H$ is symmetric \\cite{householder}. Each region is "
        "parametrised by a gap $r>0$ "
        f"($\\lambda={S.tex(d.regions['below'][S.lam])}$, "
        f"${S.tex(d.regions['at'][S.lam])}$, ${S.tex(d.regions['above'][S.lam])}$). "
        "A point is listed only where it is real and distinct from the collapsed point:",
        _inertia_table(d),
        _boundary_sentence(d),
        "The collapsed point of one mode is therefore a minimum iff "
        f"{_rel(cs.stable_condition)}, and a mode of eigenvalue $\\lambda$ collapses at",
        _eq(r"\sigma'^{2}_{c}", d.critical_sigma2),
        _eq(r"\beta_{c}", d.critical_beta),
    ]
    return "\n\n".join(p for p in parts if p)


# -- step d -------------------------------------------------------------------------------------
def _law_lhs(q: str) -> tuple[str, object]:
    """|w| is shown squared: |w|^2 has no nested radical."""
    return (r"\lvert w\rvert^{2}", 2) if q == "decoder_norm" else (_QUANTITY_TEX[q], 1)


def _laws(laws: dict) -> list[str]:
    rows = []
    for q in _SHOWN:
        lhs, power = _law_lhs(q)
        rows.append(f"{lhs} &= {_tex(display(laws[q] ** power))}")
    return ["\\begin{align*}\n" + " \\\\\n".join(rows) + "\n\\end{align*}\n"]


def _floor_phrase(d: Derivation) -> str:
    kl0 = sp.simplify(d.optimum.collapsed["kl"])
    if kl0 == 0:
        return (
            "The KL divergence vanishes in the collapsed phase, so the order parameter "
            "$\\Phi=\\mathrm{KL}-\\mathrm{KL}^{\\mathrm{collapsed}}$ is the KL divergence itself."
        )
    return (
        "In the collapsed phase the KL divergence keeps the floor "
        f"$\\mathrm{{KL}}^{{\\mathrm{{collapsed}}}}={S.tex(display(kl0))}$ (the posterior "
        "$\\mathcal N(0,\\zeta^2)$ is not the prior), so the order parameter is "
        "$\\Phi=\\mathrm{KL}-\\mathrm{KL}^{\\mathrm{collapsed}}$, which vanishes there. The "
        "toolkit reports both: \\texttt{kl} is the KL divergence, \\texttt{order\\_parameter} "
        "is $\\Phi$; maps plot and locate transitions with either (their derivatives agree)."
    )


def _cell(expr: sp.Expr) -> str:
    return "$" + _tex(display(expr)) + "$"


def _derivative_table(d: Derivation, var: sp.Symbol) -> str:
    rows = []
    for q in ("kl", "order_parameter", "decoder_norm", "encoder_variance", "neg_elbo"):
        for ds in d.derivatives[var][q]:
            lhs = _QUANTITY_TEX[q] if ds.order == 0 else (
                f"\\partial_{{{S.tex(var)}}}{_QUANTITY_TEX[q]}" if ds.order == 1
                else f"\\partial^{{{ds.order}}}_{{{S.tex(var)}}}{_QUANTITY_TEX[q]}"
            )  # fmt: skip
            if ds.left.is_infinite or ds.right.is_infinite:
                side = "active" if ds.left.is_infinite else "collapsed"
                jump = f"diverges ({side} side)"
            else:
                jump = _cell(ds.jump)
            rows.append(f"${lhs}$ & {_cell(ds.left)} & {_cell(ds.right)} & {jump} \\\\")
    col = ">{\\raggedright\\arraybackslash}p"
    return (
        "\\begin{center}\n\\small\n"
        f"\\begin{{tabular}}{{l{col}{{5.2cm}}{col}{{5.2cm}}{col}{{3.4cm}}}}\n\\toprule\n"
        "quantity & left (active) & right (collapsed) & jump \\\\\n\\midrule\n"
        + "\n".join(rows)
        + "\n\\bottomrule\n\\end{tabular}\n\\end{center}\n"
    )


def _landau(d: Derivation) -> list[str]:
    land = d.landau
    reduced = sum(c * S.w**n for n, c in land.coefficients.items())
    even = sp.simplify(reduced.subs(S.w, -S.w) - reduced) == 0
    # F(w) = F(-w) (the mirror symmetry of step b): the first omitted power is order + 2.
    order = land.order + (2 if even else 1)
    powers = sorted(land.coefficients)
    series = " + ".join(f"a_{{{n}}}" + ("" if n == 0 else f" w^{{{n}}}") for n in powers)
    out = ["\\paragraph{Landau expansion.} Minimising $f$ over the other parameters at fixed "
           "decoder amplitude $w$ \\cite{landau} gives"]  # fmt: skip
    out += [_eq(S.tex(p), val) for p, val in land.slaved.items()]
    out.append(("and, $f$ being even in $w$," if even else "and")
               + f"\n\\begin{{equation*}}\nf(w) = {series} + O(w^{{{order}}})\n\\end{{equation*}}\n"
               + "with")  # fmt: skip
    out += [_eq(f"a_{{{n}}}", land.coefficients[n]) for n in powers]
    a2 = land.coefficients.get(2, sp.S.Zero)
    a4 = land.coefficients.get(4, sp.S.Zero)
    signs = {r: sign_of(a2.subs(d.regions[r])) for r in REGIONS}
    a4_at = sign_of(a4.subs(d.regions["at"]))
    second = (signs["below"], signs["at"], signs["above"], a4_at) == (1, 0, -1, 1)
    out.append(
        f"The quadratic coefficient $a_2$ is {_WORD[signs['below']]} below the boundary, "
        f"{_WORD[signs['at']]} at it and {_WORD[signs['above']]} above it; the quartic "
        f"coefficient $a_4$ is {_WORD[a4_at]} at the boundary"
        + (": the Landau form of a continuous (second-order) transition." if second else ".")
    )
    return out


def _exponents(d: Derivation) -> list[str]:
    ex = d.exponents
    phi, w = ex["order_parameter"], ex["decoder_norm"]
    return [
        "\\paragraph{Critical exponents.} With "
        f"${S.tex(S.sigma2)}={S.tex(d.critical_sigma2)}\\,(1-\\tau)$, $\\tau\\to0^+$:",
        _eq(
            r"\Phi",
            phi.amplitude * S.tau**phi.exponent + sp.O(S.tau ** (phi.exponent + 1)),
            show=False,
        ),
        _eq(
            r"\lvert w\rvert",
            sp.Mul(w.amplitude * S.tau**w.exponent, 1 + sp.Function("o")(1), evaluate=False),
            show=False,
        ),
        f"so the order parameter vanishes with exponent ${S.tex(phi.exponent)}$ and the "
        f"decoder amplitude with exponent ${S.tex(w.exponent)}$.",
    ]


def _section_transition(d: Derivation) -> str:
    laws = d.optimum
    parts = [
        r"\section{Step d: the optimum of one mode across the transition}\label{sec:d}",
        f"Where {_rel(laws.active_condition)} the optimum of a mode is the active point "
        "(the minimum of step~c):",
        *_laws(laws.active),
        "Otherwise it is the collapsed point:",
        *_laws(laws.collapsed),
        _floor_phrase(d),
    ]
    for var, critical in ((S.sigma2, d.critical_sigma2), (S.beta, d.critical_beta)):
        parts.append(
            f"\\paragraph{{Across ${S.tex(var)}={S.tex(critical)}$.}} One-sided values of "
            "each quantity and of its first two derivatives (left: active side):"
        )
        parts.append(_derivative_table(d, var))
        lines = [f"${_QUANTITY_TEX[q]}$ {_behaviour_at(d, var, q)}" for q in _SHOWN]
        parts.append("At this point " + "; ".join(lines) + ".")
    parts += _exponents(d) + _landau(d)
    return "\n\n".join(parts)


def _behaviour_at(d: Derivation, var: sp.Symbol, q: str, r: bool = False) -> str:
    n = d.non_analytic_orders[var][q]
    if n is None:
        return _order_phrase(None, "", False)
    ds = d.derivatives[var][q][n]
    infinite = bool(ds.left.is_infinite or ds.right.is_infinite)
    jump = "" if infinite else (
        "$" + (_tex_r(_at_r(display(ds.jump))) if r else S.tex(display(ds.jump))) + "$"
    )  # fmt: skip
    return _order_phrase(n, jump, infinite)


# -- step e -------------------------------------------------------------------------------------
_BLOCK_TEXT = {
    "own": "an active latent $j$ and its own direction $i=\\pi(j)$ "
    "(the per-mode Hessian of step~c)",
    "active-free": "an active latent $j$ (on direction $i$) and a free direction $a$ "
    "(no active latent on it)",
    "rotation": "two active latents, $j$ on direction $i$ and $l$ on direction $a$",
    "collapsed-free": "a collapsed latent $j$ and a free direction $a$",
    "collapsed-occupied": "a collapsed latent $j$ and the direction $a$ of an active latent $l$",
    "variance": "the variance $s_j^2$ of a collapsed latent $j$",
}
_BLOCK_SHORT = {
    "own": "active latent, own direction",
    "active-free": "active latent, free direction",
    "rotation": "two active latents",
    "collapsed-free": "collapsed latent, free direction",
    "collapsed-occupied": "collapsed latent, occupied direction",
    "variance": "collapsed latent's variance",
}


def _pairing_argument(d: Derivation) -> list[str]:
    rule = d.pairing
    parts = [
        "\\subsection{Which latent takes which direction}",
        "A latent of variance $\\zeta^2$ on a direction of eigenvalue $\\lambda$ contributes "
        "$f_{\\mathrm{collapsed}}+G$, where $f_{\\mathrm{collapsed}}$ is the sum of $g(\\lambda)$ "
        "and a term of the latent alone, and the gain of activation is $G=0$ for "
        "$\\lambda\\le\\lambda_c$ and, above,"
        if not d.spec.learnable else
        "A latent on a direction of eigenvalue $\\lambda$ contributes $g(\\lambda)+G$, where "
        "the gain of activation is $G=0$ for $\\lambda\\le\\lambda_c$ and, above,",
        _eq("G", rule.gain),
    ]  # fmt: skip
    slope = sp.diff(rule.gain, S.lam)
    text = (
        f"The engine finds $G=\\partial G/\\partial\\lambda=0$ at $\\lambda=\\lambda_c$: "
        f"{_check(rule.continuous_at_boundary, 'confirmed', 'NOT CONFIRMED')}, so $G$ is "
        "continuously differentiable across the boundary. On the active side"
    )
    parts += [text, _eq(r"\frac{\partial G}{\partial\lambda}", slope)]
    if rule.cross_derivative is None:
        parts.append(f"which is {_WORD[rule.slope_sign]} there.")
    else:
        parts += ["and", _eq(r"\frac{\partial^{2} G}{\partial\lambda\,\partial\zeta^{2}}",
                             rule.cross_derivative)]  # fmt: skip
        parts.append(f"The first is {_WORD[rule.slope_sign]} and the second "
                     f"{_WORD[rule.cross_sign]} there.")  # fmt: skip
    parts.append(_pairing_conclusion(d))
    return parts


def _pairing_conclusion(d: Derivation) -> str:
    rule = d.pairing
    top = (
        "Since $\\partial G/\\partial\\lambda\\le0$, replacing a paired direction by a larger "
        "free one never increases $F$: the latents take the $k$ largest eigenvalues."
        if rule.slope_sign == -1 else "The sign of the slope leaves the choice of directions open."
    )  # fmt: skip
    if rule.cross_sign is None:
        return top + " The latents are interchangeable, so any assignment of them is optimal."
    if rule.variance_order is None:
        return top + " The sign of the cross derivative leaves the pairing open."
    small = "smallest" if rule.variance_order == "ascending" else "largest"
    text = (
        top + " For fixed $\\lambda$, $\\partial G/\\partial\\lambda$ is continuous in $\\zeta^2$, "
        "zero on the collapsed side and monotone on the active side, so it is monotone in "
        "$\\zeta^2$ everywhere. For $\\lambda_1>\\lambda_2$, integrating the difference of "
        "$\\partial G/\\partial\\lambda$ at two variances over $[\\lambda_2,\\lambda_1]$ shows "
        "that the pairing which puts the " + small + " variance on $\\lambda_1$ has the lower "
        "$F$; exchanging pairs in the wrong order never increases $F$ (the rearrangement "
        "inequality), so the latent with the $r$-th " + small + " $\\zeta^2$ takes $\\lambda_r$."
    )
    if not d.spec.anisotropic:
        text += " All latents share $\\zeta^2$ here, so any assignment of them is optimal."
    return text


def _block_section(d: Derivation) -> list[str]:
    land = d.landscape

    def lc(j: str) -> str:
        """lambda_c of latent j: lambda_c(zeta_j^2) for fixed variances, lambda_c otherwise."""
        if d.spec.learnable:
            return "\\lambda_c"
        return f"\\lambda_c(\\zeta_{j}^2)" if j else "\\lambda_c(\\zeta^2)"

    parts = [
        "\\subsection{The Hessian of the full objective at aligned stationary points}",
        "An aligned stationary point is an active set $A$ of latents with an injective "
        "pairing $\\pi$ of $A$ with eigen-directions: latent $j\\in A$ sits at the active "
        f"point of direction $\\pi(j)$ (it exists iff $\\lambda_{{\\pi(j)}}>{lc('j')}$), "
        "every other latent at the collapsed point, $b=m$. A direction is \\emph{free} if no "
        "active latent is on it. In the eigenbasis the Hessian of $F$ in $(W,V"
        + (",s" if d.spec.learnable else "")
        + ")$ is block diagonal (the bias block $I/\\sigma'^2$ aside), with one block of each "
        "of the following types for every latent or pair of latents and direction. The engine "
        "derived every type from a minimal instance of the matrix objective, and checked "
        "that the full Hessian of a $d=4$, $k=4$ instance (two active latents, two "
        "collapsed ones, two free directions) is exactly their assembly: "
        f"{_check(land.verified, 'confirmed', 'NOT CONFIRMED')}. An entry of the Hessian "
        "couples at most two latents and two directions, and depends on a third latent only "
        "through $w_m v_m$ of the latent on the direction involved, so that instance holds "
        "every case. Active latents are written with their activity ratios "
        f"$u_j=\\sqrt{{\\lambda_i/{lc('j')}}}$ and $u_l=\\sqrt{{\\lambda_a/{lc('l')}}}$ ($>1$), "
        f"where ${lc('')}={S.tex(d.critical_boundary)}$.",
    ]
    for name, block in land.blocks.items():
        params = ", ".join(block.parameters)
        parts.append(f"\\paragraph{{{_cap(_BLOCK_SHORT[name])}.}} "
                     f"{_cap(_BLOCK_TEXT[name])}; parameters ${params}$:")  # fmt: skip
        parts.append(_matrix("H", block.matrix))
        parts.append(f"with $\\det H={S.tex(block.determinant)}$.")
    return parts


def _region_tex(region) -> str:
    cond = region.condition
    if cond is sp.true:
        return "always"
    args = cond.args if isinstance(cond, sp.And) else (cond,)
    return ", ".join(_rel(a) for a in args)


def _block_inertia_table(d: Derivation) -> str:
    rows = []
    for name, block in d.landscape.blocks.items():
        for region in block.regions:
            i = region.inertia
            rows.append(f"{_BLOCK_SHORT[name]} & {_region_tex(region)} & "
                        f"{i.positive} & {i.negative} & {i.zero} \\\\")  # fmt: skip
    return (
        "\\begin{center}\n\\begin{tabular}{llccc}\n\\toprule\n"
        "block & region & $n_+$ & $n_-$ & $n_0$ \\\\\n\\midrule\n"
        + "\n".join(rows)
        + "\n\\bottomrule\n\\end{tabular}\n\\end{center}\n"
    )


def _contributions(d: Derivation, field: str) -> list[str]:
    """'n for each <block> with <condition>' for every region with a nonzero count."""
    out = []
    for name, block in d.landscape.blocks.items():
        for region in block.regions:
            n = getattr(region.inertia, field)
            if n:
                cond = "" if region.condition is sp.true else f" with {_region_tex(region)}"
                out.append(f"{n} for each pair of {_BLOCK_TEXT[name]}{cond}")
    return out


def _index_section(d: Derivation) -> list[str]:
    neg, zero = _contributions(d, "negative"), _contributions(d, "zero")
    items = "".join(f"\\item {c};\n" for c in neg) or "\\item none;\n"
    parts = [
        "\\subsection{Inertia of the blocks, and the index of every stationary point}",
        "The inertia of each block type, region by region, follows from Haynsworth's "
        "additivity $\\mathrm{In}(H)=\\mathrm{In}(A)+\\mathrm{In}(H/A)$ \\cite{haynsworth} with "
        "$A$ the (positive) $W$ entries: the sign of $\\det(H/A)=\\det H/\\det A$ is read off "
        "the factors of $\\det H$ above, and, where that determinant is not negative, the "
        "sign of the trace of $H/A$ is decided on a parametrisation of the region:",
        _block_inertia_table(d),
        "The index (number of negative Hessian eigenvalues) of an aligned stationary point "
        "is therefore the sum of\n\\begin{itemize}\n" + items + "\\end{itemize}",
    ]
    if zero:
        parts.append("Zero eigenvalues (flat directions) number\n\\begin{itemize}\n"
                     + "".join(f"\\item {c};\n" for c in zero) + "\\end{itemize}")  # fmt: skip
    parts.append(_index_in_sigma2(d))
    return parts


def _index_in_sigma2(d: Derivation) -> str:
    moving = [
        name
        for name, block in d.landscape.blocks.items()
        for region in block.regions
        if region.inertia.negative and S.sigma2 in region.condition.free_symbols
    ]
    if set(moving) != {"collapsed-free"}:
        return "The dependence of the index on $\\sigma'^2$ is not resolved into a formula here."
    crit = d.critical_sigma2.subs({S.lam: S.lam_a, S.zeta2: d.landscape.var_j})
    return (
        "Of these conditions only those of collapsed latents on free directions involve "
        "$\\sigma'^2$. For a fixed active set $A$ and pairing $\\pi$ the index is therefore a "
        "step function of $\\sigma'^2$,"
        "\\begin{equation*}\n\\operatorname{index}(\\sigma'^2)=\\operatorname{index}_0(A,\\pi)"
        "+\\sum_{j\\notin A}\\#\\{a \\text{ free}:\\ \\sigma'^2<" + S.tex(crit) + "\\},\n"
        "\\end{equation*}\n"
        "non-increasing in $\\sigma'^2$, on the range "
        "$\\sigma'^2<\\min_{j\\in A}\\sigma'^2_c(\\lambda_{\\pi(j)}"
        + ("" if d.spec.learnable else ",\\zeta_j^2")
        + ")$ where the point exists; $\\operatorname{index}_0$ counts the other blocks."
    )


def _li_form(L: sp.Expr) -> sp.Matrix:
    """Li's collapsed-sector block as written in arXiv 2610.11257, Eq. 24 (a citation)."""
    return sp.Matrix([[1 / S.sigma2, -sp.sqrt(L) / S.sigma2], [-sp.sqrt(L) / S.sigma2, 1]])


def _criterion_section(d: Derivation) -> list[str]:
    land = d.landscape
    free = land.blocks["collapsed-free"]
    stable = [r for r in free.regions if r.inertia.negative == 0]
    cond = sp.Or(*(r.condition for r in stable)).simplify()
    lam_res = sp.Symbol("Lambda_res", positive=True)
    crit = S.tex(
        cond.subs(S.lam_a, lam_res),
        symbol_names=S.LATEX_NAMES | {lam_res: r"\Lambda_{\mathrm{res}}"},
    )
    L, _, same = land.li_rescaling
    Ls = sp.Symbol("L", positive=True)
    example = _li_form(Ls).subs({Ls: 4, S.sigma2: sp.Rational(3, 2)})
    mus = sorted(float(m) for m in example.eigenvals())
    occupied = land.blocks["collapsed-occupied"]
    occ_bad = [r for r in occupied.regions if r.inertia.negative]
    occ_flat = any(r.inertia.zero for r in occupied.regions if r.condition is sp.true)
    parts = [
        "\\subsection{Partial collapse}",
        "At a state with active set $A$, a collapsed latent $j$ is stable against every "
        f"free direction iff no collapsed-free block is negative, i.e.\\ iff ${crit}$ "
        "with $\\Lambda_{\\mathrm{res}}=\\max_{a\\notin\\pi(A)}\\lambda_a$ the largest eigenvalue "
        "of $\\Sigma$ restricted to the complement of the active directions"
        + (
            f"; against the occupied directions it is stable iff not {_region_tex(occ_bad[0])} "
            "for any active $l$"
            if occ_bad
            else "; against the occupied directions it has no negative curvature"
            + (" (one flat direction each, $n_0=1$)" if occ_flat else "")
        )
        + ". This is the linear case of the residual-spectrum criterion of Li "
        "\\cite{li2026} (Eq.~24). Li writes the collapsed sector's mean-channel block as "
        f"${S.tex(_li_form(Ls))}$, with determinant $(\\sigma'^2-L)/\\sigma'^4$. Here, with "
        "$w\\to\\sqrt{s^2}\\,w$ and $v\\to\\sqrt{\\beta\\lambda_a/\\eta^2}\\,v$ "
        "($s^2$ the collapsed "
        "latent's variance, a rescaling of $(w,v)$), the collapsed-free block becomes "
        f"exactly that with $L={S.tex(L)}$: {_check(same, 'confirmed', 'NOT CONFIRMED')}. "
        "For example $L=4$, $\\sigma'^2=3/2$ gives the eigenvalues "
        f"${mus[0]:.6f}$ and ${mus[1]:.6f}$.",
    ]
    return parts


def _minima_section(d: Derivation) -> list[str]:
    land = d.landscape
    conditions = []
    for name, block in land.blocks.items():
        for region in block.regions:
            if region.inertia.negative:
                conditions.append(
                    f"\\item no pair of {_BLOCK_TEXT[name]} has {_region_tex(region)};"
                )
    skip = [r for r in land.blocks["active-free"].regions if r.inertia.negative]
    return [
        "\\subsection{Minima and saddles}",
        "An aligned stationary point has no negative Hessian eigenvalue (it is a local "
        "minimum up to its flat directions) iff\n\\begin{itemize}\n"
        + "\n".join(conditions)
        + "\n\\end{itemize}\nand a saddle otherwise."
        + (
            " In particular a pairing that skips a larger eigenvalue (an active latent on "
            f"$\\lambda_i$ while a free direction has {_region_tex(skip[0])}) is a saddle, as "
            "Lucas et al.\\ found for $\\beta=1$ \\cite{lucas2019}."
            if skip
            else ""
        ),
    ]


def _section_full(d: Derivation) -> str:
    parts = [r"\section{Step e: the full model}\label{sec:e}"]
    parts += _pairing_argument(d)
    parts += _block_section(d)
    parts += _index_section(d)
    parts += _criterion_section(d)
    parts += _minima_section(d)
    return "\n\n".join(p for p in parts if p)


# -- totals, non-analyticity, bibliography ----------------------------------------------------
def _section_totals(d: Derivation) -> str:
    laws = d.optimum
    crit = _at_r(d.critical_sigma2)
    cond = S.sigma2 < crit

    def piece(q: str) -> sp.Expr:
        return sp.Piecewise(
            (display(_at_r(laws.active[q])), cond), (display(_at_r(laws.collapsed[q])), True)
        )

    r = sp.Symbol("r", integer=True, positive=True)
    unpaired = display(d.unpaired_laws["neg_elbo"]).subs(S.lam, sp.Symbol("lambda_i"))
    var_note = (
        " ($\\zeta_r^2$ is the variance of the latent on $\\lambda_r$, step~e)"
        if d.spec.anisotropic
        else ""
    )
    return "\n\n".join(
        [
            r"\section{Totals as functions of $\sigma'^2$}\label{sec:totals}",
            "Summing the modes (steps a and e), with $\\sigma'^2_{c,r}="
            + _tex_r(crit)
            + "$"
            + var_note
            + ", the number of active latents, the total KL divergence, the order parameter "
            "and the free energy are",
            "\\begin{equation*}\nN(\\sigma'^2) = \\sum_{r=1}^{k}\\mathbf 1\\left["
            "\\sigma'^2<\\sigma'^2_{c,r}\\right]\n\\end{equation*}\n",
            "\\begin{equation*}\n\\mathrm{KL}(\\sigma'^2) = \\sum_{r=1}^{k} "
            + _tex_r(piece("kl"))
            + "\n\\end{equation*}\n",
            "\\begin{equation*}\n\\Phi(\\sigma'^2) = \\sum_{r=1}^{k} "
            + _tex_r(piece("order_parameter"))
            + "\n\\end{equation*}\n",
            "\\begin{equation*}\nF(\\sigma'^2) = \\sum_{r=1}^{k} "
            + _tex_r(piece("neg_elbo"))
            + " + \\sum_{i=k+1}^{d}\\left("
            + S.tex(unpaired)
            + "\\right)\n\\end{equation*}\n",
            f"Each term is analytic in $\\sigma'^2$ except at its own $\\sigma'^2_{{c,r}}$ (index "
            f"${S.tex(r)}$ runs over the paired eigen-directions).",
        ]
    )


def _section_nonanalytic(d: Derivation) -> str:
    orders = d.non_analytic_orders[S.sigma2]
    kl_order = orders["kl"]
    jump = d.derivatives[S.sigma2]["kl"][1].jump if kl_order == 1 else None
    text = (
        "At each $\\sigma'^2_{c,r}$ the mode with that threshold switches (when several "
        "thresholds coincide, their modes switch together and their jumps add), and every "
        "other term of section~\\ref{sec:totals} is analytic there. Hence, at "
        "$\\sigma'^2_{c,r}$: the total KL divergence "
        + _behaviour(d, "kl")
        + "; the order parameter $\\Phi$ "
        + _behaviour(d, "order_parameter")
        + "; the decoder amplitude $\\lvert w_r\\rvert$ "
        + _behaviour(d, "decoder_norm")
        + "; the encoder variance "
        + _behaviour(d, "encoder_variance")
        + "; and $F$ "
        + _behaviour(d, "neg_elbo")
        + ". "
    )
    if orders["neg_elbo"] == 2:
        text += (
            "$F$ and its first derivative are continuous and its second derivative "
            "jumps: in Ehrenfest's terms a continuous (second-order) transition. "
        )
    if kl_order == 1:
        text += (
            "The seed paper's first version describes the critical boundary as ``a "
            "discontinuity in the KL divergence'' \\cite{li2025}. In the linear VAE the KL "
            "divergence itself is continuous at every critical point; what is discontinuous "
            "is its first derivative, which jumps by "
            f"${_tex_r(_at_r(display(jump)))}$. The second version's wording, that the KL "
            "divergence and its derivatives show non-analytic behaviour, is the exact "
            "statement: KL is continuous but not analytic at $\\sigma'^2_{c,r}$."
        )
    elif kl_order == 0:
        text += ("Here the KL divergence itself is discontinuous, as the seed paper's first "
                 "version says \\cite{li2025}.")  # fmt: skip
    return "\n\n".join([r"\section{What is non-analytic}\label{sec:nonanalytic}", text])


def assemble(title: str, body: list[str], references: dict[str, str] | None = None) -> str:
    """A complete LaTeX document: the preamble, ``title``, the sections of ``body`` and a
    bibliography of ``references`` (default :data:`BIBLIOGRAPHY`), in that order.

    Every generated document (one per model here, and those of
    :mod:`theory.family_document` and :mod:`theory.decoder_document`) is assembled by it.
    """
    refs = BIBLIOGRAPHY if references is None else references
    items = "\n".join(f"\\bibitem{{{k}}} {v}" for k, v in refs.items())
    bibliography = "\\begin{thebibliography}{9}\n" + items + "\n\\end{thebibliography}\n"
    text = (
        _PREAMBLE
        + f"\\title{{{title}}}\n"
        + "\\author{generated by vae-collapse from its SymPy derivation}\n\\date{}\n"
        + "\\begin{document}\n\\maketitle\n\n"
        + "\n\n".join([*body, bibliography])
        + "\n\n\\end{document}\n"
    )
    # sigma'^2 as \sigma^{\prime 2}: breqn reads a prime followed by a superscript as a
    # double superscript (braced first, so that a closing brace after it is not taken).
    text = re.sub(r"\\sigma'\^(\d)", r"\\sigma'^{\1}", text)
    return re.sub(r"\\sigma'\^\{(\d)\}", r"\\sigma^{\\prime \1}", text)


def render(d: Derivation) -> str:
    """The complete LaTeX document of one derivation."""
    body = [
        _section_model(d),
        _section_hypotheses(d),
        _section_theorem(d),
        _section_objective(d),
        _section_stationary(d),
        _section_stability(d),
        _section_transition(d),
        _section_full(d),
        _section_totals(d),
        _section_nonanalytic(d),
    ]
    return assemble(f"Posterior collapse in the linear VAE with {d.spec.title}", body)
