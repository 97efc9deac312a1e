"""Data: the bundled digits, seeded synthetic generators and the user's files.

Every source becomes a :class:`Dataset`, the samples with a record of where they came
from; chunked stores (Zarr, ``.npy`` shards) give a lazy one whose samples are a Dask
array.  Layer above :mod:`numerics.core`.
"""

from numerics.data._chunked import is_chunked_source, load_chunked
from numerics.data._datasets import (
    Dataset,
    load_digits,
    load_file,
    parse_data_source,
    synthetic,
)
from numerics.data._synthetic import GENERATORS, random_rotation

__all__ = [
    "GENERATORS",
    "Dataset",
    "is_chunked_source",
    "load_chunked",
    "load_digits",
    "load_file",
    "parse_data_source",
    "random_rotation",
    "synthetic",
]
