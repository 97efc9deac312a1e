"""The committed derivations/ are what the generator writes, and they compile."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from numerics.app._documents import (
    EXTRA_DOCUMENTS,
    compile_pdf,
    derivation_names,
    latex_compiler,
    render_all,
    write_derivations,
)
from theory import all_models

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def rendered() -> dict[str, str]:
    return render_all()


def test_committed_tex_in_sync(rendered):
    committed = sorted(p.stem for p in (ROOT / "derivations").glob("*.tex"))
    assert committed == sorted(rendered), "derivations/ has other files than the generator"
    for stem, text in rendered.items():
        on_disk = (ROOT / "derivations" / f"{stem}.tex").read_text(encoding="utf-8")
        assert on_disk == text, f"derivations/{stem}.tex is stale: run `vae-collapse derive`"
    # The manifest says which files of derivations/ `derive` may replace: all it writes.
    manifest = (ROOT / "derivations" / ".vae-collapse-files").read_text().split()
    assert manifest == sorted(derivation_names(pdf=True))


def test_rendering_is_deterministic(rendered):
    """A second rendering in this process (serial, cached derivations) is byte-identical."""
    assert render_all(parallel=False) == rendered


def test_documents_state_every_check_passed(rendered):
    for text in rendered.values():
        assert "DIFFERENT" not in text and "NOT CONFIRMED" not in text
        assert "NOT DERIVED" not in text and "undecided" not in text


def test_one_document_per_model(rendered):
    assert sorted(rendered) == sorted([m.name for m in all_models()] + list(EXTRA_DOCUMENTS))
    assert {"learnable-encoder-variance", "fixed-isotropic-encoder-variance",
            "fixed-anisotropic-encoder-variance"} <= set(rendered)  # fmt: skip


@pytest.mark.parametrize(
    "flaw",
    [
        r"[Aa]t the boundary[^.]*at the boundary",  # a doubled phrase in one sentence
        r"It exists never",
        r"\\lambda_\{max\}",  # an italic max
        r"\\partial\^\{1\}",
        r"s_j\^2=\\eta\^\{2\}\$ fixed",  # the old fixed model's wording
        r"cascade at",  # the old fixed document's learnable threshold
        # the active point listed where it is the collapsed one:
        r"^active & \$\\lambda = \\lambda_\{c\}\$",
        r"\\left\|\{\\zeta",  # log det of a fixed covariance: terms that cancel
    ],
)
def test_known_flaws_are_gone(rendered, flaw):
    for name, text in rendered.items():
        assert not re.search(flaw, text, flags=re.M), (name, flaw)


def test_landau_remainder_is_even_and_divergences_are_not_jumps(rendered):
    for text in (rendered[m.name] for m in all_models()):  # the VAE's per-mode documents
        orders = [int(n) for n in re.findall(r"O\(w\^\{(\d+)\}\)", text)]
        assert orders and all(n % 2 == 0 for n in orders)  # F(w) = F(-w)
        for row in text.splitlines():
            if "\\infty" in row and row.endswith("\\\\"):
                assert "diverges" in row, row


def test_fixed_documents_state_their_own_threshold(rendered):
    """The fixed models' thresholds involve zeta^2 (not the learnable model's lambda/beta)."""
    for name in ("fixed-isotropic-encoder-variance", "fixed-anisotropic-encoder-variance"):
        assert (
            "\\zeta" in rendered[name].split("\\section{Result}")[1].split("\\paragraph{Proof")[0]
        )


needs_latex = pytest.mark.skipif(
    latex_compiler() is None and not os.environ.get("CI"),
    reason="no latexmk on this machine (CI installs it; there this test must run)",
)


@needs_latex
@pytest.mark.parametrize("stem", [m.name for m in all_models()] + list(EXTRA_DOCUMENTS))
def test_latex_compiles_without_overfull_boxes(stem, tmp_path):
    pdf = compile_pdf(ROOT / "derivations" / f"{stem}.tex", tmp_path, keep_log=True)
    assert pdf.stat().st_size > 10_000
    assert pdf.read_bytes().startswith(b"%PDF")
    log = (tmp_path / f"{stem}.log").read_text(errors="replace")
    assert "Overfull" not in log, [ln for ln in log.splitlines() if "Overfull" in ln]


def test_write_derivations_tex_only(tmp_path, rendered):
    paths = write_derivations(tmp_path / "out", pdf=False)
    assert sorted(p.name for p in paths) == sorted(f"{s}.tex" for s in rendered)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        [".vae-collapse-files", *(p.name for p in paths)]
    )  # no scratch files left behind; the manifest of what was written
