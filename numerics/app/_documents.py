"""Write the generated derivations (LaTeX, and PDF when a compiler is present)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

from numerics.app._output import OutputFolder
from numerics.core._validation import InputError
from theory import LinearVAE, all_models, derive
from theory.document import render


def _render_group(specs: tuple[LinearVAE, ...]) -> list[str]:
    """Documents of models that share a per-mode derivation, derived once in one process."""
    return [render(derive(spec)) for spec in specs]


def _groups(models: tuple[LinearVAE, ...]) -> list[tuple[LinearVAE, ...]]:
    """Models grouped by their per-mode problem (the fixed isotropic and anisotropic share one)."""
    groups: dict[LinearVAE, list[LinearVAE]] = {}
    for m in models:
        groups.setdefault(m.mode_spec, []).append(m)
    return [tuple(g) for g in groups.values()]


#: The other model families' documents (``theory/family_document.py``), by file stem.
FAMILY_DOCUMENTS = ("hierarchical-vae", "conditional-vae")


def _render_family(stem: str) -> list[str]:
    """The document of another model family (one task of :func:`render_all`)."""
    from theory.family_document import render_conditional, render_hierarchical

    return [
        {"conditional-vae": render_conditional, "hierarchical-vae": render_hierarchical}[stem]()
    ]


def render_all(parallel: bool = True, families: bool = True) -> dict[str, str]:
    """LaTeX source of every model's derivation (``theory.all_models()``), keyed by file stem,
    and with ``families`` the conditional and hierarchical VAE's (:data:`FAMILY_DOCUMENTS`).

    Models with different per-mode problems are independent, so with ``parallel`` each
    group (and each family) is derived in its own process (at most one per core).
    """
    groups = _groups(all_models())
    stems = list(FAMILY_DOCUMENTS) if families else []
    tasks = [(_render_family, stem) for stem in stems] + [(_render_group, g) for g in groups]
    workers = min(len(tasks), os.cpu_count() or 1)
    if parallel and workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            texts = list(pool.map(_run, tasks))
    else:
        texts = [_run(t) for t in tasks]
    out = {stem: rendered[0] for stem, rendered in zip(stems, texts, strict=False)}
    for group, rendered in zip(groups, texts[len(stems) :], strict=True):
        out |= {spec.name: text for spec, text in zip(group, rendered, strict=True)}
    return out


def _run(task) -> list[str]:
    function, argument = task
    return function(argument)


def latex_compiler() -> str | None:
    """Path of ``latexmk`` if it is installed."""
    return shutil.which("latexmk")


def compile_pdf(tex: Path, out_dir: Path, keep_log: bool = False) -> Path:
    """Compile ``tex`` with latexmk in a scratch folder; copy the PDF to ``out_dir``.

    With ``keep_log`` the LaTeX log is copied too (``<stem>.log``: overfull boxes, ...).

    Raises
    ------
    RuntimeError
        With the first LaTeX error line if compilation fails.
    """
    with tempfile.TemporaryDirectory() as build:
        proc = subprocess.run(
            [
                "latexmk",
                "-pdf",
                "-interaction=nonstopmode",
                "-halt-on-error",
                f"-outdir={build}",
                str(tex),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        pdf = Path(build) / (tex.stem + ".pdf")
        if proc.returncode != 0 or not pdf.exists():
            errors = [ln for ln in proc.stdout.splitlines() if ln.startswith("!")]
            raise RuntimeError(
                f"LaTeX failed on {tex}: {errors[0] if errors else 'see latexmk output'}"
            )
        target = out_dir / pdf.name
        shutil.copyfile(pdf, target)
        if keep_log:
            shutil.copyfile(Path(build) / (tex.stem + ".log"), out_dir / (tex.stem + ".log"))
        return target


def derivation_files(folder: Path, pdf: bool | None = None, families: bool = True) -> list[Path]:
    """Every derivation as .tex (and .pdf) in ``folder``; returns the files written.

    ``pdf``: True compiles (error if no compiler); False does not; None compiles when
    ``latexmk`` is installed.  ``families``: the conditional and hierarchical VAE's too.
    """
    compile_it = check_pdf(pdf)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for stem, text in render_all(families=families).items():
        tex = folder / f"{stem}.tex"
        tex.write_text(text, encoding="utf-8")
        written.append(tex)
    if compile_it:  # latexmk runs are independent processes: run them side by side
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            written += list(pool.map(lambda t: compile_pdf(t, folder), list(written)))
    return written


def check_pdf(pdf: bool | None) -> bool:
    """Whether to compile PDFs; ``--pdf`` without a compiler is bad input."""
    if pdf and latex_compiler() is None:
        raise InputError("--pdf: no LaTeX compiler (latexmk) found; install one or use --no-pdf")
    return latex_compiler() is not None if pdf is None else bool(pdf)


def derivation_names(pdf: bool, families: bool = True) -> list[str]:
    """The files :func:`derivation_files` writes."""
    stems = [m.name for m in all_models()] + (list(FAMILY_DOCUMENTS) if families else [])
    return [f"{stem}.{ext}" for stem in stems for ext in ("tex", "pdf")[: 1 + pdf]]


def write_derivations(out: Path, pdf: bool | None = None) -> list[Path]:
    """:func:`derivation_files` into ``out``, all or nothing; returns the written paths."""
    names = derivation_names(check_pdf(pdf))
    folder = OutputFolder(out).check(names)  # before the (slow) derivations
    with folder.staged() as scratch:
        derivation_files(scratch, pdf)
    return folder.published
