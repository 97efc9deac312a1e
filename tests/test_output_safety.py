"""Outputs are all or nothing, and the toolkit never loses a file it did not write.

Each promise of ``numerics/app/_output.py`` is tested on the commands that write:
files of the user's in the output folder are kept, a name the toolkit would have to
take from the user is refused before anything moves, an interrupted run leaves the
folder as it was (no empty folders either), and a run into the folder of an earlier
run replaces that run's files only.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from numerics.app import _report
from numerics.app._documents import derivation_names
from numerics.app._output import MANIFEST, OutputFolder
from numerics.app.cli import main


def tree(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` with its content (None for folders)."""
    return {
        str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None)
        for p in sorted(root.rglob("*"))
    }


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_map_keeps_the_users_files_and_replaces_its_own(tmp_path, capsys):
    out = tmp_path / "m"
    out.mkdir()
    (out / "mine.txt").write_text("my notes")
    assert run(capsys, "map", "--spectrum", "4,2,1", "--out", str(out))[0] == 0
    first = json.loads((out / "map.json").read_text())
    assert (out / "mine.txt").read_text() == "my notes"
    assert "map.json" in (out / MANIFEST).read_text().split()
    # A second run replaces the files the first one wrote (the manifest lists them).
    assert run(capsys, "map", "--spectrum", "4,2", "--out", str(out))[0] == 0
    assert json.loads((out / "map.json").read_text()) != first
    assert (out / "mine.txt").read_text() == "my notes"
    assert not [p for p in out.iterdir() if p.name.startswith(".vae-collapse-scratch")]


def test_a_users_file_with_a_toolkit_name_is_refused_before_the_work(tmp_path, capsys):
    out = tmp_path / "m"
    out.mkdir()
    (out / "map.json").write_text("the user's own map.json")
    before = tree(tmp_path)
    code, stdout, err = run(capsys, "map", "--spectrum", "4,2,1", "--out", str(out))
    assert code == 2 and stdout == "" and err.count("\n") == 1
    assert "map.json exists and was not written by vae-collapse" in err
    assert tree(tmp_path) == before


def test_export_posterior_never_replaces_a_users_file(tmp_path, capsys):
    """--export-posterior onto a file the toolkit did not write: refused before training,
    the file kept, and the remedy is another file name."""
    mine = tmp_path / "mine.npz"
    mine.write_bytes(b"the user's")
    code, out, err = run(capsys, "train", "--data", "digits", "--steps", "20",
                         "--export-posterior", "150", str(mine))  # fmt: skip
    assert code == 2 and out == ""
    assert "mine.npz exists and was not written by vae-collapse" in err
    assert "choose another file name" in err
    assert mine.read_bytes() == b"the user's"


def test_a_folder_where_a_file_goes_is_refused_and_nothing_moves(tmp_path, capsys):
    out = tmp_path / "m"
    (out / "map.json").mkdir(parents=True)
    (out / "map.json" / "inside.txt").write_text("keep")
    before = tree(tmp_path)
    code, _, err = run(capsys, "map", "--spectrum", "4,2,1", "--out", str(out))
    assert code == 2 and "is a folder where a file is written" in err
    assert tree(tmp_path) == before


def test_threshold_out_keeps_the_users_files_and_refuses_their_names(tmp_path, capsys):
    out = tmp_path / "t"
    out.mkdir()
    (out / "mine.txt").write_text("mine")
    argv = ["threshold", "--data", "synthetic:spiked:n=200,d=8", "--out", str(out)]
    assert run(capsys, *argv)[0] == 0
    assert (out / "mine.txt").read_text() == "mine" and (out / "finite_sample.png").is_file()
    assert run(capsys, *argv)[0] == 0  # its own files: replaced
    other = tmp_path / "u"
    other.mkdir()
    (other / "thresholds.json").write_text("{}")
    before = tree(other)
    code, _, err = run(capsys, *argv[:-1], str(other))
    assert code == 2 and "thresholds.json" in err and tree(other) == before


