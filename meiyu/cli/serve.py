"""`meiyu serve`: the web dashboard on the configured database (FastAPI on Uvicorn)."""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from kernel.config import Config
from kernel.errors import MeiyuError, UserError
from meiyu.cli import _common
from meiyu.cli._common import _sessions, app, state

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from kernel.audit import AuditItem
    from kernel.config import ChannelConfig, Config
    from web.admin import ChannelHooks
    from web.audit import AuditHooks

# what a label stored from the dashboard names as its file (`meiyu audit import` names the file)
DASHBOARD_SOURCE = Path("dashboard")


def audit_hooks(cfg: Config) -> AuditHooks:
    """The audit page's pipelines functions: the sample of `meiyu audit sample` and each label
    stored through `meiyu audit import`'s own checks and writes (web/ may not import them)."""
    from kernel.audit import COLUMNS
    from nlp.identity import model_for
    from pipelines.audit import (
        AUDIT_MIN_ITEMS,
        audit_confusion,
        audit_report,
        current_model,
        import_rows,
        sample_month,
    )
    from pipelines.correction import ShareCorrector, load_confusion
    from web.audit import AuditHooks

    def store(sessions: sessionmaker[Session], item: AuditItem, human: str, annotator: str) -> None:
        row = {
            "document_id": str(item.document_id),
            "indicator": item.indicator,
            "model_id": item.model_id,
            "model_label": item.model_label,
            "human_label": human,
            "annotator": annotator,
        }
        import_rows(cfg, sessions, DASHBOARD_SOURCE, COLUMNS, [(2, row)])

    def shares(
        session: Session, key: str, counts: dict[str, int]
    ) -> tuple[float | None, float | None]:
        """The month's positive share corrected by each matrix the series could use."""
        ind = cfg.indicator(key)
        found = []
        for confusion in (
            load_confusion(model_for(ind)),
            audit_confusion(session, key, current_model(key, ind), cfg.tz),
        ):
            c = ShareCorrector(confusion, draws=200).correct(counts) if confusion else None
            found.append(c.share if c else None)
        return found[0], found[1]

    return AuditHooks(
        sample=lambda s, key, year, month, n, seed: sample_month(
            cfg, s, key, year, month, n, seed, include_audited=True
        ),
        store=store,
        report=lambda s, key: audit_report(cfg, s, key),
        min_items=AUDIT_MIN_ITEMS,
        shares=shares,
    )


TEST_MESSAGE = "这是 meiyu 的测试消息：预警通道可用，无需处理。\n（由管理员在仪表盘的通道页发送）"


def channel_hooks(cfg: Config) -> ChannelHooks:
    """The channels page's test message: a made-up alert (id 0, rule `test`, no items) sent
    through `meiyu alerts run`'s own send(), with this process's environment; not stored."""
    import os

    from pipelines.alerts.delivery import DeliveryError, send
    from storage.alerts import AlertRow
    from web.admin import ChannelHooks

    def send_test(channel: ChannelConfig) -> str | None:
        now = dt.datetime.now(cfg.tz)
        day = now.date().isoformat()
        key = next(iter(cfg.indicators))
        alert = AlertRow(0, "test", key, day, day, 0.0, 0.0, 1.0, TEST_MESSAGE, [], now, {})
        try:
            send(channel, alert, cfg, os.environ)
        except DeliveryError as exc:
            return str(exc)
        return None

    return ChannelHooks(send_test)


