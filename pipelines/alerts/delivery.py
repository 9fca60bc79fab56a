"""Alerts out: detect → store → send to the configured channels.

Channels: a generic JSON webhook, the WeCom (企业微信) and DingTalk (钉钉) group robots
(markdown messages; they answer HTTP 200 with {"errcode": 0} on success, anything else is a
failure), and e-mail over SMTP (Chinese subject, UTF-8 plain text). Each channel gets each
alert once: a success is recorded per channel and never repeated; a failure is recorded with a
one-line reason, retried on the next run, and never stops the other channels. Robot URLs carry
their key and SMTP passwords are secrets: they come from environment variables named in the
config, and logs and errors name the channel, never the URL or password.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import logging
import os
import smtplib
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from kernel.config import ChannelConfig, Config
from pipelines.alerts.detect import Finding, detect, same_episode
from pipelines.alerts.message import footer, markdown, record, subject
from storage.alerts import AlertRow, alert_periods, list_alerts, record_delivery, save_alert
from storage.db import transaction

log = logging.getLogger(__name__)

ROBOT_BYTES = 4000  # WeCom caps markdown content at 4096 bytes
REPLY_BYTES = 65536


class DeliveryError(Exception):
    """One channel could not take one alert; the message is one line without secrets."""


@dataclass(frozen=True)
class Delivery:
    alert_id: int
    channel: str
    error: str | None  # None: sent


@dataclass
class AlertsRun:
    found: int = 0
    stored: Counter[str] = field(default_factory=Counter)  # new / updated / unchanged
    deliveries: list[Delivery] = field(default_factory=list)

    @property
    def failed(self) -> list[Delivery]:
        return [d for d in self.deliveries if d.error is not None]


# ------------------------------------------------------------------ detect and store


def store_findings(cfg: Config, session: Session, findings: list[Finding]) -> Counter[str]:
    """Each finding onto its stored episode (same start, or one it continues), else new."""
    outcome: Counter[str] = Counter()
    used: set[int] = set()
    for f in findings:
        stored = [p for p in alert_periods(session, f.rule, f.indicator) if p[0] not in used]
        existing = same_episode(stored, f.start, f.end, cfg.alerts.merge_days)
        name = cfg.indicators[f.indicator].name
        alert_id, status = save_alert(session, record(f, name, cfg.alerts), existing)
        used.add(alert_id)
        outcome[status] += 1
    return outcome


def run_alerts(
    cfg: Config,
    sessions: sessionmaker[Session],
    deliver: bool = True,
    env: Mapping[str, str] | None = None,
) -> AlertsRun:
    """Detect and store in one transaction, then send what each channel has not received."""
    run = AlertsRun()
    with transaction(sessions) as s:
        findings = detect(cfg, s)
        run.found = len(findings)
        run.stored = store_findings(cfg, s, findings)
    if deliver:
        run.deliveries = deliver_pending(cfg, sessions, os.environ if env is None else env)
    return run


# ------------------------------------------------------------------ deliver


def due(cfg: Config, alerts: list[AlertRow], today: dt.date) -> list[tuple[AlertRow, str]]:
    """(alert, channel name) pairs still to send: not sent yet, and recent enough."""
    max_age = cfg.alerts.deliver_max_age_days
    out = []
    for alert in alerts:
        if max_age and (today - dt.date.fromisoformat(alert.period_end)).days > max_age:
            continue
        for ch in cfg.alerts.channels:
            if alert.deliveries.get(ch.name, {}).get("status") != "sent":
                out.append((alert, ch.name))
    return out


def deliver_pending(
    cfg: Config, sessions: sessionmaker[Session], env: Mapping[str, str]
) -> list[Delivery]:
    if not cfg.alerts.channels:
        return []
    with sessions() as s:
        alerts = list_alerts(s)
    channels = {c.name: c for c in cfg.alerts.channels}
    done = []
    for alert, name in due(cfg, alerts, dt.datetime.now(cfg.tz).date()):
        try:
            send(channels[name], alert, cfg, env)
            error = None
            log.info("alert %s sent to %s", alert.id, name)
        except DeliveryError as exc:
            error = str(exc)
            log.info("alert %s not delivered to %s: %s", alert.id, name, error)
        with transaction(sessions) as s:  # recorded at once: a crash later never resends
            record_delivery(s, alert.id, name, error)
        done.append(Delivery(alert.id, name, error))
    return done


def send(channel: ChannelConfig, alert: AlertRow, cfg: Config, env: Mapping[str, str]) -> None:
    """One alert to one channel; DeliveryError (one line, no secrets) when it did not arrive."""
    if channel.kind == "email":
        _send_email(channel, alert, cfg, env)
        return
    url = _secret(env, channel.url_env)
    if not url.startswith(("http://", "https://")):
        raise DeliveryError(f"${channel.url_env} does not hold an http(s) URL")
    secrets = [url]
    if channel.kind == "dingtalk" and channel.secret_env:
        secret = _secret(env, channel.secret_env)
        secrets.append(secret)
        url = dingtalk_signed_url(url, secret, int(time.time() * 1000))
    body = payload(channel.kind, alert, cfg)
    try:
        reply = _post_json(url, body, channel.timeout_seconds)
    except DeliveryError as exc:
        raise DeliveryError(_scrub(str(exc), secrets)) from None
    if channel.kind in ("wecom", "dingtalk"):
        _check_robot_reply(reply, secrets)


def _secret(env: Mapping[str, str], name: str | None) -> str:
    value = env.get(name or "", "").strip()
    if not value:
        raise DeliveryError(f"environment variable {name} is not set")
    return value


def _scrub(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return " ".join(text.split())[:300]


def payload(kind: str, alert: AlertRow, cfg: Config) -> dict[str, Any]:
    """The request body of a webhook-like channel."""
    ind = cfg.indicators.get(alert.indicator)
    name = ind.name if ind else alert.indicator
    if kind == "webhook":
        return {
            "source": "meiyu",
            "alert_id": alert.id,
            "rule": alert.rule,
            "indicator": alert.indicator,
            "indicator_name": name,
            "period": {"start": alert.period_start, "end": alert.period_end},
            "observed": alert.observed,
            "expected": alert.expected,
            "p_value": alert.p_value,
            "message": alert.message,
            "items": alert.items,
            "detected_at": alert.detected_at.isoformat(),
        }
    text = _robot_markdown(alert, cfg)
    if kind == "wecom":
        return {"msgtype": "markdown", "markdown": {"content": text}}
    if kind == "dingtalk":
        return {"msgtype": "markdown", "markdown": {"title": subject(alert, name), "text": text}}
    raise ValueError(f"no webhook payload for channel kind {kind!r}")


def _robot_markdown(alert: AlertRow, cfg: Config) -> str:
    """Markdown within the robots' size limit: items are dropped from the end to fit."""
    limit = cfg.alerts.message_items
    while True:
        text = markdown(alert, limit, cfg.tz)
        if len(text.encode("utf-8")) <= ROBOT_BYTES or limit == 0:
            return text
        limit -= 1


