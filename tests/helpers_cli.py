"""The `meiyu` command run in this process, for checks of arguments and config that need no
process of their own: no crawl (Scrapy's reactor runs once per process), no server, no signals.

`meiyu_in_process` takes what `tests.conftest.run_meiyu` takes and answers the same
`CompletedProcess` (returncode, stdout, stderr), at a fraction of a fresh interpreter's start.
It runs `meiyu.cli.main()`, so the one-line errors and exit codes are the real command's. For
the call, like the subprocess: the MEIYU_* variables of this process are removed and `env`
applied, the working folder is `cwd` (default the checkout), stdin is `input`, and the root
logger has only the handler the command's own `logging.basicConfig` gives it (on stderr). All
of it is put back afterwards. An exception other than SystemExit is not caught: where the
command would print a traceback, the test fails with it.

No conftest import: benches may import this module.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def _environment(env: dict[str, str] | None) -> Iterator[None]:
    saved = dict(os.environ)
    try:
        for key in [k for k in os.environ if k.startswith("MEIYU_")]:
            del os.environ[key]
        os.environ.update(env or {})
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextlib.contextmanager
def _bare_root_logger() -> Iterator[None]:
    """The root logger as a fresh process has it (no handlers, WARNING); restored after."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    root.handlers.clear()
    root.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for handler in root.handlers:
            if handler not in handlers:
                handler.close()
        root.handlers[:] = handlers
        root.setLevel(level)


def meiyu_in_process(
    *args: str,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """`meiyu ARGS` in this process; the answer of `run_meiyu` (see the module docstring)."""
    from meiyu import cli

    stdout, stderr = io.StringIO(), io.StringIO()
    old_cwd, old_argv, old_stdin = Path.cwd(), sys.argv, sys.stdin
    code: int
    with _environment(env), _bare_root_logger():
        try:
            os.chdir(cwd or REPO)
            sys.argv = ["meiyu", *args]
            sys.stdin = io.StringIO(input or "")
            with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
                try:
                    cli.main()
                    code = 0
                except SystemExit as done:  # what the interpreter makes of sys.exit(x)
                    if done.code is None or isinstance(done.code, int):
                        code = done.code or 0
                    else:
                        print(done.code, file=sys.stderr)
                        code = 1
        finally:
            os.chdir(old_cwd)
            sys.argv, sys.stdin = old_argv, old_stdin
    return subprocess.CompletedProcess(["meiyu", *args], code, stdout.getvalue(), stderr.getvalue())
