"""Output folders written all or nothing, never losing a file the toolkit did not write.

Every command that writes files (``derive``, ``map --out``, ``train --out``, ``report``)
goes through :class:`OutputFolder`:

1. :meth:`OutputFolder.check` runs before any expensive work: the target is a folder
   (or can be created) and can be written to;
2. :meth:`OutputFolder.staged` gives a scratch folder *beside* the target files (on the
   same file system, so every move is an atomic rename); the command writes everything
   there;
3. only when everything was written, the files are moved into place.  Before moving
   anything, every target is checked: a name taken by a folder, by a file the toolkit
   did not write, or by anything under a path component that is not a folder, refuses
   the whole output (one :class:`InputError` line, nothing moved).  A file may be
   replaced only if this folder's manifest (``.vae-collapse-files``, written beside the
   outputs) lists it as written by an earlier run;
4. on any error or Ctrl-C the scratch folder - the toolkit's own - is removed, and the
   target is as it was.  Ctrl-C during the moves themselves is deferred until they are
   done, so an output is never half-published.

Nothing is ever deleted in the target: the toolkit only creates files and replaces its
own.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from numerics.core._validation import InputError

#: The manifest of the files the toolkit wrote into a folder (one relative path a line).
MANIFEST = ".vae-collapse-files"


def _finite(value: Any) -> Any:
    """``value`` with NaN (a quantity that is undefined, e.g. a standard error from two
    points) written as None; an infinity is a bug - the library refuses inputs whose
    results overflow - and raises."""
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            raise ArithmeticError(f"an infinite value reached the JSON output: {value}")
        return value
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def strict_json(value: Any) -> str:
    """Strict JSON (RFC 8259: no NaN or Infinity tokens) of ``value``; NaN becomes null."""
    return json.dumps(_finite(value), allow_nan=False)


def _files(root: Path) -> list[Path]:
    """Every file under ``root`` (relative paths, sorted), the manifest excluded."""
    return sorted(
        p.relative_to(root) for p in root.rglob("*") if p.is_file() and p.name != MANIFEST
    )


@contextlib.contextmanager
def _interrupts_deferred() -> Iterator[None]:
    """Hold back SIGINT (Ctrl-C) while the block runs; it is delivered right after."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(
        signal, "pthread_sigmask"
    ):
        yield
        return
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


class OutputFolder:
    """A folder of outputs, written all or nothing (module docstring).

    Parameters
    ----------
    path : Path
        The target folder.
    option : str
        How the user named it (``--out``), for error messages.
    remedy : str
        What a refusal of a taken name suggests (a single file's writer: another name).
    """

    def __init__(
        self, path: Path | str, option: str = "--out", remedy: str = "choose another folder"
    ) -> None:
        self.path = Path(path)
        self.option = option
        self.remedy = remedy

    def _error(self, what: str) -> InputError:
        return InputError(f"{self.option} {self.path}: {what}")

    def check(self, expected: list[str] | None = None) -> OutputFolder:
        """Refuse a target that cannot become a writable folder (before any work).

        ``expected``: relative paths the command will write, when known in advance;
        a name taken by something the toolkit would not replace is refused now, not
        after the work (:meth:`conflicts`).
        """
        self._check_folder()
        problems = self.conflicts([Path(f) for f in expected or []])
        if problems:
            raise self._error(f"{problems[0]}; nothing was written ({self.remedy})")
        return self

    def _nearest(self) -> Path:
        """The target itself if it exists, else its nearest existing ancestor."""
        where = self.path
        while not (where.exists() or where.is_symlink()) and where != where.parent:
            where = where.parent
        return where

    def _check_folder(self) -> Path:
        """Where the scratch folder goes: the target, or its nearest existing ancestor."""
        where = self._nearest()
        if where == self.path and not self.path.is_dir():
            raise self._error("exists and is not a folder: expected a folder")
        if not where.is_dir():
            raise self._error(f"cannot be created: {where} is not a folder")
        # The one reliable test of "can be written": write.  (os.access says yes for
        # root everywhere, /proc included.)
        try:
            probe = tempfile.mkdtemp(prefix=".vae-collapse-probe-", dir=where)
        except OSError as exc:
            raise self._error(f"cannot be written in {where}: {exc.strerror}") from None
        os.rmdir(probe)
        return where

    def written_before(self) -> set[str]:
        """Relative paths the manifest lists as the toolkit's own."""
        try:
            text = (self.path / MANIFEST).read_text(encoding="utf-8")
        except OSError:
            return set()
        return {line for line in text.splitlines() if line}

    def conflicts(self, files: list[Path]) -> list[str]:
        """Why each of ``files`` (relative) may not be written into the target."""
        ours = self.written_before()
        out = []
        for rel in files:
            target = self.path / rel
            for parent in list(rel.parents)[:-1][::-1]:  # every path component above it
                p = self.path / parent
                if (p.exists() or p.is_symlink()) and not p.is_dir():
                    out.append(f"{p} is not a folder")
                    break
            else:
                if target.is_dir() and not target.is_symlink():
                    out.append(f"{target} is a folder where a file is written")
                elif (target.exists() or target.is_symlink()) and rel.as_posix() not in ours:
                    out.append(f"{target} exists and was not written by vae-collapse")
        return out

    @contextlib.contextmanager
    def staged(self) -> Iterator[Path]:
        """A scratch folder to write into; published when the block ends without error."""
        where = self._check_folder()
        exists = where == self.path
        scratch = Path(tempfile.mkdtemp(prefix=".vae-collapse-scratch-", dir=where))
        try:
            yield scratch
            self.published = self._publish(scratch, exists)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)  # the toolkit's own scratch only

    def _publish(self, scratch: Path, exists: bool) -> list[Path]:
        files = _files(scratch)
        problems = self.conflicts(files)
        if problems:
            raise self._error(f"{problems[0]}; nothing was written ({self.remedy})")
        names = sorted({*self.written_before(), *(f.as_posix() for f in files)})
        (scratch / MANIFEST).write_text("".join(f"{n}\n" for n in names), encoding="utf-8")
        with _interrupts_deferred():
            if not exists:  # the whole folder at once: one atomic rename
                self.path.parent.mkdir(parents=True, exist_ok=True)
                os.replace(scratch, self.path)
                return [self.path / f for f in files]
            for rel in files:
                (self.path / rel).parent.mkdir(parents=True, exist_ok=True)
                os.replace(scratch / rel, self.path / rel)
            os.replace(scratch / MANIFEST, self.path / MANIFEST)
        return [self.path / f for f in files]
