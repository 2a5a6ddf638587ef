"""Fixtures shared by the tests; the helpers they use live in support.py (importable by name)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest
from support import REPO, Dev, output_entries, start_dev


def checkout_status() -> set[str] | None:
    """Test-output-like entries of the checkout's status, ignored paths included; None outside a git checkout."""
    try:
        res = subprocess.run(
            ["git", "status", "--porcelain", "--ignored=matching", "--untracked-files=all"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if res.returncode != 0:  # not a git checkout (an sdist, a copied tree)
        return None
    return output_entries(res.stdout)


@pytest.fixture(scope="session", autouse=True)
def checkout_stays_clean() -> Iterator[None]:
    """Fail the session if its tests left new files (results, caches, logs) in the checkout."""
    before = checkout_status()
    yield
    after = checkout_status()
    if before is None or after is None:
        return
    new = sorted(after - before)
    assert not new, f"the tests wrote into the checkout {REPO} (write under tmp_path instead): {', '.join(new)}"


@pytest.fixture
def dev() -> Iterator[Dev]:
    server = start_dev()
    try:
        yield Dev(server)
    finally:
        server.stop()
