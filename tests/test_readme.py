"""The README shows real output: its examples are run and compared."""

from __future__ import annotations

import doctest
import re
import shlex
from pathlib import Path

import pytest

from numerics.app.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"


def _console_examples() -> list[tuple[str, str]]:
    """(command, expected output) for every `$ vae-collapse ...` in console blocks."""
    examples = []
    for block in re.findall(r"```console\n(.*?)```", README.read_text(), flags=re.S):
        for chunk in re.split(r"\n(?=\$ )", block.strip()):
            command, _, output = chunk.partition("\n")
            examples.append((command.removeprefix("$ "), output.strip()))
    return examples


@pytest.mark.parametrize("command, expected", _console_examples())
def test_console_example(command, expected, capsys):
    argv = shlex.split(command)
    assert argv[0] == "vae-collapse"
    main(argv[1:])
    out, err = capsys.readouterr()
    assert (out + err).strip() == expected


def test_python_examples():
    result = doctest.testfile(str(README), module_relative=False, verbose=False)
    assert result.attempted > 0 and result.failed == 0
