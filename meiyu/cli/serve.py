"""`meiyu serve`: the web dashboard on the configured database (FastAPI on Uvicorn)."""

from __future__ import annotations

import datetime as dt
import errno
import socket
from typing import Annotated

import typer

from kernel.errors import MeiyuError, UserError
from meiyu.cli import _common
from meiyu.cli._common import _sessions, app, state


def _listen(host: str, port: int) -> socket.socket:
    """The bound socket, or one line: a taken port is the usual reason `serve` cannot start."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    except socket.gaierror as exc:
        raise UserError(f"--host: cannot resolve {host!r}: {exc.strerror}") from None
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise MeiyuError(
                f"port {port} on {host} is in use (another meiyu serve?); choose one with --port"
            ) from None
        raise MeiyuError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(128)
    return sock


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", "-p", min=1, max=65535, help="Port to listen on.")
    ] = 8000,
    session_hours: Annotated[
        float,
        typer.Option("--session-hours", min=0.1, max=720, help="How long a login lasts."),
    ] = 8.0,
) -> None:
    """Serve the web dashboard (log in with an account made by `meiyu users add`)."""
    import uvicorn

    from web.app import WebSettings, create_app

    cfg = state.config()
    sock = _listen(host, port)  # first: a taken port fails before the database is touched
    try:
        _, sessions = _sessions(cfg)
        web = create_app(
            WebSettings(
                sessions=sessions,
                indicators=cfg.indicators,
                timezone=cfg.schedule.timezone,
                title=cfg.report.title,
                session_lifetime=dt.timedelta(hours=session_hours),
            )
        )
        shown = f"[{host}]" if ":" in host else host
        _common.err.print(
            f"meiyu dashboard on http://{shown}:{port}/ (Ctrl-C stops it)",
            markup=False,
            highlight=False,
        )
        # proxy_headers (uvicorn's default, trusted from 127.0.0.1): behind a local TLS proxy
        # the app sees https from X-Forwarded-Proto, and so marks its cookies Secure
        server = uvicorn.Server(uvicorn.Config(web, log_level="info", lifespan="off"))
        server.run(sockets=[sock])
    finally:
        sock.close()
