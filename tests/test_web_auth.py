"""The dashboard's security shell against a real server: uvicorn on a free port of 127.0.0.1,
spoken to over HTTP with http.client, on a database made by `meiyu db upgrade` and `meiyu users
add` (SQLite, and PostgreSQL where the test takes `db_url`).

Every page and API route is refused without a login (303 to /login, 401); a role too low gets
403; a form POST without its CSRF token gets 403 and stores nothing; wrong passwords are
throttled (429 with Retry-After after 5 in a minute, per name and per address); logout, expiry,
a revoked token and a removed account end access at once; cookies and headers carry their
flags; what the pages show is escaped and is the stored series' numbers; and no password,
token, hash or cookie value reaches the logs.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from fastapi.routing import APIRoute
from sqlalchemy import inspect, text

from kernel.config import load_config
from reports.series import series_rows
from storage.db import make_engine
from storage.migrate import downgrade, upgrade
from storage.models import Base
from tests.conftest import REPO
from tests.helpers_cli import meiyu_in_process
from tests.helpers_web import (
    EVIL_NAME,
    PASSWORD,
    ROLES,
    WRONG,
    Client,
    Reply,
    Site,
    logged,
    no_secret_in,
    running_site,
    seed_site,
    site_config,
)
from web.security import CSP, LoginThrottle


@pytest.fixture
def site(db_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> Iterator[Site]:
    with running_site(db_url, tmp_path, caplog) as running:
        yield running


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'meiyu.db'}"


@pytest.fixture
def lite(sqlite_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> Iterator[Site]:
    """The site on SQLite only, for the tests whose point is not the database."""
    with running_site(sqlite_url, tmp_path, caplog) as running:
        yield running


def only_script_files_and_data(html: str) -> bool:
    """No inline script: each <script> loads a file of /static/ or holds JSON data (the
    charts' data, escaped by tojson), so the CSP's script-src 'self' holds by construction."""
    tags = re.findall(r"<script[^>]*>", html, re.IGNORECASE)
    allowed = re.compile(r'<script (src="/static/[^"]+"|type="application/json" id="[\w-]+")>')
    return all(allowed.fullmatch(t) for t in tags)


PAGES = [
    "/",
    "/admin/users",
    "/api/v1/docs",
    "/items",
    "/items/1",
    "/indicators/a29",
    "/audit",
    "/alerts",
    "/exports",
    "/weekly",
    "/reports",
    "/reports/monthly/2023-12.html",
    "/reports/weekly/2023-W49.html",
    "/admin/channels",
]
# the form POSTs besides /logout and /audit (whose GET is in PAGES); ids of the seeded site
FORMS = [
    "/admin/users",
    "/admin/users/1/role",
    "/admin/users/1/password",
    "/admin/users/1/remove",
    "/admin/users/1/tokens",
    "/admin/tokens/1/revoke",
    "/admin/channels/robot/test",
]
API = [
    "/api/v1/indicators",
    "/api/v1/users",
    "/api/v1/series/a29.csv",
    "/api/v1/openapi.json",
    "/api/v1/items",
    "/api/v1/items/1",
    "/api/v1/alerts",
    "/api/v1/series/a29",
    "/api/v1/weekly",
]
PUBLIC = {
    "/login",
    "/static/meiyu.css",
    "/static/charts.js",
    "/static/overview.js",
    "/static/indicator.js",
    "/static/exports.js",
    "/static/weekly.js",
    "/static/vendor/echarts.min.js",
    "/static/fonts/normal.otf",
    "/static/fonts/bold.otf",
}


def test_every_route_needs_a_login(site: Site) -> None:
    routes = {r.path for r in site.app.routes if isinstance(r, APIRoute)}
    # a new route must be added here, and so be checked: nothing slips in unguarded
    templated = {
        p.replace("a29.csv", "{indicator}.csv")
        .replace("/items/1", "/items/{item_id}")
        .replace("/indicators/a29", "/indicators/{key}")
        .replace("/series/a29", "/series/{indicator}")
        .replace("/monthly/2023-12.html", "/monthly/{month}.{fmt}")
        .replace("/weekly/2023-W49.html", "/weekly/{week}.html")
        .replace("/users/1/", "/users/{user_id}/")
        .replace("/tokens/1/", "/tokens/{token_id}/")
        .replace("/channels/robot/", "/channels/{name}/")
        for p in [*PAGES, *FORMS, *API]
    }
    public = {"/login", "/static/{name}", "/static/vendor/{name}", "/static/fonts/{weight}.otf"}
    assert routes == {*templated, *public, "/logout"}
    anonymous = site.client()
    for path in PAGES:
        reply = anonymous.get(path)
        assert (reply.status, reply.header("location")) == (303, "/login"), path
    for path in API:
        reply = anonymous.get(path)
        assert reply.status == 401, path
        assert reply.header("www-authenticate") == "Bearer"
        assert "application/json" in (reply.header("content-type") or "")
    for path in ("/logout", "/audit", "/exports", *FORMS):  # the form POSTs
        reply = anonymous.request("POST", path, {"csrf": "x"})
        assert (reply.status, reply.header("location")) == (303, "/login"), path
    for path in PUBLIC:
        assert anonymous.get(path).status == 200
    # a forged or made-up session cookie is no login either
    forged = site.client()
    forged.cookies["meiyu_session"] = "abc.def"
    assert forged.get("/").status == 303
    assert forged.get("/api/v1/indicators").status == 401


def test_login_shows_the_stored_numbers_escaped(site: Site) -> None:
    browser = site.client()
    reply = browser.login("kim")
    assert (reply.status, reply.header("location")) == (303, "/")
    assert site.count("web_sessions") == 1
    page = browser.get("/")
    assert page.status == 200 and "text/html" in (page.header("content-type") or "")
    assert "指标概览" in page.body and "kim" in page.body
    # the indicator's name from the config is text, not markup
    assert "<script>alert" not in page.body and only_script_files_and_data(page.body)
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;海鲜之都" in page.body
    assert "2023-12" in page.body and "17（95%：9.9–27）" in page.body
    assert "尚无已计算的数值" in page.body  # a68 and a67: nothing stored

    api = browser.get("/api/v1/indicators")
    assert api.status == 200
    rows = {x["indicator"]: x for x in json.loads(api.body)}
    assert list(rows) == ["a29", "a68", "a67"]
    cfg = load_config(site.config)
    with site.sessions() as s:  # the rows `meiyu series a29` prints
        last = series_rows(s, "a29", cfg.indicators["a29"], "month")[-1]
    a29 = rows["a29"]
    assert a29["name"] == EVIL_NAME and a29["period"] == last["period"] == "2023-12"
    assert a29["value"] == last["items"] == a29["n_items"] == 17
    assert a29["interval"] == [last["items_lo95"], last["items_hi95"]] == [9.9, 27.2]
    assert a29["n_stories"] == 15 and a29["periods"] == 2
    assert rows["a67"]["period"] is None and rows["a67"]["value"] is None
    # the same via the session, and only one indicator on request
    one = json.loads(browser.get("/api/v1/indicators?indicator=a29").body)
    assert [x["indicator"] for x in one] == ["a29"]
    assert json.loads(browser.get("/api/v1/indicators?period_type=year").body)[0]["period"] is None


def test_roles_are_checked_on_every_route(site: Site) -> None:
    viewer, analyst, admin = site.client(), site.client(), site.client()
    for browser, name in ((viewer, "kim"), (analyst, "li"), (admin, "wang")):
        assert browser.login(name).status == 303
    denied = viewer.get("/admin/users")
    assert denied.status == 403 and "需要 admin 权限" in denied.body
    assert "text/html" in (denied.header("content-type") or "")
    assert analyst.get("/admin/users").status == 403
    for lower in (viewer, analyst):
        assert lower.get("/admin/channels").status == 403
        for path in FORMS:  # the admin pages' forms, even with the account's own CSRF token
            reply = lower.request("POST", path, {"csrf": lower.page_csrf()})
            assert reply.status == 403 and "需要 admin 权限" in reply.body, path
    assert viewer.get("/audit").status == 403 and analyst.get("/audit").status == 200
    assert viewer.get("/exports").status == 403 and analyst.get("/exports").status == 200
    refused = viewer.request("POST", "/exports", {"csrf": viewer.page_csrf(), "format": "csv"})
    assert refused.status == 403 and "需要 analyst 权限" in refused.body
    listing = admin.get("/admin/users")
    assert listing.status == 200
    assert all(name in listing.body for name in ROLES) and "$argon2" not in listing.body

    tokens = {name: site.token(name) for name in ROLES}

    def bearer(name: str, path: str) -> Reply:
        return site.client(Authorization=f"Bearer {tokens[name]}").get(path)

    assert bearer("kim", "/api/v1/users").status == 403
    assert bearer("li", "/api/v1/users").status == 403
    assert bearer("kim", "/api/v1/series/a29.csv").status == 403
    csv = bearer("li", "/api/v1/series/a29.csv")
    assert csv.status == 200 and csv.body.splitlines()[0].startswith("period,items,items_lo95")
    assert csv.body.splitlines()[2].startswith("2023-12,17,9.9,27.2,15")
    assert bearer("li", "/api/v1/series/a99.csv").status == 404
    users = json.loads(bearer("wang", "/api/v1/users").body)
    assert [(u["name"], u["role"], u["active_tokens"]) for u in users] == [
        ("kim", "viewer", 1),
        ("li", "analyst", 1),
        ("wang", "admin", 1),
    ]
    assert "hash" not in bearer("wang", "/api/v1/users").body
    # the API's description is there for any account, behind the same login
    spec = json.loads(bearer("kim", "/api/v1/openapi.json").body)
    documented = {"/api/v1/indicators", "/api/v1/users", "/api/v1/series/{indicator}.csv"}
    assert documented <= set(spec["paths"])
    docs = viewer.get("/api/v1/docs")  # the same description as a page
    assert docs.status == 200
    for path in documented:
        assert f"GET {path}" in docs.body
    assert "string (day, week, month, quarter, year), 默认 month" in docs.body
    assert "(analyst)" in docs.body and "(admin)" in docs.body


def test_a_form_post_without_its_csrf_token_is_refused(site: Site) -> None:
    browser = site.client()
    browser.csrf_of_login_form()  # the pre-login cookie is there; the form token is not sent
    for form in (
        {"name": "kim", "password": PASSWORD},
        {"name": "kim", "password": PASSWORD, "csrf": "wrong"},
    ):
        reply = browser.request("POST", "/login", form)
        assert reply.status == 403 and "表单已失效" in reply.body
    # a token from one browser's form does not work without that browser's cookie
    other = site.client()
    stolen = browser.csrf_of_login_form()
    form = {"name": "kim", "password": PASSWORD, "csrf": stolen}
    assert other.request("POST", "/login", form).status == 403
    assert site.count("web_sessions") == 0 and "meiyu_session" not in browser.cookies

    assert browser.login("kim").status == 303
    for form in ({}, {"csrf": "wrong"}):
        reply = browser.request("POST", "/logout", form)
        assert reply.status == 403
    assert site.count("web_sessions") == 1 and browser.get("/").status == 200
    # a token bearer has no session, so no logout to forge
    scripted = site.client(Authorization=f"Bearer {site.token('kim')}")
    assert scripted.request("POST", "/logout", {"csrf": "x"}).status == 403
    assert site.count("web_sessions") == 1
    # an analyst's export form without its token is refused the same way
    analyst = site.client()
    assert analyst.login("li").status == 303
    for form in ({"format": "csv"}, {"csrf": "wrong", "format": "csv"}):
        reply = analyst.request("POST", "/exports", form)
        assert reply.status == 403 and "表单已失效" in reply.body
    li = site.client(Authorization=f"Bearer {site.token('li')}")  # a token: no session, no form
    assert li.request("POST", "/exports", {"csrf": "x", "format": "csv"}).status == 403


def test_wrong_passwords_are_throttled_per_name_and_per_address(
    lite: Site, caplog: pytest.LogCaptureFixture
) -> None:
    a = lite.client(**{"X-Forwarded-For": "10.0.0.1"})
    for _ in range(5):
        reply = a.login("kim", WRONG)
        assert reply.status == 401 and "账户名或密码不正确" in reply.body
        assert "meiyu_session" not in a.cookies
    refused = a.login("kim")  # the right password, after 5 failures
    assert refused.status == 429 and "登录失败次数过多" in refused.body
    wait = int(refused.header("retry-after") or "0")
    assert 1 <= wait <= 60
    # the name is throttled from any address; other names from another address are not
    b = lite.client(**{"X-Forwarded-For": "10.0.0.2"})
    assert b.login("kim").status == 429
    assert b.login("li").status == 303
    # five unknown names from one address: that address is throttled, even for a good login
    c = lite.client(**{"X-Forwarded-For": "10.0.0.3"})
    for i in range(5):
        assert c.login(f"nobody{i}", WRONG).status == 401
    assert c.login("wang").status == 429
    assert lite.client(**{"X-Forwarded-For": "10.0.0.4"}).login("wang").status == 303
    assert lite.count("web_sessions") == 2
    lines = logged(caplog, "call")
    assert "login failed from 10.0.0.1: wrong password for 'kim'" in lines
    assert "login failed from 10.0.0.3: unknown name" in lines
    assert "login refused from 10.0.0.3: too many failures" in lines
    assert "login of 'wang' from 10.0.0.4" in lines
    assert "nobody0" not in lines  # a name that is no account may be a mistyped password
    no_secret_in(lines, lite.secrets)


def test_the_throttle_forgets_after_its_window() -> None:
    throttle = LoginThrottle(limit=5, window=60.0)
    for t in range(5):
        throttle.failed("kim", "10.0.0.1", now=100.0 + t)
    assert throttle.retry_after("KIM", "10.0.0.9", now=105.0) == 55
    assert throttle.retry_after("li", "10.0.0.1", now=105.0) == 55
    assert throttle.retry_after("kim", "10.0.0.9", now=160.5) is None  # the first one left
    throttle.succeeded("kim")
    assert throttle.retry_after("kim", "10.0.0.9", now=105.0) is None
    small = LoginThrottle(max_keys=4)
    for i in range(10):
        small.failed(f"n{i}", f"a{i}", now=1.0)
    assert len(small._failures) <= 4


def test_logout_ends_the_session_on_the_server(site: Site) -> None:
    browser = site.client()
    assert browser.login("kim").status == 303
    kept = dict(browser.cookies)
    reply = browser.request("POST", "/logout", {"csrf": browser.page_csrf()})
    assert (reply.status, reply.header("location")) == (303, "/login")
    assert "meiyu_session" not in browser.cookies and site.count("web_sessions") == 0
    replay = site.client()
    replay.cookies.update(kept)  # the cookie as it was before the logout
    assert replay.get("/").status == 303
    assert replay.get("/api/v1/indicators").status == 401


def test_an_expired_session_is_refused(site: Site) -> None:
    browser = site.client()
    assert browser.login("kim").status == 303
    assert browser.get("/").status == 200
    saved = browser.cookies["meiyu_session"]
    with site.engine.begin() as conn:
        conn.execute(text("UPDATE web_sessions SET expires_at = created_at"))
    reply = browser.get("/")
    assert (reply.status, reply.header("location")) == (303, "/login")
    assert "meiyu_session" not in browser.cookies  # told to forget it
    expired = site.client()
    expired.cookies["meiyu_session"] = saved
    assert expired.get("/api/v1/indicators").status == 401
    # the next login clears expired rows
    assert browser.login("li").status == 303 and site.count("web_sessions") == 1


def test_tokens_revoked_and_accounts_removed_stop_at_once(site: Site) -> None:
    token = site.token("kim")
    scripted = site.client(Authorization=f"Bearer {token}")
    assert scripted.get("/api/v1/indicators").status == 200
    # a page asked with a token is served as well (same auth), without a logout form
    assert scripted.get("/").status == 200
    for header in ("Bearer", f"Basic {token}", f"Bearer {token}x", f"Bearer {token} {token}"):
        reply = site.client(Authorization=header).get("/api/v1/indicators")
        assert reply.status == 401, header
    # a bad token is not rescued by a good session cookie
    browser = site.client()
    assert browser.login("kim").status == 303
    browser.headers["Authorization"] = "Bearer meiyu_nothing"
    assert browser.get("/api/v1/indicators").status == 401
    del browser.headers["Authorization"]

    with site.sessions() as s:
        token_id, used = s.execute(text("SELECT id, last_used_at FROM api_tokens")).one()
    assert used is not None  # its use is recorded (to the minute: web.app.TOKEN_TOUCH_EVERY)
    site.meiyu("users", "revoke", str(token_id))
    assert scripted.get("/api/v1/indicators").status == 401

    other = site.client(Authorization=f"Bearer {site.token('kim')}")
    assert other.get("/api/v1/indicators").status == 200
    site.meiyu("users", "remove", "kim")
    assert other.get("/api/v1/indicators").status == 401
    assert browser.get("/").status == 303 and site.count("web_sessions") == 0


def test_a_new_password_ends_the_sessions(lite: Site) -> None:
    browser = lite.client()
    assert browser.login("kim").status == 303
    lite.meiyu("users", "passwd", "kim", input="another password 2026\n")
    lite.secrets.append("another password 2026")
    assert browser.get("/").status == 303
    assert browser.login("kim", "another password 2026").status == 303


def test_cookie_flags(lite: Site) -> None:
    plain = lite.client()
    plain.csrf_of_login_form()
    reply = plain.login("kim")
    (session_cookie,) = [c for c in reply.set_cookies if c.startswith("meiyu_session=")]
    flags = [f.strip().lower() for f in session_cookie.split(";")]
    assert "httponly" in flags and "samesite=lax" in flags and "path=/" in flags
    assert "secure" not in flags
    assert any(f.startswith("max-age=") for f in flags)

    tls = lite.client(**{"X-Forwarded-Proto": "https"})  # behind a local TLS proxy
    first = tls.get("/login")
    (login_cookie,) = first.set_cookies
    assert {"httponly", "secure", "samesite=lax"} <= {
        f.strip().lower() for f in login_cookie.split(";")
    }
    reply = tls.login("kim")
    (session_cookie,) = [c for c in reply.set_cookies if c.startswith("meiyu_session=")]
    assert {"httponly", "secure", "samesite=lax"} <= {
        f.strip().lower() for f in session_cookie.split(";")
    }


def test_security_headers_on_every_answer(lite: Site) -> None:
    browser = lite.client()
    answers = [browser.get("/"), browser.get("/login"), browser.get("/nowhere")]
    answers.append(browser.get("/api/v1/indicators"))
    browser.login("kim")
    answers += [browser.get("/"), browser.get("/api/v1/indicators"), browser.get("/admin/users")]
    answers.append(browser.get("/api/v1/docs"))
    answers.append(browser.get("/api/v1/indicators?period_type=decade"))
    for reply in answers:
        csp = reply.header("content-security-policy") or ""
        assert csp == CSP
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert reply.header("x-content-type-options") == "nosniff"
        assert reply.header("x-frame-options") == "DENY"
        if "text/html" in (reply.header("content-type") or ""):
            assert only_script_files_and_data(reply.body) and " style=" not in reply.body


def test_hostile_input_is_422_or_empty_never_500(lite: Site) -> None:
    token = lite.token("li")
    api = lite.client(Authorization=f"Bearer {token}")
    evil = "' OR 1=1; DROP TABLE users; --"
    assert json.loads(api.get(f"/api/v1/indicators?indicator={quote(evil)}").body) == []
    assert api.get(f"/api/v1/indicators?indicator={'a' * 10_000}").status == 422
    assert 400 <= api.get(f"/api/v1/indicators?indicator={'a' * 100_000}").status < 500
    assert api.get("/api/v1/indicators?indicator=" + "a" * 41).status == 422
    assert api.get(f"/api/v1/indicators?period_type={quote(evil)}").status == 422
    assert api.get("/api/v1/indicators?period_type=month%00").status == 422
    assert api.get(f"/api/v1/series/{quote(evil)}.csv").status == 404
    assert api.get(f"/api/v1/series/{'x' * 5000}.csv").status == 422
    assert api.get("/api/v1/series/a29.csv?period_type=%27").status == 422
    browser = lite.client()
    for name, password in ((evil, evil), ("x" * 100_000, PASSWORD), ("kim\x00", "p" * 5000)):
        assert browser.login(name, password).status in (401, 429)
    assert lite.count("users") == 3


def test_sessions_go_with_their_account_in_the_schema_too(site: Site) -> None:
    """The foreign key alone ends them (an account deleted by hand, not by `meiyu users`)."""
    assert site.client().login("kim").status == 303
    with site.engine.begin() as conn:
        conn.execute(text("DELETE FROM api_tokens"))
        conn.execute(text("DELETE FROM users WHERE name = 'kim'"))
    assert site.count("web_sessions") == 0


def test_the_migration_matches_the_model_and_goes_down(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert [d for d in diff if "web_sessions" in repr(d)] == []
    downgrade(engine, "0007")
    assert "web_sessions" not in inspect(engine).get_table_names()
    upgrade(engine)
    assert "web_sessions" in inspect(engine).get_table_names()
    engine.dispose()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_serve(config: Path, port: int, env: dict[str, str], *more: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "meiyu.cli", "--config", str(config), "serve", "--port", str(port)]
        + list(more),
        cwd=REPO,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("MEIYU_")}, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _first_answer(client: Client, proc: subprocess.Popen[str]) -> Reply:
    deadline = time.monotonic() + 120
    while True:
        try:
            return client.get("/login")
        except OSError:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "meiyu serve did not answer"
            time.sleep(0.2)


def test_meiyu_serve_serves_and_a_taken_port_is_one_line(tmp_path: Path, sqlite_url: str) -> None:
    config = site_config(tmp_path, sqlite_url)
    assert meiyu_in_process("--config", str(config), "db", "upgrade").returncode == 0
    seed_site(config)
    port = _free_port()
    key = {"MEIYU_WEB_SECRET": "a-signing-key-of-forty-characters-123456"}
    proc = _start_serve(config, port, key)
    secrets = [PASSWORD, key["MEIYU_WEB_SECRET"]]
    client = Client(port, secrets)
    try:
        reply = _first_answer(client, proc)
        assert reply.status == 200 and "登录" in reply.body
        assert client.login("kim").status == 303
        assert client.get("/").status == 200

        taken = meiyu_in_process("--config", str(config), "serve", "--port", str(port))
        assert taken.returncode == 1
        assert taken.stderr.strip() == (
            f"error: port {port} on 127.0.0.1 is in use (another meiyu serve?); "
            "choose one with --port"
        )
        for bad in (["--port", "70000"], ["--session-hours", "0"], ["--host", "no such host"]):
            refused = meiyu_in_process("--config", str(config), "serve", *bad)
            assert refused.returncode == 2, (bad, refused.stderr)
        short = meiyu_in_process(
            "--config", str(config), "serve", env={"MEIYU_WEB_SECRET": "too-short"}
        )
        assert short.returncode == 2
        assert short.stderr.strip() == (
            "error: MEIYU_WEB_SECRET: expected at least 32 characters, got 9"
        )
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
    assert f"http://127.0.0.1:{port}/" in err
    assert "POST /login" in out  # uvicorn's access log is on (on stdout)
    no_secret_in(out + err, secrets)
    # the same MEIYU_WEB_SECRET after a restart: the login holds; a fresh key ends it
    for env, logged_in in ((key, True), ({}, False)):
        proc = _start_serve(config, port, env)
        try:
            _first_answer(Client(port, []), proc)
            reply = client.get("/")
            assert (reply.status == 200) is logged_in, reply.status
        finally:
            proc.terminate()
            out, err = proc.communicate(timeout=30)
        assert ("set MEIYU_WEB_SECRET to keep them" in err) is not logged_in, err
        no_secret_in(out + err, secrets)


def test_several_workers_share_the_port_and_the_cookie_key(tmp_path: Path, sqlite_url: str) -> None:
    """`meiyu serve --workers 2`: two processes answer on one port, a login made with one is
    good with the other (one signing key, made before the fork, even without
    MEIYU_WEB_SECRET), and SIGTERM to the server stops both."""
    config = site_config(tmp_path, sqlite_url)
    assert meiyu_in_process("--config", str(config), "db", "upgrade").returncode == 0
    seed_site(config)
    port = _free_port()
    proc = _start_serve(config, port, {}, "--workers", "2")
    client = Client(port, [PASSWORD])
    try:
        _first_answer(client, proc)
        assert client.login("kim").status == 303
        # Client opens a connection per request: the kernel hands each to either worker
        answers = [client.get("/") for _ in range(30)]
        assert [r.status for r in answers] == [200] * 30
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-2000:]
    assert "2 worker processes" in " ".join(err.split())  # rich wraps the line
    pids = set(re.findall(r"Started server process \[(\d+)\]", out + err))
    assert len(pids) == 2, out + err
    for pid in pids:  # gone with the server
        with pytest.raises(ProcessLookupError):
            os.kill(int(pid), 0)
    refused = meiyu_in_process("--config", str(config), "serve", "--workers", "0")
    assert refused.returncode == 2


def test_the_packaged_cjk_font_is_served_for_browsers_without_one(site: Site) -> None:
    from reports.pdf import font_paths

    anonymous = site.client()  # the login page needs it too
    for weight, path in font_paths().items():
        reply = anonymous.get(f"/static/fonts/{weight}.otf")
        assert reply.status == 200, weight
        assert reply.header("content-length") == str(path.stat().st_size)
        assert reply.header("content-type") == "font/otf"
        assert reply.header("cache-control") == "public, max-age=604800, immutable"
        assert reply.header("content-security-policy") == CSP
    for wrong in ("/static/fonts/italic.otf", "/static/fonts/..%2f..%2fmeiyu.toml.otf"):
        assert anonymous.get(wrong).status in (404, 422), wrong
    css = anonymous.get("/static/meiyu.css").body
    assert 'url("/static/fonts/normal.otf")' in css and 'url("/static/fonts/bold.otf")' in css
    assert "font-src 'self'" in CSP


def test_static_files_stay_in_their_folder(site: Site) -> None:
    anonymous = site.client()
    echarts = anonymous.get("/static/vendor/echarts.min.js")
    assert echarts.status == 200 and "echarts" in echarts.body[:2000].lower()
    assert echarts.header("content-type") == "text/javascript; charset=utf-8"
    for wrong in (
        "/static/..%2fapp.py",
        "/static/..%2f..%2fmeiyu.toml",
        "/static/%2e%2e/accounts.py",
        "/static/vendor/..%2f..%2fapp.js",
        "/static/vendor/LICENSE",
        "/static/nothing.js",
        "/static/app.py",
        "/static/.hidden.css",
    ):
        assert anonymous.get(wrong).status in (404, 422), wrong


def test_the_listening_socket_gives_connections_without_nagle() -> None:
    """`meiyu serve`'s own socket says it is TCP, so asyncio (uvicorn's loop) turns Nagle off on
    each connection it accepts: with Nagle on, every answer on a keep-alive connection waited
    for the client's delayed ACK (about 40 ms) between its headers and its body."""
    import asyncio

    from meiyu.cli.serve import _listen

    sock = _listen("127.0.0.1", 0)
    port = sock.getsockname()[1]
    found: list[int] = []

    async def main() -> None:
        def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            conn = writer.get_extra_info("socket")
            found.append(conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(accepted, sock=sock)
        async with server:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            for _ in range(100):
                if found:
                    break
                await asyncio.sleep(0.02)
            writer.close()

    try:
        asyncio.run(main())
    finally:
        sock.close()
    assert found and found[0] != 0
