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


#: A bound certified from data (not from an exact spectrum) depends on the float64
#: eigenvectors the refinement starts from, which differ between BLAS builds in their
#: last bits; the digits it certifies do not.
_DATA_BOUND = re.compile(r"(critical sigma2 = (\S+)  \(certified error <= )([0-9.e+-]+)\)")


def _data_bounds(text: str) -> tuple[str, list[tuple[str, str]]]:
    """``text`` with each data-certified bound replaced by a mark, and (value, bound) pairs."""
    pairs = [(m.group(2), m.group(3)) for m in _DATA_BOUND.finditer(text)]
    return _DATA_BOUND.sub(r"\1<bound>)", text), pairs


@pytest.mark.parametrize("command, expected", _console_examples())
def test_console_example(command, expected, capsys):
    argv = shlex.split(command)
    assert argv[0] == "vae-collapse"
    main(argv[1:])
    out, err = capsys.readouterr()
    got, bounds = _data_bounds((out + err).strip())
    want, _ = _data_bounds(expected)
    assert got == want
    for value, bound in bounds:  # each bound still certifies every printed digit
        digits = len(value.replace(".", "").lstrip("0"))
        assert float(bound) <= 10.0 ** (1 - digits) * float(value)


def test_python_examples():
    result = doctest.testfile(str(README), module_relative=False, verbose=False)
    assert result.attempted > 0 and result.failed == 0
