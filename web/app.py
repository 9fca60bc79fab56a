"""The dashboard's FastAPI app: server-rendered pages (Jinja2, autoescaped, Chinese) and the
JSON API under /api/v1/, both behind the same accounts and roles.

A page or API route asks for a role through `Depends(page(...))` / `Depends(api(...))`: the
check runs on the server for every request. Pages answer a missing login with a redirect to
/login and a role too low with 403; the API answers 401 and 403. Browsers log in with a form
(CSRF-checked, throttled) that starts a server-side session; scripts send an API token as
`Authorization: Bearer`.
"""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations at run time,
# and they name dependencies made inside create_app.
import dataclasses
import datetime as dt
import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import Depends, FastAPI, Form, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
)
from jinja2 import Environment, PackageLoader, select_autoescape
from pydantic import BaseModel
from sqlalchemy.orm import Session, sessionmaker
from starlette.responses import Response

from kernel.config import Config, IndicatorConfig
from kernel.errors import UserError
from kernel.roles import Role
from reports.pdf import font_paths
from reports.series import columns, series_rows, to_csv
from storage.alerts import list_alerts
from storage.db import transaction
from storage.users import (
    UserRow,
    active_token_counts,
    list_users,
    rehash_password,
    token_by_hash,
    touch_token,
    user_by_name,
)
from storage.web_sessions import (
    WebSessionRow,
    add_web_session,
    delete_expired_sessions,
    end_web_session,
    live_web_session,
)
from web import admin as admin_pages
from web import alerts as alert_pages
from web import audit as audit_page
from web import exports as export_pages
from web import indicator as indicator_pages
from web import items as item_pages
from web import reports as report_pages
from web import weekly as weekly_page
from web.accounts import (
    MAX_PASSWORD_LENGTH,
    allows,
    bearer_token,
    check_name,
    hash_password,
    needs_rehash,
    token_hash,
    verify_password,
)
from web.cache import SeriesCache
from web.kit import PageKit
from web.overview import chart_data, figure_text, latest_values, trends
from web.security import (
    LOGIN_COOKIE,
    SECURITY_HEADERS,
    SESSION_COOKIE,
    LoginThrottle,
    Signer,
    new_secret,
    same,
    secret_hash,
)

log = logging.getLogger("meiyu.web")

PeriodType = Literal["day", "week", "month", "quarter", "year"]
LOGIN_FORM_SECONDS = 3600
TOKEN_TOUCH_EVERY = dt.timedelta(minutes=1)
STATIC = Path(__file__).with_name("static")
# a static file's name: letters, digits, dots, dashes; no slash, so nothing outside its folder
STATIC_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,80}\.(css|js|svg)$"
STATIC_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}


def _static(path: Path) -> Response:
    if not path.is_file():
        raise HTTPException(404, "no such file")
    return FileResponse(
        path, media_type=STATIC_TYPES[path.suffix], headers={"Cache-Control": "no-cache"}
    )


@dataclass(frozen=True)
class WebSettings:
    """Everything the app needs, as plain values (the CLI builds it from the config)."""

    sessions: sessionmaker[Session]
    indicators: Mapping[str, IndicatorConfig]
    timezone: str = "Asia/Shanghai"
    title: str = "美誉 · 媒体美誉度"
    session_lifetime: dt.timedelta = dt.timedelta(hours=8)
    # signs the cookies; a fresh key per process means a restart logs everyone out
    secret_key: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    login_limit: int = 5
    login_window_seconds: float = 60.0
    # the audit page's pipelines functions (web/ may not import pipelines); None: page off
    audit: audit_page.AuditHooks | None = None
    # the whole config, for the pages that render reports and exports (None: they are off)
    config: Config | None = None
    # printed on every report the dashboard builds (meiyu demo's note on its made-up corpus)
    demo_note: str | None = None
    # the channels page's test message (pipelines' sending); None: no test button
    channels: admin_pages.ChannelHooks | None = None
    # how long (s) the pages may show the series as they were before a recompute wrote them:
    # the cache of web/cache.py asks the series' version at most this often (0: every request)
    series_recheck: float = 0.0