def dingtalk_signed_url(url: str, secret: str, timestamp_ms: int) -> str:
    """DingTalk's 加签: HMAC-SHA256 of "timestamp\\nsecret" with the secret, base64, as
    `timestamp` and `sign` query parameters."""
    to_sign = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode("utf-8"), to_sign, hashlib.sha256).digest()
    sign = urllib.parse.quote_plus(base64.b64encode(digest))
    joiner = "&" if urllib.parse.urlsplit(url).query else "?"
    return f"{url}{joiner}timestamp={timestamp_ms}&sign={sign}"


def _post_json(url: str, body: dict[str, Any], timeout: float) -> bytes:
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    request = urllib.request.Request(
        url,
        data=data,
        method="POST",
        headers={"Content-Type": "application/json; charset=utf-8", "User-Agent": "meiyu"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return bytes(response.read(REPLY_BYTES))
    except urllib.error.HTTPError as exc:
        raise DeliveryError(f"HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise DeliveryError(f"cannot connect: {exc.reason}") from None
    except (OSError, ValueError) as exc:  # timeouts, resets, malformed URLs
        raise DeliveryError(f"{type(exc).__name__}: {exc}") from None


def _check_robot_reply(reply: bytes, secrets: list[str]) -> None:
    try:
        answer = json.loads(reply)
    except ValueError:
        raise DeliveryError("robot reply is not JSON") from None
    code = answer.get("errcode") if isinstance(answer, dict) else None
    if code != 0:
        text = str(answer.get("errmsg", "")) if isinstance(answer, dict) else ""
        raise DeliveryError(_scrub(f"robot answered errcode {code}: {text}", secrets))


def email_message(channel: ChannelConfig, alert: AlertRow, cfg: Config) -> EmailMessage:
    ind = cfg.indicators.get(alert.indicator)
    msg = EmailMessage()
    msg["Subject"] = subject(alert, ind.name if ind else alert.indicator)
    msg["From"] = channel.sender or ""
    msg["To"] = ", ".join(channel.recipients)
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain="meiyu.local")
    msg.set_content(alert.message + "\n\n—— " + footer(alert, cfg.tz) + "\n", charset="utf-8")
    return msg


def _send_email(
    channel: ChannelConfig, alert: AlertRow, cfg: Config, env: Mapping[str, str]
) -> None:
    user = _secret(env, channel.username_env) if channel.username_env else None
    password = _secret(env, channel.password_env) if channel.password_env else None
    host, port = channel.smtp_host or "", channel.smtp_port
    msg = email_message(channel, alert, cfg)
    smtp_class = smtplib.SMTP_SSL if channel.smtp_ssl else smtplib.SMTP
    try:
        with smtp_class(host, port, timeout=channel.timeout_seconds) as smtp:
            if channel.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if user is not None and password is not None:
                smtp.login(user, password)
            refused = smtp.send_message(msg)
    except (smtplib.SMTPException, OSError) as exc:
        reason = _scrub(f"{type(exc).__name__}: {exc}", [password] if password else [])
        raise DeliveryError(f"SMTP {host}:{port}: {reason}") from None
    if refused:
        log.warning("%s: recipients refused: %s", channel.name, ", ".join(sorted(refused)))
