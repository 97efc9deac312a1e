"""The disk cache of derived law expressions never stands in for the theory."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from numerics.core import _bridge as laws
from numerics.core._bridge import cache_dir, compiled_laws, law_expressions
from theory import linear_vae


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("VAE_COLLAPSE_CACHE", str(tmp_path))
    compiled_laws.cache_clear()
    yield tmp_path
    compiled_laws.cache_clear()


def _flat(expressions: dict) -> dict:
    out = {}
    for name, value in expressions.items():
        for key, expr in value.items() if isinstance(value, dict) else [(None, value)]:
            out[(name, key)] = expr
    return out


def test_a_cached_load_is_the_fresh_derivation_and_does_not_derive(cache, monkeypatch):
    spec = linear_vae("fixed")
    fresh = laws._derived_expressions(spec)
    first = law_expressions("fixed")  # derives and writes the file
    (written,) = cache.glob("laws-fixed-*.pickle")

    def no_derivation(variant):
        raise AssertionError("derived although a matching cache file exists")

    monkeypatch.setattr(laws, "_derived_expressions", no_derivation)
    loaded = law_expressions("fixed")
    assert _flat(loaded).keys() == _flat(fresh).keys() == _flat(first).keys()
    for key, expr in _flat(fresh).items():
        got = _flat(loaded)[key]
        assert sp.srepr(got) == sp.srepr(expr), key  # the same tree, not just equal
    # And what is compiled from the file evaluates as the fresh expression does.
    assert written.exists()
    args = (np.array([3.0, 5.0]), np.array([1.0, 2.0]), 1.3, 1.0, 0.8)
    cached_kl = compiled_laws("fixed").active["kl"]
    fresh_kl = laws._compile(fresh["active"]["kl"], spec.law_arguments)
    np.testing.assert_array_equal(cached_kl(*args), fresh_kl(*args))


def test_another_theory_source_misses_and_replaces_the_stale_file(cache, monkeypatch):
    law_expressions("learnable")
    (old,) = cache.glob("laws-learnable-*.pickle")
    calls = []
    derived = laws._derived_expressions

    def counting(variant):
        calls.append(variant)
        return derived(variant)

    monkeypatch.setattr(laws, "_derived_expressions", counting)
    monkeypatch.setattr(laws, "_source_key", lambda name: "an-edited-theory")
    law_expressions("learnable")
    assert calls == [linear_vae("learnable")]  # the old file did not match
    assert [p.name for p in cache.glob("laws-learnable-*.pickle")] == [
        "laws-learnable-encoder-variance-an-edited-theory.pickle"
    ]
    assert not old.exists()


def test_a_corrupt_cache_file_is_derived_again_and_rewritten(cache):
    law_expressions("learnable")
    (path,) = cache.glob("laws-learnable-*.pickle")
    path.write_bytes(b"not a pickle")
    expressions = law_expressions("learnable")
    assert "critical_sigma2" in expressions
    assert path.read_bytes() != b"not a pickle"


def test_an_unwritable_cache_is_ignored(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("VAE_COLLAPSE_CACHE", str(blocker / "cache"))  # cannot be created
    assert "critical_sigma2" in law_expressions("learnable")


def test_cache_location(monkeypatch, tmp_path):
    monkeypatch.setenv("VAE_COLLAPSE_CACHE", "off")
    assert cache_dir() is None
    monkeypatch.delenv("VAE_COLLAPSE_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_dir() == tmp_path / "vae-collapse"


def test_a_cached_document_is_the_rendered_derivation_and_is_not_derived_again(cache, monkeypatch):
    assert laws.derivation_document("learnable", derive_missing=False) is None  # empty cache
    first = laws.derivation_document("learnable")  # derives, renders and writes the file
    (written,) = cache.glob("document-learnable-*.pickle")
    assert first.lstrip().startswith("\\documentclass") and "learnable" in first.lower()

    def no_derivation(spec):
        raise AssertionError("derived although a matching cache file exists")

    monkeypatch.setattr(laws, "derive", no_derivation)
    assert laws.derivation_document("learnable") == first
    assert laws.derivation_document("learnable", derive_missing=False) == first
    # Another theory: the file does not match, so the document would be derived again.
    monkeypatch.setattr(laws, "_source_key", lambda name: "an-edited-theory")
    assert laws.derivation_document("learnable", derive_missing=False) is None
    assert written.exists()
