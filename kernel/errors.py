"""Errors that reach the user as one line and an exit code, never as a traceback."""

from __future__ import annotations

import re

# user:password@ in a URL (up to the last @ of the word: a raw @ in a password is hidden too)
_URL_PASSWORD = re.compile(r"(//[^/@\s:]*:)\S*@")


def redact(text: str) -> str:
    """`text` with the password of any URL in it replaced by ***: messages may quote a
    database or proxy URL the user gave, never its secret."""
    return _URL_PASSWORD.sub(r"\1***@", text)


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


class DatabaseFailed(MeiyuError):
    """A write failed (disk full, read-only file, I/O error); its unit of work was rolled
    back, the units committed before are kept."""


class CrawlFailed(MeiyuError):
    """Some feeds or pages could not be fetched or parsed; what was fetched is stored."""
