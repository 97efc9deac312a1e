"""The committed derivations/ are what the generator writes, and they compile."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from numerics.app._documents import (
    compile_pdf,
    derivation_names,
    latex_compiler,
    render_all,
    write_derivations,
)

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
        assert "NOT negative" not in text


needs_latex = pytest.mark.skipif(
    latex_compiler() is None and not os.environ.get("CI"),
    reason="no latexmk on this machine (CI installs it; there this test must run)",
)


@needs_latex
@pytest.mark.parametrize("stem", ["learnable-encoder-variance", "fixed-encoder-variance"])
def test_latex_compiles(stem, tmp_path):
    pdf = compile_pdf(ROOT / "derivations" / f"{stem}.tex", tmp_path)
    assert pdf.stat().st_size > 10_000
    assert pdf.read_bytes().startswith(b"%PDF")


def test_write_derivations_tex_only(tmp_path, rendered):
    paths = write_derivations(tmp_path / "out", pdf=False)
    assert sorted(p.name for p in paths) == sorted(f"{s}.tex" for s in rendered)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        [".vae-collapse-files", *(p.name for p in paths)]
    )  # no scratch files left behind; the manifest of what was written
