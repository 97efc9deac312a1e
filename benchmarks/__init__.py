"""Benchmarks, run with ``python -m benchmarks [NAME ...] [options]``.

Each benchmark is a module of this package with a ``main(argv)`` function; register it in
:data:`REGISTRY` (name -> module path) to make ``python -m benchmarks NAME`` find it.
"""

#: Benchmark name -> module whose ``main(argv: list[str] | None) -> int`` runs it.
REGISTRY = {
    "spectra": "benchmarks.spectra",
    "sweep": "benchmarks.sweep",
    "sweep-dask": "benchmarks.sweep_dask",
}
