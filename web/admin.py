"""The admin pages: the accounts, managed in the browser with the rules and storage writes of
`meiyu users` (add, role, password, remove, API tokens), and the configured alert channels with
their secrets masked and their delivery history.

Every change is a form POST for admins, CSRF-checked before anything is read, answered with a
redirect back to the list (303) and a notice, except a new token: it is shown once, on the
answer to its POST, never in a URL. An admin cannot remove or demote their own account, so
at least one admin stays. Logs say who did what to whom, never a password, token or hash."""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations at run time.
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, cast
from urllib.parse import urlencode, urlsplit

from fastapi import Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.exc import IntegrityError
from starlette.responses import Response

from kernel.config import ChannelConfig
from kernel.errors import UserError
from kernel.roles import ROLES, Role
from storage.alerts import list_alerts
from storage.db import transaction
from storage.users import (
    UserRow,
    add_token,
    add_user,
    admin_count,
    change_password,
    list_users,
    name_in_use,
    remove_user,
    revoke_token,
    set_role,
    token_by_id,
    tokens_of,
    user_by_id,
)
from web.accounts import (
    MAX_NAME_LENGTH,
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    check_name,
    check_password_rules,
    hash_password,
    new_token,
)
from web.kit import PageKit
from web.security import same

log = logging.getLogger("meiyu.web.admin")

MAX_ID = 2**31 - 1  # an INTEGER column
MASK = "••••"
ROLE_NAMES = {"viewer": "查看者", "analyst": "分析员", "admin": "管理员"}
# what a redirect back says happened: a fixed text per code, so a link cannot make the page
# say anything else; `who` (an account name) is shown escaped
NOTICES = {
    "added": "已添加账户 {who}。",
    "role": "已修改 {who} 的角色。",
    "password": "已为 {who} 设置新密码，其登录会话已结束。",
    "removed": "已删除账户 {who}，连同其会话和 API 令牌。",
    "revoked": "已吊销 {who} 的 API 令牌。",
}
KIND_NAMES = {"webhook": "通用 Webhook", "wecom": "企业微信机器人", "dingtalk": "钉钉机器人"}
KIND_NAMES["email"] = "电子邮件（SMTP）"
# robots' paths are the vendors' public ones (the key is in the query); a generic webhook's
# path may carry its token, so it is masked too
PUBLIC_PATH_KINDS = {"wecom", "dingtalk"}


def mask_url(url: str, kind: str) -> str:
    """The URL with its secret parts replaced by ••••: any user:password, the query and the
    fragment, and the path of a generic webhook. Scheme, host and port stay: they say where
    the alerts go without letting anyone send to it."""
    try:
        parts = urlsplit(url.strip())
        host, port = parts.hostname, parts.port
    except ValueError:
        return MASK
    if parts.scheme not in ("http", "https") or not host:
        return f"（不是 http(s) 地址）{MASK}"
    out = f"{parts.scheme}://"
    if parts.username is not None or parts.password is not None:
        out += MASK + "@"
    out += f"[{host}]" if ":" in host else host
    if port is not None:
        out += f":{port}"
    if parts.path not in ("", "/"):
        out += parts.path if kind in PUBLIC_PATH_KINDS else "/" + MASK
    if parts.query:
        out += "?" + MASK
    if parts.fragment:
        out += "#" + MASK
    return out


@dataclass(frozen=True)
class ChannelHooks:
    """The sending of `meiyu alerts run`, injected by `meiyu serve` (web/ may not import
    pipelines), for the channels page's test message.

    send_test: (channel) → None when the channel took a test message, else the one-line
        reason, without secrets; nothing is stored."""

    send_test: Callable[[ChannelConfig], str | None]


@dataclass(frozen=True)
class EnvVar:
    """A secret the config names: the variable's name and whether it is set, never its value."""

    role: str  # what it holds, in Chinese
    name: str
    is_set: bool


@dataclass(frozen=True)
class History:
    """A channel's deliveries as stored on the alerts: how many alerts it took, how many it
    failed on (retried on the next run), the attempts, and the latest outcome."""

    sent: int = 0
    failed: int = 0
    attempts: int = 0
    last_status: str | None = None
    last_at: str | None = None
    last_error: str | None = None


