"""The architecture the folder tree shows is the one the imports follow.

Layers, from the bottom: ``theory`` (derives) < ``numerics.core`` (the one bridge to
numbers, optimum, maps, validation) < ``numerics.data`` < ``numerics.spectra`` <
``numerics.training`` < ``numerics.app`` (command line, report, writers, figures).  A
module may import only from its own layer and the layers below it; ``sympy.lambdify``
is called in one module; no function is longer than 80 lines of code.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = [
    "theory",
    "numerics.core",
    "numerics.data",
    "numerics.spectra",
    "numerics.training",
    "numerics.app",
]
#: Longest function allowed, in lines of code (docstrings, comments and blank lines aside).
MAX_FUNCTION_LINES = 80


def _modules() -> list[tuple[str, Path]]:
    out = []
    for package in ("theory", "numerics"):
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            out.append((".".join(p for p in parts if p != "__init__"), path))
    return out


def _layer(module: str) -> int | None:
    """Index of the layer ``module`` belongs to (None: the top-level ``numerics`` API)."""
    matches = [
        i for i, name in enumerate(LAYERS) if module == name or module.startswith(name + ".")
    ]
    return max(matches) if matches else None


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import in the file, function-level imports included."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out += [(node.lineno, node.module)]
            out += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
    return out


@pytest.mark.parametrize("module, path", _modules(), ids=[m for m, _ in _modules()])
def test_imports_point_down_the_layers(module, path):
    own = _layer(module)
    if own is None:  # numerics/__init__.py re-exports the public API of every layer
        return
    for line, imported in _imports(path):
        if not imported.startswith(("theory", "numerics")):
            continue
        target = _layer(imported)
        assert target is not None and target <= own, (
            f"{path.relative_to(ROOT)}:{line} imports {imported} "
            f"({LAYERS[target] if target is not None else 'numerics'}) from {LAYERS[own]}"
        )


def test_one_module_turns_theory_into_callables():
    """``grep -rl lambdify numerics`` names one file: the bridge."""
    users = sorted(
        str(p.relative_to(ROOT)) for p in (ROOT / "numerics").rglob("*.py")
        if "lambdify" in p.read_text()
    )  # fmt: skip
    assert users == ["numerics/core/_bridge.py"]


def _code_lines(lines: list[str], node: ast.FunctionDef) -> int:
    """Lines of the body that hold code: the signature, docstring, comments and blanks aside."""
    body = node.body
    first = body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
        if isinstance(first.value.value, str) and len(body) > 1:  # the docstring
            body = body[1:]
    skip: set[int] = set()
    count = 0
    for i in range(body[0].lineno, node.end_lineno + 1):
        text = lines[i - 1].strip()
        if i not in skip and text and not text.startswith("#"):
            count += 1
    return count


def test_no_function_is_longer_than_80_lines():
    long = []
    for _, path in _modules():
        source = path.read_text()
        lines = source.splitlines()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = _code_lines(lines, node)
                if n > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({n} lines)")
    assert not long, "functions over 80 lines of code:\n" + "\n".join(long)


def test_the_function_length_rule_can_fail():
    """The counter counts code, not docstrings: a 81-line function is caught."""
    body = "\n".join(f"    x{i} = {i}" for i in range(81))
    source = f'def f():\n    """Doc.\n\n    More doc.\n    """\n{body}\n'
    node = ast.parse(source).body[0]
    assert _code_lines(source.splitlines(), node) == 81