@dataclass(frozen=True)
class Visitor:
    """Who a request comes from: the account, and its browser session (None for a token)."""

    user: UserRow
    web_session: WebSessionRow | None = None


class _LoginRequired(Exception):
    """A page asked without a (live) login: answered with a redirect to /login."""


class _PageError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


class IndicatorOut(BaseModel):
    """An indicator's latest stored period (the numbers of `meiyu series`)."""

    indicator: str
    name: str
    kind: str
    definition: str
    period_type: str
    periods: int
    period: str | None
    value: float | None
    interval: tuple[float | None, float | None] | None
    n_items: int | None
    n_stories: int | None
    definition_version: str | None


class UserOut(BaseModel):
    """An account as an admin sees it: never its password hash or its tokens."""

    name: str
    role: str
    created_at: dt.datetime
    password_changed_at: dt.datetime
    active_tokens: int


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("web", "templates"),
        autoescape=select_autoescape(["html", "j2"], default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["figure"] = lambda x: figure_text(x.value, x.interval, x.kind)
    return env


def _schema_text(schema: dict[str, Any]) -> str:
    """A parameter's OpenAPI schema in a few words: its type, choices and length limit."""
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return " | ".join(_schema_text(x) for x in schema[key])
    text = str(schema.get("type", ""))
    if "enum" in schema:
        text += " (" + ", ".join(str(x) for x in schema["enum"]) + ")"
    if "maxLength" in schema:
        text += f", ≤ {schema['maxLength']}"
    if "default" in schema:
        text += f", 默认 {schema['default']}"
    return text


def create_app(settings: WebSettings) -> FastAPI:
    """The dashboard on `settings.sessions`' database (migrated already: the CLI does it)."""
    signer = Signer(settings.secret_key)
    throttle = LoginThrottle(settings.login_limit, settings.login_window_seconds)
    templates = _environment()
    tz = ZoneInfo(settings.timezone)
    app = FastAPI(
        title="meiyu dashboard API",
        version="1",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,  # served below, behind a login like every other route
    )

    def local(t: dt.datetime) -> str:
        return t.astimezone(tz).strftime("%Y-%m-%d %H:%M")

    def local_text(value: object) -> str:
        """A stored ISO time (an alert item's or a delivery's, kept as text) on the pages'
        clock; anything else as it is."""
        try:
            t = dt.datetime.fromisoformat(str(value))
        except ValueError:
            return str(value or "")
        return local(t if t.tzinfo else t.replace(tzinfo=dt.UTC))

    templates.filters["local"] = local
    templates.filters["local_text"] = local_text

    def render(
        request: Request, name: str, status: int = 200, visitor: Visitor | None = None, **ctx: Any
    ) -> HTMLResponse:
        html = templates.get_template(name).render(
            title=settings.title,
            visitor=visitor,
            csrf=visitor.web_session.csrf_token if visitor and visitor.web_session else None,
            is_admin=bool(visitor and allows(visitor.user.role, "admin")),
            is_analyst=bool(visitor and allows(visitor.user.role, "analyst")),
            **ctx,
        )
        return HTMLResponse(html, status_code=status)

    def https(request: Request) -> bool:
        # uvicorn's proxy headers give X-Forwarded-Proto's scheme from a trusted proxy
        return request.url.scheme == "https"

    def address(request: Request) -> str:
        return request.client.host if request.client else "unknown"

    # ------------------------------------------------------------ who is asking

    def authenticate(request: Request) -> Visitor | None:
        header = request.headers.get("authorization")
        if header is not None:  # a token was meant: no falling back to the cookie
            token = bearer_token(header)
            if token is None:
                return None
            with transaction(settings.sessions) as s:
                found = token_by_hash(s, token_hash(token))
                if found is None:
                    return None
                # "last used" to the minute: a write per request would cost a script's every
                # call a commit, for a date no one reads closer than that
                used = found[0].last_used_at
                now = dt.datetime.now(dt.UTC)
                if used is None or now - used >= TOKEN_TOUCH_EVERY:
                    touch_token(s, found[0].id, now)
            return Visitor(found[1])
        secret = signer.unsign("session", request.cookies.get(SESSION_COOKIE))
        if secret is None:
            return None
        with settings.sessions() as s:
            live = live_web_session(s, secret_hash(secret))
        return Visitor(live[1], live[0]) if live else None

    def page(needed: Role) -> Callable[[Request], Visitor]:
        def dependency(request: Request) -> Visitor:
            visitor = authenticate(request)
            if visitor is None:
                raise _LoginRequired
            if not allows(visitor.user.role, needed):
                raise _PageError(403, f"此页面需要 {needed} 权限，当前账户为 {visitor.user.role}。")
            return visitor

        return dependency

    def api(needed: Role) -> Callable[[Request], Visitor]:
        def dependency(request: Request) -> Visitor:
            visitor = authenticate(request)
            if visitor is None:
                raise HTTPException(
                    401, "login or an API token needed", headers={"WWW-Authenticate": "Bearer"}
                )
            if not allows(visitor.user.role, needed):
                raise HTTPException(403, f"needs the {needed} role")
            return visitor

        return dependency

    @app.exception_handler(_LoginRequired)
    def _to_login(request: Request, exc: _LoginRequired) -> Response:
        response = RedirectResponse("/login", status_code=303)
        if SESSION_COOKIE in request.cookies:  # expired, logged out or forged: forget it
            response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @app.exception_handler(RequestValidationError)
    async def _bad_parameters(request: Request, exc: RequestValidationError) -> Response:
        """A page's bad query or form field (wrong type, too long, not a choice) as the Chinese
        error page, naming the fields; the API keeps FastAPI's JSON list of errors."""
        if request.url.path.startswith("/api/"):
            return await request_validation_exception_handler(request, exc)
        names = sorted({str(e["loc"][-1]) for e in exc.errors() if e.get("loc")})
        return render(
            request,
            "error.html.j2",
            422,
            message=f"参数不正确：{'、'.join(names) or '请求'}。请检查链接或表单中的取值后再试。",
        )

    @app.exception_handler(_PageError)
    def _page_error(request: Request, exc: _PageError) -> Response:
        return render(request, "error.html.j2", exc.status, message=exc.message)

    @app.middleware("http")
    async def _headers(request: Request, call_next: Callable[[Request], Any]) -> Response:
        response: Response = await call_next(request)
        for key, value in SECURITY_HEADERS.items():
            response.headers.setdefault(key, value)
        return response

    def cookie(response: Response, request: Request, name: str, value: str, **kw: Any) -> None:
        response.set_cookie(name, value, httponly=True, samesite="lax", secure=https(request), **kw)

    # ------------------------------------------------------------ login and logout

    def login_form(
        request: Request, status: int = 200, error: str | None = None, headers: Any = None
    ) -> HTMLResponse:
        nonce = signer.unsign("login", request.cookies.get(LOGIN_COOKIE))
        fresh = nonce is None
        nonce = nonce or new_secret()
        response = render(
            request, "login.html.j2", status, form_token=signer.form_token(nonce), error=error
        )
        if headers:
            response.headers.update(headers)
        if fresh:
            cookie(
                response,
                request,
                LOGIN_COOKIE,
                signer.sign("login", nonce),
                max_age=LOGIN_FORM_SECONDS,
                path="/login",
            )
        return response

    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_page(request: Request) -> Response:
        if authenticate(request) is not None:
            return RedirectResponse("/", status_code=303)
        return login_form(request)

    @app.post("/login", include_in_schema=False)
    def login(
        request: Request,
        name: Annotated[str, Form()] = "",
        password: Annotated[str, Form()] = "",
        csrf: Annotated[str, Form()] = "",
    ) -> Response:
        nonce = signer.unsign("login", request.cookies.get(LOGIN_COOKIE))
        if nonce is None or not same(csrf, signer.form_token(nonce)):
            return render(request, "error.html.j2", 403, message="表单已失效，请重新打开登录页。")
        client = address(request)
        wait = throttle.retry_after(name, client)
        if wait is not None:
            log.warning("login refused from %s: too many failures, retry after %d s", client, wait)
            return login_form(
                request,
                429,
                error=f"登录失败次数过多，请 {wait} 秒后再试。",
                headers={"Retry-After": str(wait)},
            )
        user: UserRow | None = None
        try:
            check_name(name)
            with settings.sessions() as s:
                user = user_by_name(s, name)
        except UserError:
            pass
        ok = len(password) <= MAX_PASSWORD_LENGTH and verify_password(
            user.password_hash if user else None, password
        )
        if not ok or user is None:
            throttle.failed(name, client)
            if user is None:
                log.info("login failed from %s: unknown name", client)
            else:
                log.info("login failed from %s: wrong password for %r", client, user.name)
            return login_form(request, 401, error="账户名或密码不正确。")
        throttle.succeeded(name)
        secret = new_secret()
        with transaction(settings.sessions) as s:
            if needs_rehash(user.password_hash):
                rehash_password(s, user.id, hash_password(password))
            delete_expired_sessions(s)
            add_web_session(
                s, secret_hash(secret), user.id, new_secret(), settings.session_lifetime
            )
        log.info("login of %r from %s", user.name, client)
        response = RedirectResponse("/", status_code=303)
        cookie(
            response,
            request,
            SESSION_COOKIE,
            signer.sign("session", secret),
            max_age=int(settings.session_lifetime.total_seconds()),
            path="/",
        )
        response.delete_cookie(LOGIN_COOKIE, path="/login")
        return response

    @app.post("/logout", include_in_schema=False)
    def logout(
        request: Request,
        visitor: Annotated[Visitor, Depends(page("viewer"))],
        csrf: Annotated[str, Form()] = "",
    ) -> Response:
        ws = visitor.web_session
        if ws is None or not same(csrf, ws.csrf_token):
            raise _PageError(403, "表单已失效，请刷新页面后再试。")
        with transaction(settings.sessions) as s:
            end_web_session(s, ws.id)
        log.info("logout of %r", visitor.user.name)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    # ------------------------------------------------------------ pages

    kit = PageKit(
        sessions=settings.sessions,
        indicators=settings.indicators,
        timezone=settings.timezone,
        render=render,
        page=page,
        api=api,
        page_error=_PageError,
        config=settings.config,
        cache=SeriesCache(recheck=settings.series_recheck),
    )

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def overview(
        request: Request, visitor: Annotated[Visitor, Depends(page("viewer"))]
    ) -> Response:
        def compute(s: Session) -> tuple[list[Any], list[Any], list[Any]]:
            latest = latest_values(s, settings.indicators)
            trend = trends(s, settings.indicators)
            newest = max((x.period for x in latest if x.period), default=None)
            # the alerts of the newest stored month: what happened this month
            month = dt.date.fromisoformat(newest + "-01") if newest else None
            alerts = alert_pages.newest_first(list_alerts(s, month), None, 20) if month else []
            return list(zip(latest, trend, strict=True)), [chart_data(t) for t in trend], alerts

        with settings.sessions() as s:
            rows, charts, alerts = kit.cache.get(s, ("overview",), lambda: compute(s))
        return render(
            request,
            "overview.html.j2",
            visitor=visitor,
            rows=rows,
            charts=charts,
            alerts=alerts,
            rule_names=alert_pages.RULE_NAMES,
            tz=settings.timezone,
        )

    @app.get("/api/v1/docs", response_class=HTMLResponse, include_in_schema=False)
    def api_docs(
        request: Request, visitor: Annotated[Visitor, Depends(page("viewer"))]
    ) -> Response:
        """The API's operations as FastAPI's OpenAPI describes them, rendered here: Swagger UI
        needs inline script and a CDN, which the CSP (and an offline server) rule out."""
        spec = app.openapi()
        operations = [
            {
                "method": method.upper(),
                "path": path,
                "summary": op.get("summary", ""),
                "description": op.get("description", ""),
                "parameters": [
                    {
                        "name": prm["name"],
                        "in": prm["in"],
                        "required": prm.get("required", False),
                        "schema": _schema_text(prm.get("schema", {})),
                    }
                    for prm in op.get("parameters", [])
                ],
            }
            for path, methods in spec.get("paths", {}).items()
            for method, op in methods.items()
        ]
        return render(request, "api.html.j2", visitor=visitor, operations=operations)

    @app.get("/static/{name}", include_in_schema=False)
    def static_file(name: Annotated[str, PathParam(pattern=STATIC_NAME)]) -> Response:
        """The pages' own CSS, scripts and icon (web/static/): one plain file name, no folders."""
        return _static(STATIC / name)

    @app.get("/static/vendor/{name}", include_in_schema=False)
    def vendor_file(name: Annotated[str, PathParam(pattern=STATIC_NAME)]) -> Response:
        """Apache ECharts as `make setup` copied it from the npm registry (web/package.json)."""
        return _static(STATIC / "vendor" / name)

    @app.get("/static/fonts/{weight}.otf", include_in_schema=False)
    def font(weight: Literal["normal", "bold"]) -> Response:
        """The packaged Noto Sans CJK (reports.pdf.font_paths): not account data, so a browser
        keeps it (16 MB) instead of the pages' no-store."""
        return FileResponse(
            font_paths()[weight],
            media_type="font/otf",
            headers={"Cache-Control": "public, max-age=604800, immutable"},
        )

    item_pages.register(app, kit)
    audit_page.register(app, kit, settings.audit)
    alert_pages.register(app, kit)
    export_pages.register(app, kit)
    weekly_page.register(app, kit)
    report_pages.register(app, kit, settings.demo_note)
    admin_pages.register(app, kit, settings.channels)

    # ------------------------------------------------------------ JSON API

    @app.get("/api/v1/indicators", response_model=list[IndicatorOut], tags=["indicators"])
    def indicators(
        visitor: Annotated[Visitor, Depends(api("viewer"))],
        period_type: PeriodType = "month",
        indicator: Annotated[str | None, Query(max_length=40)] = None,
    ) -> list[IndicatorOut]:
        """Each indicator's latest stored period: the overview page's numbers (viewer)."""
        with settings.sessions() as s:
            latest = kit.cache.get(
                s,
                ("latest", period_type, indicator),
                lambda: latest_values(s, settings.indicators, period_type, only=indicator),
            )
        return [IndicatorOut(**dataclasses.asdict(x)) for x in latest]

    @app.get(
        "/api/v1/series/{indicator}.csv",
        response_class=PlainTextResponse,
        tags=["exports"],
        responses={200: {"content": {"text/csv": {}}}},
    )
    def series_csv(
        visitor: Annotated[Visitor, Depends(api("analyst"))],
        indicator: Annotated[str, PathParam(max_length=40)],
        period_type: PeriodType = "month",
    ) -> Response:
        """One indicator's stored series as the CSV of `meiyu series --format csv` (analyst)."""
        ind = settings.indicators.get(indicator)
        if ind is None:
            raise HTTPException(404, "no such indicator in the config")
        with settings.sessions() as s:
            rows = series_rows(s, indicator, ind, period_type)
        return Response(
            to_csv(rows, columns(ind)),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="{indicator}-{period_type}.csv"'
            },
        )

    @app.get("/api/v1/users", response_model=list[UserOut], tags=["accounts"])
    def users_api(visitor: Annotated[Visitor, Depends(api("admin"))]) -> list[UserOut]:
        """The accounts, their roles and active token counts, never a hash (admin)."""
        with settings.sessions() as s:
            users, tokens = list_users(s), active_token_counts(s)
        return [
            UserOut(
                name=u.name,
                role=u.role,
                created_at=u.created_at,
                password_changed_at=u.password_changed_at,
                active_tokens=tokens.get(u.id, 0),
            )
            for u in users
        ]

    # after /api/v1/series/{indicator}.csv: its {indicator} would take "a29.csv" otherwise
    indicator_pages.register(app, kit)

    @app.get("/api/v1/openapi.json", include_in_schema=False)
    def openapi(visitor: Annotated[Visitor, Depends(api("viewer"))]) -> JSONResponse:
        """FastAPI's description of this API, behind the same login as the API."""
        return JSONResponse(app.openapi())

    return app
