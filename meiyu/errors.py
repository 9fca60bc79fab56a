"""Errors that reach the user as one line and an exit code, never as a traceback."""

from __future__ import annotations


class MeiyuError(Exception):
    """Base of every error the CLI turns into a one-line message."""

    exit_code = 1


class UserError(MeiyuError):
    """The user asked for something malformed (config, argument, date): exit 2."""

    exit_code = 2


class ConfigError(UserError):
    """The config file or a MEIYU_* variable is wrong."""


class DatabaseUnavailable(MeiyuError):
    """The database could not be reached; nothing was written."""


class CrawlFailed(MeiyuError):
    """Some feeds or pages could not be fetched or parsed; what was fetched is stored."""
