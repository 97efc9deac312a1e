"""numerics.training._allocator: an opt-out, and nothing but a no-op where glibc is missing."""

from __future__ import annotations

import ctypes.util
import subprocess
import sys

import pytest

from numerics.training import _allocator as allocator


@pytest.fixture(autouse=True)
def fresh():
    allocator.keep_freed_memory.cache_clear()
    yield
    allocator.keep_freed_memory.cache_clear()


def test_opt_out_leaves_malloc_alone(monkeypatch):
    monkeypatch.setenv("VAE_COLLAPSE_MALLOC", "default")
    assert allocator.keep_freed_memory() is False


def test_without_a_c_library_it_does_nothing(monkeypatch):
    monkeypatch.delenv("VAE_COLLAPSE_MALLOC", raising=False)
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)
    assert allocator.keep_freed_memory() is False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt is glibc's")
def test_on_linux_the_thresholds_are_set_in_a_fresh_process():
    # A child process: the setting is permanent, so it is not made in the test runner.
    code = "from numerics.training._allocator import keep_freed_memory as k; print(k())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    libc = ctypes.util.find_library("c") or ""
    assert out.stdout.strip() == ("True" if "libc.so" in libc else "False")
