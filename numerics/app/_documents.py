"""Write the generated derivations (LaTeX, and PDF when a compiler is present)."""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import tempfile
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

from numerics.app._output import OutputFolder
from numerics.core._bridge import cached_document, derivation_document
from numerics.core._validation import InputError
from theory import LinearVAE, all_models

#: Documents beyond one per model of ``all_models()``: file stem -> (module, renderer), a
#: function of no argument returning the LaTeX source.  Named, not imported, so that a
#: worker process imports only the theory it renders.
EXTRA_DOCUMENTS = {
    "hierarchical-vae": ("theory.family_document", "render_hierarchical"),
    "conditional-vae": ("theory.family_document", "render_conditional"),
    "learnable-decoder-variance": ("theory.decoder_document", "render_decoder_variance"),
}


def _render_extra(stem: str) -> str:
    module, function = EXTRA_DOCUMENTS[stem]
    return getattr(importlib.import_module(module), function)()


def _render_group(items: tuple[LinearVAE | str, ...]) -> list[str]:
    """Documents rendered in one process: models that share a per-mode derivation (derived
    once), or one extra document (a file stem of :data:`EXTRA_DOCUMENTS`).  Each is kept
    in the disk cache (:func:`numerics.core._bridge.derivation_document`)."""
    return [
        cached_document(s, lambda s=s: _render_extra(s))
        if isinstance(s, str)
        else derivation_document(s)
        for s in items
    ]


def _stem(item: LinearVAE | str) -> str:
    return item if isinstance(item, str) else item.name


def _groups(models: tuple[LinearVAE, ...]) -> list[tuple[LinearVAE, ...]]:
    """Models grouped by their per-mode problem (the fixed isotropic and anisotropic share one)."""
    groups: dict[LinearVAE, list[LinearVAE]] = {}
    for m in models:
        groups.setdefault(m.mode_spec, []).append(m)
    return [tuple(g) for g in groups.values()]


def _cached_text(item: LinearVAE | str) -> str | None:
    if isinstance(item, str):
        return cached_document(item, None)
    return derivation_document(item, derive_missing=False)


def render_all(parallel: bool = True, extras: tuple[str, ...] | None = None) -> dict[str, str]:
    """LaTeX source of every model's derivation (``theory.all_models()``) and of the extra
    documents ``extras`` (default: all of :data:`EXTRA_DOCUMENTS`), keyed by file stem.

    Documents come from the disk cache when the theory has not changed since they were
    rendered.  The others are derived: models with different per-mode problems, and the
    extra documents, are independent, so with ``parallel`` each group is derived in its
    own process (at most one per core).
    """
    extras = tuple(EXTRA_DOCUMENTS) if extras is None else extras
    items: list[LinearVAE | str] = [*all_models(), *extras]
    texts = {_stem(item): _cached_text(item) for item in items}
    # The extra documents first: the hierarchical VAE's alone takes about 20 s.
    groups: list[tuple] = [(stem,) for stem in extras if texts[stem] is None]
    groups += [g for g in _groups(all_models()) if any(texts[m.name] is None for m in g)]
    workers = min(len(groups), os.cpu_count() or 1)
    if parallel and workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            rendered = list(pool.map(_render_group, groups))
    else:
        rendered = [_render_group(g) for g in groups]
    for group, documents in zip(groups, rendered, strict=True):
        texts.update({_stem(item): text for item, text in zip(group, documents, strict=True)})
    return texts


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


def derivation_files(
    folder: Path, pdf: bool | None = None, extras: tuple[str, ...] | None = None
) -> list[Path]:
    """Every derivation as .tex (and .pdf) in ``folder``; returns the files written.

    ``pdf``: True compiles (error if no compiler); False does not; None compiles when
    ``latexmk`` is installed.  ``extras``: the extra documents (default: all).
    """
    compile_it = check_pdf(pdf)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for stem, text in render_all(extras=extras).items():
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


def derivation_names(pdf: bool, extras: tuple[str, ...] | None = None) -> list[str]:
    """The files :func:`derivation_files` writes."""
    extras = tuple(EXTRA_DOCUMENTS) if extras is None else extras
    stems = [m.name for m in all_models()] + list(extras)
    return [f"{stem}.{ext}" for stem in stems for ext in ("tex", "pdf")[: 1 + pdf]]


def write_derivations(out: Path, pdf: bool | None = None) -> list[Path]:
    """:func:`derivation_files` into ``out``, all or nothing; returns the written paths."""
    names = derivation_names(check_pdf(pdf))
    folder = OutputFolder(out).check(names)  # before the (slow) derivations
    with folder.staged() as scratch:
        derivation_files(scratch, pdf)
    return folder.published