@dataclass(frozen=True)
class ChannelView:
    name: str
    kind: str
    kind_name: str
    target: str  # masked URL, or the SMTP server
    env: list[EnvVar]
    details: list[tuple[str, str]]
    history: History


def histories(deliveries: list[dict[str, Any]]) -> dict[str, History]:
    """Channel name → its History, from each alert's `deliveries` ({channel: state})."""
    out: dict[str, History] = {}
    for per_alert in deliveries:
        for channel, state in per_alert.items():
            if not isinstance(state, dict):
                continue
            h = out.get(channel, History())
            status, at = str(state.get("status", "")), str(state.get("at", ""))
            attempts = state.get("attempts", 1)
            # ties (same second) go to the later alert: list_alerts gives them oldest first
            newer = h.last_at is None or at >= h.last_at
            out[channel] = History(
                sent=h.sent + (status == "sent"),
                failed=h.failed + (status == "failed"),
                attempts=h.attempts + (attempts if isinstance(attempts, int) else 1),
                last_status=status if newer else h.last_status,
                last_at=at if newer else h.last_at,
                last_error=(str(state["error"]) if state.get("error") else None)
                if newer
                else h.last_error,
            )
    return out


def _scrub(text: str | None, secrets: list[str]) -> str | None:
    """An error as stored (already without secrets), and once more without today's values."""
    if text is None:
        return None
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return text


def channel_view(ch: ChannelConfig, env: Mapping[str, str], history: History) -> ChannelView:
    """What the page shows of one configured channel."""

    def var(role: str, name: str | None) -> EnvVar | None:
        return EnvVar(role, name, bool(env.get(name, "").strip())) if name else None

    names = (ch.url_env, ch.secret_env, ch.username_env, ch.password_env)
    secrets = [env.get(n, "").strip() for n in names if n]
    details: list[tuple[str, str]] = []
    if ch.kind == "email":
        target = f"{ch.smtp_host}:{ch.smtp_port}"
        security = "SSL/TLS" if ch.smtp_ssl else "STARTTLS" if ch.starttls else "不加密"
        details += [
            ("加密", security),
            ("发件人", ch.sender or ""),
            ("收件人", "、".join(ch.recipients)),
        ]
        wanted = [var("SMTP 用户名", ch.username_env), var("SMTP 密码", ch.password_env)]
    else:
        url = env.get(ch.url_env or "", "").strip()
        target = mask_url(url, ch.kind) if url else "（环境变量未设置）"
        wanted = [var("地址", ch.url_env), var("加签密钥", ch.secret_env)]
    details.append(("超时", f"{ch.timeout_seconds:g} 秒"))
    h = History(
        history.sent,
        history.failed,
        history.attempts,
        history.last_status,
        history.last_at,
        _scrub(history.last_error, secrets),
    )
    return ChannelView(
        ch.name,
        ch.kind,
        KIND_NAMES.get(ch.kind, ch.kind),
        target,
        [v for v in wanted if v is not None],
        details,
        h,
    )


