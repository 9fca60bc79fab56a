"""The admin pages against a real server (SQLite and PostgreSQL): accounts managed in the
browser with `meiyu users`' rules (add, role, password, remove, API tokens shown once and
revoked), each a CSRF-checked POST for admins only that stores nothing when refused; and the
alert channels as configured, their secrets never in the page."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from kernel.config import load_config
from storage.alerts import AlertRecord, record_delivery, save_alert
from storage.db import make_engine, session_factory, transaction
from tests.helpers_web import PASSWORD, Client, Site, logged, running_site, serving
from web.accounts import token_hash
from web.admin import MASK, mask_url
from web.app import WebSettings, create_app

NEW_PASSWORD = "a-new-password-for-zhao-2026"
HOSTILE = "<img/src=x/onerror=alert(1)>王"
WECOM_URL = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=wecom-SECRET-key-123"
HOOK_URL = "https://ops:hook-SECRET-pw@hooks.example.org:8443/services/T0/hook-SECRET-path"
DING_URL = "https://oapi.dingtalk.com/robot/send?access_token=ding-SECRET-token"
DING_SECRET = "SECding-SECRET-signing"
SMTP_PASSWORD = "smtp-SECRET-password"
HOOK_PATH = "local-hook-SECRET-path"
SECRETS = [WECOM_URL, "wecom-SECRET-key-123", "hook-SECRET-pw", "hook-SECRET-path"]
SECRETS += ["ding-SECRET-token", DING_SECRET, SMTP_PASSWORD, HOOK_PATH]
ENV = {
    "T_ADMIN_WECOM_URL": WECOM_URL,
    "T_ADMIN_HOOK_URL": HOOK_URL,
    "T_ADMIN_DING_URL": DING_URL,
    "T_ADMIN_DING_SECRET": DING_SECRET,
    "T_ADMIN_SMTP_PASSWORD": SMTP_PASSWORD,
}
CHANNELS = """
[[alerts.channels]]
name = "robot"
kind = "wecom"
url_env = "T_ADMIN_WECOM_URL"

[[alerts.channels]]
name = "ops-hook"
kind = "webhook"
url_env = "T_ADMIN_HOOK_URL"

[[alerts.channels]]
name = "ding"
kind = "dingtalk"
url_env = "T_ADMIN_DING_URL"
secret_env = "T_ADMIN_DING_SECRET"

[[alerts.channels]]
name = "unset-robot"
kind = "wecom"
url_env = "T_ADMIN_NOT_SET"

[[alerts.channels]]
name = "mail"
kind = "email"
smtp_host = "smtp.example.org"
smtp_port = 465
smtp_ssl = true
username_env = "T_ADMIN_SMTP_USER_NOT_SET"
password_env = "T_ADMIN_SMTP_PASSWORD"
sender = "meiyu@example.org"
recipients = ["office@example.org", "duty@example.org"]

