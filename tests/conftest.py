"""Fixtures shared by test modules: expensive runs made once per session."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def follow_up_run():
    """The follow-up's MLP protocol at full size (about 25 s), for the slow checks."""
    from numerics.training._protocols import follow_up_protocol

    return follow_up_protocol(quick=False, progress=False)