def test_train_refuses_a_folder_named_train_json(tmp_path, capsys):
    out = tmp_path / "t"
    (out / "train.json").mkdir(parents=True)
    before = tree(tmp_path)
    code, _, err = run(capsys, "train", "--data", "digits", "--out", str(out), "--steps", "5")
    assert code == 2 and "train.json" in err
    assert tree(tmp_path) == before


def test_an_interrupted_map_leaves_nothing_behind(tmp_path, capsys, monkeypatch):
    from numerics.app import _writers

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # as if Ctrl-C came while the figures were drawn

    monkeypatch.setattr(_writers, "plot_staircase", interrupted)
    for out in (tmp_path / "new" / "deeper", tmp_path / "existing"):
        if out.name == "existing":
            out.mkdir()
            (out / "mine.txt").write_text("keep")
        before = tree(tmp_path)
        code, _, err = run(capsys, "map", "--spectrum", "4,2,1", "--out", str(out))
        assert code == 130 and err == "vae-collapse: interrupted\n"
        assert tree(tmp_path) == before  # no scratch, no empty folder tree


def test_derive_keeps_the_users_notes(tmp_path, capsys):
    out = tmp_path / "d"
    out.mkdir()
    (out / "notes.tex").write_text("% mine")
    assert run(capsys, "derive", "--out", str(out), "--no-pdf")[0] == 0
    assert (out / "notes.tex").read_text() == "% mine"
    written = len(derivation_names(pdf=False))  # every document, and the user's notes
    assert sorted(p.suffix for p in out.iterdir() if p.name != MANIFEST) == [".tex"] * (written + 1)


def test_report_keeps_user_files_in_its_subfolders(tmp_path, monkeypatch):
    """The review's case: report/map/mine.txt and report/derivations/notes.tex survive.

    The computation is replaced by one that writes a few of the report's files, so
    that the test exercises make_report's folder handling in seconds.
    """

    def compute(data, source, out, pdf, progress, t0, follow_up):
        for name in ("map/map.json", "derivations/learnable-encoder-variance.tex"):
            (out / name).parent.mkdir(parents=True, exist_ok=True)
            (out / name).write_text("new")
        return None

    monkeypatch.setattr(_report, "compute_report", compute)
    monkeypatch.setattr(_report, "render_summary", lambda results: "# summary")
    monkeypatch.setattr(_report, "_follow_up", lambda: None)
    out = tmp_path / "report"
    (out / "map").mkdir(parents=True)
    (out / "derivations").mkdir()
    (out / "map" / "mine.txt").write_text("mine")
    (out / "derivations" / "notes.tex").write_text("notes")
    _report.make_report("digits", out, pdf=False, progress=False)
    assert (out / "map" / "mine.txt").read_text() == "mine"
    assert (out / "derivations" / "notes.tex").read_text() == "notes"
    assert (out / "summary.md").read_text() == "# summary"
    assert (out / "map" / "map.json").read_text() == "new"


def test_output_folder_refuses_a_path_under_a_file(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(ValueError, match="is not a folder"):
        OutputFolder(tmp_path / "f" / "sub").check()
    assert tree(tmp_path) == {"f": b"x"}


@pytest.mark.skipif(not hasattr(signal, "SIGINT"), reason="POSIX signals")
def test_ctrl_c_on_report_is_one_line_and_leaves_nothing(tmp_path):
    """Ctrl-C while the report (and its worker process) runs: one line, status 130."""
    out = tmp_path / "report"
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    proc = subprocess.Popen(
        [sys.executable, "-m", "numerics.app.cli", "report", "--out", str(out), "--no-pdf",
         "--no-progress"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not any(tmp_path.glob(".vae-collapse-scratch-*")) and time.monotonic() < deadline:
        time.sleep(0.05)  # wait until the work (and the worker) has started
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.strip().splitlines() == ["vae-collapse: interrupted"], err
    assert list(tmp_path.iterdir()) == []  # no report folder, no scratch
