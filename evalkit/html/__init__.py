"""Static HTML pages of runs and of the leaderboard: one self-contained file each, opened from disk."""

from evalkit.html.report import REPORT_HTML, report_html_path, write_run_report

__all__ = ["REPORT_HTML", "report_html_path", "write_run_report"]
