"""Fixtures for the video providers: a running VDX double."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from .vdx_double import VdxDouble

VDX_TOKEN = "test-token-0123456789"


@pytest.fixture
def vdx_double() -> Iterator[VdxDouble]:
    """A fresh VDX API on 127.0.0.1 that accepts the bearer token VDX_TOKEN; stopped after the test."""
    with VdxDouble(token=VDX_TOKEN) as double:
        yield double