def _listen(host: str, port: int) -> socket.socket:
    """The bound socket, or one line: a taken port is the usual reason `serve` cannot start."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    except socket.gaierror as exc:
        raise UserError(f"--host: cannot resolve {host!r}: {exc.strerror}") from None
    # IPPROTO_TCP, not 0: asyncio turns Nagle off (TCP_NODELAY) only on sockets that say they
    # are TCP, and with Nagle on every answer on a keep-alive connection waited some 40 ms for
    # the client's delayed ACK between its headers and its body
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
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


SECRET_ENV = "MEIYU_WEB_SECRET"
# a recompute shows on the served pages within this many seconds (web/cache.py): asking the
# series' version once a second, not on each of hundreds of requests, costs no one anything
SERIES_RECHECK = 1.0


def secret_key() -> bytes | None:
    """The cookie-signing key from MEIYU_WEB_SECRET (at least 32 characters), so that logins
    outlive a restart and several server processes accept each other's cookies; None: a fresh
    key for this process."""
    import hashlib
    import os

    value = os.environ.get(SECRET_ENV)
    if value is None or value == "":
        return None
    if len(value) < 32:
        raise UserError(f"{SECRET_ENV}: expected at least 32 characters, got {len(value)}")
    return hashlib.sha256(value.encode("utf-8")).digest()


def _serve(
    cfg: Config,
    host: str,
    port: int,
    session_hours: float,
    ready: Callable[[str], None] | None = None,
    demo_note: str | None = None,
    workers: int = 1,
) -> None:
    """The dashboard on cfg's database until Ctrl-C; `ready(url)` once it listens;
    `demo_note` goes on the reports it builds (the demo's, as `meiyu demo` writes them);
    `workers` processes share the listening socket (one Python process uses one core)."""
    import secrets

    import uvicorn

    from web.app import WebSettings, create_app

    if workers > 1 and not hasattr(os, "fork"):
        raise UserError("--workers: more than one needs a system with fork (Linux, macOS)")
    key = secret_key()
    sock = _listen(host, port)  # first: a taken port fails before the database is touched
    try:
        engine, _ = _sessions(cfg)  # migrates once, before any worker starts
        engine.dispose()
        # one key for every worker, so each accepts the cookies the others signed
        shared = key or secrets.token_bytes(32)

        def server() -> uvicorn.Server:
            _, sessions = _sessions(cfg, upgrade=False)
            settings = WebSettings(
                sessions=sessions,
                indicators=cfg.indicators,
                timezone=cfg.schedule.timezone,
                title=cfg.report.title,
                session_lifetime=dt.timedelta(hours=session_hours),
                audit=audit_hooks(cfg),
                config=cfg,
                demo_note=demo_note,
                channels=channel_hooks(cfg),
                secret_key=shared,
                series_recheck=SERIES_RECHECK,
            )
            # proxy_headers (uvicorn's default, trusted from 127.0.0.1): behind a local TLS
            # proxy the app sees https from X-Forwarded-Proto, and so marks its cookies Secure
            config = uvicorn.Config(create_app(settings), log_level="info", lifespan="off")
            return uvicorn.Server(config)

        single = server() if workers == 1 else None
        shown = f"[{host}]" if ":" in host else host
        url = f"http://{shown}:{sock.getsockname()[1]}/"
        _common.err.print(
            f"meiyu dashboard on {url} (Ctrl-C stops it)"
            + (f", {workers} worker processes" if workers > 1 else "")
            + ("" if key else f"; logins end when it stops (set {SECRET_ENV} to keep them)"),
            markup=False,
            highlight=False,
        )
        if ready is not None:
            ready(url)
        if single is not None:
            single.run(sockets=[sock])
        else:
            _fork_workers(lambda: server().run(sockets=[sock]), workers)
    finally:
        sock.close()


def _fork_workers(run: Callable[[], None], workers: int) -> None:
    """`run` in `workers` forked processes until they stop; SIGINT and SIGTERM to this one are
    passed on to them. Each opens its own database connections after the fork."""
    import signal
    import traceback

    children: list[int] = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:  # the worker: never returns into the parent's code
            code = 0
            try:
                run()
            except KeyboardInterrupt:  # uvicorn passes Ctrl-C on once it has shut down
                pass
            except BaseException:
                traceback.print_exc()
                code = 1
            finally:
                os._exit(code)
        children.append(pid)

    def forward(signum: int, frame: object) -> None:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    before = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        codes = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children]
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)
    failed = [c for c in codes if c not in (0, -signal.SIGINT, -signal.SIGTERM)]
    if failed:
        raise MeiyuError(f"{len(failed)} of {workers} dashboard workers failed (exit {failed})")


HOST_OPTION = typer.Option("--host", help="Address to listen on.")
PORT_OPTION = typer.Option("--port", "-p", min=0, max=65535, help="Port to listen on (0: any).")
WORKERS_OPTION = typer.Option(
    "--workers",
    min=1,
    max=64,
    help="Server processes sharing the port (about one per core); each keeps its own login "
    "throttle, so a name may fail 5 times per worker in a minute.",
)


@app.command("serve")
def serve(
    host: Annotated[str, HOST_OPTION] = "127.0.0.1",
    port: Annotated[int, PORT_OPTION] = 8000,
    session_hours: Annotated[
        float,
        typer.Option("--session-hours", min=0.1, max=720, help="How long a login lasts."),
    ] = 8.0,
    workers: Annotated[int, WORKERS_OPTION] = 1,
) -> None:
    """Serve the web dashboard (log in with an account made by `meiyu users add`; set
    MEIYU_WEB_SECRET to keep logins across restarts)."""
    _serve(state.config(), host, port, session_hours, workers=workers)
