"""Results for notebooks: ``evalkit.results.load(work_dir)`` is every report row of a work dir as a DataFrame."""

from __future__ import annotations

from evalkit.leaderboard import load

__all__ = ["load"]
