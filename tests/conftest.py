"""Fixtures shared by the tests; the helpers they use live in support.py (importable by name)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support import Dev, start_dev


@pytest.fixture
def dev() -> Iterator[Dev]:
    server = start_dev()
    try:
        yield Dev(server)
    finally:
        server.stop()
