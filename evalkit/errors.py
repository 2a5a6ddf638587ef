"""Exceptions for configuration and input problems.

Failures of a single sample (a failed model call, an unparseable judge reply, a missing media file) are not
exceptions that escape: they are recorded on the sample's Prediction or Verdict. These classes are for
problems a user must fix before a run can make sense.
"""

from __future__ import annotations


class EvalkitError(Exception):
    """Base class of every error evalkit raises on purpose."""


class ConfigError(EvalkitError):
    """The configuration, command line or environment is wrong (unknown key, missing extra, bad value)."""


class DatasetError(EvalkitError):
    """A dataset record is invalid. Names the file, line and field so the user can fix the record."""

    def __init__(self, message: str, *, file: str = "", line: int = 0, field: str = "") -> None:
        self.file = file
        self.line = line
        self.field = field
        where = ":".join(str(x) for x in (file, line) if x)
        prefix = f"{where}: " if where else ""
        suffix = f" (field '{field}')" if field else ""
        super().__init__(f"{prefix}{message}{suffix}")
        self.reason = message


class ModelError(EvalkitError):
    """A model backend failed in a way that concerns every sample (server down, bad credentials)."""


def missing_extra(package: str, extra: str) -> ConfigError:
    """Return the one-line error for an optional dependency that is not installed."""
    return ConfigError(f"'{package}' is not installed: install the extra with  pip install -e '.[{extra}]'")