def register(app: FastAPI, kit: PageKit, hooks: ChannelHooks | None = None) -> None:
    """Adds /admin/users with its form POSTs and /admin/channels to `app`, for admins; with
    `hooks`, a test message per channel too."""
    sessions, render, page, page_error = kit.sessions, kit.render, kit.page, kit.page_error
    Admin = Annotated[Any, Depends(page("admin"))]
    Csrf = Annotated[str, Form()]

    def checked(visitor: Any, csrf: str) -> UserRow:
        """The acting admin, once the form's CSRF token is the session's (a token bearer has
        no session, so no form to post)."""
        ws = visitor.web_session
        if ws is None or not same(csrf, ws.csrf_token):
            raise page_error(403, "表单已失效，请刷新页面后再试。")
        return cast(UserRow, visitor.user)

    def number(text: str) -> int:
        if (
            not (text.isascii() and text.isdigit() and len(text) <= 10)
            or not 0 < int(text) <= MAX_ID
        ):
            raise page_error(422, "编号应为正整数。")
        return int(text)

    def account(text: str) -> UserRow:
        with sessions() as s:
            found = user_by_id(s, number(text))
        if found is None:
            raise page_error(404, "没有这个账户（可能已被删除）。")
        return found

    def role_of(text: str) -> Role:
        if text not in ROLES:
            raise page_error(422, "角色应为 viewer、analyst 或 admin。")
        return cast(Role, text)

    def new_password(password: str, again: str) -> str:
        """The argon2 hash of a password that meets `meiyu users`' rules, or a 422 page."""
        if len(password) > MAX_PASSWORD_LENGTH:
            raise page_error(422, f"密码过长（最多 {MAX_PASSWORD_LENGTH} 个字符）。")
        try:
            check_password_rules(password)
        except UserError:
            raise page_error(
                422, f"密码至少 {MIN_PASSWORD_LENGTH} 个字符，且不能只有空白。"
            ) from None
        if password != again:
            raise page_error(422, "两次输入的密码不一致。")
        return hash_password(password)

    def back(done: str, who: str) -> Response:
        query = urlencode({"done": done, "who": who})
        return RedirectResponse(f"/admin/users?{query}", status_code=303)

    def users_page(
        request: Request, visitor: Any, notice: str | None = None, issued: Any = None
    ) -> HTMLResponse:
        with sessions() as s:
            users = list_users(s)
            tokens = {u.id: tokens_of(s, u.id) for u in users}
        return render(
            request,
            "users.html.j2",
            visitor=visitor,
            users=users,
            tokens=tokens,
            roles=ROLES,
            role_names=ROLE_NAMES,
            me=visitor.user.id,
            notice=notice,
            issued=issued,
            min_password=MIN_PASSWORD_LENGTH,
            max_name=MAX_NAME_LENGTH,
            tz=kit.timezone,
        )

    @app.get("/admin/users", response_class=HTMLResponse, include_in_schema=False)
    def users_list(
        request: Request,
        visitor: Admin,
        done: str = "",
        who: str = "",
    ) -> Response:
        known = done in NOTICES and len(who) <= MAX_NAME_LENGTH
        notice = NOTICES[done].format(who=who) if known else None
        return users_page(request, visitor, notice)

    @app.post("/admin/users", include_in_schema=False)
    def users_add(
        visitor: Admin,
        csrf: Csrf = "",
        name: Annotated[str, Form()] = "",
        role: Annotated[str, Form()] = "",
        password: Annotated[str, Form()] = "",
        password2: Annotated[str, Form()] = "",
    ) -> Response:
        me = checked(visitor, csrf)
        try:
            check_name(name)
        except UserError:
            raise page_error(
                422, f"账户名应为 1 到 {MAX_NAME_LENGTH} 个可打印字符，不含空格。"
            ) from None
        wanted = role_of(role)
        with sessions() as s:
            taken = name_in_use(s, name)
        if taken is not None:  # checked before hashing, as `meiyu users add` does
            raise page_error(422, f"已有名为 {taken} 的账户（账户名不区分大小写）。")
        digest = new_password(password, password2)
        try:
            with transaction(sessions) as s:
                add_user(s, name, wanted, digest)
        except IntegrityError:  # added by someone else since the check above
            raise page_error(422, f"已有名为 {name} 的账户。") from None
        log.info("admin %r added account %r (%s)", me.name, name, wanted)
        return back("added", name)

    @app.post("/admin/users/{user_id}/role", include_in_schema=False)
    def users_role(
        visitor: Admin, user_id: str, csrf: Csrf = "", role: Annotated[str, Form()] = ""
    ) -> Response:
        me = checked(visitor, csrf)
        target, wanted = account(user_id), role_of(role)
        if target.id == me.id and wanted != "admin":
            raise page_error(422, "不能降低自己的角色：请由另一位管理员操作，以免没有管理员。")
        with transaction(sessions) as s:
            if target.role == "admin" and wanted != "admin" and admin_count(s) <= 1:
                raise page_error(422, "这是最后一个管理员账户，不能降低其角色。")
            set_role(s, target.id, wanted)
        what = f"{target.role} → {wanted}"
        log.info("admin %r changed the role of %r: %s", me.name, target.name, what)
        return back("role", target.name)

    @app.post("/admin/users/{user_id}/password", include_in_schema=False)
    def users_password(
        visitor: Admin,
        user_id: str,
        csrf: Csrf = "",
        password: Annotated[str, Form()] = "",
        password2: Annotated[str, Form()] = "",
    ) -> Response:
        me = checked(visitor, csrf)
        target = account(user_id)
        digest = new_password(password, password2)
        with transaction(sessions) as s:
            change_password(s, target.id, digest)  # ends the account's sessions
        log.info("admin %r set a new password for %r; its sessions ended", me.name, target.name)
        return back("password", target.name)

    @app.post("/admin/users/{user_id}/remove", include_in_schema=False)
    def users_remove(
        visitor: Admin, user_id: str, csrf: Csrf = "", confirm: Annotated[str, Form()] = ""
    ) -> Response:
        me = checked(visitor, csrf)
        target = account(user_id)
        if target.id == me.id:
            raise page_error(422, "不能删除自己的账户：请由另一位管理员操作。")
        if confirm != "yes":  # a checkbox, not a script's confirm(): the CSP allows no inline JS
            raise page_error(422, "请先勾选“确认删除”。")
        with transaction(sessions) as s:
            if target.role == "admin" and admin_count(s) <= 1:
                raise page_error(422, "这是最后一个管理员账户，不能删除。")
            tokens = remove_user(s, target.id)
        log.info(
            "admin %r removed account %r (%d API tokens deleted)", me.name, target.name, tokens
        )
        return back("removed", target.name)

    @app.post("/admin/users/{user_id}/tokens", include_in_schema=False)
    def users_token(request: Request, visitor: Admin, user_id: str, csrf: Csrf = "") -> Response:
        """A new API token, shown once on this answer (no-store, never in a URL or a log):
        only its sha256 is stored, as `meiyu users token` does."""
        me = checked(visitor, csrf)
        target = account(user_id)
        plain, digest = new_token()
        with transaction(sessions) as s:
            token = add_token(s, target.id, digest)
        log.info("admin %r issued API token %d for %r", me.name, token.id, target.name)
        issued = {"id": token.id, "name": target.name, "role": target.role, "token": plain}
        return users_page(request, visitor, issued=issued)

    @app.post("/admin/tokens/{token_id}/revoke", include_in_schema=False)
    def tokens_revoke(visitor: Admin, token_id: str, csrf: Csrf = "") -> Response:
        me = checked(visitor, csrf)
        wanted = number(token_id)
        with transaction(sessions) as s:
            found = token_by_id(s, wanted)
            if found is None:
                raise page_error(404, "没有这个 API 令牌。")
            revoke_token(s, wanted)
        log.info("admin %r revoked API token %d of %r", me.name, wanted, found[1].name)
        return back("revoked", found[1].name)

    def channels(
        request: Request, visitor: Any, tested: tuple[str, str | None] | None = None
    ) -> HTMLResponse:
        if kit.config is None:
            return render(request, "channels.html.j2", visitor=visitor, enabled=False)
        with sessions() as s:
            history = histories([a.deliveries for a in list_alerts(s)])
        configured = kit.config.alerts.channels
        views = [channel_view(c, os.environ, history.get(c.name, History())) for c in configured]
        names = {c.name for c in configured}
        gone = sorted((k, v) for k, v in history.items() if k not in names)
        return render(
            request,
            "channels.html.j2",
            visitor=visitor,
            enabled=True,
            channels=views,
            gone=gone,
            can_test=hooks is not None,
            tested=tested,
            status_names={"sent": "已发送", "failed": "发送失败"},
        )

    @app.get("/admin/channels", response_class=HTMLResponse, include_in_schema=False)
    def channels_page(request: Request, visitor: Admin) -> Response:
        """The configured channels as `meiyu alerts run` would send to them, read from the
        config and the environment of this process: variable names and whether each is set,
        never a value; and each channel's delivery history from the stored alerts."""
        return channels(request, visitor)

    @app.post("/admin/channels/{name}/test", include_in_schema=False)
    def channels_test(request: Request, visitor: Admin, name: str, csrf: Csrf = "") -> Response:
        """A test message to one channel, sent now; the outcome is shown on the answer (a
        reason may name a host: not for a URL) and logged, and no alert's deliveries change."""
        me = checked(visitor, csrf)
        if hooks is None or kit.config is None:
            raise page_error(404, "测试消息功能未启用。")
        found = next((c for c in kit.config.alerts.channels if c.name == name), None)
        if found is None:
            raise page_error(404, "配置中没有这个通道。")
        error = hooks.send_test(found)
        if error is None:
            log.info("admin %r sent a test message to channel %s", me.name, found.name)
        else:
            log.info("admin %r: test message to channel %s failed: %s", me.name, found.name, error)
        return channels(request, visitor, tested=(found.name, error))