[[alerts.channels]]
name = "local-hook"
kind = "webhook"
url_env = "T_ADMIN_LOCAL_HOOK"
"""


def seed_channels(config: Path) -> None:
    """Five channels in the config, and two alerts' deliveries: `robot` took both, then failed
    on the second with an error quoting its own URL (as an older meiyu might have stored it);
    `retired` is no longer configured."""
    with config.open("a", encoding="utf-8") as f:
        f.write(CHANNELS)
    cfg = load_config(config)
    engine = make_engine(cfg.database.url)
    with transaction(session_factory(engine)) as s:
        for day in ("2023-11-03", "2023-12-10"):
            alert, _ = save_alert(
                s, AlertRecord("volume_surge", "a29", day, day, 9.0, 2.0, 0.001, "报道量激增", [])
            )
            record_delivery(s, alert, "robot", None)
            record_delivery(s, alert, "retired", None)
        record_delivery(s, alert, "mail", "smtp: connection refused")
        record_delivery(s, alert, "robot", f"HTTP 500 from {WECOM_URL}")
    engine.dispose()


@pytest.fixture
def site(
    db_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Site]:
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("T_ADMIN_NOT_SET", raising=False)
    monkeypatch.delenv("T_ADMIN_SMTP_USER_NOT_SET", raising=False)
    with running_site(db_url, tmp_path, caplog, seed=seed_channels, audit=False) as running:
        running.secrets.extend([*SECRETS, NEW_PASSWORD])
        yield running


@pytest.fixture
def hook(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """A webhook on 127.0.0.1 behind T_ADMIN_LOCAL_HOOK (its path a secret): the JSON bodies
    it was sent."""
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"path": self.path, **json.loads(body)})
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # the path is a secret
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("T_ADMIN_LOCAL_HOOK", f"http://127.0.0.1:{server.server_port}/{HOOK_PATH}")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    try:
        yield received
    finally:
        server.shutdown()
        server.server_close()


def admin(site: Site, name: str = "wang") -> Client:
    browser = site.client()
    assert browser.login(name).status == 303
    return browser


def csrf(browser: Client) -> str:
    return browser.page_csrf()


def user_id(site: Site, name: str) -> int:
    with site.engine.connect() as conn:
        found = conn.execute(text("SELECT id FROM users WHERE name = :n"), {"n": name})
        return int(found.scalar_one())


def snapshot(site: Site) -> list[Any]:
    """Every stored account, token and session, to show that a refused POST changed nothing."""
    with site.engine.connect() as conn:
        return [
            conn.execute(text(f"SELECT * FROM {table} ORDER BY 1")).all()
            for table in ("users", "api_tokens", "web_sessions")
        ]


def post(browser: Client, path: str, **form: str) -> Any:
    return browser.request("POST", path, form)


def notice(page: str) -> str:
    found = re.search(r'<p class="notice" id="admin-notice" role="status">([^<]*)</p>', page)
    assert found, page[:3000]
    return found.group(1)


def test_an_admin_adds_accounts_with_the_rules_of_meiyu_users(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    browser = admin(site)
    token = csrf(browser)
    form = {"name": "zhao", "role": "analyst", "password": NEW_PASSWORD, "password2": NEW_PASSWORD}
    reply = post(browser, "/admin/users", csrf=token, **form)
    assert reply.status == 303 and reply.header("location") == "/admin/users?done=added&who=zhao"
    page = browser.get(reply.header("location") or "")
    assert page.status == 200 and notice(page.body) == "已添加账户 zhao。"
    with site.engine.connect() as conn:
        role, digest = conn.execute(
            text("SELECT role, password_hash FROM users WHERE name = 'zhao'")
        ).one()
    assert role == "analyst" and digest.startswith("$argon2id$") and NEW_PASSWORD not in digest
    zhao = site.client()
    assert zhao.login("zhao", NEW_PASSWORD).status == 303
    assert zhao.get("/audit").status == 200 and zhao.get("/admin/users").status == 403

    before = snapshot(site)
    refused = [
        ({**form, "name": "ZHAO"}, "已有名为 zhao 的账户"),  # names are compared without case
        ({**form, "name": "two words"}, "账户名应为 1 到 64 个可打印字符"),
        ({**form, "name": ""}, "账户名应为"),
        ({**form, "name": "x" * 65}, "账户名应为"),
        ({**form, "name": "qian", "role": "root"}, "角色应为 viewer、analyst 或 admin"),
        ({**form, "name": "qian", "password": "short", "password2": "short"}, "至少 12 个字符"),
        ({**form, "name": "qian", "password": " " * 20, "password2": " " * 20}, "不能只有空白"),
        ({**form, "name": "qian", "password2": NEW_PASSWORD + "x"}, "两次输入的密码不一致"),
        ({**form, "name": "qian", "password": "p" * 2000, "password2": "p" * 2000}, "密码过长"),
    ]
    for wrong, message in refused:
        reply = post(browser, "/admin/users", csrf=token, **wrong)
        assert reply.status == 422 and message in reply.body, (wrong["name"], reply.body[-800:])
        assert "text/html" in (reply.header("content-type") or "")
    assert snapshot(site) == before
    assert "admin 'wang' added account 'zhao' (analyst)" in logged(caplog, "call")


def test_role_changes_hold_from_the_next_request_and_no_admin_demotes_themselves(
    site: Site,
) -> None:
    browser, kim = admin(site), admin(site, "kim")
    token, kim_id = csrf(browser), user_id(site, "kim")
    assert kim.get("/audit").status == 403
    reply = post(browser, f"/admin/users/{kim_id}/role", csrf=token, role="analyst")
    assert reply.status == 303 and notice(browser.get(reply.header("location") or "").body)
    assert kim.get("/audit").status == 200  # the same session, the new role
    assert post(browser, f"/admin/users/{kim_id}/role", csrf=token, role="admin").status == 303
    assert kim.get("/admin/users").status == 200
    # kim, now an admin, may demote wang; wang may not demote wang
    wang_id = user_id(site, "wang")
    before = snapshot(site)
    for role in ("analyst", "viewer"):
        refused = post(browser, f"/admin/users/{wang_id}/role", csrf=token, role=role)
        assert refused.status == 422 and "不能降低自己的角色" in refused.body
    assert post(browser, f"/admin/users/{kim_id}/role", csrf=token, role="boss").status == 422
    assert snapshot(site) == before
    assert post(kim, f"/admin/users/{wang_id}/role", csrf=csrf(kim), role="viewer").status == 303
    assert browser.get("/admin/users").status == 403 and browser.get("/").status == 200
    with site.engine.connect() as conn:
        roles: dict[str, str] = dict(conn.execute(text("SELECT name, role FROM users")).all())
    assert roles == {"kim": "admin", "li": "analyst", "wang": "viewer"}


def test_a_new_password_set_in_the_browser_logs_in_and_the_old_one_does_not(site: Site) -> None:
    browser, li = admin(site), admin(site, "li")
    token, li_id = csrf(browser), user_id(site, "li")
    bearer = site.client(Authorization=f"Bearer {site.token('li')}")
    before = snapshot(site)
    for wrong in ({"password": NEW_PASSWORD, "password2": "other"}, {"password": "short"}):
        wrong.setdefault("password2", wrong["password"])
        assert post(browser, f"/admin/users/{li_id}/password", csrf=token, **wrong).status == 422
    assert snapshot(site) == before and li.get("/").status == 200
    reply = post(
        browser, f"/admin/users/{li_id}/password", csrf=token,
        password=NEW_PASSWORD, password2=NEW_PASSWORD,
    )  # fmt: skip
    assert reply.status == 303
    assert "已为 li 设置新密码" in notice(browser.get(reply.header("location") or "").body)
    assert li.get("/").status == 303  # li's session ended
    assert bearer.get("/api/v1/indicators").status == 200  # tokens stay, as `meiyu users passwd`
    assert site.client().login("li", PASSWORD).status == 401
    assert site.client().login("li", NEW_PASSWORD).status == 303
    assert browser.get("/admin/users").status == 200  # the admin's own session is untouched


def test_a_removed_account_stops_at_once_and_no_admin_removes_themselves(site: Site) -> None:
    browser, li = admin(site), admin(site, "li")
    token, li_id, wang_id = csrf(browser), user_id(site, "li"), user_id(site, "wang")
    bearer = site.client(Authorization=f"Bearer {site.token('li')}")
    assert bearer.get("/api/v1/indicators").status == 200
    before = snapshot(site)
    unconfirmed = post(browser, f"/admin/users/{li_id}/remove", csrf=token)
    assert unconfirmed.status == 422 and "确认删除" in unconfirmed.body
    myself = post(browser, f"/admin/users/{wang_id}/remove", csrf=token, confirm="yes")
    assert myself.status == 422 and "不能删除自己的账户" in myself.body
    assert snapshot(site) == before
    reply = post(browser, f"/admin/users/{li_id}/remove", csrf=token, confirm="yes")
    assert reply.status == 303
    assert "已删除账户 li" in notice(browser.get(reply.header("location") or "").body)
    assert li.get("/").status == 303 and bearer.get("/api/v1/indicators").status == 401
    with site.engine.connect() as conn:
        left = conn.execute(
            text("SELECT count(*) FROM api_tokens WHERE user_id = :u"), {"u": li_id}
        ).scalar_one()
    assert site.count("users") == 2 and left == 0
    gone = post(browser, f"/admin/users/{li_id}/remove", csrf=token, confirm="yes")
    assert gone.status == 404 and "没有这个账户" in gone.body


def test_a_token_is_shown_once_stored_hashed_and_revoked_at_once(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    browser = admin(site)
    token, kim_id = csrf(browser), user_id(site, "kim")
    reply = post(browser, f"/admin/users/{kim_id}/tokens", csrf=token)
    assert reply.status == 200 and reply.header("cache-control") == "no-store"
    found = re.search(r'<code class="token" id="token-plain">(meiyu_[\w-]+)</code>', reply.body)
    assert found, reply.body[:3000]
    plain = found.group(1)
    site.secrets.append(plain)
    assert "只显示这一次" in reply.body
    with site.engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM api_tokens")).all()
    assert len(rows) == 1 and token_hash(plain) in rows[0] and plain not in str(rows)
    (token_id,) = [r.id for r in rows]
    scripted = site.client(Authorization=f"Bearer {plain}")
    assert scripted.get("/api/v1/indicators").status == 200
    listing = browser.get("/admin/users")
    assert plain not in listing.body and token_hash(plain) not in listing.body
    assert f'data-token-id="{token_id}" data-revoked="no"' in listing.body
    assert "从未使用" not in listing.body  # it was just used

    reply = post(browser, f"/admin/tokens/{token_id}/revoke", csrf=token)
    assert reply.status == 303
    assert notice(browser.get(reply.header("location") or "").body) == "已吊销 kim 的 API 令牌。"
    assert scripted.get("/api/v1/indicators").status == 401  # at once
    assert f'data-token-id="{token_id}" data-revoked="yes"' in browser.get("/admin/users").body
    for wrong, status in (("0", 422), ("abc", 422), ("9" * 30, 422), ("999999", 404)):
        assert post(browser, f"/admin/tokens/{wrong}/revoke", csrf=token).status == status, wrong
    lines = logged(caplog, "call")
    assert f"admin 'wang' issued API token {token_id} for 'kim'" in lines
    assert f"admin 'wang' revoked API token {token_id} of 'kim'" in lines


def test_every_admin_post_needs_its_csrf_token_and_the_admin_role(site: Site) -> None:
    browser, kim, li = admin(site), admin(site, "kim"), admin(site, "li")
    kim_id = user_id(site, "kim")
    site.token("kim")
    with site.engine.connect() as conn:
        token_id = conn.execute(text("SELECT id FROM api_tokens")).scalar_one()
    forms = {
        "/admin/users": {"name": "zhao", "role": "admin", "password": NEW_PASSWORD,
                         "password2": NEW_PASSWORD},
        f"/admin/users/{kim_id}/role": {"role": "admin"},
        f"/admin/users/{kim_id}/password": {"password": NEW_PASSWORD, "password2": NEW_PASSWORD},
        f"/admin/users/{kim_id}/remove": {"confirm": "yes"},
        f"/admin/users/{kim_id}/tokens": {},
        f"/admin/tokens/{token_id}/revoke": {},
    }  # fmt: skip
    scripted = site.client(Authorization=f"Bearer {site.token('wang')}")
    before = snapshot(site)
    for path, form in forms.items():
        for wrong in ({}, {"csrf": "wrong"}, {"csrf": csrf(kim)}):  # kim's is not wang's
            reply = post(browser, path, **form, **wrong)
            assert reply.status == 403 and "表单已失效" in reply.body, (path, wrong)
        # a token bearer has no session and so no form to post, even an admin's token
        assert post(scripted, path, **form, csrf="x").status == 403, path
        for lower in (kim, li):  # a viewer and an analyst, with their own valid token
            assert post(lower, path, **form, csrf=csrf(lower)).status == 403, path
        assert post(site.client(), path, **form).status == 303  # no login: to /login
    for path in ("/admin/users", "/admin/channels"):
        for lower in (kim, li):
            denied = lower.get(path)
            assert denied.status == 403 and "需要 admin 权限" in denied.body, path
    with site.engine.begin() as conn:  # the bearer's uses of its token are the only change
        conn.execute(text("UPDATE api_tokens SET last_used_at = NULL"))
    assert snapshot(site) == before


def test_hostile_names_and_bad_ids_are_text_and_422(site: Site) -> None:
    browser = admin(site)
    token = csrf(browser)
    form = {"name": HOSTILE, "role": "viewer", "password": NEW_PASSWORD, "password2": NEW_PASSWORD}
    reply = post(browser, "/admin/users", csrf=token, **form)
    assert reply.status == 303
    page = browser.get(reply.header("location") or "")
    assert HOSTILE not in page.body and "<img" not in page.body
    assert "&lt;img/src=x/onerror=alert(1)&gt;王" in page.body
    assert notice(page.body) == "已添加账户 &lt;img/src=x/onerror=alert(1)&gt;王。"
    # the notice is one of the fixed texts: a crafted link cannot make the page say more
    crafted = browser.get("/admin/users?done=%3Cb%3Ehi&who=x")
    assert crafted.status == 200 and 'id="admin-notice"' not in crafted.body
    long = browser.get("/admin/users?done=added&who=" + "x" * 5000)
    assert long.status == 200 and 'id="admin-notice"' not in long.body
    for wrong, status in (("abc", 422), ("-1", 422), ("0", 422), ("1e3", 422), ("99999", 404)):
        reply = post(browser, f"/admin/users/{wrong}/role", csrf=token, role="viewer")
        assert reply.status == status and "text/html" in (reply.header("content-type") or "")
    assert post(browser, "/admin/users/" + "9" * 40 + "/tokens", csrf=token).status == 422


def test_channels_show_names_and_masked_targets_never_a_secret(site: Site) -> None:
    browser = admin(site)
    page = browser.get("/admin/channels")
    assert page.status == 200
    body = page.body
    for secret in SECRETS:
        assert secret not in body, secret
    for name in ("robot", "ops-hook", "ding", "unset-robot", "mail"):
        assert f'data-channel="{name}"' in body
    assert f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?{MASK}" in body
    assert f"https://{MASK}@hooks.example.org:8443/{MASK}" in body
    assert f"https://oapi.dingtalk.com/robot/send?{MASK}" in body
    assert "smtp.example.org:465" in body and "SSL/TLS" in body and "duty@example.org" in body
    for name, is_set in (
        ("T_ADMIN_WECOM_URL", "yes"),
        ("T_ADMIN_DING_SECRET", "yes"),
        ("T_ADMIN_NOT_SET", "no"),
        ("T_ADMIN_SMTP_PASSWORD", "yes"),
        ("T_ADMIN_SMTP_USER_NOT_SET", "no"),
    ):
        assert f'data-env="{name}" data-set="{is_set}"' in body, name
    assert "（环境变量未设置）" in body
    # robot: two alerts taken, then the second failed; its stored error is shown masked
    robot = body[body.index('data-channel="robot"') : body.index('data-channel="ops-hook"')]
    assert 'data-sent="1" data-failed="1"' in robot and "共尝试 3 次" in robot
    assert f"HTTP 500 from {MASK}" in robot
    mail = body[body.index('data-channel="mail"') :]
    assert 'data-sent="0" data-failed="1"' in mail and "smtp: connection refused" in mail
    assert "尚无发送记录" in body  # ops-hook, ding
    assert 'id="channels-gone"' in body and "<code>retired</code>" in body


def test_a_test_message_goes_out_through_the_channel_and_stores_nothing(
    site: Site, hook: list[dict[str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    browser = admin(site)
    token = csrf(browser)
    with site.engine.connect() as conn:
        alerts = conn.execute(text("SELECT * FROM alerts ORDER BY id")).all()
    for wrong in ({}, {"csrf": "wrong"}):
        assert post(browser, "/admin/channels/local-hook/test", **wrong).status == 403
    kim = admin(site, "kim")
    assert post(kim, "/admin/channels/local-hook/test", csrf=csrf(kim)).status == 403
    assert hook == []
    reply = post(browser, "/admin/channels/local-hook/test", csrf=token)
    assert reply.status == 200
    assert 'id="test-result" data-channel="local-hook" data-ok="yes"' in reply.body
    assert HOOK_PATH not in reply.body and f"http://127.0.0.1:{MASK}" not in reply.body
    (sent,) = hook
    assert sent["path"] == "/" + HOOK_PATH and sent["source"] == "meiyu"
    assert sent["alert_id"] == 0 and sent["rule"] == "test" and "测试消息" in sent["message"]
    failed = post(browser, "/admin/channels/unset-robot/test", csrf=token)
    assert failed.status == 200 and 'data-channel="unset-robot" data-ok="no"' in failed.body
    assert "environment variable T_ADMIN_NOT_SET is not set" in failed.body
    assert post(browser, "/admin/channels/nowhere/test", csrf=token).status == 404
    with site.engine.connect() as conn:  # no alert's deliveries changed
        assert conn.execute(text("SELECT * FROM alerts ORDER BY id")).all() == alerts
    lines = logged(caplog, "call")
    assert "admin 'wang' sent a test message to channel local-hook" in lines
    assert "admin 'wang': test message to channel unset-robot failed" in lines


def test_channels_page_without_a_config_says_so(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = load_config(site.config)
    app = create_app(WebSettings(sessions=site.sessions, indicators=cfg.indicators, config=None))
    with serving(app) as port:
        browser = Client(port, site.secrets)
        assert browser.login("wang").status == 303
        page = browser.get("/admin/channels")
    assert page.status == 200 and "未载入配置" in page.body


def test_mask_url_keeps_where_and_hides_what_lets_one_send() -> None:
    assert mask_url("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k", "wecom") == (
        f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?{MASK}"
    )
    assert mask_url("http://h.test/a/b/token#frag", "webhook") == f"http://h.test/{MASK}#{MASK}"
    assert mask_url("https://u:p@[::1]:9/x?y", "dingtalk") == f"https://{MASK}@[::1]:9/x?{MASK}"
    assert mask_url("https://h.test", "webhook") == "https://h.test"
    assert mask_url("ftp://secret@h.test", "webhook").endswith(MASK)
    assert "secret" not in mask_url("secret-only", "webhook")
    assert mask_url("http://h.test:99999/", "webhook") == MASK  # a bad port is no URL
