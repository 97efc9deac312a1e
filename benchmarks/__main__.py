"""``python -m benchmarks [NAME ...] [-- options]``: run the named benchmarks (default: all).

Options after the names are passed to every benchmark's ``main`` (e.g. ``--quick``)::

    python -m benchmarks                  # all benchmarks, default sizes
    python -m benchmarks spectra --quick  # one benchmark, small data
"""

from __future__ import annotations

import importlib
import sys

from benchmarks import REGISTRY


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks named in ``argv`` (all when none is named); return the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    names = []
    while args and not args[0].startswith("-"):
        names.append(args.pop(0))
    if args and args[0] == "--":
        args.pop(0)
    if names == ["list"]:
        print("\n".join(REGISTRY))
        return 0
    unknown = [name for name in names if name not in REGISTRY]
    if unknown:
        print(
            f"benchmarks: unknown benchmark {unknown[0]!r}: expected one of {', '.join(REGISTRY)}",
            file=sys.stderr,
        )
        return 2
    status = 0
    for name in names or list(REGISTRY):
        module = importlib.import_module(REGISTRY[name])
        status = max(status, int(module.main(args) or 0))
    return status


if __name__ == "__main__":
    raise SystemExit(main())
